"""Plugins reach the app only through refldm_desktop.plugin_api, and import heavy
libraries lazily, so that the CLI and the window start fast and plugins survive
refactoring of the app's insides."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
FACE_PLUGINS = ["refldm_plugin_dlib", "refldm_plugin_insightface"]
HEAVY = {"dlib", "onnxruntime", "onnx", "insightface", "cv2", "torch"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at top level of the file) for every import in a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((a.name, id(node) in top) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
    return found


@pytest.mark.parametrize("plugin", FACE_PLUGINS)
def test_plugins_use_only_the_public_plugin_api_and_import_heavy_libraries_lazily(plugin):
    files = sorted((PLUGINS / plugin).rglob("*.py"))
    assert files
    for path in files:
        for module, top_level in _imports(path):
            if module.split(".")[0] == "refldm_desktop":
                assert module == "refldm_desktop.plugin_api", f"{path.name} imports {module}"
            if module.split(".")[0] in HEAVY:
                assert not top_level, f"{path.name} imports {module} at import time"


@pytest.mark.parametrize("plugin", FACE_PLUGINS)
def test_importing_a_plugin_loads_no_heavy_library(plugin):
    code = f"import sys, {plugin}; print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
