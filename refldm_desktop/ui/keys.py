"""Shortcuts named in the app's words (notes, tips, status lines) as this platform writes them:
Ctrl+Z on Linux and Windows, ⌘Z on a Mac. A key typed into a sentence said Ctrl on a Mac too,
and went on naming the old key when a shortcut changed; these read the shortcut itself."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

# People edits' Undo (people_undo), named by every "... undoes it".
UNDO_KEY = QKeySequence.StandardKey.Undo

Keys = QAction | QKeySequence | QKeySequence.StandardKey | str


def key_text(keys: Keys) -> str:
    """The key (an action's first shortcut, a sequence, a standard key or portable text such
    as "Ctrl+M") as the platform's menus write it; "" for none."""
    if isinstance(keys, QAction):
        sequence = keys.shortcut()
    elif isinstance(keys, QKeySequence):
        sequence = keys
    else:
        sequence = QKeySequence(keys)
    return sequence.toString(QKeySequence.SequenceFormat.NativeText)


def with_key(text: str, keys: Keys) -> str:
    """"text (key)", or the text alone when there is no key."""
    shown = key_text(keys)
    return f"{text} ({shown})" if shown else text


def undo_words() -> str:
    """How to take back the edit just made, for a status line or a note."""
    return f"{key_text(UNDO_KEY)} undoes it"
