"""The window's foundation: pages, adding photos in the background, errors in one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from fakes import draw_photo, open_test_library

from pathlib import Path

from musthave import require_module

require_module("PySide6")


def _library(tmp_path):
    photos = tmp_path / "photos"
    draw_photo(photos / "a.png", [(1, 0, 10, 10)])
    draw_photo(photos / "b.png", [(1, 4, 40, 40), (2, 0, 100, 10)])
    draw_photo(photos / "sub" / "c.png", [(2, 3, 20, 60)])
    return photos, open_test_library(tmp_path / "home")


def test_adding_a_folder_fills_the_grid_and_sidebar(qtbot, tmp_path, open_app):
    from PySide6.QtTest import QAbstractItemModelTester
    from PySide6.QtWidgets import QListView, QTreeWidget

    photos, lib = _library(tmp_path)
    ctx, window = open_app(lib)
    grid = window.findChild(QListView, "photoGrid")
    assert grid is not None and grid.model().rowCount() == 0
    QAbstractItemModelTester(grid.model(), QAbstractItemModelTester.FailureReportingMode.Fatal)
    window.open_paths([photos])
    qtbot.waitUntil(lambda: grid.model().rowCount() == 3, timeout=30_000)
    # Rows and thumbnails arrive in the background, then the cells have names and pictures.
    model = grid.model()
    qtbot.waitUntil(lambda: all(model.photo_row(r) is not None for r in range(3)), timeout=10_000)
    names = sorted(model.index(r).data() for r in range(3))
    assert names == ["a.png", "b.png", "c.png"]
    from refldm_desktop.ui.models.photos import PIXMAP_ROLE

    qtbot.waitUntil(lambda: all(model.index(r).data(PIXMAP_ROLE) is not None for r in range(3)), timeout=10_000)
    sidebar = window.findChild(QTreeWidget, "sidebar")
    library_item = sidebar.topLevelItem(0)
    qtbot.waitUntil(lambda: library_item.childCount() == 1, timeout=10_000)
    assert library_item.child(0).text(0) == "photos"
    # Choosing the folder's sub-folder filter narrows the grid.
    window.show_page("photos", photos / "sub")
    qtbot.waitUntil(lambda: grid.model().rowCount() == 1, timeout=10_000)
    # A folder chosen in the sidebar, then its Library item: every photo again, not that folder.
    sidebar.setCurrentItem(library_item.child(0))
    qtbot.waitUntil(lambda: grid.model().rowCount() == 3, timeout=10_000)
    assert grid.model().filter.folder == photos
    sidebar.setCurrentItem(library_item)
    assert grid.model().filter.folder is None


def test_a_failing_call_comes_back_as_one_line_with_details(qtbot, tmp_path, open_app):
    from refldm_desktop.core.changes import LibraryError

    _photos, lib = _library(tmp_path)
    ctx, window = open_app(lib)

    def boom():
        raise LibraryError("the photo is gone: index its folder again")

    with qtbot.waitSignal(ctx.tasks.failed, timeout=10_000) as sig:
        ctx.tasks.run(boom, label="Opening")
    _task, line, details = sig.args
    assert line == "Opening: the photo is gone: index its folder again"
    assert "Traceback" in details and "boom" in details


def test_work_for_a_closed_view_is_dropped_quietly_and_other_errors_still_show(qtbot, fake_ctx):
    """A view closed while its query ran must not crash the window when the result comes;
    a callback's own bug must still reach the user."""
    import threading

    from PySide6.QtCore import QObject, Signal

    class Receiver(QObject):
        got = Signal()

    gate = threading.Event()
    receiver = Receiver()
    task = fake_ctx.tasks.run(lambda: gate.wait(10), lambda _result: receiver.got.emit(), label="Listing")
    receiver.deleteLater()
    qtbot.waitUntil(lambda: not __import__("shiboken6").isValid(receiver), timeout=5_000)
    gate.set()
    qtbot.waitUntil(lambda: task not in fake_ctx.tasks.active(), timeout=10_000)  # no exception raised

    def buggy(_result):
        raise RuntimeError("a callback's own bug")

    with qtbot.captureExceptions() as caught:
        done = fake_ctx.tasks.run(lambda: 1, buggy)
        qtbot.waitUntil(lambda: done not in fake_ctx.tasks.active(), timeout=10_000)
    assert [str(e[1]) for e in caught] == ["a callback's own bug"]


def test_first_run_offers_to_add_folders(qtbot, tmp_path, open_app):
    from PySide6.QtWidgets import QDialog, QLabel

    _photos, lib = _library(tmp_path)
    ctx, window = open_app(lib)
    qtbot.waitUntil(lambda: window.findChild(QDialog, "firstRunDialog") is not None, timeout=10_000)
    dialog = window.findChild(QDialog, "firstRunDialog")
    note = dialog.findChild(QLabel, "firstRunNote").text()
    assert "models install" in note and "Works right away" in note


def test_gui_without_a_display_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    repo = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = f"{repo}:{repo / 'plugins'}"
    if sys.platform != "linux":
        pytest.skip("only Linux needs DISPLAY")
    r = subprocess.run(
        [sys.executable, "-m", "refldm_desktop", "--home", str(tmp_path / "home"), "gui"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no display" in r.stderr


def test_every_control_has_a_name_a_screen_reader_can_read(qtbot, tmp_path, open_app):
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QWidget,
    )

    from refldm_desktop.ui.dialogs.restore_options import RestoreOptionsDialog
    from refldm_desktop.ui.views.compare import CompareView

    photos, lib = _library(tmp_path)
    ctx, window = open_app(lib)
    window.open_paths([photos])
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=30_000)
    pid = lib.photos()[0].id
    dialog = RestoreOptionsDialog(ctx, [pid], window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: len(dialog.rows) == 1, timeout=30_000)
    compare = CompareView(ctx)
    qtbot.addWidget(compare)
    controls = (QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit)
    unnamed = []
    for top in (window, dialog, compare):
        for w in top.findChildren(QWidget):
            if not isinstance(w, controls) or w.objectName().startswith("qt_") or w.isHidden():
                continue
            if type(w).__module__.startswith("PySide6") and w.parent() is not None and type(w.parent()).__module__.startswith("PySide6") and not w.objectName():
                continue  # parts Qt makes inside its own widgets (scroll bars' buttons...)
            if not (w.accessibleName() or (isinstance(w, QAbstractButton) and w.text())):
                unnamed.append(f"{type(w).__name__} {w.objectName()!r} in {type(top).__name__}")
    assert unnamed == []


def test_a_change_to_shown_photos_rereads_only_their_rows(qtbot, tmp_path, open_app, monkeypatch):
    """A batch announces every photo it finishes: the grid reads those rows again, not the
    whole list of ids (100,000 of them in a big library); a new photo still lists them."""
    from PySide6.QtWidgets import QListView

    from refldm_desktop.core.events import Area, Change
    from refldm_desktop.ui.models import photos as photos_model

    photos, lib = _library(tmp_path)
    ctx, window = open_app(lib, paths=[photos])
    grid = window.findChild(QListView, "photoGrid")
    model = grid.model()
    qtbot.waitUntil(lambda: model.rowCount() == 3 and all(model.photo_row(r) for r in range(3)), timeout=30_000)
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=30_000)

    listed, read = [], []
    real_ids, real_rows = photos_model.photo_ids, photos_model.photos_by_id
    monkeypatch.setattr(photos_model, "photo_ids", lambda *a: listed.append(1) or real_ids(*a))
    monkeypatch.setattr(photos_model, "photos_by_id", lambda lib_, ids: read.append(list(ids)) or real_rows(lib_, ids))
    first = model.photo_id(0)
    lib._emit(Change.of(versions=[1], photos=[first]))
    # Waiting for the read itself: a thumbnail landing late also changes the model's data.
    qtbot.waitUntil(lambda: bool(read), timeout=10_000)
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=10_000)
    assert read == [[first]] and listed == []

    lib._emit(Change.of(Area.PHOTOS, photos=[first, 10_000]))  # one not shown (new): list again
    qtbot.waitUntil(lambda: bool(listed), timeout=10_000)


def test_adding_again_says_the_photos_were_already_there():
    from refldm_desktop.core.changes import IndexResult
    from refldm_desktop.ui.library_ops import _summary

    assert _summary([IndexResult(new=3, faces_found=4)]) == "Added 3 photos, 4 faces found"
    assert _summary([IndexResult(unchanged=83)]) == "Up to date: 83 photos already in the library"
    assert _summary([IndexResult(errors=1)]) == "No photos found there; 1 could not be read"


@pytest.mark.parametrize("over", ["photoGrid", "peopleView"])
def test_dropping_a_folder_anywhere_on_the_window_adds_it(qtbot, tmp_path, open_app, over):
    """A folder dragged from the file manager: onto the grid, or onto the People page whose
    tiles take drops of their own (people merged by dragging): either way it is added."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication, QWidget

    photos, lib = _library(tmp_path)
    ctx, window = open_app(lib)
    window.show_page("people" if over == "peopleView" else "photos")
    target = window.findChild(QWidget, over).viewport()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photos))])
    at = QPointF(target.rect().center())
    enter = QDragEnterEvent(at.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    qtbot.waitUntil(lambda: len(lib.photos()) == 3, timeout=30_000)
    assert [Path(f) for f in lib.folders()] == [photos]


def test_help_lists_every_shortcut_and_no_key_does_two_things_in_one_place(qtbot, tmp_path, open_app):
    """F1 opens the list of keys, read from the actions themselves: the common verbs have
    keys, and within the menus, or within one page, a key does one thing only."""
    from collections import Counter

    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QTableWidget

    _, lib = _library(tmp_path)
    ctx, window = open_app(lib)
    qtbot.waitUntil(lambda: window.findChild(QAction, "shortcutsAction") is not None, timeout=30_000)  # after the first paint
    window.findChild(QAction, "shortcutsAction").trigger()
    dialog = window.findChild(QTableWidget, "shortcutsTable").window()
    rows = dialog.rows
    what = {(where, text): keys for where, text, keys in rows}
    for where, text in (("Photo", "Restore Faces"), ("Photo", "Restore with Options…"), ("Photo", "Open in the File Manager"),
                        ("File", "Add Folder…"), ("Tools", "Clean Up an Album…"), ("Tools", "Settings…"),
                        ("People", "Merge"), ("People", "Rename"), ("People", "Find a person"),
                        ("Jobs", "Cancel"), ("Jobs", "Retry"), ("Compare", "Keep the restored photo"),
                        ("Compare", "Discard the restored photo"), ("View", "People")):
        assert (where, text) in what, f"no key for {where} › {text}"
    assert any(text.startswith("Undo") for where, text, _ in rows if where == "Edit")
    menus = {"File", "Edit", "View", "Photo", "Tools", "Help"}
    places = {where for where, _, _ in rows} - menus
    for scope in [menus, *({p} for p in places)]:
        keys = Counter(k for where, _, keys in rows if where in scope for k in keys.split(", "))
        assert [k for k, n in keys.items() if n > 1] == [], scope
    dialog.close()
    # Reading the keys built the Restored page but must not have made it list the library;
    # showing it does.
    restored = window.page_widget("restored")
    assert not restored.model.filter.restored  # no query was set, so none ran
    window.show_page("restored")
    assert restored.model.filter.restored


def test_after_the_first_paint_the_collector_skips_what_the_app_keeps(qtbot, tmp_path, open_app, monkeypatch):
    """A full garbage collection over every module and Qt type froze the window for 50-150
    ms, before its first paint and while the grid scrolled: what exists when the app starts,
    and what its window has made by its first paint, is left out of collections, and given
    back to them when the app closes."""
    import gc

    from PySide6.QtWidgets import QListView

    from refldm_desktop.ui import context

    counts: list[tuple[int, int]] = []  # frozen objects before and after the first paint's freeze
    real = context.AppContext.first_paint_done

    def first_paint_done(self):
        before = gc.get_freeze_count()
        real(self)
        counts.append((before, gc.get_freeze_count()))

    monkeypatch.setattr(context.AppContext, "first_paint_done", first_paint_done)
    photos, lib = _library(tmp_path)
    before = gc.get_freeze_count()
    ctx, window = open_app(lib, paths=[photos])
    assert gc.get_freeze_count() > before + 1000  # what the app starts with
    grid = window.findChild(QListView, "photoGrid")
    qtbot.waitUntil(lambda: grid.model().rowCount() == 3, timeout=30_000)
    qtbot.waitUntil(lambda: bool(counts), timeout=10_000)
    assert counts[0][1] > counts[0][0]  # and what the window made by its first paint
    ctx.close()
    assert gc.get_freeze_count() == 0


def test_the_collector_waits_for_the_first_paint_when_the_app_starts(tmp_path):
    """Starting the app makes objects that live as long as it and nothing to collect: the
    collector is off while it starts (it took 65-75 ms of a cold start), and on again once
    the window has painted, or memory would grow for the whole session."""
    probe = textwrap.dedent(
        """
        import gc, sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from refldm_desktop.ui import context, main

        seen = {}
        real_init = context.AppContext.__init__

        def init(self, *args, **kw):
            seen["starting"] = gc.isenabled()
            real_init(self, *args, **kw)

            def after():
                seen["painted"] = gc.isenabled()
                QApplication.instance().quit()

            # After everything else that waited for the paint.
            self.after_first_paint(lambda: QTimer.singleShot(0, after))

        context.AppContext.__init__ = init
        code = main(["--home", sys.argv[1]])
        print(code, seen["starting"], seen["painted"], gc.isenabled())
        """
    )
    repo = Path(__file__).resolve().parents[2]
    env = dict(__import__("os").environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=f"{repo}:{repo / 'plugins'}")
    r = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "home")], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-4:] == ["0", "False", "True", "True"]


def _probe_gc(tmp_path, setup: str) -> list[str]:
    """main() on a new home with `setup` run first (it sees gc, QTimer, QApplication,
    context, app_module and seen); prints what the probe saw."""
    probe = textwrap.dedent(
        """
        import gc, sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from refldm_desktop.ui import app as app_module, context, main

        seen = {}
        """
    ) + textwrap.dedent(setup) + textwrap.dedent(
        """
        code = main(["--home", sys.argv[1]])
        print(code, *(f"{k}={v}" for k, v in sorted(seen.items())))
        """
    )
    repo = Path(__file__).resolve().parents[2]
    env = dict(__import__("os").environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=f"{repo}:{repo / 'plugins'}")
    r = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "home")], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_a_failing_after_paint_call_does_not_keep_the_later_ones_or_the_collector_off(tmp_path):
    """Work waiting for the first paint runs each on its own: one that raises is logged,
    and the rest (turning the garbage collector back on among them) still run."""
    seen = _probe_gc(tmp_path, """
        real_init = context.AppContext.__init__

        def init(self, *args, **kw):
            real_init(self, *args, **kw)

            def fail():
                raise RuntimeError("a view's after-paint work failed")

            def later():
                seen["later_ran"] = True
                QTimer.singleShot(0, after)

            def after():
                seen["painted_gc"] = gc.isenabled()
                QApplication.instance().quit()

            self.after_first_paint(fail)  # before run_app's own call
            self.after_first_paint(later)
            QTimer.singleShot(8000, QApplication.instance().quit)  # the probe ends either way

        context.AppContext.__init__ = init
        """)
    assert seen[-3:] == ["0", "later_ran=True", "painted_gc=True"]


def test_the_collector_comes_back_on_even_when_the_first_paint_never_comes(tmp_path):
    """A context closed before it painted never runs its after-paint work: run_app turns the
    collector on again by itself a little later."""
    seen = _probe_gc(tmp_path, """
        context.AppContext.first_paint_done = lambda self: None  # never painted
        app_module.COLLECT_AGAIN_MS = 300
        real_init = context.AppContext.__init__

        def init(self, *args, **kw):
            real_init(self, *args, **kw)

            def look():
                seen["gc_on"] = gc.isenabled()
                QApplication.instance().quit()

            QTimer.singleShot(3000, look)

        context.AppContext.__init__ = init
        """)
    assert seen[-2:] == ["0", "gc_on=True"]
