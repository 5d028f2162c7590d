"""Only refldm_desktop/ui imports Qt, and core never imports ui: everything the app does
can run headless (the CLI, the tests, another front end)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "refldm_desktop"
QT = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6", "qtpy")


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_nothing_outside_ui_imports_qt_and_core_never_imports_ui():
    files = [p for p in PACKAGE.rglob("*.py") if "ui" not in p.relative_to(PACKAGE).parts[:1]]
    assert len(files) > 20
    for path in files:
        for module in _imported(path):
            assert module.split(".")[0] not in QT, f"{path.relative_to(PACKAGE.parent)} imports {module}"
            if path.relative_to(PACKAGE).parts[0] == "core":
                assert not module.startswith("refldm_desktop.ui"), f"{path.name} imports {module}"
