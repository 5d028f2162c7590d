"""A note over an empty list saying why it is empty and what to do: a blank white pane
left users wondering whether the app was still loading or broken."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QAbstractItemView, QLabel


class EmptyHint(QLabel):
    """Shown over `view` while its model has no rows and a text has been set. Pages set the
    text once they know why (after a load, not before, or it would flash while loading)."""

    def __init__(self, view: QAbstractItemView, name: str) -> None:
        super().__init__(view.viewport())
        self.view = view
        self.setObjectName(name)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        # Clicks and drops go to the view (and on to the window) as if the note were not there.
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()
        view.viewport().installEventFilter(self)
        model = view.model()
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.layoutChanged):
            signal.connect(self.refresh)

    def set_text(self, text: str) -> None:
        self.setText(text)
        self.setAccessibleName(text)
        self.refresh()

    def refresh(self, *_) -> None:
        model = self.view.model()
        empty = model is not None and model.rowCount() == 0
        self.setVisible(bool(self.text()) and empty)
        if not self.isHidden():
            self._place()

    def _place(self) -> None:
        self.setGeometry(self.view.viewport().rect().adjusted(24, 24, -24, -24))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False
