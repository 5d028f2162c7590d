"""Check Library: is the library's database whole, which backups there are (when, how big,
whole or not), Back Up Now, and Go Back to This Backup.

The checks read every file in full, so they run off the GUI thread. Going back itself is the
app's (ui.app.OpenApp.go_back): it closes the window and the library, puts the backup in
place and opens them again. Over refldm_desktop.core.backups, like `refldm-desktop db`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.ui.naming import named
from refldm_desktop.ui.views.buttons import verb_buttons

if TYPE_CHECKING:
    from refldm_desktop.core.backups import BackupInfo, LibraryCheck
    from refldm_desktop.core.home import Home
    from refldm_desktop.ui.tasks import Task, TaskRunner

COLUMNS = ("Taken", "Size", "State", "Why")


def when(info: "BackupInfo") -> str:
    return info.taken.strftime("%d %b %Y, %H:%M:%S")  # seconds: two backups in a minute tell apart


def size_words(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{max(1, round(n / 1024))} KB"


def going_back_words(info: "BackupInfo", current_whole: bool) -> str:
    """What going back replaces and what it keeps, said before the user agrees."""
    kept = (
        "The library as it is now is backed up first (listed here as “taken before going back”), "
        "so you can come back to it."
        if current_whole else
        "The damaged database is not deleted: it is kept beside the new one, renamed, for recovery tools."
    )
    return (
        f"Go back to the backup taken {when(info)}?\n\n"
        "The library's database is replaced by this backup: names, people, reference choices and "
        f"job history changed since then are no longer in the library. {kept}\n\n"
        "Jobs that were waiting or running in the backup are cancelled, not run again (they may have "
        "been done since): the Jobs page lists them with a note, and Retry queues one again.\n\n"
        "Your photos and restored files are not touched. Photos added since the backup come back "
        "when you rescan their folders."
    )


def failure_words(text: str) -> str:
    """Why the library failed, without the advice to open this dialog (it is open)."""
    from refldm_desktop.errors import Advice
    from refldm_desktop.ui.advice import APP_WORDS, for_app

    text = for_app(text)
    for kind in (Advice.DB_CHECK, Advice.DB_CHECK_INTACT):
        words = APP_WORDS[kind]
        text = text.replace(f": {words}", "").replace(f"; {words}", "").replace(words, "")
    text = text.strip()
    return f"What went wrong: {text}." if text else ""


class CheckLibraryDialog(QDialog):
    """`go_back(info)` is called once the user has agreed; `busy()` says why going back must
    wait (a job running), or None."""

    def __init__(
        self,
        home: "Home",
        tasks: "TaskRunner",
        go_back: Callable[["BackupInfo"], None],
        busy: Callable[[], str | None] = lambda: None,
        parent: QWidget | None = None,
        *,
        failure: str = "",
    ) -> None:
        super().__init__(parent)
        self.home, self.tasks, self._go_back, self._busy = home, tasks, go_back, busy
        self.check: "LibraryCheck | None" = None
        self.task: "Task | None" = None
        self.confirm: QMessageBox | None = None
        named(self, "checkLibraryDialog", "Check Library")
        self.setWindowTitle("Check Library")
        self.resize(680, 420)
        self.failure = named(QLabel(failure_words(failure)), "libraryFailure", "What went wrong")
        self.failure.setWordWrap(True)
        self.failure.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.failure.setVisible(bool(failure))
        self.state = named(QLabel("Checking your library…"), "libraryState", "Library state")
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = named(QProgressBar(), "libraryCheckProgress", "Checking progress")
        self.progress.setRange(0, 0)
        self.stop = named(QPushButton("S&top"), "stopCheckButton", "Stop checking")
        self.stop.setToolTip("Stop the check or the backup now (a stopped backup leaves no file behind)")
        self.stop.clicked.connect(self.stop_task)
        working = QHBoxLayout()
        working.addWidget(self.progress, 1)
        working.addWidget(self.stop)
        heading = QLabel("&Backups (the newest five are kept; one is taken before each upgrade of the library):")
        self.table = named(QTableWidget(0, len(COLUMNS)), "backupsTable", "Backups")
        heading.setBuddy(self.table)
        heading.setWordWrap(True)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.empty = named(QLabel("There is no backup yet. Back Up Now takes one."), "noBackups", "No backups")
        bar = QHBoxLayout()
        self.buttons = verb_buttons(self, (
            ("again", "Check &Again", "", "Check the library and its backups again", self.refresh),
            ("backup", "Back &Up Now", "", "Take a backup of the library now", self.back_up),
            ("goBack", "&Go Back to This Backup…", "", "Replace the library with the selected backup", self.ask_go_back),
        ), "Button", bar)
        bar.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        close.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.failure)
        lay.addWidget(self.state)
        lay.addLayout(working)
        lay.addWidget(heading)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.empty)
        lay.addLayout(bar)
        lay.addWidget(close)
        self.empty.hide()
        tasks.progressed.connect(self._progressed)
        self.refresh()

    # -- checking ------------------------------------------------------------------------

    def refresh(self) -> None:
        from refldm_desktop.core.backups import check_library
        from refldm_desktop.core.progress import Cancelled

        home = self.home

        def work(task: "Task"):
            try:
                return check_library(home, task.progress, task.cancelled)
            except Cancelled:
                raise Cancelled("the check was stopped before it finished") from None

        self.state.setText("Checking your library and its backups…")
        self._run("Checking the library", work, self._show)

    def _show(self, check: "LibraryCheck", select: str = "") -> None:
        self.check = check
        self.state.setText(check.summary())
        font = self.state.font()
        font.setBold(not check.whole)  # what must be done stands out
        self.state.setFont(font)
        # The failure that opened the dialog says again what the check says: shown only
        # when the check finds the database whole (the failure was then elsewhere).
        self.failure.setVisible(bool(self.failure.text()) and check.whole)
        self.table.setRowCount(len(check.backups))
        for r, b in enumerate(check.backups):
            state = "whole" if b.whole else f"damaged: {b.problems[0]}"
            for c, text in enumerate((when(b), size_words(b.size), state, b.reason)):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{b.path}\n{text}")
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.setVisible(bool(check.backups))
        self.empty.setVisible(not check.backups)
        # The row to act on: the one asked for, else (for a damaged library) the newest whole one.
        target = next((r for r, b in enumerate(check.backups) if str(b.path) == select), None)
        if target is None and not check.whole and check.newest_whole is not None:
            target = check.backups.index(check.newest_whole)
        if target is not None:
            self.table.selectRow(target)
        self._update_buttons()

    def selected(self) -> "BackupInfo | None":
        rows = self.table.selectionModel().selectedRows()
        if self.check is None or not rows or rows[0].row() >= len(self.check.backups):
            return None
        return self.check.backups[rows[0].row()]

    def _update_buttons(self) -> None:
        busy = self.task is not None
        b = self.selected()
        self.buttons["again"].setEnabled(not busy)
        self.buttons["backup"].setEnabled(not busy and self.check is not None and self.check.whole)
        self.buttons["goBack"].setEnabled(not busy and b is not None and b.whole)
        self.progress.setVisible(busy)
        self.stop.setVisible(busy)
        self.stop.setEnabled(self.task is not None and not self.task.cancelled())

    # -- verbs ---------------------------------------------------------------------------

    def back_up(self) -> None:
        from refldm_desktop.core.backups import back_up, check_library
        from refldm_desktop.core.progress import Cancelled

        home = self.home

        def work(task: "Task"):
            try:
                taken = back_up(home, cancel=task.cancelled)  # stopped while copying: no backup
            except Cancelled:
                raise Cancelled("Back Up Now was stopped: no backup was taken") from None
            try:
                return taken, check_library(home, task.progress, task.cancelled)
            except Cancelled:
                raise Cancelled("the backup was taken; the check after it was stopped") from None

        self.state.setText("Backing up your library…")
        self._run("Backing up the library", work, lambda r: self._show(r[1], select=str(r[0].path)))

    def ask_go_back(self) -> None:
        b = self.selected()
        if b is None or self.check is None:
            return
        why = self._busy()
        if why:
            box = QMessageBox(QMessageBox.Icon.Information, "Check Library", why, QMessageBox.StandardButton.Ok, self)
            named(box, "goBackRefused", "Going back must wait")
            box.open()
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Go Back to a Backup", going_back_words(b, self.check.whole),
                          QMessageBox.StandardButton.Cancel, self)
        named(box, "goBackConfirm", "Go back to a backup")
        yes = box.addButton("&Go Back", QMessageBox.ButtonRole.AcceptRole)
        yes.setObjectName("goBackYes")
        yes.setAccessibleName("Go back to this backup")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)  # Enter does not replace the library
        yes.clicked.connect(lambda _=False: self._agreed(b))  # a box's custom button need not "accept" it
        self.confirm = box
        box.open()

    def _agreed(self, b: "BackupInfo") -> None:
        self.accept()
        self._go_back(b)

    # -- background work -----------------------------------------------------------------

    def _run(self, label: str, work, done) -> None:
        def ok(result) -> None:
            self.task = None
            done(result)

        def failed(exc: BaseException, _details: str) -> None:
            from refldm_desktop.core.progress import Cancelled
            from refldm_desktop.ui.tasks import describe

            self.task = None
            if isinstance(exc, Cancelled):
                # What was shown before stays (the table of the last whole check); the
                # line says it was not brought up to date.
                said = str(exc)
                self.state.setText(f"{said[:1].upper()}{said[1:]}. Check Again checks your library and its backups.")
            else:
                self.state.setText(describe(exc))
            self._update_buttons()

        self.progress.setRange(0, 0)
        self.task = self.tasks.run_long(label, work, ok, failed)
        self._update_buttons()

    def stop_task(self) -> None:
        """Stop the running check or backup; it ends within a moment, having changed nothing
        (a check only reads; a stopped backup deletes its partial copy)."""
        if self.task is not None:
            self.task.cancel()
            self.state.setText("Stopping…")
            self._update_buttons()

    def _progressed(self, task: "Task") -> None:
        if task is self.task and task.total:
            self.progress.setRange(0, task.total)
            self.progress.setValue(task.done)

    def done(self, r: int) -> None:
        if self.task is not None:
            self.task.cancel()  # it stops within a moment; what it says then is dropped
            self.task.on_success = lambda _result: None
            self.task.on_failure = lambda _exc, _details: None
        super().done(r)
