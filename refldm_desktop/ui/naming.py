"""Naming a control for tests, the style sheet and screen readers. Its own small module:
the status bar uses it before the first paint, and must not load the dialogs' Qt types."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QWidget

W = TypeVar("W", bound=QWidget)


def named(widget: W, name: str, accessible: str) -> W:
    """`widget` with its object name (tests, style sheet) and its accessible name."""
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    return widget
