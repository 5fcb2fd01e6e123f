"""docs/api.md's routes table names every route of the app's OpenAPI document, with its success
status, and no route the app does not have: the reference cannot silently miss or invent one.
Paths are compared with their parameters' names left out (`/v1/ip/{ip}` is `/v1/ip/{id}`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from api.app import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = {"get", "put", "post", "delete", "patch"}
# served by the app but not part of its OpenAPI document
UNDOCUMENTED_IN_SCHEMA = {("GET", "/openapi.json"), ("GET", "/docs")}
PARAMETER = re.compile(r"\{[^}/]*\}")


def shape(path: str) -> str:
    """The path with each parameter's name left out."""
    return PARAMETER.sub("{}", path)


def routes_table() -> dict[tuple[str, str], str]:
    """(method, path) -> status cell of the rows of the `## Routes` section's table."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Routes\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0].lower() not in METHODS:
            continue
        rows[(cells[0].upper(), shape(cells[1].strip("`")))] = cells[2]
    return rows


def openapi_routes() -> dict[tuple[str, str], set[str]]:
    """(method, path) -> the 2xx statuses the app declares for it."""
    document: dict[str, Any] = create_app().openapi()
    found: dict[tuple[str, str], set[str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in METHODS:
                found[(method.upper(), shape(path))] = {
                    code for code in operation["responses"] if code.startswith("2")}
    return found


def test_every_route_of_the_app_is_in_the_routes_table() -> None:
    documented = routes_table()
    missing = sorted(set(openapi_routes()) - set(documented))
    assert not missing, f"routes missing from docs/api.md's routes table: {missing}"


def test_the_routes_table_names_no_route_the_app_lacks() -> None:
    extra = sorted(set(routes_table()) - set(openapi_routes()) - UNDOCUMENTED_IN_SCHEMA)
    assert not extra, f"docs/api.md's routes table names routes the app does not have: {extra}"


def test_the_routes_table_gives_each_route_its_success_status() -> None:
    documented = routes_table()
    wrong = []
    for route, statuses in openapi_routes().items():
        shown = set(re.findall(r"\b2\d\d\b", documented.get(route, "")))
        if shown != statuses:
            wrong.append((route, sorted(statuses), documented.get(route)))
    assert not wrong, f"success statuses differ (route, app, docs/api.md): {wrong}"
