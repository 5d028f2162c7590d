"""ruff and mypy on refldm_desktop/ find nothing (settings in pyproject.toml), and the
settings of both checkers stay honest.

Both run as subprocesses here, so every full test run (and CI) catches a new finding. ruff's
rules are the bug-finding ones (pyflakes, bugbear, pylint errors), not style. mypy keeps its
cache in the temp folder, one per checkout: a cold run takes about a minute on a busy 2-core
machine, a warm one (nothing or little changed) a few seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from musthave import require_module

REPO = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
# One mypy cache per checkout (several worktrees may test at once), kept between runs.
MYPY_CACHE = Path(tempfile.gettempdir()) / f"refldm-mypy-{hashlib.sha256(str(REPO).encode()).hexdigest()[:12]}"


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


def _mypy(*argv: str) -> subprocess.CompletedProcess[str]:
    require_module("mypy")
    return _run("mypy", "--cache-dir", str(MYPY_CACHE), "--no-color-output", *argv)


def test_mypy_finds_nothing():
    r = _mypy("--config-file", str(REPO / "pyproject.toml"))  # `files` there: refldm_desktop
    assert r.returncode == 0, f"mypy findings (fix them; a `# type: ignore[code]` needs a reason):\n{r.stdout}{r.stderr}"
    # Every module of the package was checked, not a folder that happened to be empty.
    checked = re.search(r"no issues found in (\d+) source files", r.stdout)
    assert checked and int(checked.group(1)) >= len(list((REPO / "refldm_desktop").rglob("*.py"))), r.stdout


def test_mypy_catches_the_bugs_it_is_there_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from pathlib import Path\n"
        "def size(p: Path | None) -> int:\n"
        "    return p.stat().st_size\n"  # union-attr: None has no stat()
        "def name(p: Path) -> str:\n"
        "    return p.stem if p.suffix else None\n"  # return-value: None is not a str
        "size('photo.jpg')\n",  # arg-type: a str is not a Path
        encoding="utf-8",
    )
    r = _mypy("--config-file", str(REPO / "pyproject.toml"), str(bad))
    found = set(re.findall(r"\[([a-z-]+)\]$", r.stdout, flags=re.M))
    assert {"union-attr", "return-value", "arg-type"} <= found, r.stdout + r.stderr
