"""Helpers the app's tests import by name. Not in conftest.py: every test folder has a
conftest module, and `from conftest import ...` gets whichever of them pytest loaded last
(tests/restore/refldm's, when it is collected after this folder)."""

from __future__ import annotations


def wait_idle(qtbot, ctx, timeout=60_000):
    """Until no background task of the app is running."""
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=timeout)
