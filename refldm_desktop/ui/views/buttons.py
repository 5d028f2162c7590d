"""Buttons and shortcuts made the same way on every page: a button per verb with its
accessible name and tooltip, and the verb's shortcut active wherever the page has focus."""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from refldm_desktop.ui.keys import with_key

# key, button text, shortcut ("" for none), what it does (accessible name and tooltip), slot
Verb = tuple[str, str, str, str, Callable[[], None]]


def shortcut(owner: QWidget, text: str, keys: str, slot: Callable[[], None]) -> QAction:
    """`keys` runs `slot` while focus is in `owner` or its children."""
    a = QAction(text, owner)
    a.setShortcut(QKeySequence(keys))
    a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    a.triggered.connect(lambda _=False: slot())
    owner.addAction(a)
    return a


def verb_buttons(owner: QWidget, verbs: Iterable[Verb], suffix: str, bar: QHBoxLayout) -> dict[str, QPushButton]:
    buttons = {}
    for key, text, keys, tip, slot in verbs:
        b = QPushButton(text)
        b.setObjectName(f"{key}{suffix}")
        b.setAccessibleName(tip)
        b.setToolTip(with_key(tip, keys))
        b.clicked.connect(lambda _=False, s=slot: s())
        if keys:
            shortcut(owner, text, keys, slot)
        bar.addWidget(b)
        buttons[key] = b
    return buttons
