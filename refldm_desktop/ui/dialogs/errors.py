"""Errors shown as one readable line; the details (a traceback) can be copied."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def show_error(parent: QWidget | None, line: str, details: str = "") -> QMessageBox:
    """A non-blocking message box: the line, and the details behind "Show Details..."
    (selectable, so they can be copied into a bug report)."""
    box = QMessageBox(parent)
    box.setObjectName("errorBox")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("ReF-LDM Desktop")
    box.setText(line)
    box.setAccessibleName("Error")
    box.setAccessibleDescription(line)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()  # window-modal, does not block the event loop
    window = parent.window() if parent is not None else None
    if window is not None and hasattr(window, "statusBar"):
        window.statusBar().showMessage(line, 10000)
    return box
