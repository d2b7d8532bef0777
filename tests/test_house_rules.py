"""The architecture's rules, checked on the source so that they stay true as the code grows.

- Queries live in each service's repository, where the agency scope is applied in one place.
- Services never commit: the request or consumer boundary does (so outbox rows commit with the change).
- A service never reads another service's schema.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = sorted(p for p in (ROOT / "services").iterdir() if (p / "component.py").exists())
QUERY_BUILDERS = {"select", "insert", "update", "delete", "text"}
SQL_MODULES = {"sa", "sqlalchemy", "sqlmodel", "postgresql"}


def modules(service: Path) -> list[Path]:
    return [p for p in service.rglob("*.py") if "migrations" not in p.parts]


def calls(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            found.append((name, node.lineno))
    return found


def query_builder_calls(tree: ast.AST) -> list[tuple[str, int]]:
    """`select(...)`, `sa.update(...)`, `text(...)`: SQL built here; not `settings.update()`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in QUERY_BUILDERS:
            found.append((func.id, node.lineno))
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in QUERY_BUILDERS
            and isinstance(func.value, ast.Name)
            and func.value.id in SQL_MODULES
        ):
            found.append((f"{func.value.id}.{func.attr}", node.lineno))
    return found


def is_repository(path: Path) -> bool:
    """`repository.py`, or a repository split into `repository_*.py` modules or a `repository/` package."""
    return path.name.startswith("repository") or "repository" in path.parts


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_queries_are_built_only_in_the_repository(service: Path) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name}()"
        for path in modules(service)
        if not is_repository(path)
        for name, line in query_builder_calls(ast.parse(path.read_text()))
    ]
    assert offenders == [], "build queries in repository.py, where the scope is applied once"


@pytest.mark.parametrize("service", [*SERVICES, ROOT / "gateway"], ids=lambda p: p.name)
def test_services_never_commit(service: Path) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in modules(service)
        for name, line in calls(ast.parse(path.read_text()))
        if name in {"commit", "rollback"}
    ]
    assert offenders == [], "the request or consumer boundary commits, never a service"


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_a_service_touches_only_its_own_schema(service: Path) -> None:
    others = "|".join(p.name for p in SERVICES if p != service) + "|gateway"
    sql_reference = re.compile(rf'\b(FROM|JOIN|INTO|UPDATE|TABLE)\s+"?({others})"?\.', re.IGNORECASE)
    declared = re.compile(rf"""["']schema["']\s*:\s*["']({others})["']|schema\s*=\s*["']({others})["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in service.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if sql_reference.search(line) or declared.search(line)
    ]
    assert offenders == [], "learn through events and ask through the other service's API"
