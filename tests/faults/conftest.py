"""The fault suite keeps its totals here and prints them at the end of the run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from scenarios import TOTALS

if sys.platform == "win32":  # the suite needs fork and SIGKILL
    collect_ignore_glob = ["test_*.py"]


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
