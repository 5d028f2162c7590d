"""Switching the grid between folders in the open window: the chosen folder's photos show,
in order and where a fresh layout puts them, and the scroll bar showing up with them does
not make the list view lay every cell out again (with 100,000 photos each layout is a
visible stall)."""

from __future__ import annotations

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

BIG = 1500  # photos: several screens, so the scroll bar shows


@pytest.fixture
def folders(tmp_path):
    """A library of two folders: `big` with BIG photo rows (no files: the grid reads rows,
    and pictures fail quietly to placeholders) and `empty` with none."""
    from sqlalchemy import insert

    from fakes import open_test_library
    from refldm_desktop.db.models import LibraryFolder, Photo

    big, empty = tmp_path / "big", tmp_path / "empty"
    big.mkdir()
    empty.mkdir()
    lib = open_test_library(tmp_path / "home")
    with lib._Session.begin() as s:
        folder = LibraryFolder(path=str(big))
        s.add_all([folder, LibraryFolder(path=str(empty))])
        s.flush()
        # Inserted out of order: the grid shows them by path.
        s.execute(insert(Photo), [
            dict(folder_id=folder.id, path=str(big / f"p{i:05d}.jpg"), size=1, mtime_ns=0, state="ok",
                 width=320, height=240, format="JPEG")
            for i in reversed(range(BIG))
        ])
    return lib, big, empty


def _show(qtbot, ctx, window, grid, folder, rows: int) -> None:
    window.sidebar.chosen.emit("photos", str(folder))
    model = grid.model()
    qtbot.waitUntil(lambda: model.filter.folder == folder and model.rowCount() == rows, timeout=20_000)
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=20_000)
    grid.viewport().repaint()  # runs any layout still pending, as a paint does


def _rects(grid, rows):
    return [grid.visualRect(grid.model().index(r)) for r in rows]


def _counting_grid(monkeypatch, layouts: list[int]):
    """The window's grids count their full layouts (the row count at each) in `layouts`."""
    from PySide6.QtWidgets import QListView

    from refldm_desktop.ui.views import photos_page
    from refldm_desktop.ui.views.photo_grid import PhotoGrid

    class CountingGrid(PhotoGrid):  # a class of its own: Qt's classes are left as they are
        def doItemsLayout(self) -> None:
            model = QListView.model(self)
            layouts.append(model.rowCount() if model is not None else 0)
            super().doItemsLayout()

    monkeypatch.setattr(photos_page, "PhotoGrid", CountingGrid)


def test_switching_to_a_big_folder_lays_it_out_once_and_shows_its_photos(qtbot, open_app, folders, monkeypatch):
    from PySide6.QtWidgets import QListView

    layouts: list[int] = []  # the row count at each full layout
    _counting_grid(monkeypatch, layouts)
    lib, big, empty = folders
    ctx, window = open_app(lib, start_jobs=False)
    window.resize(1000, 700)
    window.show()
    grid = window.findChild(QListView, "photoGrid")
    _show(qtbot, ctx, window, grid, empty, 0)
    assert not grid.verticalScrollBar().isVisible()
    # The grid opened full (every photo); an empty folder still says why it is empty.
    from PySide6.QtWidgets import QLabel

    note = window.findChild(QLabel, "photosEmpty")
    assert note is not None and note.isVisible() and "No photos in empty" in note.text()
    layouts.clear()

    _show(qtbot, ctx, window, grid, big, BIG)
    assert grid.verticalScrollBar().isVisible() and not note.isVisible()
    assert layouts.count(BIG) == 1, f"every cell laid out {layouts.count(BIG)} times"
    model = grid.model()
    assert [model.photo_row(r).name for r in range(8)] == [f"p{i:05d}.jpg" for i in range(8)]
    # Where a fresh layout puts them, and clear of the scroll bar.
    shown = [r for r, rect in enumerate(_rects(grid, range(60))) if rect.intersects(grid.viewport().rect())]
    assert shown and shown[0] == 0
    before = _rects(grid, range(60))
    assert all(rect.right() < grid.viewport().width() for rect in before)
    QListView.doItemsLayout(grid)
    assert _rects(grid, range(60)) == before

    # A picture or a row arriving repaints its cell, and lays out nothing.
    from PySide6.QtCore import QEvent, QObject

    class Paints(QObject):
        seen = 0

        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                Paints.seen += 1
            return False

    paints = Paints()
    grid.viewport().installEventFilter(paints)
    layouts.clear()
    model.dataChanged.emit(model.index(3), model.index(3))
    qtbot.waitUntil(lambda: Paints.seen > 0, timeout=5_000)
    model.dataChanged.emit(model.index(0), model.index(BIG - 1))
    qtbot.wait(50)
    assert layouts == []
    grid.viewport().removeEventFilter(paints)

    # And back: the empty folder shows nothing, the big one all of it again.
    _show(qtbot, ctx, window, grid, empty, 0)
    _show(qtbot, ctx, window, grid, big, BIG)
    assert model.photo_row(BIG - 1) is None or model.photo_row(BIG - 1).name == f"p{BIG - 1:05d}.jpg"
    assert model.photo_id(BIG - 1) == lib.photo_ids(_query(big))[-1]


def _open_big(qtbot, open_app, folders, width: int):
    """The window, `width` wide, showing the big folder: (ctx, window, grid)."""
    from PySide6.QtWidgets import QListView

    lib, big, empty = folders
    ctx, window = open_app(lib, start_jobs=False)
    window.resize(width, 700)
    window.show()
    grid = window.findChild(QListView, "photoGrid")
    _show(qtbot, ctx, window, grid, big, BIG)
    return ctx, window, grid


def test_a_wider_window_puts_more_photos_in_a_row(qtbot, open_app, folders):
    ctx, window, grid = _open_big(qtbot, open_app, folders, 900)

    def per_row() -> int:
        rects = _rects(grid, range(40))
        return sum(1 for r in rects if r.top() == rects[0].top())

    narrow = per_row()
    window.resize(900 + 3 * grid.gridSize().width(), 700)
    qtbot.waitUntil(lambda: (grid.viewport().repaint(), per_row())[1] == narrow + 3, timeout=10_000)
    rects = _rects(grid, range(40))
    assert all(r.right() < grid.viewport().width() for r in rects)


def _query(folder):
    from refldm_desktop.core.queries import PhotoOrder, PhotoQuery

    return PhotoQuery(folder=folder, order=PhotoOrder.PATH)


def test_the_first_screen_counts_the_whole_folder(folders):
    from refldm_desktop.ui.models.photo_source import PhotoFilter, first_screen

    lib, big, empty = folders
    ids = lib.photo_ids(_query(big))
    count, first, rows = first_screen(lib, PhotoFilter(folder=big), 10)
    assert (count, first) == (BIG, ids[:10])
    assert [rows[i].name for i in first] == [f"p{i:05d}.jpg" for i in range(10)]
    # A first page shorter than asked for is the whole folder.
    count, first, rows = first_screen(lib, PhotoFilter(folder=big), BIG + 5)
    assert (count, first, len(rows)) == (BIG, ids, BIG)
    assert first_screen(lib, PhotoFilter(folder=empty), 10) == (0, [], {})


def test_a_selected_photo_is_painted_selected_and_the_others_not(qtbot, open_app, folders):
    from PySide6.QtGui import QPalette

    ctx, window, grid = _open_big(qtbot, open_app, folders, 1000)

    def corner(row: int):
        rect = grid.visualRect(grid.model().index(row))
        return grid.viewport().grab().toImage().pixelColor(rect.x() + 6, rect.y() + 6)

    plain = corner(1)
    grid.setCurrentIndex(grid.model().index(1))
    assert grid.selected_ids() == [grid.model().photo_id(1)]
    highlight = grid.palette().color(QPalette.ColorRole.Highlight)
    assert corner(1) == highlight != plain
    assert corner(0) == plain
