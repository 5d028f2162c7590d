"""Undo and Redo of people edits, over the core's undo log (Library.undo/redo).

Like a QUndoStack seen from the menu: two actions whose text names the edit they would take
back or make again, enabled only when there is one. The log lives in the core (an edit made
from the command line can be undone here too), so the actions read their state from it
after every people change instead of keeping a stack of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from refldm_desktop.ui import keys

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext

AREAS = ("people", "faces", "references")


class PeopleUndo(QObject):
    done = Signal(object)  # core.undo.EditUndone, after an undo or redo went through

    def __init__(self, ctx: "AppContext", parent: QObject | None = None) -> None:
        super().__init__(parent or ctx)
        self.ctx = ctx
        self.undo_action = QAction("Undo", self)
        self.undo_action.setObjectName("undoPeopleAction")
        self.undo_action.setShortcut(QKeySequence(keys.UNDO_KEY))
        self.undo_action.triggered.connect(lambda _=False: self.undo())
        self.redo_action = QAction("Redo", self)
        self.redo_action.setObjectName("redoPeopleAction")
        # Ctrl+Shift+Z everywhere (the platform's Redo is Ctrl+Y on Windows: keep both).
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence(QKeySequence.StandardKey.Redo)])
        self.redo_action.triggered.connect(lambda _=False: self.redo())
        self._busy = False
        self._show(None, None)
        ctx.changed.connect(self._changed)
        ctx.after_first_paint(self.refresh)

    def refresh(self) -> None:
        self.ctx.tasks.run(self.ctx.library.undo_state, lambda s: self._show(s.undo, s.redo), label="Undo")

    def undo(self) -> None:
        self._run(self.ctx.library.undo, "Undo")

    def redo(self) -> None:
        self._run(self.ctx.library.redo, "Redo")

    def _run(self, verb, label: str) -> None:
        if self._busy:
            return
        self._busy = True
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)

        def ok(result) -> None:
            self._busy = False
            self.ctx.notify(*AREAS, ids={"people": result.person_ids, "faces": result.face_ids})
            self.ctx.status.emit(f"{'Redone' if result.redo else 'Undone'}: {result.label}")
            self.done.emit(result)
            self.refresh()

        def failed(exc, details) -> None:
            from refldm_desktop.ui.tasks import describe

            self._busy = False
            self.ctx.status.emit(describe(exc))
            self.refresh()

        self.ctx.tasks.run(verb, ok, failed, label=label)

    def _show(self, undo: str | None, redo: str | None) -> None:
        self.undo_action.setText(f"&Undo {undo}" if undo else "&Undo")
        self.undo_action.setEnabled(bool(undo) and not self._busy)
        self.undo_action.setToolTip(f"Undo: {undo}" if undo else "Nothing to undo")
        self.redo_action.setText(f"&Redo {redo}" if redo else "&Redo")
        self.redo_action.setEnabled(bool(redo) and not self._busy)
        self.redo_action.setToolTip(f"Redo: {redo}" if redo else "Nothing to redo")

    def _changed(self, change) -> None:
        if set(AREAS) & set(change.areas):
            self.refresh()
