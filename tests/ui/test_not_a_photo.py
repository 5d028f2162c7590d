"""A file that is not a photo, dropped on the window or named on the command line, gets
one plain message saying so, and no error dialog with advice that does not fit."""

from __future__ import annotations

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

WAIT = 60_000


@pytest.mark.parametrize("how", ["drop", "command line"])
def test_a_file_that_is_not_a_photo_is_named_with_what_the_app_reads(qtbot, tmp_path, open_app, how):
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from fakes import draw_photo, open_test_library
    from refldm_desktop.ui.app import make_qapp
    from ui_testlib import wait_idle

    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 10, 10)])
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    said = []
    make_qapp()
    before = {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}  # other tests' leftovers
    if how == "command line":
        ctx, window = open_app(lib, paths=[notes])
        ctx.status.connect(said.append)
    else:
        ctx, window = open_app(lib)
        ctx.status.connect(said.append)
        window.show()
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(notes))])
        enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(window, enter)
        assert enter.isAccepted()
        QApplication.sendEvent(window, QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                                                  Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: any("notes.txt" in s for s in said), timeout=WAIT)
    wait_idle(qtbot, ctx)
    qtbot.wait(300)  # a second message or a dialog would come now
    wait_idle(qtbot, ctx)
    (text,) = [s for s in said if "notes.txt" in s]
    assert text == "notes.txt is not a photo this app can read (JPEG, PNG, WebP, TIFF, BMP, HEIC, AVIF): it is text"
    assert not any("could not be read" in s or "No photos found" in s for s in said), said
    others = [w for w in QApplication.topLevelWidgets()
              if w.isVisible() and w is not window and id(w) not in before]
    assert others == [], [(type(w).__name__, w.windowTitle()) for w in others]
    assert [p.path.name for p in lib.photos()] == ["a.png"]
    assert lib.folders() == [root.resolve()]  # the text file's folder was not added
