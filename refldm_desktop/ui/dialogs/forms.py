"""What every dialog sets up the same way (ui.naming names each control for tests and
screen readers): labelled rows whose Alt+letter reaches the control, an accept button
that says what it does beside Cancel, and the contents stacked top to bottom."""

from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

Part = QWidget | QLayout


def _first_widget(part: Part) -> QWidget | None:
    if isinstance(part, QWidget):
        return part
    for i in range(part.count()):
        item = part.itemAt(i)
        if item is None:
            continue
        inner = item.widget() or item.layout()
        found = _first_widget(inner) if inner is not None else None
        if found is not None:
            return found
    return None


def add_rows(form: QFormLayout, rows: Sequence[tuple[str, Part]]) -> None:
    """Rows of `form`: each label is its control's buddy, so the label's &-letter (and a
    screen reader) leads to the control; an empty label leaves the control on its own."""
    for text, field in rows:
        if not text:
            form.addRow("", field)
            continue
        label = QLabel(text)
        buddy = _first_widget(field)
        if buddy is not None:
            label.setBuddy(buddy)
        form.addRow(label, field)


def accept_buttons(
    dialog: QDialog,
    text: str,
    accessible: str,
    *,
    name: str = "",
    cancel: str = "",
    on_accept: Callable[[], None] | None = None,
) -> tuple[QDialogButtonBox, QPushButton]:
    """An accept button named for what it does (Enter presses it) and Cancel (Esc), or
    `cancel` in its place ("Later", "Close")."""
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    ok = box.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(text)
    ok.setAccessibleName(accessible)
    if name:
        ok.setObjectName(name)
    if cancel:
        box.button(QDialogButtonBox.StandardButton.Cancel).setText(cancel)
    box.accepted.connect(on_accept or dialog.accept)
    box.rejected.connect(dialog.reject)
    return box, ok


def stack(widget: QWidget, *parts: Part | tuple[Part, int]) -> QVBoxLayout:
    """`widget`'s layout: `parts` top to bottom; (part, n) gives a part stretch n."""
    layout = QVBoxLayout(widget)
    for part in parts:
        item, stretch = part if isinstance(part, tuple) else (part, 0)
        if isinstance(item, QLayout):
            layout.addLayout(item, stretch)
        else:
            layout.addWidget(item, stretch)
    return layout
