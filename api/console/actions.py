"""The console's writes, for editors and admins: acquire and free IPs, allocate and free child
networks. Each form carries the session's CSRF token; a free is confirmed on a page of its own
first (it works without JavaScript); the change is recorded with the token's subject as actor
and the form's reason, exactly as through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.console import views
from api.console.pages import form_of, same_site
from api.console.render import error_page, guarded, page, redirect, require_session, signed_out
from api.console.session import CSRF_FIELD, Session, csrf_ok
from application.context import RequestContext
from domain.addressing import canonical_address
from domain.errors import InvalidRequestError, IpamError, UnauthenticatedError
from domain.token import Role

router = APIRouter(include_in_schema=False)

CSRF_REFUSED = ("This form is out of date or not from this console (CSRF check failed); "
                "reload the page and try again.")


async def _act(request: Request, act: Callable[[Session, dict[str, str]], str]) -> Response:
    """Read the form, check the session and its CSRF token, run `act` (which returns where to
    go next) in a worker thread; a refusal is shown as a page."""
    form = await form_of(request)
    try:
        session = await run_in_threadpool(require_session, request)
    except UnauthenticatedError as error:
        return signed_out(request, f"Signed out: {error.message}.")
    if not same_site(request) or not csrf_ok(session, form.get(CSRF_FIELD)):
        return page(request, "error.html", session=session, status=403, message=CSRF_REFUSED)
    try:
        return redirect(await run_in_threadpool(act, session, form))
    except UnauthenticatedError as error:
        return signed_out(request, f"Signed out: {error.message}.")
    except IpamError as error:
        return error_page(request, error)


def may_change(request: Request, session: Session, action: str) -> None:
    """A confirmation page is a form only for an editor, and only of the present: the past is
    read-only (400), a viewer may not (403)."""
    if request.query_params.get("at"):
        raise InvalidRequestError("the past is read-only: a change happens now (leave out ?at=)")
    session.principal.require(Role.editor, action)


def _context(request: Request, session: Session, form: dict[str, str]) -> RequestContext:
    reason = form.get("reason", "").strip() or None
    if reason is not None and len(reason) > 1024:
        raise InvalidRequestError("a reason is at most 1024 characters")
    return RequestContext.new(actor=session.principal.subject, reason=reason,
                              principal=session.principal)


def _link(kind: str, value: str) -> str:
    return f"/ui/{kind}/{views.segment(value)}"


@router.post("/ui/networks/{network_id}/ips")
async def acquire(request: Request, network_id: str) -> Response:
    def act(session: Session, form: dict[str, str]) -> str:
        ipam = request.app.state.ipam
        held: dict[str, Any] = ipam.app.acquire_ip(
            context=_context(request, session, form), network_id=network_id,
            project_id=form.get("project", "").strip(),
            address_family=form.get("family") or None, name=form.get("name", "").strip(),
            description=form.get("description", "").strip())
        return _link("ips", held["address"])

    return await _act(request, act)


@router.get("/ui/ips/{address}/free")
@guarded
def confirm_free_ip(request: Request, address: str) -> Response:
    session = require_session(request)
    held = request.app.state.ipam.app.get_ip(canonical_address(address), session.principal)
    may_change(request, session, "free IPs")
    return page(request, "confirm.html", session=session, title=f"Free {held['address']}?",
                what=f"The address {held['address']} (project {held['project_id']}, name "
                     f"{held['name'] or '-'}) goes back to network {held['network_id']}.",
                action=f"{_link('ips', held['address'])}/free", button="Free the address",
                back=_link("ips", held["address"]))


@router.post("/ui/ips/{address}/free")
async def free_ip(request: Request, address: str) -> Response:
    def act(session: Session, form: dict[str, str]) -> str:
        freed: dict[str, Any] = request.app.state.ipam.app.release_ip(
            canonical_address(address), context=_context(request, session, form))
        return _link("networks", freed["network_id"])

    return await _act(request, act)


@router.post("/ui/networks/{network_id}/children")
async def allocate_child(request: Request, network_id: str) -> Response:
    def act(session: Session, form: dict[str, str]) -> str:
        ipam = request.app.state.ipam
        parent = ipam.app.get_network(network_id, session.principal)
        if not parent.get("private_super"):
            raise InvalidRequestError(f'network with id "{network_id}" is not a private super network')
        child: dict[str, Any] = ipam.app.allocate_child_network(
            context=_context(request, session, form), partition_id=parent["partition_id"],
            project_id=form.get("project", "").strip(), name=form.get("name", "").strip(),
            description=form.get("description", "").strip())
        return _link("networks", child["network_id"])

    return await _act(request, act)


@router.get("/ui/networks/{network_id}/free")
@guarded
def confirm_free_child(request: Request, network_id: str) -> Response:
    session = require_session(request)
    child = request.app.state.ipam.app.get_network(network_id, session.principal)
    may_change(request, session, "free child networks")
    return page(request, "confirm.html", session=session, title=f"Free {network_id}?",
                what=f"The child network {network_id} ({', '.join(child['prefixes'])}) goes back "
                     f"to its super network {child.get('parent_id') or '-'}; it must hold no "
                     "addresses.",
                action=f"{_link('networks', network_id)}/free", button="Free the network",
                back=_link("networks", network_id))


@router.post("/ui/networks/{network_id}/free")
async def free_child(request: Request, network_id: str) -> Response:
    def act(session: Session, form: dict[str, str]) -> str:
        freed: dict[str, Any] = request.app.state.ipam.app.delete_network(
            network_id, context=_context(request, session, form), only_child=True)
        parent = freed.get("parent_id")
        return _link("networks", parent) if parent else "/ui/"

    return await _act(request, act)
