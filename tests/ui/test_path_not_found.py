"""`gui PATH` with a PATH that is not there (the README's ~/Pictures on a machine without
one, a file manager's stale path) opens the window anyway and says so there, offering to
pick a folder."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

WAIT = 30_000


def test_the_command_opens_the_window_for_a_path_that_is_not_there(tmp_path, monkeypatch):
    from refldm_desktop import ui
    from refldm_desktop.ui import app

    opened = []
    monkeypatch.setattr(app, "run_app", lambda home=None, paths=(): opened.append(list(paths)) or 0)
    missing = tmp_path / "Pictures"
    assert ui.main(["--home", str(tmp_path / "home"), str(missing)]) == 0
    assert opened == [[missing]]


def test_an_empty_library_opened_at_a_missing_folder_says_so_in_the_first_run_assistant(qtbot, tmp_path, open_app):
    from PySide6.QtWidgets import QDialog

    from fakes import open_test_library

    missing = tmp_path / "Bilder"
    ctx, window = open_app(open_test_library(tmp_path / "home"), paths=[missing])
    window.show()
    qtbot.waitUntil(lambda: (d := window.findChild(QDialog, "firstRunDialog")) is not None and d.isVisible(),
                    timeout=WAIT)
    dialog = window.findChild(QDialog, "firstRunDialog")
    assert dialog.not_found.isVisible()
    assert dialog.not_found.text() == f"Not found: {missing}. Add the folder where your photos are instead."


def test_a_library_with_folders_asked_for_a_missing_path_offers_to_pick_a_folder(qtbot, tmp_path, open_app, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

    from fakes import draw_photo, open_test_library
    from ui_testlib import wait_idle

    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 10, 10)])
    other = tmp_path / "More"
    draw_photo(other / "b.png", [(2, 0, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    missing = tmp_path / "gone.jpg"
    ctx, window = open_app(lib, paths=[missing])
    window.show()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "notFoundMessage") is not None, timeout=WAIT)
    box = window.findChild(QMessageBox, "notFoundMessage")
    qtbot.waitUntil(box.isVisible, timeout=WAIT)
    assert box.text() == f"Not found: {missing}"
    assert window.statusBar().currentMessage() == f"Not found: {missing}"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(other))
    box.findChild(QPushButton, "notFoundAddFolder").click()
    qtbot.waitUntil(lambda: sorted(p.path.name for p in lib.photos()) == ["a.png", "b.png"], timeout=WAIT)
    wait_idle(qtbot, ctx)


def test_handed_over_paths_are_looked_up_off_the_gui_thread(qtbot, tmp_path, open_app, monkeypatch):
    """A path on a stale network mount can hold a stat for minutes: the window asks whether
    handed-over paths are there on a worker, and still says which are not."""
    import os
    import threading

    from PySide6.QtWidgets import QMessageBox

    from fakes import draw_photo, open_test_library
    from ui_testlib import wait_idle

    there = tmp_path / "Pictures"
    draw_photo(there / "a.png", [(1, 0, 10, 10)])
    gone = tmp_path / "gone"
    lib = open_test_library(tmp_path / "home")
    ctx, window = open_app(lib)
    window.show()
    wait_idle(qtbot, ctx)

    on_gui: list[str] = []
    real_stat = os.stat

    def watched(path, *args, **kwargs):
        if str(path) in (str(there), str(gone)) and threading.current_thread() is threading.main_thread():
            on_gui.append(str(path))
        return real_stat(path, *args, **kwargs)

    said: list[str] = []
    ctx.status.connect(said.append)
    monkeypatch.setattr(os, "stat", watched)
    window.open_paths([gone, there])
    qtbot.waitUntil(lambda: [p.path.name for p in lib.photos()] == ["a.png"], timeout=WAIT)
    wait_idle(qtbot, ctx)
    monkeypatch.undo()
    assert on_gui == []
    assert f"Not found: {gone}" in said  # still said, with the photos of the folder that is there
    assert window.findChild(QMessageBox, "notFoundMessage") is None or not window.findChild(
        QMessageBox, "notFoundMessage").isVisible()  # something was opened: no need to ask for a folder
