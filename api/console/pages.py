"""The console's reading pages: sign-in, the overview, a network, an IP; each at any moment
(`?at=`), read-only then."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.console import views
from api.console.render import guarded, page, redirect, require_session, signed_out
from api.console.session import csrf_ok, session_of, sign_in, sign_out
from application.ports import HistoryQuery, NetworkFilter
from domain.addressing import canonical_address
from domain.errors import InvalidRequestError, IpamError, NotFoundError, UnauthenticatedError

router = APIRouter(include_in_schema=False)

IPS_PER_PAGE, EVENTS_PER_PAGE, CHILDREN_PER_PAGE, CHILDREN_ON_OVERVIEW = 100, 25, 100, 20
At = Annotated[str | None, Query()]


def whole(text: str | None, name: str) -> int | None:
    """A page's number parameter (a cursor, an offset): None when absent; InvalidRequestError
    (a 400 page) unless a whole number from 0 to 2^63-1."""
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > 2**63 - 1:
        raise InvalidRequestError(f"{name} must be a whole number, not {text[:40]!r}")
    return int(text)


def same_site(request: Request) -> bool:
    """A form posted from this console's own pages. A browser says where the page that sent it
    came from in `Sec-Fetch-Site` (same-origin); one that does not send it names the origin in
    `Origin` (which is `null` under our `no-referrer` policy in some browsers: then only
    `Sec-Fetch-Site` can vouch). A request with neither is no browser's cross-site form."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


async def form_of(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the console's forms), first values."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


@router.get("/ui")
@guarded
def overview(request: Request, at: At = None, q: Annotated[str, Query()] = "") -> Response:
    """Partitions with their super networks and children, other networks beside; a search."""
    if len(q) > 200:
        raise InvalidRequestError("a search is at most 200 characters")
    session = session_of(request)
    if session is None:
        return page(request, "signin.html", session=None, message="")
    moment = views.moment(at)
    ipam = request.app.state.ipam
    more: dict[str, int] = {}
    if moment is None and not q.strip():
        networks, more = _first_networks(ipam.app, session.principal)
        total = len(networks) + sum(more.values())
    else:  # the past, or a search: every network's document
        if moment is None:
            networks = ipam.app.list_networks(NetworkFilter(), session.principal)
        else:
            networks = ipam.audit.list_networks_at(moment, session.principal)
        total = len(networks)
    shown = [n for n in networks if views.matches(n, q)]
    partitions, loose = views.tree(shown)
    return page(request, "overview.html", session=session, at=moment, partitions=partitions,
                loose=loose, q=q, found=len(shown), total=total, more=more,
                address=views.address_query(q), usages=views.usages)


def _first_networks(app: Any, principal: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The networks the overview shows without a search: every one not under a super network,
    and the first children of each super network (how many more, per super, beside): a
    partition of ten thousand children is a page, not ten thousand rows."""
    rows = app.network_summaries(principal)
    supers = {r["network_id"] for r in rows if r["private_super"]}
    shown: list[dict[str, Any]] = []
    kids: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        parent = row["parent_id"]
        if parent in supers:
            kids.setdefault(parent, []).append(row)
        else:
            shown.append(row)
    more = {}
    for parent, children in kids.items():
        shown += children[:CHILDREN_ON_OVERVIEW]
        if len(children) > CHILDREN_ON_OVERVIEW:
            more[parent] = len(children) - CHILDREN_ON_OVERVIEW
    documents = []
    for row in shown:
        try:
            documents.append(app.get_network(row["network_id"], principal))
        except IpamError:  # gone since the summaries were read
            continue
    return documents, more


@router.post("/ui/signin")
async def signin(request: Request) -> Response:
    form = await form_of(request)
    if not same_site(request):
        return page(request, "error.html", session=None, status=403,
                    message="Sign in from this console's own page.")
    response = redirect("/ui/")
    try:
        await run_in_threadpool(sign_in, request, response, form.get("token", ""))
    except UnauthenticatedError as error:
        return signed_out(request, f"Not signed in: {error.message}.")
    return response


@router.post("/ui/signout")
async def signout(request: Request) -> Response:
    form = await form_of(request)
    try:
        session = await run_in_threadpool(session_of, request)
    except UnauthenticatedError:
        session = None
    if session is not None and not csrf_ok(session, form.get("csrf_token")):
        return page(request, "error.html", session=session, status=403,
                    message="This form is out of date or not from this console (CSRF check "
                            "failed); reload the page and try again.")
    response = redirect("/ui/")
    sign_out(request, response)
    return response


@router.get("/ui/networks/{network_id}")
@guarded
def network_page(request: Request, network_id: str, at: At = None,
                 after: Annotated[str | None, Query()] = None,
                 cursor_text: Annotated[str | None, Query(alias="cursor")] = None,
                 children_text: Annotated[str | None, Query(alias="children_from")] = None,
                 ) -> Response:
    """A network: attributes, consumption, a free-space map per prefix, IPs, children, history."""
    from api.console.freemap import free_space_map

    cursor = whole(cursor_text, "cursor")
    children_from = whole(children_text, "children_from") or 0
    session = require_session(request)
    moment = views.moment(at)
    ipam = request.app.state.ipam
    principal = session.principal
    picture = ipam.console.picture(network_id, principal, moment)
    if after is not None:
        after = canonical_address(after)
    if moment is None:
        ip_page = ipam.app.ip_page(network_id, principal=principal, after=after,
                                   limit=IPS_PER_PAGE)
        ips, next_ip, ip_total = ip_page.ips, ip_page.next, ip_page.total
    else:
        ips, next_ip, ip_total = picture.held(principal, after, IPS_PER_PAGE)
        for ip in ips:  # names live in the events: the page's, as they were then
            try:
                ip.update(ipam.audit.get_ip_at(ip["address"], moment, principal))
            except IpamError:
                continue
    query = HistoryQuery(limit=EVENTS_PER_PAGE, ascending=False, cursor=cursor, until=moment)
    history = ipam.audit.network_history(network_id, query, principal)
    maps = [(pool, free_space_map(pool, picture.children, link=_network_link(at)))
            for pool in picture.pools]
    doc = picture.document
    return page(
        request, "network.html", session=session, at=moment, network=doc, maps=maps,
        usages=views.usages(doc, picture.pools), ips=ips, next_ip=next_ip, ip_total=ip_total,
        after=after, events=history.events,
        children=picture.child_documents[children_from:children_from + CHILDREN_PER_PAGE],
        children_total=len(picture.child_documents), children_from=children_from,
        children_next=children_from + CHILDREN_PER_PAGE
        if children_from + CHILDREN_PER_PAGE < len(picture.child_documents) else None,
        next_cursor=history.next_cursor, cursor=cursor, facts=views.facts_summary,
        families=[label for key, label in views.FAMILIES if (doc.get("capacity") or {}).get(key)],
        is_super=bool(doc.get("private_super")),
        may_acquire=not doc.get("private_super") and not picture.children,
    )


def _network_link(at: str | None) -> Any:
    suffix = f"?at={views.segment(at)}" if at else ""
    return lambda child_id: f"/ui/networks/{views.segment(child_id)}{suffix}"


@router.get("/ui/ips/{address}")
@guarded
def ip_page(request: Request, address: str, at: At = None,
            cursor_text: Annotated[str | None, Query(alias="cursor")] = None) -> Response:
    """An address now (or then) and its whole history: who held it when, and why."""
    cursor = whole(cursor_text, "cursor")
    session = require_session(request)
    moment = views.moment(at)
    ipam = request.app.state.ipam
    canonical = canonical_address(address)
    try:  # not held (now, or then), or not the principal's to see: its history still shows
        held = (ipam.app.get_ip(canonical, session.principal) if moment is None
                else ipam.audit.get_ip_at(canonical, moment, session.principal))
    except NotFoundError:
        held = None
    query = HistoryQuery(limit=EVENTS_PER_PAGE, ascending=False, cursor=cursor, until=moment)
    history = ipam.audit.ip_history(canonical, query, session.principal)
    return page(request, "ip.html", session=session, at=moment, address=canonical, held=held,
                events=history.events, next_cursor=history.next_cursor, cursor=cursor,
                facts=views.facts_summary)
