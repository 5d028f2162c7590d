"""The tests import their helper modules by bare name (no folder of tests is a package), so
a name that two folders share, `conftest` above all, means whichever pytest loaded last:
a run that collected the folders in another order then failed with an ImportError."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
    return names


def test_no_test_imports_from_a_conftest():
    offenders = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py") if "conftest" in _imported_modules(p))
    assert not offenders, f"put shared helpers in a uniquely named module, not conftest.py: {offenders}"


def test_helper_modules_have_names_no_other_test_folder_uses():
    by_name: defaultdict[str, list[str]] = defaultdict(list)
    for p in TESTS.rglob("*.py"):
        if p.name != "conftest.py" and "__pycache__" not in p.parts:
            by_name[p.stem].append(str(p.relative_to(TESTS)))
    shared = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not shared, f"tests import these by bare name, so each must be unique: {shared}"
