"""ruff and mypy on refldm_desktop/ find nothing (their settings are in pyproject.toml).

They run as subprocesses here, so every full test run (and CI) catches a new finding.
ruff's rules are the bug-finding ones (pyflakes, bugbear, pylint errors), not style; mypy
checks the whole package, with per-module exceptions only for untyped third-party imports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from musthave import require_module

REPO = Path(__file__).resolve().parents[1]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUFF_", "MYPY"))}
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=env, timeout=1800)


def test_ruff_finds_nothing():
    require_module("ruff")
    ruff = shutil.which("ruff") or sys.executable + " -m ruff"
    r = _run(*ruff.split(), "check", "--no-cache", "refldm_desktop")
    assert r.returncode == 0, f"ruff findings (fix them, or explain a noqa):\n{r.stdout}{r.stderr}"


def test_mypy_finds_nothing():
    require_module("mypy")
    # The cache makes later runs incremental; it lives in the repository (git-ignored).
    r = _run(sys.executable, "-m", "mypy", "--cache-dir", str(REPO / ".mypy_cache"), "refldm_desktop")
    assert r.returncode == 0, f"mypy findings:\n{r.stdout}{r.stderr}"
