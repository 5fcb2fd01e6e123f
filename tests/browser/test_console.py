"""The console as a person uses it, in headless Chromium against a live, seeded server: signing
in, the overview and its live search, a network's page with its free-space map and history,
the past through the header's moment picker, an editor's forms, what a viewer and a tenant see,
a revoked token. The main pages are saved as docs/screenshots/*.png."""

from __future__ import annotations

import subprocess
from urllib.parse import quote

import httpx
import pytest

from tests.browser.conftest import Console
from tests.browser.lab import OTHER_PROJECT, SUPER, Lab, issue
from tests.conftest import SEED_PROJECT
from tests.live import BIN

pytestmark = pytest.mark.browser

BROWSER_PROJECT = "0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"


def shown_ids(console: Console, css: str = "[data-network-id]") -> set[str]:
    return {str(e.get_attribute("data-network-id")) for e in console.all(css)}


def shown_ips(console: Console) -> set[str]:
    return {str(e.get_attribute("data-ip")) for e in console.all("tr[data-ip]")}


def write_controls(console: Console) -> list[str]:
    """The write forms and free links on the page (the header's sign-out aside)."""
    forms = [f"form#{e.get_attribute('id')} -> {e.get_attribute('action')}"
             for e in console.all("main form[method=post]")]
    return forms + [f"a.free -> {e.get_attribute('href')}" for e in console.all("a.free")]


def test_sign_in_shows_the_overview(console: Console, lab: Lab) -> None:
    console.open("/ui/")
    assert console.text("h1") == "Sign in"
    assert console.find("form.signin input#token").get_attribute("name") == "token"
    assert console.find("label[for=token]").is_displayed()
    console.submit("form.signin", token=lab.admin)
    assert console.path == "/ui/"
    assert console.text("h1") == "Overview"
    assert "test-admin" in console.text("header .who")
    cookie = console.driver.get_cookie("ipam_session")
    assert cookie is not None
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"], cookie["secure"]) == (
        True, "Strict", "/ui", False)
    assert console.driver.execute_script("return document.cookie") == ""  # no script reads it


def test_the_keyboard_alone_signs_in_and_out(console: Console, lab: Lab) -> None:
    from selenium.webdriver.common.keys import Keys

    console.open("/ui/")
    body = console.find("body")
    body.send_keys(Keys.TAB)
    skip = console.driver.switch_to.active_element
    assert (skip.tag_name, skip.get_attribute("href")) == ("a", f"{lab.url}/ui/#main")
    console.find("input#token").send_keys(lab.viewer)
    console.navigating(lambda: console.find("input#token").send_keys(Keys.ENTER))
    assert console.text("h1") == "Overview"

    signout = console.find("header form[action='/ui/signout']")
    assert signout.find_element("css selector", "input[name=csrf_token]").get_attribute("type") == "hidden"
    console.navigating(lambda: signout.find_element("css selector", "button").send_keys(Keys.ENTER))
    assert console.text("h1") == "Sign in"
    assert console.driver.get_cookie("ipam_session") is None


def test_a_wrong_token_is_refused(console: Console) -> None:
    console.open("/ui/")
    console.submit("form.signin", token="ipam_not-a-token")
    assert console.text("h1") == "Sign in"
    assert "Not signed in" in console.text("p.message[role=alert]")
    assert console.driver.get_cookie("ipam_session") is None


def test_the_overview_shows_partitions_networks_usage_and_searches(
    console: Console, lab: Lab,
) -> None:
    console.sign_in(lab.admin)
    assert console.text("section.partition h2") == "Partition mini-lab"
    assert {SUPER, lab.child, lab.other} <= shown_ids(console)
    super_usage = console.find(f'article[data-network-id="{SUPER}"] ul.usage')
    assert "2 of 64 /22 child prefixes allocated" in super_usage.text
    meters = console.all("meter")
    assert len(meters) >= 6 and all(m.is_displayed() and m.text.endswith("%") for m in meters)
    console.screenshot("overview")

    # the search box asks as one types (htmx): the list changes, the page stays
    page = console.find("html")
    console.find("input#q").send_keys("other-network")
    console.until(lambda: shown_ids(console) == {lab.other})
    assert console.find("html") == page and console.path == "/ui/"
    assert "1 of" in console.text("#networks [role=status]")

    # and without scripts it is a form: Enter loads /ui/?q=
    console.navigating(lambda: console.find("input#q").submit())
    assert console.path == "/ui/?q=other-network"
    assert shown_ids(console) == {lab.other}


def test_the_super_networks_page_shows_its_map_children_and_history(
    console: Console, lab: Lab,
) -> None:
    console.sign_in(lab.admin)
    console.follow(f'article[data-network-id="{SUPER}"] h3 a')
    assert console.path == f"/ui/networks/{SUPER}"
    assert console.text("h1").startswith(f"Network {SUPER}")
    assert "10.0.0.0/16, 2001:db8:0:10::/64" in console.text("dl.attributes")
    maps = console.all("figure.freemap svg")
    assert [m.find_element("xpath", "../figcaption").text for m in maps] == [
        "10.0.0.0/16", "2001:db8:0:10::/64"]
    assert all(m.size["width"] >= 600 and m.size["height"] > 0 for m in maps)
    assert {lab.child, lab.other} <= shown_ids(console, "#children tr[data-network-id]")
    assert console.find("form#allocate-child").is_displayed()
    with lab.api() as api:
        events = api.get(f"/v1/network/{SUPER}/history").json()["events"]
    types = [e.get_attribute("data-type") for e in console.all("table.history tr[data-type]")]
    assert types == [e["type"] for e in reversed(events)][:len(types)] and types
    console.screenshot("network-super")

    # a child's block in the IPv4 map links to its page
    child_link = maps[0].find_element("css selector", f'a[href="/ui/networks/{lab.child}"]')
    console.navigating(child_link.click)
    assert console.path == f"/ui/networks/{lab.child}"


def test_a_child_networks_page_lists_its_addresses(console: Console, lab: Lab) -> None:
    console.sign_in(lab.admin)
    console.follow(f'tr[data-network-id="{lab.child}"] a')
    assert console.text("h1") == f"Network {lab.child} my-node-network"
    assert {lab.first, lab.first_v6, lab.second} <= shown_ips(console)
    assert console.find(f'tr[data-ip="{lab.second}"]').text.split()[1] == "web-2"
    assert len(console.all("figure.freemap svg")) == 2
    assert console.find("form#acquire").is_displayed()
    assert "IPAcquired" in {e.get_attribute("data-type")
                            for e in console.all("table.history tr[data-type]")}
    console.screenshot("network-child")

    console.follow(f'tr[data-ip="{lab.first}"] a')
    assert console.path == f"/ui/ips/{lab.first}"
    holder = console.text("#holder")
    assert lab.child in holder and "web-1" in holder and SEED_PROJECT in holder
    row = console.find("table.history tr[data-type=IPAcquired]")
    assert "web-1 joins the cluster" in row.text and "test-admin" in row.text
    console.screenshot("ip")


def test_the_past_shows_the_earlier_state_read_only(console: Console, lab: Lab) -> None:
    console.sign_in(lab.admin)
    console.open(f"/ui/networks/{lab.child}")
    assert lab.second in shown_ips(console) and write_controls(console)

    # the header's picker: a date-time in UTC, to the second
    picker = console.find("form.moment input#at")
    assert picker.get_attribute("type") == "datetime-local"
    console.driver.execute_script("arguments[0].value = arguments[1]", picker, lab.between_text)
    console.navigating(console.find("form.moment button[type=submit]").click)
    assert console.path.startswith(f"/ui/networks/{lab.child}?at=")
    banner = console.find(".as-of")
    assert banner.get_attribute("role") == "status" and "read-only" in banner.text
    assert lab.between.strftime("%Y-%m-%d %H:%M:%S UTC") in banner.text
    assert shown_ips(console) == {lab.first, lab.first_v6}  # web-2 came later
    assert write_controls(console) == []
    assert console.find("input#at").get_attribute("value") == lab.between_text
    console.screenshot("past")

    # the overview's search asks about the same moment (htmx includes it)
    console.open(f"/ui/?at={lab.between_text}")
    console.find("input#q").send_keys("my-node")
    console.until(lambda: shown_ids(console) == {lab.child})
    link = console.find(f'tr[data-network-id="{lab.child}"] a').get_attribute("href") or ""
    assert link.endswith(f"/ui/networks/{lab.child}?at={quote(lab.between.isoformat(), safe='')}")

    # links keep the moment; "now" leaves it
    console.open(f"/ui/networks/{lab.child}?at={lab.between_text}")
    console.follow(f'tr[data-ip="{lab.first}"] a')
    assert "?at=" in console.path and console.find(".as-of").is_displayed()
    console.open(f"/ui/ips/{lab.second}?at={lab.between_text}")
    assert "Not held" in console.text("#holder")
    console.follow("form.moment a")
    assert console.path == f"/ui/ips/{lab.second}"
    assert "web-2" in console.text("#holder") and not console.all(".as-of")


def test_an_editor_allocates_acquires_and_frees_through_the_forms(
    console: Console, lab: Lab,
) -> None:
    console.sign_in(lab.editor)
    api = lab.api()
    console.open(f"/ui/networks/{quote(SUPER)}")
    console.submit("form#allocate-child", project=BROWSER_PROJECT, name="browser-network",
                   reason="from the console")
    assert console.path.startswith("/ui/networks/")
    network_id = console.path.removeprefix("/ui/networks/")
    created = api.get(f"/v1/network/{network_id}").json()
    assert (created["name"], created["projectid"], created["parentnetworkid"]) == (
        "browser-network", BROWSER_PROJECT, SUPER)

    # the acquire form offers the network's project
    assert console.find("#acquire [name=project]").get_attribute("value") == BROWSER_PROJECT
    console.submit("form#acquire", family="IPv6", name="browser-ip", reason="a test machine")
    assert console.path.startswith("/ui/ips/")
    address = console.find("h1").text.removeprefix("IP ")
    assert ":" in address
    held = api.get(f"/v1/ip/{address}").json()
    assert (held["name"], held["networkid"], held["projectid"]) == (
        "browser-ip", network_id, BROWSER_PROJECT)
    assert "browser-ip" in console.text("#holder")

    console.follow("a.free")  # confirm first, on a page of its own
    assert console.path == f"/ui/ips/{quote(address, safe='')}/free"
    assert api.get(f"/v1/ip/{address}").status_code == 200
    console.submit("form.confirm", reason="done testing")
    assert console.path == f"/ui/networks/{network_id}"
    assert api.get(f"/v1/ip/{address}").status_code == 404
    assert address not in shown_ips(console)

    console.open(f"/ui/networks/{quote(SUPER)}")
    console.follow(f'#children tr[data-network-id="{network_id}"] a.free')
    console.submit("form.confirm", reason="no longer needed")
    assert console.path == f"/ui/networks/{SUPER}"
    assert api.get(f"/v1/network/{network_id}").status_code == 404
    assert network_id not in shown_ids(console)

    history = api.get(f"/v1/ip/{address}/history").json()["events"]
    assert [(e["type"], e["actor"], e["reason"]) for e in history] == [
        ("IPAcquired", "erin-editor", "a test machine"), ("IPReleased", "erin-editor", "done testing")]
    api.close()


def test_a_viewer_sees_no_write_controls(console: Console, lab: Lab) -> None:
    console.sign_in(lab.viewer)
    assert "victor-viewer · viewer" in console.text("header .who")
    for path in ("/ui/", f"/ui/networks/{quote(SUPER)}", f"/ui/networks/{lab.child}",
                 f"/ui/ips/{lab.first}"):
        console.open(path)
        assert console.all("h1") and console.text("h1") != "Refused", path
        assert write_controls(console) == [], path
        if path == f"/ui/networks/{lab.child}":
            assert {lab.first, lab.second} <= shown_ips(console)  # reading is all it may do


def test_a_tenant_cannot_see_another_projects_network_even_by_url(
    console: Console, lab: Lab,
) -> None:
    console.sign_in(lab.tenant)
    assert shown_ids(console) == {SUPER, lab.child}
    console.open(f"/ui/networks/{quote(SUPER)}")
    assert shown_ids(console, "#children tr[data-network-id]") == {lab.child}
    assert not console.all(f'figure.freemap a[href*="{lab.other}"]')
    assert OTHER_PROJECT not in console.find("main").text

    console.open(f"/ui/networks/{lab.other}")
    assert console.text("h1") == "Refused"
    assert f'network with id "{lab.other}" not found' in console.text("[role=alert]")
    assert "other-network" not in console.find("main").text
    console.open(f"/ui/networks/{lab.other}?at={lab.between_text}")
    assert console.text("h1") == "Refused"


def test_a_revoked_token_signs_the_browser_out(console: Console, lab: Lab) -> None:
    secret = issue(lab.database_url, "rosa-revoked", "editor")
    console.sign_in(secret)
    console.open(f"/ui/networks/{lab.child}")
    assert console.find("form#acquire")

    revoked = subprocess.run(
        [str(BIN / "ipam"), "token", "revoke", "-", "--reason", "browser test",
         "--database-url", lab.database_url],
        input=secret, capture_output=True, text=True, timeout=60, check=False)
    assert revoked.returncode == 0, revoked.stderr

    console.follow(f'tr[data-ip="{lab.first}"] a')
    assert console.text("h1") == "Sign in"
    assert "Signed out" in console.text("p.message[role=alert]")
    assert "revoked" in console.text("p.message[role=alert]")
    assert console.driver.get_cookie("ipam_session") is None
    assert httpx.get(f"{lab.url}/v1/network", headers={"Authorization": f"Bearer {secret}"}
                     ).status_code == 401
