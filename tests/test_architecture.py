"""Dependencies point one way: edge/server -> consent, models; consent and models import no
other project package; edge never imports server (an edge device has no server code installed);
only consent touches cryptography.hazmat. The one dependency-direction test of the project."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = {"edge", "server", "consent", "models"}
NEVER_IMPORTED = {"tests", "bench"}
ALLOWED = {
    "consent": set(),
    "models": set(),
    "edge": {"consent", "models"},
    "server": {"consent", "models"},
}
# Composition roots: the one `vertrouwd` command line dispatches `vertrouwd edge`, and the demo
# runs both sides in one process. Nothing else in server/ may import edge/.
COMPOSITION_ROOTS = {"server/cli.py": {"edge"}, "server/demo.py": {"edge"}}
# The one exception to "models imports no project package": crash-safe file writing lives once,
# in consent.files (which imports nothing of the project but consent.errors and nothing
# third-party), and models writes its converted models, cards and caches with it.
SHARED_HELPERS = {"models": ("consent.files",)}


def imports(path: Path, root: Path = REPO) -> Iterator[str]:
    """Every module a file imports, relative imports resolved, ``from a import b`` as both
    ``a`` and ``a.b`` (``b`` may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = path.relative_to(root).parent.parts
                base = ".".join(package[: len(package) - (node.level - 1)])
                module = ".".join(p for p in (base, node.module or "") if p)
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str) -> None:
    files = sources(package)
    assert len(files) >= 8, f"{package}/ has too few modules: the checker looks in the wrong place"
    bad = []
    for path in files:
        allowed = ALLOWED[package] | COMPOSITION_ROOTS.get(str(path.relative_to(REPO)), set())
        for name in set(imports(path)):
            if any(name == h or name.startswith(h + ".") for h in SHARED_HELPERS.get(package, ())):
                continue
            top = name.split(".")[0]
            if top in NEVER_IMPORTED or (top in PROJECT and top != package and top not in allowed):
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(sorted(bad))


def test_only_consent_touches_hazmat() -> None:
    bad = []
    for path in sorted(REPO.rglob("*.py")):
        rel = path.relative_to(REPO)
        if rel.parts[0] in {"consent", "build"} or rel.parts[0].startswith("."):
            continue
        bad += [f"{rel} imports {n}" for n in imports(path) if n.startswith("cryptography.hazmat")]
    assert not bad, "\n".join(bad)
    # ... and consent really does (a checker that finds nothing proves nothing).
    assert any(n.startswith("cryptography.hazmat") for p in sources("consent") for n in imports(p))


def test_the_checker_sees_every_form_of_import(tmp_path: Path) -> None:
    probe = tmp_path / "consent" / "probe.py"
    probe.parent.mkdir()
    probe.write_text("from server.db import models\nimport edge.cli\nfrom . import gallery\n")
    found = set(imports(probe, root=tmp_path))
    assert {"server.db", "server.db.models", "edge.cli", "consent.gallery"} <= found


def test_the_shared_file_helper_stays_a_leaf() -> None:
    """``consent.files`` (allowed in ``models``) imports only the standard library and
    ``consent.errors``, which imports nothing: models gains no way into the rest of consent."""
    for module in ("files", "errors"):
        names = set(imports(REPO / "consent" / f"{module}.py"))
        project = {n for n in names if n.split(".")[0] in PROJECT}
        assert project <= ({"consent.errors", "consent.errors.InsecureKeyFileError"}), project
        third_party = {
            n.split(".")[0]
            for n in names
            if n.split(".")[0] not in PROJECT and n.split(".")[0] not in sys.stdlib_module_names
        }
        assert third_party <= {"__future__"}, third_party
    # and models really uses it (an allowance nothing needs would be a hole)
    assert any(n.startswith("consent.files") for p in sources("models") for n in imports(p))
