"""The line at the top of each page: its title, in the words of the sidebar, and a count on
the right; the same on every page so that users always know where they are."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget


def page_title(text: str = "") -> QLabel:
    title = QLabel(text)
    title.setObjectName("pageTitle")  # its look: resources/style.qss
    title.setAccessibleName("Page title")
    return title


def heading(title: QLabel, right: QWidget | None = None, left: QWidget | None = None) -> QHBoxLayout:
    """The title with `right` (a count) at the other end and `left` (a way back) before it."""
    row = QHBoxLayout()
    if left is not None:
        row.addWidget(left)
    row.addWidget(title)
    row.addStretch(1)
    if right is not None:
        right.setObjectName(right.objectName() or "pageCount")
        row.addWidget(right)
    return row
