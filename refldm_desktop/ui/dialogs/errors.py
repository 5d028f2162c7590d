"""Errors shown as one readable line; the line and the details (a traceback) can be selected
and copied, for a search or a bug report."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QTextEdit, QWidget

from refldm_desktop.ui.advice import damage_advised, for_app


def error_box(parent: QWidget | None, line: str, details: str = "", *, more: str = "") -> QMessageBox:
    """A message box saying `line` (and `more` under it), with the details behind "Show
    Details..." and Copy, which puts all of it on the clipboard and leaves the box open."""
    box = QMessageBox(parent)
    box.setObjectName("errorBox")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("ReF-LDM Desktop")
    box.setText(line)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    box.setAccessibleName("Error")
    box.setAccessibleDescription(f"{line} {more}".strip())
    if more:
        box.setInformativeText(more)
    if details:
        box.setDetailedText(details)
        for text in box.findChildren(QTextEdit):  # Qt's own box for the details
            text.setAccessibleName("Error details")
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    copy = box.addButton("&Copy", QMessageBox.ButtonRole.ActionRole)
    copy.setObjectName("copyErrorButton")
    copy.setAccessibleName("Copy the error and its details")
    copy.clicked.disconnect()  # a message box closes on any of its buttons: not on this one
    said = "\n".join(filter(None, (line, more)))
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(f"{said}\n\n{details}".strip()))
    return box


def show_error(parent: QWidget | None, line: str, details: str = "") -> QMessageBox:
    """A non-blocking message box: the line, and the details behind "Show Details..."; Copy
    puts both on the clipboard and leaves the box open."""
    line = for_app(line)
    box = error_box(parent, line, details)
    window = parent.window() if parent is not None else None
    check = getattr(window, "check_library", None)
    if callable(check) and damage_advised(line, or_doubt=True):  # the way back, one click away
        offer = box.addButton("Check &Library…", QMessageBox.ButtonRole.AcceptRole)
        offer.setObjectName("checkLibraryButton")
        offer.setAccessibleName("Check the library and go back to a backup")
        offer.clicked.connect(lambda: check(failure=line))
    box.open()  # window-modal, does not block the event loop
    if window is not None and hasattr(window, "statusBar"):
        window.statusBar().showMessage(line, 10000)
    return box
