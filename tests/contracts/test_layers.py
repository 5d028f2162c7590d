"""Who may import what (ARCHITECTURE.md): only refldm_desktop/ui imports Qt, the core never
imports the UI, and the core's modules depend on each other one way only (no cycles).

Imports are read from the source (every import statement at any depth of a file), so a lazy
import inside a function counts like one at the top. For the core's cycles, imports under
`if TYPE_CHECKING:` are left out: they load nothing, and the Library's helpers (jobs,
restoring, report) name the Library they are handed in their annotations."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "refldm_desktop"
QT = {"PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "shiboken2", "qtpy"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:`."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def imports_of(path: Path, *, type_only: bool = True) -> set[str]:
    """Every module a source file imports, with relative imports made absolute; for
    `from pkg import name` both pkg and pkg.name (the caller keeps those that are modules)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip = set() if type_only else _type_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_only_the_ui_package_imports_qt():
    offenders = []
    for path in sources(PACKAGE) + sources(REPO / "plugins"):
        if PACKAGE / "ui" in path.parents:
            continue
        qt = sorted(m for m in imports_of(path) if m.split(".")[0] in QT)
        if qt:
            offenders.append(f"{path.relative_to(REPO)}: {', '.join(qt)}")
    assert not offenders, "Qt imported outside refldm_desktop/ui:\n" + "\n".join(offenders)


def test_the_core_never_imports_the_ui_or_the_cli():
    offenders = []
    for path in sources(PACKAGE / "core"):
        bad = sorted(m for m in imports_of(path) if m.startswith(("refldm_desktop.ui", "refldm_desktop.cli")))
        if bad:
            offenders.append(f"{path.relative_to(REPO)}: {', '.join(bad)}")
    assert not offenders, "\n".join(offenders)


def test_the_headless_parts_load_no_qt():
    code = (
        "import sys\n"
        "import refldm_desktop.cli, refldm_desktop.core.library, refldm_desktop.core.restoring\n"
        "import refldm_desktop.core.restore_job, refldm_desktop.core.report, refldm_desktop.jobs.runner\n"
        f"print(sorted(m for m in {sorted(QT)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def core_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in sources(PACKAGE / "core")}
    return {m: {d for d in imports_of(p, type_only=False) if d in modules and d != m} for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return path[path.index(w):] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_core_modules_depend_on_each_other_one_way():
    graph = core_graph()
    assert "refldm_desktop.core.library" in graph and graph["refldm_desktop.core.library"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in refldm_desktop/core: " + " -> ".join(cycle)


@pytest.mark.parametrize("layer", ["faces", "restore", "library", "db", "jobs"])
def test_lower_layers_do_not_import_the_ui_or_the_cli(layer):
    """faces, restore, library, db and jobs are the core's tools, headless like it."""
    offenders = []
    for path in sources(PACKAGE / layer):
        up = sorted(m for m in imports_of(path) if m.startswith(("refldm_desktop.ui", "refldm_desktop.cli")))
        if up:
            offenders.append(f"{path.relative_to(REPO)}: {', '.join(up)}")
    assert not offenders, "\n".join(offenders)
