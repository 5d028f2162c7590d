"""The right-click menu of the photo grid, and what its entries do."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu
from refldm_desktop.db.models import JobState
from refldm_desktop.ui.advice import for_app
from refldm_desktop.ui.mainwindow.actions import PHOTO_VERBS

if TYPE_CHECKING:
    from refldm_desktop.ui.restore_ops import JobEnd
    from refldm_desktop.ui.views.photos_page import PhotosPage


def photo_menu(page: "PhotosPage", ids: list[int]) -> QMenu:
    """The grid's right-click menu: the Photo menu's verbs (one table, actions.PHOTO_VERBS)
    for these photos."""
    n = len(ids)
    what = "this photo" if n == 1 else f"{n} photos"
    menu = QMenu(page)
    menu.setObjectName("photoMenu")
    menu.setAccessibleName(f"Actions for {what}")
    verbs = globals()
    for v in PHOTO_VERBS:
        if v.group_start:
            menu.addSeparator()
        text = v.many_text.format(what=what.title()) if n > 1 and v.many_text else v.text
        a = menu.addAction(text, partial(verbs[v.verb], page, ids[0] if v.single else ids))
        a.setObjectName(v.popup_name)
        a.setShortcut(QKeySequence(v.shortcut))
        a.setToolTip(v.tip)
        a.setEnabled(n == 1 or not v.needs_one)
    return menu


PREVIEW_STEPS = 8  # one photo restored from the menu first shows a result this quick


def restore(page: "PhotosPage", ids: list[int], settings=None, per_photo=None) -> None:
    from dataclasses import replace

    from refldm_desktop.ui.restore_ops import nothing_restored, restore_photos, saved_defaults

    one = len(ids) == 1
    settings = settings or saved_defaults(page.ctx)
    if one and not settings.preview_steps:
        settings = replace(settings, preview_steps=PREVIEW_STEPS)  # the job skips it for short runs

    def preview(job_id: int, photo_id: int | None, path: str) -> None:
        if one and photo_id is not None:
            page.open_compare_preview(photo_id, Path(path), settings.preview_steps, job_id)

    def finished(end: "JobEnd") -> None:
        if end.state == JobState.DONE and end.version_id is not None and one:
            page.open_compare(end.version_id)
            return
        if end.state == JobState.FAILED:
            why = f"Restoring failed: {for_app(end.error)}"
            page.ctx.status.emit(why)
        elif end.state == JobState.CANCELLED:
            why = "Restoring was cancelled"
        else:
            why = nothing_restored(end.message)
            if one and end.photo_id is not None and (page.compare_view is None
                                                     or page.stack.currentWidget() is not page.compare_view):
                nothing_restored_box(page, end.photo_id, end.message)
        # A preview on screen must not go on promising a result that will not come.
        if one and page.compare_view is not None and end.photo_id is not None:
            page.compare_view.preview_ended(end.photo_id, why)

    restore_photos(page.ctx, ids, settings, per_photo=per_photo, on_finished=finished, on_preview=preview)


def nothing_restored_box(page: "PhotosPage", photo_id: int, message: str | None) -> None:
    """One photo restored with nothing to show: why, and the ways out as buttons (name the
    person in Show Faces, or restore without references in Restore with Options…)."""
    from PySide6.QtWidgets import QMessageBox

    from refldm_desktop.ui.restore_ops import nothing_reason

    reason, advice = nothing_reason(message)
    box = QMessageBox(QMessageBox.Icon.Information, "Nothing was restored", f"Nothing was restored: {reason}.",
                      QMessageBox.StandardButton.NoButton, page)
    box.setObjectName("nothingRestoredMessage")
    box.setAccessibleName("Nothing was restored")
    if advice:
        box.setInformativeText(advice[0].upper() + advice[1:] + ".")
    if "reference" in reason:
        for text, name, tell in (
            ("Restore with Options…", "nothingRestoredOptions", "Restore this photo with options, such as without references"),
            ("Show Faces", "nothingRestoredFaces", "Show this photo's faces to name their person"),
        ):
            button = box.addButton(text, QMessageBox.ButtonRole.ActionRole)
            button.setObjectName(name)
            button.setAccessibleName(tell)
    close = box.addButton(QMessageBox.StandardButton.Close)
    close.setAccessibleName("Close this message")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def answered(button) -> None:
        if button.objectName() == "nothingRestoredOptions":
            restore_with_options(page, [photo_id])
        elif button.objectName() == "nothingRestoredFaces":
            show_faces(page, photo_id)

    box.buttonClicked.connect(answered)
    box.open()


def restore_with_options(page: "PhotosPage", ids: list[int]) -> None:
    from refldm_desktop.ui.dialogs.restore_options import RestoreOptionsDialog

    dialog = RestoreOptionsDialog(page.ctx, ids, page)
    dialog.chosen.connect(lambda settings, per_photo: restore(page, ids, settings, per_photo))
    dialog.open()


def show_faces(page: "PhotosPage", photo_id: int) -> None:
    page.open_photo_view(photo_id)


def compare_latest(page: "PhotosPage", photo_id: int) -> None:
    lib = page.ctx.library

    def latest():
        versions = lib.jobs.versions(photo_id)  # discarded ones are left out
        return versions[-1].id if versions else None

    def show(version_id: int | None) -> None:
        if version_id is None:
            page.ctx.status.emit("This photo has no restored version yet: right-click, Restore Faces")
        else:
            page.open_compare(version_id)

    page.ctx.tasks.run(latest, show, label="Finding the restored version")


def open_in_file_manager(page: "PhotosPage", photo_id: int) -> None:
    """Show the photo in the file manager, selected (on the Restored page: its latest
    restored file); the path comes from the core, so a photo not loaded in the grid works too."""
    lib = page.ctx.library
    restored = getattr(page, "restored", False)

    def find() -> Path:
        if restored:
            versions = lib.jobs.versions(photo_id)  # discarded ones are left out
            if versions:
                return Path(versions[-1].output)
        return Path(lib.photo(photo_id).path)

    def show(path: Path) -> None:
        if not reveal(path):
            page.ctx.status.emit(f"Could not open a file manager at {path.parent}")

    page.ctx.tasks.run(find, show, label="Finding the photo's file")


DBUS_TIMEOUT_MS = 25_000  # a file manager that has not answered by then: open the folder


def reveal(path: Path) -> bool:
    """Open the file manager at `path`'s folder with the file selected where the platform
    allows it (Windows Explorer, the macOS Finder, a freedesktop file manager over D-Bus);
    else at the folder. Whether a file manager was asked to open. Never waits for it: the
    D-Bus call is answered later, and an error or no answer then opens the folder."""
    import sys

    from PySide6.QtCore import QProcess, QUrl
    from PySide6.QtGui import QDesktopServices

    def open_folder() -> bool:
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))

    if sys.platform == "win32":
        if QProcess.startDetached("explorer", [f"/select,{path}"])[0]:
            return True
    elif sys.platform == "darwin":
        if QProcess.startDetached("open", ["-R", str(path)])[0]:
            return True
    elif _show_items_over_dbus(path, open_folder):
        return True
    return open_folder()


_waiting: set = set()  # D-Bus calls not answered yet (kept alive until they are)


def _show_items_over_dbus(path: Path, failed) -> bool:
    """Ask the session's file manager to show the file, without waiting for its answer
    (a hung file manager held the window for the whole D-Bus timeout); `failed()` is
    called on the GUI thread if the answer is an error or none comes. Whether it was asked."""
    from PySide6.QtCore import QUrl

    try:
        from PySide6.QtDBus import QDBusMessage, QDBusPendingCallWatcher
    except ImportError:
        return False
    bus = _session_bus()
    if not bus.isConnected():
        return False
    # A plain message, not a QDBusInterface: making an interface asks the service to
    # describe itself, a blocking call of its own.
    call = QDBusMessage.createMethodCall("org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                                         "org.freedesktop.FileManager1", "ShowItems")
    call.setArguments([[QUrl.fromLocalFile(str(path)).toString()], ""])
    watcher = QDBusPendingCallWatcher(bus.asyncCall(call, DBUS_TIMEOUT_MS))
    _waiting.add(watcher)

    def answered(w) -> None:
        _waiting.discard(watcher)
        if watcher.isError():
            failed()
        watcher.deleteLater()

    watcher.finished.connect(answered)
    return True


def _session_bus():
    from PySide6.QtDBus import QDBusConnection

    return QDBusConnection.sessionBus()
