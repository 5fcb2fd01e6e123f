"""Rendering the console's pages: the templates, the page's security headers, and errors as
pages (a refusal is shown to a person, with the API's message and status)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from api.console import views
from api.console.session import COOKIE, CSRF_FIELD, Session, session_of, sign_out
from api.errors import status_of
from domain.errors import IpamError, UnauthenticatedError
from domain.token import Role

# scripts and styles from the package only; no inline script or style; forms post here only
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

templates = Environment(loader=PackageLoader("api.console", "templates"),
                        autoescape=select_autoescape(default=True), trim_blocks=True,
                        lstrip_blocks=True)
templates.filters["number"] = views.number
templates.filters["time"] = views.shown_time
templates.filters["segment"] = lambda value: views.segment(str(value))
templates.globals["CSRF_FIELD"] = CSRF_FIELD


def page(request: Request, name: str, *, session: Session | None, status: int = 200,
         at: datetime | None = None, **context: Any) -> HTMLResponse:
    """A template rendered for the session (None: signed out); `at`: the page shows the past,
    read-only."""
    principal = session.principal if session else None
    editor = principal is not None and principal.role.rank >= Role.editor.rank and at is None
    html = templates.get_template(name).render(
        request=request, session=session, principal=principal, editor=editor, at=at,
        at_text=views.shown_time(at) if at else "", picker=views.picker_value(at),
        here=request.url.path, query=lambda **params: _query(request, **params), **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["content-security-policy"] = CSP
    response.headers["cache-control"] = "no-store"
    return response


def _query(request: Request, **params: Any) -> str:
    """The current query string with `params` replaced (None drops one)."""
    merged = dict(request.query_params)
    for key, value in params.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return "?" + urlencode(merged) if merged else request.url.path


def signed_out(request: Request, message: str, status: int = 401) -> HTMLResponse:
    response = page(request, "signin.html", session=None, status=status, message=message)
    sign_out(request, response)
    return response


def redirect(url: str) -> RedirectResponse:
    """After a form: see the result (303, so a reload does not post again). A path only, so
    it never points at another host."""
    return RedirectResponse(url if url.startswith("/ui") else "/ui/", status_code=303)


P = ParamSpec("P")


def guarded(handler: Callable[P, Response]) -> Callable[P, Response]:
    """Run a page: no session shows the sign-in form, a token no longer valid signs out, and
    a refusal (not found, forbidden, bad input, what the state does not allow) is a page."""

    @functools.wraps(handler)
    def run(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        assert isinstance(request, Request)
        try:
            return handler(*args, **kwargs)
        except UnauthenticatedError as error:
            if COOKIE not in request.cookies:
                return signed_out(request, "Sign in with your token.", status=401)
            return signed_out(request, f"Signed out: {error.message}.")
        except IpamError as error:
            return error_page(request, error)

    return run


def error_page(request: Request, error: IpamError) -> HTMLResponse:
    try:
        session = session_of(request)
    except UnauthenticatedError:
        session = None
    return page(request, "error.html", session=session, status=status_of(error),
                message=error.message)


def require_session(request: Request) -> Session:
    """The session, or UnauthenticatedError (shown as the sign-in form)."""
    session = session_of(request)
    if session is None:
        raise UnauthenticatedError("sign in with your token")
    return session
