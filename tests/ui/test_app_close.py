"""Closing the app ends every thread it started: the window's workers, the job runner, the
library's change watcher, and the worker that went back to a backup. (Tests open many
windows; threads left running from one test into the next were a likely cause of a rare
crash while a later test set up its QApplication.)"""

from __future__ import annotations

import threading

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

from ui_testlib import wait_idle  # noqa: E402


def _started_since(before: set[threading.Thread]) -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.is_alive() and t not in before)


def test_closing_the_app_ends_every_thread_it_started_also_after_going_back(qtbot, tmp_path):
    from fakes import draw_photo, open_test_library
    from refldm_desktop.core.backups import back_up
    from refldm_desktop.ui.app import OpenApp, make_qapp

    before = set(threading.enumerate())
    draw_photo(tmp_path / "Pictures" / "a.png", [(1, 0, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([tmp_path / "Pictures"])
    taken = back_up(lib.home)
    make_qapp()
    holder = OpenApp(lib.home, lib.reopened)
    holder.open(library=lib)
    first = holder.window
    try:
        wait_idle(qtbot, holder.ctx)
        running = _started_since(before)
        assert "refldm-ui-ops" in running and "refldm-change-watcher" in running, running
        holder.go_back(taken)  # closes the first window and context, opens new ones, on its own worker
        qtbot.waitUntil(lambda: holder.window is not None and holder.window is not first, timeout=60_000)
        wait_idle(qtbot, holder.ctx)
        qtbot.waitUntil(lambda: not holder.tasks.busy(), timeout=30_000)
    finally:
        holder.close()
    assert _started_since(before) == []
    holder.close()  # again: nothing left to do, nothing raised
