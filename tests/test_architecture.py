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


def module_graph(package: str, root: Path = REPO) -> dict[str, set[str]]:
    """Which modules of ``package`` each of its modules imports (lazy imports in functions
    included: a cycle broken only by importing late is still a cycle)."""
    files = {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted((root / package).rglob("*.py"))
    }
    return {
        name: {n for n in imports(path, root) if n in files and n != name}
        for name, path in files.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk (each reported once, from its first
    module in sorted order)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            walk(nxt, [*path, node])
        done.add(node)

    for start in sorted(graph):
        walk(start, [])
    return found


def test_no_import_cycle_inside_models() -> None:
    """A backend never imports the registry that picks it (``models.registry`` and the ONNX
    backend imported each other once). The package's ``__init__`` only re-exports, so it is
    left out: a module importing ``models.x`` does not run through it in this graph."""
    graph = module_graph("models")
    graph.pop("models", None)
    assert "models.registry" in graph  # the checker looks in the right place
    assert "models.backends.onnx" in graph
    assert not cycles(graph), "\n".join(" -> ".join(c) for c in cycles(graph))


def test_the_cycle_checker_finds_a_lazy_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "models"
    pkg.mkdir()
    (pkg / "registry.py").write_text("def f():\n    from models import backend\n")
    (pkg / "backend.py").write_text("from models.registry import f\n")
    (pkg / "types.py").write_text("")
    found = cycles(module_graph("models", root=tmp_path))
    assert found
    assert set(found[0]) == {"models.registry", "models.backend"}


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
