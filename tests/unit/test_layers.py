"""The package's layers: a module imports only from its own layer or the ones below.

From the bottom: the base (configuration, errors, metrics), the IDL's description of
services, the upstream side (pools, connections, balancing), the JSON side of calls,
security, HTTP, and at the top what puts them together (the app factory, the WSGI entry,
the Gunicorn worker, the keys CLI). thrift_wire and thrift_idl sit below all of them;
backends/ is a program of its own that the gateway never imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = [
    {"gateway.config", "gateway.errors", "gateway.metrics", "gateway.timers"},
    {"gateway.idl"},
    {"gateway.upstream"},
    {"gateway.rpc"},
    {"gateway.security"},
    {"gateway.http"},
    {"gateway.app", "gateway.wsgi", "gateway.worker", "gateway.keys"},
]


def _layer(module: str) -> int:
    for level, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return level
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1:
            out.append((".".join(parts), path))
    return out


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gateway":
                found.update(f"gateway.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return {name for name in found if name.startswith(("gateway.", "backends"))}


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_a_module_imports_nothing_above_its_layer(module: str, path: Path) -> None:
    level = _layer(module)
    for imported in sorted(_imports(path)):
        assert not imported.startswith("backends"), f"{module} imports the backends' program {imported}"
        assert _layer(imported) <= level, f"{module} (layer {level}) imports {imported} (layer {_layer(imported)})"


def test_every_module_is_in_a_layer() -> None:
    for module, _ in _modules():
        _layer(module)
