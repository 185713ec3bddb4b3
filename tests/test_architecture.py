"""Dependencies point one way: edge/server -> consent, models; consent and models import no
other project package; edge never imports server; only consent touches cryptography.hazmat."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = {"edge", "server", "consent", "models"}
ALLOWED = {
    "consent": set(),
    "models": set(),
    "edge": {"consent", "models"},
    "server": {"consent", "models"},
}
# Composition roots: the one `vertrouwd` command line dispatches `vertrouwd edge`, and the demo
# runs both sides in one process. Nothing else in server/ may import edge/, and edge/ never
# imports server/ (an edge device has no server code installed).
COMPOSITION_ROOTS = {"server/cli.py": {"edge"}, "server/demo.py": {"edge"}}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str) -> None:
    bad = []
    files = list((REPO / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    for path in files:
        for name in imports(path):
            top = name.split(".")[0]
            allowed = ALLOWED[package] | COMPOSITION_ROOTS.get(str(path.relative_to(REPO)), set())
            if top in PROJECT and top != package and top not in allowed:
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)


def test_only_consent_touches_hazmat() -> None:
    bad = []
    for package in sorted(PROJECT - {"consent"}):
        for path in (REPO / package).rglob("*.py"):
            bad += [
                f"{path.relative_to(REPO)} imports {n}"
                for n in imports(path)
                if n.startswith("cryptography.hazmat")
            ]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from server.db import models\nimport edge.cli\n")
    assert {"server.db", "edge.cli"} <= imports(bad)
