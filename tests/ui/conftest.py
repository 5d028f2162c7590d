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


def wait_idle(qtbot, ctx, timeout=60_000):
    """Until no background task of the app is running."""
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=timeout)
