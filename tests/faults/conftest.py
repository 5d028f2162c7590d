"""The fault suite keeps its totals here and prints them at the end of the run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

TOTALS = {
    "kills tried": 0,
    "disks filled": 0,
    "concurrent pairs": 0,
    "unopenable libraries": 0,
    "changed originals": 0,
    "orphan files": 0,
    "duplicate versions": 0,
}

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs fork and SIGKILL")


def pytest_terminal_summary(terminalreporter):
    if not any(TOTALS[k] for k in ("kills tried", "disks filled", "concurrent pairs")):
        return
    terminalreporter.write_sep("-", "fault injection totals")
    terminalreporter.write_line(
        "faults: {kills tried} kills tried, {disks filled} disks filled, {concurrent pairs} concurrent pairs; "
        "{unopenable libraries} unopenable libraries, {changed originals} changed originals, "
        "{orphan files} orphan files, {duplicate versions} duplicate versions".format(**TOTALS)
    )
    report = os.environ.get("REFLDM_FAULTS_REPORT")
    if report:
        Path(report).write_text(json.dumps(TOTALS, indent=1))
