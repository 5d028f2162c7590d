"""ruff on refldm_desktop/ finds nothing (settings in pyproject.toml), and the settings of
both static checkers stay honest.

ruff runs as a subprocess here, so every full test run (and CI) catches a new finding. Its
rules are the bug-finding ones (pyflakes, bugbear, pylint errors), not style. mypy is set up
in pyproject.toml (`python3 -m mypy`) but not run here yet: it still reports findings in
the package, and a cold run takes many minutes on a busy 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from musthave import require_module

REPO = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUFF_", "MYPY"))}
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=3600)


def test_ruff_finds_nothing():
    require_module("ruff")
    r = _run("ruff", "check", "--no-cache", "--output-format", "concise", "refldm_desktop")
    assert r.returncode == 0, f"ruff findings (fix them; a `# noqa: CODE` needs a reason):\n{r.stdout}{r.stderr}"


def test_the_checks_are_configured_to_find_bugs():
    lint = CONFIG["ruff"]["lint"]
    assert {"F", "B", "PLE"} <= set(lint["select"]) and not lint.get("ignore")
    mypy = CONFIG["mypy"]
    assert mypy["files"] == ["refldm_desktop"] and not mypy.get("ignore_errors")
    assert not mypy.get("ignore_missing_imports"), "only per-module, for third-party packages"
    for override in mypy.get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        assert not any(m.startswith("refldm_desktop") for m in modules), override
        assert not override.get("ignore_errors"), override


def test_ruff_catches_the_bugs_it_is_there_for(tmp_path):
    require_module("ruff")
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(items=[]):\n"  # B006: one list shared by every call
        "    return [lambda: i for i in items] + [undefined_name]\n"  # B023 and F821
        "def g(a, b):\n"
        "    return list(zip(a, b))\n",  # B905: lengths silently cut
        encoding="utf-8",
    )
    r = _run("ruff", "check", "--no-cache", "--config", str(REPO / "pyproject.toml"), "--output-format", "concise",
             str(bad))
    found = {line.split(" ")[1] for line in r.stdout.splitlines() if line.startswith(str(bad))}
    assert {"B006", "B023", "F821", "B905"} <= found, r.stdout
