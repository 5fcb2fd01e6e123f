"""Imports point inward: api -> application -> domain, infrastructure -> domain.

Every module's imports are read with `ast` (nothing is imported), including imports nested in
functions or under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "application", "infrastructure", "api")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, name: str, is_package: bool = False) -> list[str]:
    """Absolute names of every module (or module attribute) `source` imports; `name` is the
    module's own dotted name, used to resolve relative imports."""
    found: list[str] = []
    package = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
    return found


def allowed_in_domain(name: str) -> bool:
    top = name.split(".")[0]
    return (
        top in sys.stdlib_module_names
        or top == "domain"
        or name == "eventsourcing.domain"
        or name.startswith("eventsourcing.domain.")
    )


def violations(package: str, forbidden: tuple[str, ...] = ()) -> list[str]:
    wrong: list[str] = []
    for path in modules(package):
        name = module_name(path)
        for target in imported(path.read_text(), name, path.name == "__init__.py"):
            top = target.split(".")[0]
            bad = not allowed_in_domain(target) if package == "domain" else top in forbidden
            if bad:
                wrong.append(f"{name} imports {target}")
    return wrong


@pytest.mark.parametrize("package", LAYERS)
def test_every_layer_has_modules_to_check(package: str) -> None:
    assert len(modules(package)) > 1


def test_domain_imports_only_stdlib_eventsourcing_domain_and_itself() -> None:
    assert violations("domain") == []


def test_application_never_imports_infrastructure_or_api() -> None:
    assert violations("application", ("infrastructure", "api")) == []


def test_infrastructure_never_imports_api() -> None:
    assert violations("infrastructure", ("api",)) == []


def test_import_walker_sees_every_import_form() -> None:
    source = (
        "import os.path\n"
        "from typing import TYPE_CHECKING\n"
        "from eventsourcing.application import Application\n"
        "from . import sibling\n"
        "from ..api.app import create_app\n"
        "if TYPE_CHECKING:\n"
        "    from infrastructure.store import Ipam\n"
        "def f() -> None:\n"
        "    import sqlalchemy\n"
    )
    found = sorted(imported(source, "domain.sub.module"))
    assert found == sorted([
        "os.path", "typing.TYPE_CHECKING", "eventsourcing.application.Application",
        "domain.sub.sibling", "domain.api.app.create_app", "infrastructure.store.Ipam",
        "sqlalchemy",
    ])
    assert [n for n in found if not allowed_in_domain(n)] == [
        "eventsourcing.application.Application", "infrastructure.store.Ipam", "sqlalchemy",
    ]


def test_domain_rule_allows_only_eventsourcing_domain() -> None:
    assert allowed_in_domain("eventsourcing.domain.Aggregate")
    assert allowed_in_domain("ipaddress")
    assert not allowed_in_domain("eventsourcing.persistence.Transcoder")
    assert not allowed_in_domain("eventsourcing")
    assert not allowed_in_domain("pydantic.BaseModel")


def test_layer_check_reports_real_imports_it_finds() -> None:
    # the allowed inward imports exist, so a check that found nothing would be blind
    assert any(v.startswith("application.service imports domain.") for v in
               violations("application", ("domain",)))
    assert any(" imports application." in v for v in violations("api", ("application",)))
