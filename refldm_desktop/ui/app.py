"""The application: owns the QApplication, the Library, the context and the main window,
and closes them in order (window, background work, database)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from refldm_desktop.core.backups import BackupInfo, WentBack
    from refldm_desktop.core.home import Home
    from refldm_desktop.core.library import Library
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.dialogs.check_library import CheckLibraryDialog
    from refldm_desktop.ui.instance import InstanceServer
    from refldm_desktop.ui.mainwindow import MainWindow
    from refldm_desktop.ui.mainwindow.place import Place
    from refldm_desktop.ui.tasks import TaskRunner


def make_qapp(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (the existing one in tests), with the app's names and style."""
    existing = QApplication.instance()
    if existing is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv or sys.argv[:1]))
    elif isinstance(existing, QApplication):
        app = existing
    else:
        raise RuntimeError("a Qt application without widgets is running already; the window needs a QApplication")
    app.setApplicationName("ReF-LDM Desktop")
    app.setOrganizationName("refldm-desktop")
    app.setDesktopFileName("refldm-desktop")
    from refldm_desktop.ui.resources import icon, style_sheet

    app.setWindowIcon(icon("app.svg"))
    sheet = style_sheet()
    if app.styleSheet() != sheet:  # setting it again restyles every widget alive, for nothing
        app.setStyleSheet(sheet)
    return app


def open_window(home: str | os.PathLike[str] | None = None, paths: Sequence[Path] = (), *, library=None, start_jobs: bool = True):
    """Open the library and show the main window; returns (context, window). The window's
    `holder` (an OpenApp) opens them again after going back to a backup."""
    from refldm_desktop.core.home import resolve_home

    make_qapp()
    if library is None:
        from refldm_desktop.core.library import Library

        library = Library.open(resolve_home(home))
    holder = OpenApp(library.home, library.reopened, start_jobs=start_jobs)
    return holder.open(paths, library=library)


class OpenApp(QObject):
    """The running app's library, context and window. Going back to a backup closes all
    three (nothing may read the replaced file on), puts the backup in place off the GUI
    thread, and opens them again: every view starts afresh from the restored database."""

    reopened = Signal(object, object)  # the new context and window

    def __init__(self, home: "Home", open_library: "Callable[[], Library]", *, start_jobs: bool = True) -> None:
        super().__init__(QApplication.instance())  # lives on while its window is replaced
        self.home = home
        self._open_library = open_library
        self._start_jobs = start_jobs
        self.ctx: "AppContext | None" = None
        self.window: "MainWindow | None" = None
        self._tasks: "TaskRunner | None" = None
        self.dialog: "CheckLibraryDialog | None" = None
        self.failure = ""  # why the library could not be opened, while it cannot
        self._waiting: list[Path] = []  # paths handed over while no window was open
        self.server: "InstanceServer | None" = None  # for later starts on this home (start_app)
        # Where the user was in the window that closed for going back to a backup: the next
        # window opens there (or at the nearest place the restored library has).
        self._return_to: "Place | None" = None

    @property
    def tasks(self) -> "TaskRunner":
        """For work while no window is open (the check at start-up, going back); made when
        first needed, so a window that never goes back costs no thread."""
        if self._tasks is None:
            from refldm_desktop.ui.tasks import TaskRunner

            self._tasks = TaskRunner(self)
        return self._tasks

    def open(self, paths: Sequence[Path] = (), *, library: "Library | None" = None, place: "Place | None" = None):
        """Open the library (or use `library`) and show the main window at `paths` (added
        when new), else at `place` or the nearest place the library has; (context, window)."""
        from refldm_desktop.ui.context import AppContext
        from refldm_desktop.ui.mainwindow import MainWindow

        if library is None:
            library = self._open_library()
        ctx = AppContext(library, start_jobs=self._start_jobs)
        try:
            window = MainWindow(ctx)
        except BaseException:
            ctx.close()  # its threads and the library's connections end with it
            raise
        window.holder = self
        self.ctx, self.window, self.failure = ctx, window, ""
        self._return_to = None
        window.show()
        paths = [*paths, *self._waiting]
        self._waiting.clear()
        if paths:
            window.open_paths(paths)
        elif place is not None and place != window.place():
            window.go_to(place)
        else:
            window.first_run_if_needed()
        return ctx, window

    def receive(self, paths: "list[Path]") -> None:
        """Paths handed over by a second start on this home (`refldm-desktop gui PATH` from
        a file manager): the window comes to the front and opens them as if it had been
        started with them. With no window open (Check Library at start-up, going back to a
        backup), they wait for the window."""
        if self.window is not None:
            bring_to_front(self.window)
            if paths:
                self.window.open_paths(list(paths))
            return
        self._waiting.extend(paths)
        import shiboken6

        if self.dialog is not None and shiboken6.isValid(self.dialog) and self.dialog.isVisible():
            bring_to_front(self.dialog)

    def open_or_offer_way_back(self, paths: Sequence[Path] = ()) -> bool:
        """Open the window; when the library's database is damaged, show Check Library
        instead, offering the newest whole backup. False when the library did not open."""
        from refldm_desktop.errors import translate
        from refldm_desktop.ui.advice import damage_advised

        try:
            self.open(paths)
        except Exception as exc:  # SQLite's own error too, when a damaged page is read at opening
            known = translate(exc)
            if known is None:
                raise  # a bug: its traceback is kept (run_app writes it to a crash log)
            if not damage_advised(str(known)):
                raise known from exc  # said in words, not as SQLite's own exception
            self.failure = str(known)
            self._waiting.extend(paths)  # the window opened after going back shows them
            self.check_library(failure=self.failure)
            return False
        return True

    # -- Check Library ---------------------------------------------------------------------

    def check_library(self, parent: "QWidget | None" = None, *, failure: str = "") -> "CheckLibraryDialog":
        from refldm_desktop.ui.dialogs.check_library import CheckLibraryDialog

        tasks = self.ctx.tasks if self.ctx is not None and parent is not None else self.tasks
        dialog = CheckLibraryDialog(self.home, tasks, self.go_back, self.busy_reason, parent, failure=failure)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open() if parent is not None else dialog.show()
        return dialog

    def busy_reason(self) -> str | None:
        """Why going back must wait, or None: a job or a long task would go on writing to
        the database that is being replaced."""
        ctx = self.ctx
        if ctx is None:
            return None
        if ctx.jobs.current_job_id is not None:
            return ("A job is running. Wait for it to finish, or cancel it in Jobs, then go back to the backup "
                    "(jobs waiting in the queue are kept in the replaced database).")
        # Work the user started (indexing, a model download); unnamed background work (the
        # device's speed) is cancelled with the window instead.
        long = [t.label for t in ctx.tasks.active() if t.long and t.label]
        if long:
            return f"{long[0]} is still running. Wait for it to finish (or cancel it), then go back to the backup."
        return None

    def go_back(self, backup: "BackupInfo") -> None:
        """Close the window and the library, put `backup` in place, open them again."""
        from PySide6.QtWidgets import QProgressDialog

        from refldm_desktop.core.backups import go_back
        from refldm_desktop.ui.dialogs.check_library import when

        why = self.busy_reason()
        if why:
            from refldm_desktop.ui.dialogs.errors import show_error

            show_error(self.window, why)
            return
        progress = QProgressDialog(f"Going back to the backup taken {when(backup)}…\n"
                                   "Your library opens again when it is done.", "", 0, 0)
        progress.setObjectName("goingBack")
        progress.setAccessibleName("Going back to a backup")
        progress.setWindowTitle("ReF-LDM Desktop")
        progress.setCancelButton(None)  # half a file swap cannot be cancelled; it is quick
        progress.setMinimumDuration(0)
        progress.show()
        geometry = None
        app = QApplication.instance()
        quits = isinstance(app, QApplication) and app.quitOnLastWindowClosed()
        if isinstance(app, QApplication):
            app.setQuitOnLastWindowClosed(False)  # no window is open for a moment
        if self.window is not None:
            geometry = self.window.saveGeometry()
            self._return_to = self.window.place()
            self.window.hide()
            self.window.deleteLater()
        if self.ctx is not None:
            self.ctx.close()  # jobs stop, workers end, the library's connections close
        self.ctx, self.window = None, None
        from refldm_desktop.ui.thumbnails import stop_thumbnail_worker

        stop_thumbnail_worker()  # its connections would read the replaced file on
        home = self.home

        def reopen(went=None, error: BaseException | None = None) -> None:
            progress.close()
            progress.deleteLater()
            try:
                ctx, window = self.open(place=self._return_to)
            except Exception as exc:
                # The library does not open (still damaged, say): the way back is offered
                # again, with why. Never re-raised: in a slot that would leave no window.
                from refldm_desktop.errors import translate
                from refldm_desktop.ui.dialogs.errors import show_error
                from refldm_desktop.ui.tasks import describe

                reason = describe(translate(exc) or exc)
                if error is not None:
                    reason = (f"going back to the backup failed ({describe(error)}), and the library "
                              f"did not open again: {reason}")
                self.failure = reason
                show_error(self.check_library(failure=reason), reason)
            else:
                if geometry is not None:
                    window.restoreGeometry(geometry)
                self.reopened.emit(ctx, window)
                if error is not None:
                    from refldm_desktop.ui.tasks import describe

                    from refldm_desktop.ui.dialogs.errors import show_error

                    show_error(window, describe(error))
                elif went is not None:
                    self._said_went_back(window, went, backup)
            finally:
                if isinstance(app, QApplication):
                    app.setQuitOnLastWindowClosed(quits)

        self.tasks.run_long("Going back to a backup", lambda _task: go_back(home, backup.path), reopen,
                            lambda exc, _details: reopen(error=exc))

    def _said_went_back(self, window: "MainWindow", went: "WentBack", backup: "BackupInfo") -> None:
        from PySide6.QtWidgets import QMessageBox

        from refldm_desktop.ui.dialogs.check_library import when

        kept = (f"The library as it was is kept as a backup ({when(went.kept)}): "
                "Tools › Check Library… goes back to it." if went.kept is not None else
                f"The damaged database is kept as {went.replaced}." if went.replaced is not None else "")
        text = " ".join(filter(None, (f"Your library is back as it was on {when(backup)}.", kept)))
        text += "\n\nPhotos added since then come back when you rescan their folders."
        if went.cancelled_jobs:
            n = len(went.cancelled_jobs)
            text += (f"\n\n{n} job{' was' if n == 1 else 's were'} waiting in the backup: cancelled, since "
                     "they may have been done since. The Jobs page lists them; Retry queues one again.")
        box = QMessageBox(QMessageBox.Icon.Information, "Back to a Backup", text,
                          QMessageBox.StandardButton.Ok, window)
        box.setObjectName("wentBack")
        box.setAccessibleName("Back to a backup")
        box.open()
        window.statusBar().showMessage(f"Back to the backup taken {when(backup)}", 10000)

    def close(self) -> None:
        """The app's end: the window goes, the library closes, and every thread the app
        started (its context's, the jobs', its own worker) has ended when this returns.
        A second call does nothing; the holder lets go of the QApplication it was kept alive by."""
        from shiboken6 import isValid

        if self.server is not None:
            self.server.close()  # first: a later start must not hand paths to a closing window
            self.server = None
        window, ctx, dialog, tasks = self.window, self.ctx, self.dialog, self._tasks
        self.window, self.ctx, self.dialog, self._tasks = None, None, None, None
        for widget in (dialog, window):
            if widget is not None and isValid(widget):  # not deleted already (by qtbot in a test)
                widget.hide()
                widget.deleteLater()
        if ctx is not None:
            ctx.close()
        if tasks is not None:
            tasks.close()
        if isValid(self):
            self.setParent(None)  # made a child of the QApplication to outlive its windows
            self.deleteLater()


def bring_to_front(widget: "QWidget") -> None:
    """Show `widget` in front, un-minimised; where the desktop refuses to raise a window that
    the user did not click (focus-stealing prevention), its taskbar entry asks for attention."""
    if widget.isMinimized():
        widget.setWindowState((widget.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
    widget.show()
    widget.raise_()
    widget.activateWindow()
    QApplication.alert(widget)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def startup_failed(what: str, why: str, details: str = "", *, code: int = 2, line: str = "") -> int:
    """The app did not start: one line on stderr (`line`, or `why`), and a message box saying
    `what` happened and `why` with what to do, the details copyable, for a user who started
    it from an icon and has no terminal. Returns the exit status, `code`."""
    print(f"refldm-desktop: error: {line or why}", file=sys.stderr)
    try:
        make_qapp()
    except Exception:  # noqa: BLE001 (no window can be shown: the line above is all there is)
        return code
    from refldm_desktop.ui.advice import for_app
    from refldm_desktop.ui.dialogs.errors import error_box

    box = error_box(None, what, details, more=_sentence(for_app(why)))
    box.setObjectName("startupErrorBox")
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle("ReF-LDM Desktop could not start")
    from PySide6.QtWidgets import QLabel

    for label in box.findChildren(QLabel, "qt_msgbox_informativelabel"):  # Qt's own: paths need room
        label.setMinimumWidth(label.fontMetrics().averageCharWidth() * 56)
    box.exec()  # modal: the app ends when it is closed
    return code


def _could_not_open(exc: BaseException, where: "Home | None") -> int:
    """startup_failed for an exception raised while opening the library."""
    import traceback

    from refldm_desktop.errors import translate

    folder = f"Library folder: {where.root}\n" if where is not None else ""
    known = translate(exc)
    if known is not None:
        return startup_failed("ReF-LDM Desktop could not open your library.", str(known),
                              f"{folder}{known}", line=str(known))
    from refldm_desktop.cli import write_crash_log

    log = write_crash_log(exc, str(where.root) if where is not None else None)
    trace = "".join(traceback.format_exception(exc))
    why = (f"This is a bug: please report it with the file {log}, which holds the details below" if log else
           "This is a bug: please report it with the details below")
    return startup_failed("ReF-LDM Desktop could not start because of an unexpected error.", why,
                          f"{folder}{trace}", code=70,
                          line=f"internal error ({type(exc).__name__}): this is a bug; "
                          + (f"the details are in {log}" if log else "the details could not be saved"))


def start_app(home: str | os.PathLike[str] | None = None, paths: Sequence[Path] = ()) -> "OpenApp | int":
    """Start the app as `refldm-desktop gui` does, short of running the event loop: hand the
    paths to the window already open on this home (0), or open the library and its window
    (the OpenApp, which listens for later starts). A failure to start is said in a message
    box as well as on stderr; its exit status (not 0) is returned."""
    from refldm_desktop.core.home import resolve_home
    from refldm_desktop.core.library import Library
    from refldm_desktop.ui.instance import Outcome, claim

    make_qapp()
    try:
        where = resolve_home(home)
    except Exception as exc:
        return _could_not_open(exc, None)
    outcome, server = claim(where, paths)
    if outcome is Outcome.HANDED:
        return 0
    if outcome is Outcome.NO_ANSWER:
        # Not a second window: two windows on one database is what this start avoids, and
        # the running one is most likely busy for a moment rather than dead.
        return startup_failed(
            "ReF-LDM Desktop is already open on this library, but it does not answer.",
            "Wait a moment and try again. If it stays stuck, close it (or end it in your system monitor), "
            "then start it again",
            f"Library folder: {where.root}", code=1,
            line=f"ReF-LDM Desktop is already open on {where.root} but does not answer: wait a moment and try "
                 "again, or close it first")
    if outcome is Outcome.REFUSED:
        return startup_failed(
            "ReF-LDM Desktop is already open on this library, but it did not take what was to be opened.",
            "It may be another version of the app (one updated while it was open): close it, then start it again",
            f"Library folder: {where.root}", code=1,
            line=f"ReF-LDM Desktop is already open on {where.root} but refused the request (another version?): "
                 "close it, then start it again")
    holder = OpenApp(where, lambda: Library.open(where))
    if server is not None:
        holder.server = server
        server.setParent(holder)
        server.received.connect(holder.receive)
    try:
        holder.open_or_offer_way_back(paths)
    except Exception as exc:
        holder.close()  # a start after this one opens its own window, not waits for this one
        holder.deleteLater()
        return _could_not_open(exc, where)
    return holder


COLLECT_AGAIN_MS = 10_000  # the garbage collector is on again by then, painted or not


def _collect_again() -> None:
    import gc

    if gc.isenabled():  # the first paint or the fallback timer did it already
        return
    gc.freeze()
    gc.enable()


def run_app(home: str | os.PathLike[str] | None = None, paths: Sequence[Path] = ()) -> int:
    """What `refldm-desktop gui` and the `refldm-desktop-gui` script run: start_app, then
    the event loop until the window closes. Not 0 when the app did not start."""
    started = start_app(home, paths)
    # main() paused the garbage collector for the start: on again once the window has
    # painted (at once when no window opened), with what the start made frozen.
    if isinstance(started, int) or started.ctx is None:
        _collect_again()
    else:
        started.ctx.after_first_paint(_collect_again)
        # Whatever becomes of the context (closed before it painted, a callback before
        # this one failing), the collector must not stay off for the whole session.
        QTimer.singleShot(COLLECT_AGAIN_MS, _collect_again)
    if isinstance(started, int):
        return started
    app = QApplication.instance()
    assert app is not None
    try:
        code = app.exec()
    finally:
        started.close()
    if started.failure:  # closed without going back to a backup
        print(f"refldm-desktop: error: {started.failure}", file=sys.stderr)
        return 2
    return code
