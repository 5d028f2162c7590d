"""The photo grid's thumbnails on a page bigger than the thumbnail queue: a tile whose
request was dropped (more pictures asked for than the queue keeps) still gets its picture
while it is in view, even when nothing else repaints it, and tiles scrolled into view get
theirs."""

from __future__ import annotations

import os
import time

import pytest
from PIL import Image

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

PHOTOS = 300
NOT_SHOWN = 10**6  # photo ids from here on are in no row


@pytest.fixture
def big_library(tmp_path):
    return _library(tmp_path, PHOTOS)


def _library(tmp_path, photos: int):
    from sqlalchemy import insert

    from fakes import open_test_library
    from refldm_desktop.db.models import LibraryFolder, Photo

    pics = tmp_path / "pics"
    pics.mkdir()
    sources = []
    for i in range(6):
        p = pics / f"src{i}.jpg"
        Image.new("RGB", (320, 240), (40 * i, 100, 200 - 30 * i)).save(p)
        sources.append(p)
    lib = open_test_library(tmp_path / "home")
    with lib._Session.begin() as s:
        folder = LibraryFolder(path=str(pics))
        s.add(folder)
        s.flush()
        s.execute(insert(Photo), [
            dict(folder_id=folder.id, path=str(pics / f"photo{i:04d}.jpg"), size=1, mtime_ns=0, state="ok",
                 width=320, height=240, format="JPEG")
            for i in range(photos)
        ])
    return lib, sources


def _visible_rows(grid) -> list[int]:
    model, area = grid.model(), grid.viewport().rect()
    return [r for r in range(model.rowCount()) if grid.visualRect(model.index(r)).intersects(area)]


def _open_gate(fifo, wait: float = 30.0) -> None:
    """Lets the worker, blocked opening the named pipe, go on (it reads an empty file);
    waits for it to get there first."""
    end = time.monotonic() + wait
    while True:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError:  # nobody has it open for reading yet
            if time.monotonic() > end:
                return
            time.sleep(0.05)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="holds the worker with a named pipe (POSIX)")
def test_tiles_whose_requests_were_dropped_get_their_pictures_while_in_view(
    qtbot, open_app, big_library, monkeypatch, tmp_path, request
):
    from PySide6.QtWidgets import QListView

    from refldm_desktop.ui import thumbnails
    from refldm_desktop.ui.models.photos import THUMB
    from refldm_desktop.ui.views import photos_page

    lib, sources = big_library
    # The worker is held on a picture out of view: a named pipe nobody writes yet.
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    request.addfinalizer(lambda: _open_gate(gate, wait=0))

    def source(key):
        return gate if key[1] == NOT_SHOWN else sources[key[1] % len(sources)]

    made = []

    class SmallQueue(thumbnails.ThumbnailCache):
        """A queue of 3 requests: a screen of tiles overflows it at once."""

        def __init__(self, library, parent=None, **kw):
            super().__init__(library, parent, source=source, max_pending=3, workers=1, **kw)
            self.dropped_keys: set = set()
            thumbnails._Link.get().worker.start()
            self.get(("photo", NOT_SHOWN, THUMB))  # in flight: the worker waits on the pipe
            made.append(self)

        def _announce_dropped(self):
            self.dropped_keys |= self._dropped
            super()._announce_dropped()

    monkeypatch.setattr(photos_page, "ThumbnailCache", SmallQueue)
    # The app's one worker process outlives a test: one left busy with an earlier test's
    # library (reading its database, which may be gone) would hold this test's queue.
    thumbnails.stop_thumbnail_worker()
    ctx, window = open_app(lib, start_jobs=False)
    window.resize(1000, 700)
    grid = window.findChild(QListView, "photoGrid")
    model = grid.model()
    qtbot.waitUntil(lambda: model.rowCount() == PHOTOS, timeout=20_000)
    qtbot.waitUntil(lambda: len(_visible_rows(grid)) > 6 and model.photo_row(0) is not None, timeout=10_000)
    shown = _visible_rows(grid)
    cache = made[0]
    # The tiles in view asked for their pictures; most of those requests were dropped.
    in_view = {("photo", model.photo_id(r), THUMB) for r in shown}
    qtbot.waitUntil(lambda: len(cache.dropped_keys & in_view) >= len(in_view) - 3, timeout=10_000)
    # Pictures asked for elsewhere (not in this grid) push the last ones in view out too;
    # once made, they repaint nothing here.
    for i in range(1, 11):
        cache.get(("photo", NOT_SHOWN + i, THUMB))

    def unpictured(rows):  # looked up without asking the cache for them
        return [r for r in rows if cache.cached(("photo", model.photo_id(r), THUMB)) is None]

    _open_gate(gate)
    qtbot.waitUntil(lambda: not unpictured(shown), timeout=15_000)

    # Scrolled to the end: the tiles now in view get theirs too.
    grid.scrollToBottom()
    qtbot.waitUntil(lambda: _visible_rows(grid) != shown and model.photo_row(PHOTOS - 1) is not None, timeout=10_000)
    qtbot.waitUntil(lambda: not unpictured(_visible_rows(grid)), timeout=15_000)


LONG = 1500  # photos: the first screen read before the first paint is a fraction of them


def _open_long(qtbot, open_app, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QListView

    from refldm_desktop.ui import thumbnails
    from refldm_desktop.ui.models.photos import FIRST
    from refldm_desktop.ui.views import photos_page

    assert LONG > 2 * FIRST
    lib, sources = _library(tmp_path, LONG)

    class Cache(thumbnails.ThumbnailCache):
        def __init__(self, library, parent=None, **kw):
            super().__init__(library, parent, source=lambda key: sources[key[1] % len(sources)], **kw)

    monkeypatch.setattr(photos_page, "ThumbnailCache", Cache)
    ctx, window = open_app(lib, start_jobs=False)
    window.resize(1000, 700)
    grid = window.findChild(QListView, "photoGrid")
    qtbot.waitUntil(lambda: grid.model().rowCount() == LONG and grid.model().photo_row(0) is not None, timeout=20_000)
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=20_000)
    return ctx, grid


def test_tiles_scrolled_into_view_show_their_names_in_their_first_paint(qtbot, open_app, tmp_path, monkeypatch):
    """No placeholder frame while scrolling: the rows of a page are read as it is painted,
    not handed to a worker whose answer comes a paint later."""
    ctx, grid = _open_long(qtbot, open_app, tmp_path, monkeypatch)
    model = grid.model()
    last = LONG - 1
    assert model.photo_row(last) is None  # far below the first screen: not read yet
    grid.scrollToBottom()
    grid.viewport().repaint()  # one paint, no events handled in between
    assert model.photo_row(last) is not None
    assert model.photo_row(last).name == f"photo{last:04d}.jpg"


def test_a_page_the_gui_cannot_read_at_once_is_read_by_the_worker(qtbot, open_app, tmp_path, monkeypatch):
    """A locked database never holds up a paint: the page comes from the worker instead."""
    import sqlite3

    ctx, grid = _open_long(qtbot, open_app, tmp_path, monkeypatch)
    reader = ctx.library.reader
    real = reader.summaries

    def locked(ids, *, quick=False):
        if quick:
            raise sqlite3.OperationalError("database is locked")
        return real(ids)

    monkeypatch.setattr(reader, "summaries", locked)
    model = grid.model()
    grid.scrollToBottom()
    grid.viewport().repaint()
    assert model.photo_row(LONG - 1) is None
    qtbot.waitUntil(lambda: model.photo_row(LONG - 1) is not None, timeout=10_000)
