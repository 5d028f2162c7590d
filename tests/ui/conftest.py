"""The app over a real Library in tmp_path. The window is the real one; only the face
backend is the fast fake where a test says so."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


@pytest.fixture
def open_app(qtbot, tmp_path):
    """open_app(library) -> (ctx, window); closed in order after the test, with the OpenApp
    holding them: the window it has then (going back to a backup makes a new one), its
    library, and its own worker. No thread of the app is left running into the next test."""
    from refldm_desktop.ui.app import make_qapp, open_window

    before = set(threading.enumerate())
    opened = []

    def _open(library, paths=(), **kw):
        make_qapp()
        ctx, window = open_window(library=library, paths=[Path(p) for p in paths], **kw)
        # Closed by its holder, not by qtbot: going back to a backup deletes this window and
        # makes another, and qtbot would close the deleted one (while a context is open the
        # garbage collector is frozen, so the wrapper of the deleted window lives on).
        opened.append((ctx, window.holder))
        return ctx, window

    yield _open
    for ctx, holder in opened:
        holder.close()
        ctx.close()  # the first window's context, when the test went back to a backup
    left = app_threads(before)
    assert not left, f"threads of the app still running after it closed: {left}"


def app_threads(before) -> list[str]:
    """The app's threads started since `before` and still running. The one thumbnail worker
    process (and its reader thread, on Windows) is shared by every window and lives as long
    as the process, by design."""
    return sorted(t.name for t in threading.enumerate()
                  if t.is_alive() and t not in before and t.name.startswith("refldm-")
                  and t.name != "refldm-thumbs-reader")


@pytest.fixture
def fake_ctx(qtbot, tmp_path):
    """An app context (no window) over a small library of fake faces: two people with
    three photos each and one stranger; jobs do not start by themselves."""
    from fakes import draw_photo, open_test_library
    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.context import AppContext

    make_qapp()
    root = tmp_path / "Pictures"
    for i in range(3):
        draw_photo(root / f"p{i}.png", [(1, i, 10, 10), (2, i, 100, 10)])
    draw_photo(root / "alone.png", [(5, 1, 40, 40)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    ctx = AppContext(lib, start_jobs=False)
    yield ctx
    ctx.close()
