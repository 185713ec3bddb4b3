"""Dependency rules: consent imports no other project package; only consent touches hazmat."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_FOR_CONSENT = {"edge", "server", "models", "bench", "tests"}


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the package path
                package = path.relative_to(ROOT).parent.parts
                base = package[: len(package) - (node.level - 1)]
                yield ".".join([*base, node.module or ""]).rstrip(".")
            elif node.module:
                yield node.module
                for alias in node.names:
                    yield f"{node.module}.{alias.name}"


def test_consent_imports_no_other_project_package() -> None:
    files = sorted((ROOT / "consent").rglob("*.py"))
    assert len(files) >= 10
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN_FOR_CONSENT
    ]
    assert offenders == []


def test_the_checker_sees_imports() -> None:
    # Guard against a checker that silently finds nothing.
    sample = ROOT / "consent" / "gallery.py"
    assert "consent.device" in set(_imports(sample))


def test_only_consent_imports_cryptography_hazmat() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "build", "consent"} or rel.parts[0].startswith("."):
            continue
        for name in _imports(path):
            if name.startswith("cryptography.hazmat") or name == "cryptography.hazmat":
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_hazmat_is_actually_used_in_consent() -> None:
    names = {n for p in (ROOT / "consent").rglob("*.py") for n in _imports(p)}
    assert any(n.startswith("cryptography.hazmat") for n in names)
