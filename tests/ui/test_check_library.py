"""Tools › Check Library…: a whole library says so; Back Up Now lists the new backup; going
back to a backup reopens the window over the restored database (no row of the replaced one
left); going back waits for a running job; a library damaged at start-up offers its newest
whole backup and shows its photos again once gone back to. Real window, fake faces."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

from ui_testlib import wait_idle  # noqa: E402


def _photos(folder: Path, n: int, start: int = 0) -> Path:
    from fakes import draw_photo

    for i in range(start, start + n):
        draw_photo(folder / f"p{i}.png", [(1 + i % 2, i, 20, 30)])
    return folder


def _grid_rows(qtbot, window, n: int) -> None:
    """The Library page lists exactly `n` photos (every folder)."""
    from PySide6.QtWidgets import QListView

    window.show_page("photos", "")
    grid = window.findChild(QListView, "photoGrid")
    qtbot.waitUntil(lambda: grid.model().rowCount() == n, timeout=30_000)


def _open_dialog(qtbot, window):
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QDialog

    window.findChild(QAction, "checkLibraryAction").trigger()
    dialog = window.findChild(QDialog, "checkLibraryDialog")
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.check is not None and dialog.task is None, timeout=30_000)
    return dialog


def _click(qtbot, button) -> None:
    from PySide6.QtCore import Qt

    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _agree(qtbot, dialog) -> str:
    """Click Go Back in the confirmation; returns its text."""
    from PySide6.QtWidgets import QMessageBox, QPushButton

    qtbot.waitUntil(lambda: dialog.confirm is not None and dialog.confirm.isVisible(), timeout=10_000)
    box = dialog.confirm
    assert isinstance(box, QMessageBox) and box.objectName() == "goBackConfirm"
    text = box.text()
    _click(qtbot, box.findChild(QPushButton, "goBackYes"))
    return text


def _damage(db: Path) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    data[:100] = b"\xff" * 100  # the header: SQLite no longer sees a database
    db.write_bytes(bytes(data))


def test_a_whole_library_says_so_and_back_up_now_lists_the_backup(qtbot, tmp_path, open_app):
    from PySide6.QtWidgets import QAbstractButton, QLabel, QProgressBar, QTableWidget

    from fakes import open_test_library

    lib = open_test_library(tmp_path / "home")
    lib.index([_photos(tmp_path / "Pictures", 3)])
    ctx, window = open_app(lib)
    dialog = _open_dialog(qtbot, window)
    assert "whole" in dialog.state.text() and "damaged" not in dialog.state.text()
    assert dialog.table.rowCount() == 0 and dialog.empty.isVisible()
    assert not dialog.buttons["goBack"].isEnabled()
    controls = [w for kind in (QAbstractButton, QTableWidget, QProgressBar) for w in dialog.findChildren(kind)]
    for w in [c for c in controls if not c.objectName().startswith("qt_")] + [dialog.state]:  # not Qt's own parts
        assert w.accessibleName(), w.objectName() or type(w).__name__  # screen readers name every control
    assert isinstance(dialog.state, QLabel)

    _click(qtbot, dialog.buttons["backup"])
    qtbot.waitUntil(lambda: dialog.task is None and dialog.table.rowCount() == 1, timeout=30_000)
    backups = list((tmp_path / "home" / "backups").glob("library-*.sqlite3"))
    assert len(backups) == 1
    cells = [dialog.table.item(0, c).text() for c in range(dialog.table.columnCount())]
    assert cells[2] == "whole" and cells[3] == "taken by hand" and ("KB" in cells[1] or "MB" in cells[1])
    assert str(backups[0]) in dialog.table.item(0, 0).toolTip()
    assert dialog.selected() is not None and dialog.buttons["goBack"].isEnabled()  # the new one is selected
    dialog.reject()
    wait_idle(qtbot, ctx)


def test_going_back_reopens_the_window_over_the_backup_and_waits_for_a_running_job(qtbot, tmp_path, open_app, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from fakes import open_test_library
    from refldm_desktop.core.backups import back_up
    from refldm_desktop.ui.jobs_bridge import JobsBridge

    lib = open_test_library(tmp_path / "home")
    lib.index([_photos(tmp_path / "Pictures", 3)])
    back_up(lib.home)
    lib.index([_photos(tmp_path / "More", 2, start=10)])  # after the backup: gone once gone back
    ctx, window = open_app(lib)
    reopened = []
    window.holder.reopened.connect(lambda c, w: reopened.append((c, w)))
    _grid_rows(qtbot, window, 5)
    wait_idle(qtbot, ctx)

    dialog = _open_dialog(qtbot, window)
    dialog.table.selectRow(0)
    # A job running: going back waits for it, and says so.
    monkeypatch.setattr(JobsBridge, "current_job_id", property(lambda self: 7))
    _click(qtbot, dialog.buttons["goBack"])
    refused = dialog.findChild(QMessageBox, "goBackRefused")
    assert refused is not None and "job is running" in refused.text().lower()
    assert dialog.confirm is None and not reopened
    refused.accept()
    monkeypatch.undo()
    # Indexing (work the user started) makes it wait too; unnamed background work does not.
    import threading

    gate = threading.Event()
    ctx.tasks.run_long("Adding photos", lambda _task: gate.wait(30))
    _click(qtbot, dialog.buttons["goBack"])
    refused = [b for b in dialog.findChildren(QMessageBox, "goBackRefused") if b.isVisible()]
    assert refused and "Adding photos is still running" in refused[0].text() and dialog.confirm is None
    refused[0].accept()
    gate.set()
    wait_idle(qtbot, ctx)
    gate.clear()
    # (the device's speed is measured so): it ends when the window closes for going back
    ctx.tasks.run_long("", lambda task: [gate.wait(0.05) for _ in range(600) if not task.cancelled()])

    _click(qtbot, dialog.buttons["goBack"])
    text = _agree(qtbot, dialog)
    assert "replaced by this backup" in text and "backed up first" in text  # what goes, what is kept
    assert "waiting or running in the backup are cancelled" in text  # said before, not found out after
    qtbot.waitUntil(lambda: bool(reopened), timeout=60_000)
    new_ctx, new_window = reopened[0]
    try:
        assert new_window is not window and new_ctx.library is not lib
        _grid_rows(qtbot, new_window, 3)  # the rows of the backup, none of the replaced database
        assert {p.path.parent.name for p in new_ctx.library.photos()} == {"Pictures"}
        qtbot.waitUntil(lambda: new_window.findChild(QMessageBox, "wentBack") is not None, timeout=10_000)
        said = new_window.findChild(QMessageBox, "wentBack").text()
        assert "back as it was" in said and "kept as a backup" in said
        # The replaced database is a backup too: going back can itself be undone.
        dialog = _open_dialog(qtbot, new_window)
        assert [dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())][0] == (
            "taken before going back to another backup")
        dialog.reject()
        wait_idle(qtbot, new_ctx)
    finally:
        new_ctx.close()


def test_a_library_damaged_at_start_offers_its_newest_whole_backup_and_shows_its_photos_again(qtbot, tmp_path):
    from PySide6.QtWidgets import QListView

    from fakes import open_test_library
    from refldm_desktop.core.backups import back_up
    from refldm_desktop.core.home import Home
    from refldm_desktop.ui.app import OpenApp, make_qapp

    home = tmp_path / "home"
    with open_test_library(home) as lib:
        lib.index([_photos(tmp_path / "Pictures", 4)])
        back_up(lib.home)
    _damage(home / "library.sqlite3")

    make_qapp()
    holder = OpenApp(Home(home), lambda: open_test_library(home))
    try:
        assert holder.open_or_offer_way_back() is False and holder.window is None
        dialog = holder.dialog
        assert dialog is not None and dialog.isVisible()
        said = dialog.failure.text()
        assert dialog.failure.isVisible() and "damaged" in said and "refldm-desktop" not in said and "`" not in said
        qtbot.waitUntil(lambda: dialog.check is not None and dialog.task is None, timeout=30_000)
        assert "damaged" in dialog.state.text() and "newest whole backup" in dialog.state.text()
        assert dialog.selected() is not None and dialog.selected().whole  # offered without a click
        assert not dialog.buttons["backup"].isEnabled()  # a copy of a damaged file is no way back

        _click(qtbot, dialog.buttons["goBack"])
        text = _agree(qtbot, dialog)
        assert "damaged database is not deleted" in text
        qtbot.waitUntil(lambda: holder.window is not None, timeout=60_000)
        assert holder.failure == ""
        holder.window.show_page("photos", "")
        grid = holder.window.findChild(QListView, "photoGrid")
        qtbot.waitUntil(lambda: grid.model().rowCount() == 4, timeout=30_000)
        assert list(home.glob("library.sqlite3.damaged-*"))  # the damaged file is kept
        wait_idle(qtbot, holder.ctx)
    finally:
        holder.close()


def test_a_library_damaged_at_start_opens_at_the_folder_it_was_started_with_once_gone_back(qtbot, tmp_path):
    """`refldm-desktop gui FOLDER` (the file manager's action) over a damaged library: once
    gone back to a backup, the window shows FOLDER, added to the library if the backup lacks it."""
    from fakes import draw_photo, open_test_library
    from refldm_desktop.core.backups import back_up
    from refldm_desktop.core.home import Home
    from refldm_desktop.ui.app import OpenApp, make_qapp

    home = tmp_path / "home"
    with open_test_library(home) as lib:
        lib.index([_photos(tmp_path / "Pictures", 2)])
        taken = back_up(lib.home)
    _damage(home / "library.sqlite3")
    draw_photo(tmp_path / "Trip" / "t.png", [(3, 0, 20, 30)])

    make_qapp()
    holder = OpenApp(Home(home), lambda: open_test_library(home))
    try:
        assert holder.open_or_offer_way_back([tmp_path / "Trip"]) is False
        holder.go_back(taken)
        qtbot.waitUntil(lambda: holder.window is not None, timeout=60_000)
        page = holder.window.current_page()
        qtbot.waitUntil(lambda: page.model.filter.folder == tmp_path / "Trip" and page.model.rowCount() == 1,
                        timeout=30_000)
        wait_idle(qtbot, holder.ctx)
        assert {p.path.parent.name for p in holder.ctx.library.photos()} == {"Pictures", "Trip"}
    finally:
        holder.close()


@pytest.mark.parametrize("sqlite_says", ["database disk image is malformed", "disk I/O error"])
def test_an_operation_failing_on_a_damaged_database_offers_check_library(qtbot, tmp_path, open_app, sqlite_says):
    from PySide6.QtWidgets import QDialog, QMessageBox, QPushButton

    from fakes import open_test_library
    from refldm_desktop.errors import DatabaseError, database_error_message

    lib = open_test_library(tmp_path / "home")
    ctx, window = open_app(lib)
    wait_idle(qtbot, ctx)
    line = database_error_message(sqlite3.DatabaseError(sqlite_says))
    assert line is not None

    def fail():
        raise DatabaseError(line)

    ctx.tasks.run(fail, label="Listing photos")
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "errorBox") is not None, timeout=10_000)
    box = window.findChild(QMessageBox, "errorBox")
    assert "Tools › Check Library…" in box.text() and "`" not in box.text()
    _click(qtbot, box.findChild(QPushButton, "checkLibraryButton"))
    qtbot.waitUntil(lambda: window.findChild(QDialog, "checkLibraryDialog") is not None, timeout=10_000)
    dialog = window.findChild(QDialog, "checkLibraryDialog")
    qtbot.waitUntil(lambda: dialog.check is not None and dialog.task is None, timeout=30_000)
    said = dialog.failure.text()  # why it failed, without the advice to open this very dialog
    assert dialog.failure.isVisible() and ("damaged" in said or "could not write" in said), said
    assert "Check Library" not in said and said.startswith("What went wrong: Listing photos: the "), said
    dialog.reject()
    wait_idle(qtbot, ctx)


def test_when_going_back_fails_and_the_library_does_not_open_again_the_user_sees_why(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from fakes import open_test_library
    from refldm_desktop.core import backups
    from refldm_desktop.core.home import Home
    from refldm_desktop.errors import LibraryBusy
    from refldm_desktop.ui.app import OpenApp, make_qapp

    home = tmp_path / "home"
    lib = open_test_library(home)
    lib.index([_photos(tmp_path / "Pictures", 2)])
    taken = backups.back_up(lib.home)

    def cannot_go_back(_home, _path):
        raise LibraryBusy("another app is running jobs in this library: let it finish")

    def cannot_open():
        raise RuntimeError("the disk went away")  # not one of ours: a bug's error

    monkeypatch.setattr(backups, "go_back", cannot_go_back)
    make_qapp()
    holder = OpenApp(Home(home), cannot_open)
    try:
        holder.open(library=lib)
        wait_idle(qtbot, holder.ctx)
        holder.go_back(taken)
        # Not left without a window: Check Library is offered again, saying why in one line.
        qtbot.waitUntil(lambda: holder.dialog is not None and holder.dialog.isVisible(), timeout=30_000)
        assert holder.window is None
        qtbot.waitUntil(lambda: holder.dialog.findChild(QMessageBox, "errorBox") is not None, timeout=10_000)
        said = holder.dialog.findChild(QMessageBox, "errorBox").text()
        assert "going back to the backup failed" in said and "let it finish" in said and "the disk went away" in said
        assert "\n" not in said and holder.failure
        qtbot.waitUntil(lambda: holder.dialog.task is None, timeout=30_000)
        holder.dialog.reject()
    finally:
        holder.close()


def test_stop_ends_a_running_check_or_backup_and_changes_nothing(qtbot, tmp_path, open_app):
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QDialog

    from fakes import open_test_library

    lib = open_test_library(tmp_path / "home")
    lib.index([_photos(tmp_path / "Pictures", 2)])
    # A database big enough that checking or copying it takes a while (a table the app
    # does not read), so that Stop is clicked while the work is running.
    with sqlite3.connect(lib.home.database) as raw:
        raw.execute("CREATE TABLE padding (id INTEGER PRIMARY KEY, words TEXT)")
        raw.executemany("INSERT INTO padding (words) VALUES (?)", ((f"row {i} " * 10,) for i in range(150_000)))
    ctx, window = open_app(lib)
    wait_idle(qtbot, ctx)
    window.findChild(QAction, "checkLibraryAction").trigger()
    dialog = window.findChild(QDialog, "checkLibraryDialog")
    stop = dialog.stop
    assert stop.isVisible() and stop.accessibleName()  # offered while the check runs
    _click(qtbot, stop)  # at once: the check has barely begun
    qtbot.waitUntil(lambda: dialog.task is None, timeout=30_000)
    assert dialog.check is None  # it ended without a result, not at the end of the files
    assert dialog.state.text().startswith("The check was stopped before it finished.") and "Check Again" in dialog.state.text()
    assert not stop.isVisible() and dialog.buttons["again"].isEnabled()

    _click(qtbot, dialog.buttons["again"])  # a stopped check can be run again, to its end
    qtbot.waitUntil(lambda: dialog.check is not None and dialog.task is None, timeout=30_000)
    assert dialog.check.whole

    _click(qtbot, dialog.buttons["backup"])
    _click(qtbot, stop)  # Back Up Now stopped: no backup, no half-written copy
    qtbot.waitUntil(lambda: dialog.task is None, timeout=30_000)
    assert "no backup was taken" in dialog.state.text()
    backups = tmp_path / "home" / "backups"
    assert not backups.is_dir() or not any(backups.iterdir())
    assert dialog.table.rowCount() == 0
    dialog.reject()
    wait_idle(qtbot, ctx)
