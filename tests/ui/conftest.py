"""The app over a real Library in tmp_path. The window is the real one; only the face
backend is the fast fake where a test says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


@pytest.fixture
def open_app(qtbot, tmp_path):
    """open_app(library) -> (ctx, window); closed in order after the test."""
    from refldm_desktop.ui.app import make_qapp, open_window

    opened = []

    def _open(library, paths=(), **kw):
        make_qapp()
        ctx, window = open_window(library=library, paths=[Path(p) for p in paths], **kw)
        qtbot.addWidget(window)
        opened.append(ctx)
        return ctx, window

    yield _open
    for ctx in opened:
        ctx.close()


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
