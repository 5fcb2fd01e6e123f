"""The web console over plain HTTP, as a client without JavaScript sees it: signing in and the
session cookie's attributes, forms refused without the session's CSRF token (and nothing
changed), what a viewer, a tenant and a revoked token get, pages complete without scripts, the
Content-Security-Policy, no resource from another host, a label for every field. Against a live
`ipam serve` seeded over the API (tests/browser/lab.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import uuid4

import httpx
import pytest

from tests.browser.lab import OTHER_PROJECT, SUPER, Lab, issue, ok, revoke, seed
from tests.conftest import SEED_PROJECT
from tests.live import Live


@pytest.fixture(scope="module")
def lab(server: Live) -> Lab:
    return seed(server)


# -- reading pages ----------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    form: int | None  # the index of the form it is in


class Html(HTMLParser):
    """A page parsed with the standard library: its elements in order, its text, and the
    bodies of its script elements."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.elements: list[Element] = []
        self.scripts: list[str] = []
        self.words: list[str] = []
        self._form: int | None = None
        self._forms = 0
        self._script = False
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self._form, self._forms = self._forms, self._forms + 1
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}, self._form))
        if tag == "script":
            self._script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._script:
            self.scripts[-1] += data
        self.words.extend(data.split())

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def select(self, tag: str = "", **attrs: str) -> list[Element]:
        """Elements by tag (any: "") and attribute values (`data_ip=` for `data-ip`; a value
        of "*" only asks for the attribute)."""
        wanted = {k.removesuffix("_").replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.elements if (not tag or e.tag == tag)
                and all(k in e.attrs and (v == "*" or e.attrs[k] == v) for k, v in wanted.items())]

    def has_class(self, tag: str, name: str) -> list[Element]:
        return [e for e in self.select(tag) if name in e.attrs.get("class", "").split()]

    def write_forms(self) -> list[Element]:
        """The forms that post (everything but the header's sign-out)."""
        return [e for e in self.select("form", method="post") if e.attrs["action"] != "/ui/signout"]

    def csrf(self) -> str:
        return self.select("input", name="csrf_token")[0].attrs["value"]


def page(response: httpx.Response, status: int = 200) -> Html:
    assert response.status_code == status, (response.request.url, response.status_code,
                                            response.text[:2000])
    assert response.headers["content-type"].startswith("text/html")
    return Html(response.text)


@contextmanager
def signed_in(lab: Lab, token: str) -> Iterator[httpx.Client]:
    """A client with the console's session cookie for `token`."""
    with httpx.Client(base_url=lab.url, timeout=60) as client:
        response = client.post("/ui/signin", data={"token": token})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/ui/"
        yield client


@pytest.fixture
def admin(lab: Lab) -> Iterator[httpx.Client]:
    with signed_in(lab, lab.admin) as client:
        yield client


def state(lab: Lab) -> tuple[Any, ...]:
    """What a refused form must not change: every address held and every network, through the
    API."""
    with lab.api() as api:
        ips = sorted((ip["ipaddress"], ip["networkid"], ip["name"]) for ip in api.get("/v1/ip").json())
        networks = sorted((n["id"], n["changed"]) for n in api.get("/v1/network").json())
    return ips, networks


# -- signing in -------------------------------------------------------------------------------


def test_signin_sets_a_strict_httponly_cookie_for_the_console_only(lab: Lab) -> None:
    response = httpx.post(f"{lab.url}/ui/signin", data={"token": lab.viewer})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/"
    cookie = response.headers["set-cookie"]
    name_value, *attributes = [part.strip() for part in cookie.split(";")]
    assert name_value == f"ipam_session={lab.viewer}"
    flags = {a.split("=")[0].lower(): a.partition("=")[2] for a in attributes}
    assert "httponly" in flags
    assert flags["samesite"].lower() == "strict"
    assert flags["path"] == "/ui"
    assert "secure" not in flags  # plain http here; Secure under https
    assert "max-age" not in flags and "expires" not in flags  # ends with the browser session
    assert "domain" not in flags


def test_signin_without_a_session_shows_the_form(lab: Lab) -> None:
    html = page(httpx.get(f"{lab.url}/ui/"))
    form = html.select("form", action="/ui/signin")
    assert len(form) == 1 and form[0].attrs["method"] == "post"
    fields = [e for e in html.select("input") if e.form == 0 and e.attrs.get("type") != "hidden"]
    assert [(e.attrs["name"], e.attrs["id"]) for e in fields] == [("token", "token")]
    assert html.select("label", for_="token")


@pytest.mark.parametrize("token", ["", "ipam_not-a-token", "nonsense"])
def test_signin_with_a_bad_token_is_refused_without_a_cookie(lab: Lab, token: str) -> None:
    response = httpx.post(f"{lab.url}/ui/signin", data={"token": token})
    html = page(response, 401)
    assert html.select("input", id="token")
    assert "Not signed in" in html.text
    sessions = [c for c in response.headers.get_list("set-cookie") if c.startswith("ipam_session=")]
    assert all(deletes_session(c) for c in sessions), sessions


@pytest.mark.parametrize("path", ["/ui/networks/{child}", "/ui/ips/10.0.0.1", "/ui/ips/10.0.0.1/free"])
def test_a_page_without_a_session_shows_the_signin_form(lab: Lab, path: str) -> None:
    html = page(httpx.get(lab.url + path.format(child=lab.child)), 401)
    assert html.select("input", id="token", name="token")
    assert lab.child not in html.text


def test_signout_clears_the_cookie(lab: Lab) -> None:
    with signed_in(lab, lab.viewer) as client:
        csrf = page(client.get("/ui/")).csrf()
        response = client.post("/ui/signout", data={"csrf_token": csrf})
        assert response.status_code == 303
        assert cleared(response)
        assert page(client.get("/ui/"), 200).select("input", id="token")


def deletes_session(cookie: str) -> bool:
    """A Set-Cookie header that deletes the session cookie on the console's path."""
    attributes = [part.strip() for part in cookie.split(";")]
    return (attributes[0] in ("ipam_session=", 'ipam_session=""')
            and "Max-Age=0" in attributes and "Path=/ui" in attributes)


def cleared(response: httpx.Response) -> bool:
    """The response deletes the session cookie, and sets no other."""
    sessions = [c for c in response.headers.get_list("set-cookie") if c.startswith("ipam_session=")]
    return bool(sessions) and all(deletes_session(c) for c in sessions)


def test_a_revoked_token_signs_the_session_out(lab: Lab) -> None:
    secret = issue(lab.database_url, "rita-revoked", "editor")
    with signed_in(lab, secret) as client:
        page(client.get(f"/ui/networks/{lab.child}"))
        revoke(lab.database_url, secret)
        response = client.get(f"/ui/networks/{lab.child}")
        html = page(response, 401)
        assert "Signed out" in html.text and "revoked" in html.text
        assert html.select("input", id="token")
        assert lab.first not in html.text
        assert cleared(response)
        assert "ipam_session" not in client.cookies


def test_a_revoked_token_cannot_post_a_form(lab: Lab) -> None:
    secret = issue(lab.database_url, "rex-revoked", "editor")
    with signed_in(lab, secret) as client:
        csrf = page(client.get(f"/ui/networks/{lab.child}")).csrf()
        revoke(lab.database_url, secret)
        before = state(lab)
        response = client.post(f"/ui/networks/{lab.child}/ips",
                               data={"csrf_token": csrf, "project": SEED_PROJECT})
        assert "Signed out" in page(response, 401).text
        assert state(lab) == before


# -- CSRF -------------------------------------------------------------------------------------

FORMS = {
    "acquire": ("/ui/networks/{child}/ips", {"project": SEED_PROJECT, "family": "IPv4", "name": "x"}),
    "free-ip": ("/ui/ips/{first}/free", {"reason": "x"}),
    "allocate-child": ("/ui/networks/{super}/children", {"project": SEED_PROJECT, "name": "x"}),
    "free-child": ("/ui/networks/{other}/free", {"reason": "x"}),
}


def form_path(lab: Lab, path: str) -> str:
    return path.format(child=lab.child, first=lab.first, super=quote(SUPER), other=lab.other)


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "another session's"])
def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    lab: Lab, admin: httpx.Client, form: str, csrf: str | None,
) -> None:
    path, fields = FORMS[form]
    if csrf == "another session's":
        with signed_in(lab, lab.editor) as editor:
            csrf = page(editor.get(f"/ui/networks/{lab.child}")).csrf()
        assert csrf != page(admin.get(f"/ui/networks/{lab.child}")).csrf()
    data = fields if csrf is None else {**fields, "csrf_token": csrf}
    before = state(lab)
    html = page(admin.post(form_path(lab, path), data=data), 403)
    assert "CSRF" in html.text
    assert state(lab) == before


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_form_posted_without_a_session_is_refused_and_changes_nothing(lab: Lab, form: str) -> None:
    """What a page on another site could send: no cookie (SameSite=Strict), no CSRF token."""
    path, fields = FORMS[form]
    before = state(lab)
    response = httpx.post(lab.url + form_path(lab, path), data=fields)
    assert page(response, 401).select("input", id="token")
    assert state(lab) == before


def test_signout_without_the_csrf_token_is_refused(lab: Lab, admin: httpx.Client) -> None:
    html = page(admin.post("/ui/signout", data={"csrf_token": "0" * 64}), 403)
    assert "CSRF" in html.text
    assert page(admin.get("/ui/")).select("h1")  # still signed in
    assert "Overview" in page(admin.get("/ui/")).text


# -- editors, viewers, tenants ----------------------------------------------------------------


def test_an_editor_acquires_and_frees_an_address_without_javascript(lab: Lab) -> None:
    with signed_in(lab, lab.editor) as client:
        html = page(client.get(f"/ui/networks/{lab.child}"))
        form = html.select("form", id="acquire")[0]
        assert form.attrs["action"] == f"/ui/networks/{lab.child}/ips"
        response = client.post(form.attrs["action"], data={
            "csrf_token": html.csrf(), "project": SEED_PROJECT, "family": "IPv6",
            "name": "no-js", "reason": "plain form"})
        assert response.status_code == 303
        address = response.headers["location"].removeprefix("/ui/ips/")
        with lab.api() as api:
            held = api.get(f"/v1/ip/{address}").json()
        assert held["name"] == "no-js" and held["networkid"] == lab.child
        assert ":" in held["ipaddress"]

        confirm = page(client.get(f"/ui/ips/{address}/free"))
        action = confirm.select("form", method="post")[-1].attrs["action"]
        response = client.post(action, data={"csrf_token": confirm.csrf(), "reason": "done"})
        assert response.status_code == 303
        assert response.headers["location"] == f"/ui/networks/{lab.child}"
        with lab.api() as api:
            assert api.get(f"/v1/ip/{address}").status_code == 404
            history = api.get(f"/v1/ip/{address}/history").json()["events"]
        assert [(e["type"], e["actor"], e["reason"]) for e in history] == [
            ("IPAcquired", "erin-editor", "plain form"), ("IPReleased", "erin-editor", "done")]


def test_a_viewer_sees_no_write_controls_and_may_not_post(lab: Lab) -> None:
    with signed_in(lab, lab.viewer) as client:
        for path in ("/ui/", f"/ui/networks/{quote(SUPER)}", f"/ui/networks/{lab.child}",
                     f"/ui/ips/{lab.first}"):
            html = page(client.get(path))
            assert html.write_forms() == [], path
            assert html.has_class("a", "free") == [], path
        csrf = page(client.get("/ui/")).csrf()
        before = state(lab)
        response = client.post(f"/ui/networks/{lab.child}/ips",
                               data={"csrf_token": csrf, "project": SEED_PROJECT})
        page(response, 403)
        assert state(lab) == before


@pytest.mark.parametrize("path", ["/ui/ips/{first}/free", "/ui/networks/{other}/free",
                                  "/ui/ips/{first}/free?at={at}"])
def test_a_free_confirmation_is_no_form_for_a_viewer_or_in_the_past(lab: Lab, path: str) -> None:
    with signed_in(lab, lab.viewer) as viewer, signed_in(lab, lab.admin) as admin:
        client = admin if "at=" in path else viewer
        url = path.format(first=lab.first, other=lab.other, at=lab.between_text)
        response = client.get(url)
        assert response.status_code != 200 or Html(response.text).write_forms() == [], url


def test_a_tenant_sees_only_its_projects_networks(lab: Lab) -> None:
    with signed_in(lab, lab.tenant) as client:
        overview = page(client.get("/ui/"))
        shown = {e.attrs["data-network-id"] for e in overview.select(data_network_id="*")}
        assert shown == {SUPER, lab.child}
        assert OTHER_PROJECT not in overview.text


@pytest.mark.parametrize("path", ["/ui/networks/{other}", "/ui/networks/{other}?at={at}",
                                  "/ui/networks/{other}/free"])
def test_a_tenant_gets_404_for_another_projects_network_by_url(lab: Lab, path: str) -> None:
    """The same page as for a network that does not exist: nothing tells it apart."""
    with signed_in(lab, lab.tenant) as client:
        html = page(client.get(path.format(other=lab.other, at=lab.between_text)), 404)
        assert "other-network" not in html.text and OTHER_PROJECT not in html.text
        missing = "00000000-0000-4000-8000-000000000000"
        nothing = page(client.get(path.format(other=missing, at=lab.between_text)), 404)
        assert html.text == nothing.text.replace(missing, lab.other)


def test_a_tenant_may_not_acquire_in_another_projects_network(lab: Lab) -> None:
    with signed_in(lab, lab.tenant) as client:
        csrf = page(client.get("/ui/")).csrf()
        before = state(lab)
        response = client.post(f"/ui/networks/{lab.other}/ips",
                               data={"csrf_token": csrf, "project": SEED_PROJECT})
        assert response.status_code in (403, 404)
        assert state(lab) == before


# -- the past ---------------------------------------------------------------------------------


@pytest.mark.parametrize("at", ["{between}", "{between}Z", "{between}%2B00:00"])
def test_a_page_in_the_past_shows_the_state_then_read_only(
    lab: Lab, admin: httpx.Client, at: str,
) -> None:
    moment = at.format(between=lab.between_text)
    html = page(admin.get(f"/ui/networks/{lab.child}?at={moment}"))
    held = {e.attrs["data-ip"] for e in html.select("tr", data_ip="*")}
    assert held == {lab.first, lab.first_v6}  # the second was acquired later
    assert html.has_class("p", "as-of") and html.has_class("p", "as-of")[0].attrs["role"] == "status"
    assert html.write_forms() == [] and html.has_class("a", "free") == []
    assert html.select("input", id="at")[0].attrs["value"] == lab.between_text
    assert html.select("a", href=f"/ui/networks/{lab.child}")  # "now"
    then = [e.attrs["data-type"] for e in html.select("tr", data_type="*")]
    now = [e.attrs["data-type"] for e in page(admin.get(f"/ui/networks/{lab.child}")).select(
        "tr", data_type="*")]
    assert then.count("IPAcquired") == 2 and now.count("IPAcquired") >= 3  # history up to then


def test_every_page_in_the_past_is_read_only(lab: Lab, admin: httpx.Client) -> None:
    for path in ("/ui/", f"/ui/networks/{quote(SUPER)}", f"/ui/ips/{lab.first}",
                 f"/ui/ips/{lab.second}"):
        html = page(admin.get(f"{path}?at={lab.between_text}"))
        assert html.has_class("p", "as-of"), path
        assert html.write_forms() == [] and html.has_class("a", "free") == [], path
    then = page(admin.get(f"/ui/ips/{lab.second}?at={lab.between_text}"))
    assert then.select("p", id="holder") and "Not held" in then.text
    now = page(admin.get(f"/ui/ips/{lab.second}"))
    assert now.select("dl", id="holder") and "web-2" in now.text


@pytest.mark.parametrize("path", ["/ui/?q=" + "x" * 201, "/ui/networks/{child}?cursor=-1"])
def test_a_malformed_query_is_refused_as_a_page(lab: Lab, admin: httpx.Client, path: str) -> None:
    page(admin.get(path.format(child=lab.child)), 400)


def test_a_moment_that_is_not_a_time_is_refused(lab: Lab, admin: httpx.Client) -> None:
    html = page(admin.get(f"/ui/networks/{lab.child}?at=yesterday"), 400)
    assert "is not a time" in html.text


def test_values_are_shown_as_text_never_as_markup(lab: Lab, admin: httpx.Client) -> None:
    """Names, descriptions, labels and reasons are data: escaped wherever a page shows them."""
    name, description = "<img src=x onerror=alert(1)>", "</td></tr></table><script>alert(2)</script>"
    hostile = {"name": name, "description": description,
               "labels": {"<b>key</b>": "\"'><svg onload=alert(3)>"}}
    network_id = f"hostile-{uuid4().hex[:8]}"
    with lab.api() as api:
        ok(api.put("/v1/network", json={"id": network_id, "projectid": OTHER_PROJECT,
                                        "prefixes": ["172.16.0.0/24"], **hostile}))
        address = ok(api.post("/v1/ip/allocate", json={
            "networkid": network_id, "projectid": OTHER_PROJECT,
            "name": "<script>alert(4)</script>", "description": "<i>x</i>"},
            headers={"X-Change-Reason": "<a href=//evil.example>reason</a>"}))["ipaddress"]
    for path in ("/ui/", f"/ui/?q={quote(name)}", f"/ui/networks/{network_id}",
                 f"/ui/ips/{address}"):
        html = page(admin.get(path))
        tags = {e.tag for e in html.elements}
        assert not tags & {"img", "b", "i"}, path
        assert not [e for e in html.select("script") if "src" not in e.attrs], path
        assert not [e for e in html.select("a") if "evil.example" in e.attrs.get("href", "")]
        assert not [e for e in html.select("svg") if "onload" in e.attrs], path
    network = page(admin.get(f"/ui/networks/{network_id}")).text
    assert name in network and description in network
    assert "<b>key</b>=" in network and "<script>alert(4)</script>" in network
    ip = page(admin.get(f"/ui/ips/{address}")).text
    assert "<a href=//evil.example>reason</a>" in ip and "<i>x</i>" in ip


# -- without JavaScript, without other hosts, with labels -------------------------------------


def console_pages(lab: Lab) -> list[str]:
    return ["/ui/", f"/ui/?q={lab.first}", f"/ui/networks/{quote(SUPER)}",
            f"/ui/networks/{lab.child}", f"/ui/networks/{lab.child}?at={lab.between_text}",
            f"/ui/ips/{lab.first}", f"/ui/ips/{lab.first}/free", f"/ui/networks/{lab.other}/free"]


def test_pages_are_complete_without_javascript(lab: Lab, admin: httpx.Client) -> None:
    overview = page(admin.get("/ui/"))
    assert overview.select("h1") and "Overview" in overview.text
    assert {SUPER, lab.child, lab.other} <= {
        e.attrs["data-network-id"] for e in overview.select(data_network_id="*")}
    assert overview.select("a", href=f"/ui/networks/{lab.child}")
    assert overview.select("meter") and "%" in overview.text
    assert "2 of 64 /22 child prefixes allocated" in overview.text
    assert overview.select("input", name="q")
    assert overview.select("form", action="/ui/signout")[0].attrs["method"] == "post"

    found = page(admin.get("/ui/", params={"q": "other-network"}))
    assert {e.attrs["data-network-id"] for e in found.select("tr", data_network_id="*")} == {lab.other}

    child = page(admin.get(f"/ui/networks/{lab.child}"))
    held = {e.attrs["data-ip"] for e in child.select("tr", data_ip="*")}
    assert {lab.first, lab.first_v6, lab.second} <= held
    assert "web-2" in child.text
    assert len(child.has_class("figure", "freemap")) == 2 and len(child.select("svg")) >= 2
    assert "IPAcquired" in {e.attrs["data-type"] for e in child.select("tr", data_type="*")}

    ip = page(admin.get(f"/ui/ips/{lab.first}"))
    assert ip.select("dl", id="holder") and "web-1" in ip.text
    assert [e.attrs["data-type"] for e in ip.select("tr", data_type="*")][-1] == "IPAcquired"


def test_console_pages_allow_no_inline_script(lab: Lab, admin: httpx.Client) -> None:
    for path in [*console_pages(lab), "/ui/networks/no-such-network"]:
        response = admin.get(path)
        policy = response.headers["content-security-policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
        assert directives["script-src"] == ["'self'"], (path, policy)
        assert directives["style-src"] == ["'self'"], (path, policy)
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        html = Html(response.text)
        assert all(not body.strip() for body in html.scripts), path  # src only
        assert not html.select("style"), path
        inline = [(e.tag, k) for e in html.elements for k in e.attrs
                  if k.startswith("on") or k == "style"]
        assert inline == [], path  # handlers and style attributes the policy would block


def test_htmx_and_styles_come_from_the_console_itself(lab: Lab, admin: httpx.Client) -> None:
    html = page(admin.get("/ui/"))
    scripts = [e.attrs["src"] for e in html.select("script", src="*")]
    assert scripts == ["/ui/static/htmx-2.0.11.min.js"]
    htmx = httpx.get(lab.url + scripts[0])  # public, like the sign-in page
    assert htmx.status_code == 200 and "javascript" in htmx.headers["content-type"]
    assert "htmx" in htmx.text[:2000]
    css = [e.attrs["href"] for e in html.select("link", rel="stylesheet")]
    assert css and all(httpx.get(lab.url + href).status_code == 200 for href in css)

    for path in [*console_pages(lab), "/ui/networks/no-such-network"]:
        html = Html(admin.get(path).text)
        for element in html.elements:
            for name in ("src", "href", "action", "formaction", "xlink:href", "hx-get", "hx-post"):
                target = element.attrs.get(name)
                if target is None:
                    continue
                split = urlsplit(target)
                assert not split.scheme and not split.netloc, (path, element.tag, target)
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html.source), path


def test_every_field_has_a_label(lab: Lab) -> None:
    with signed_in(lab, lab.editor) as client:
        for path in console_pages(lab):
            response = client.get(path)
            html = Html(response.text)
            labelled = {e.attrs["for"] for e in html.select("label", for_="*")}
            fields = [e for e in html.elements if e.tag in ("input", "select", "textarea")
                      and e.attrs.get("type") != "hidden"]
            assert fields, path
            for e in fields:
                assert e.attrs.get("id") in labelled or e.attrs.get("aria-label"), (path, e)
            ids = [e.attrs["id"] for e in html.select(id="*")]
            assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))


# -- forms from other sites -------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}])
def test_a_form_from_another_site_signs_no_one_in(lab: Lab, headers: dict[str, str]) -> None:
    """Login CSRF: another site's page posting its own token would sign the visitor in as it."""
    with httpx.Client(base_url=lab.url, timeout=60) as client:
        response = client.post("/ui/signin", data={"token": lab.admin}, headers=headers)
        page(response, 403)
        assert "ipam_session" not in response.headers.get("set-cookie", "")


def test_a_form_from_another_site_changes_nothing_even_with_the_csrf_token(
    lab: Lab, admin: httpx.Client,
) -> None:
    csrf = page(admin.get("/ui/")).csrf()
    before = state(lab)
    response = admin.post(f"/ui/networks/{lab.child}/ips", headers={"Sec-Fetch-Site": "cross-site"},
                          data={"csrf_token": csrf, "project": SEED_PROJECT})
    page(response, 403)
    assert state(lab) == before
    same = admin.post(f"/ui/networks/{lab.child}/ips",
                      headers={"Origin": lab.url, "Sec-Fetch-Site": "same-origin"},
                      data={"csrf_token": csrf, "project": SEED_PROJECT, "name": "same-site"})
    assert same.status_code == 303, same.text
    address = same.headers["location"].rsplit("/", 1)[1]
    freed = admin.post(f"/ui/ips/{address}/free", data={"csrf_token": csrf})
    assert freed.status_code == 303 and state(lab)[0] == before[0]  # the same addresses held


def test_the_past_shows_the_names_then_and_keeps_its_moment_in_links(
    lab: Lab, admin: httpx.Client,
) -> None:
    html = page(admin.get(f"/ui/networks/{lab.child}?at={lab.between_text}"))
    assert "web-1" in html.text  # the name the address had then, from its events
    ip = page(admin.get(f"/ui/ips/{lab.first}?at={lab.between_text}"))
    links = [e.attrs["href"] for e in ip.select("a", href="*") if "/ui/networks/" in e.attrs["href"]]
    assert links and all("?at=" in link for link in links), links
