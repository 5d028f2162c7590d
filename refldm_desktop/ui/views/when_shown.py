"""Refreshing a view only while it is on screen.

Every change to the library reaches every view. A view the user cannot see (another page, the
grid under an open photo) must not read the library for it: indexing announces each photo it
adds, and hidden pages refreshing for each burst take the worker and the GIL from the page in
view. A hidden view notes that it is out of date, and catches up once when it is shown.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class WhenShown(QObject):
    """`changed()` refreshes `view` now when it is on screen, else once it is shown again."""

    def __init__(self, view: QWidget, refresh: Callable[[], None]) -> None:
        super().__init__(view)
        self._view = view
        self._refresh = refresh
        self.stale = False
        view.installEventFilter(self)

    def changed(self) -> None:
        """Something the view shows has changed."""
        if self._view.isVisible():
            self._refresh()
        else:
            self.stale = True

    def refreshed(self) -> None:
        """The view has just read everything again by itself (a page's page_shown, a new
        photo opened): nothing is left to catch up."""
        self.stale = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._view and event.type() == QEvent.Type.Show and self.stale:
            # After the show has finished: the window calls the page's page_shown() right
            # after showing it, which may read everything anyway (then refreshed() says so).
            QTimer.singleShot(0, self, self._catch_up)
        return False

    def _catch_up(self) -> None:
        if self.stale and self._view.isVisible():
            self.stale = False
            self._refresh()
