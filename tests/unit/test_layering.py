"""Arrows only point down (STYLE.md): nothing in ``libs/`` imports ``services/``; services register what the shared
code needs (the ``studios.projections`` entry point) instead."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_libs_never_import_services() -> None:
    offenders = sorted(f"{p.relative_to(ROOT)}: {name}" for p in (ROOT / "libs").rglob("*.py")
                       for name in _imports(p) if name == "services" or name.startswith("services."))
    assert offenders == []


def test_the_gateway_registers_its_projections_for_the_cli() -> None:
    from libs.eventstore.projections import registered

    names = {name for catalog in registered() for name in catalog.names()}
    assert {"studios", "gateway.identity"} <= names


def test_no_service_imports_another() -> None:
    """Services share code through libs/ (and talk over the bus), never by importing each other's modules."""
    offenders = []
    for service in (ROOT / "services").iterdir():
        if not (service / "__init__.py").is_file():
            continue
        for path in service.rglob("*.py"):
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "services" and len(parts) > 1 and parts[1] != service.name:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert sorted(offenders) == []
