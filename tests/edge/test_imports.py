"""The edge runs on a device with no server code: it imports only consent, models and
third-party packages."""

from __future__ import annotations

import ast
from pathlib import Path

EDGE = Path(__file__).resolve().parents[2] / "edge"
FIRST_PARTY = {"edge", "server", "consent", "models"}
ALLOWED = {"edge", "consent", "models"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_edge_never_imports_server() -> None:
    files = sorted(EDGE.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        first_party = _imports(path) & FIRST_PARTY
        assert first_party <= ALLOWED, f"{path.name} imports {first_party - ALLOWED}"
