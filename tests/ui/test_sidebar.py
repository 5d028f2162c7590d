"""The sidebar lists the library's folders again only when a change can have added one."""

from __future__ import annotations

from fakes import draw_photo, open_test_library


def _listed(window) -> list[str]:
    from refldm_desktop.ui.mainwindow.sidebar import ARG

    library = window.sidebar._items["photos"]
    return [library.child(i).data(0, ARG) for i in range(library.childCount())]


def _settled(window, ctx) -> bool:
    """No listing waiting for its burst to end, none running."""
    return not window.sidebar._folders_timer.isActive() and not ctx.tasks.busy()


def test_a_batch_of_restores_lists_the_folders_once_and_a_new_folder_shows(qtbot, tmp_path, open_app, monkeypatch):
    """Each restored photo of a batch announces its version and its photo. The sidebar used
    to read every folder of the library again for each one: a burst of them is listed once.
    Indexing a new folder announces every commit: it is listed once for them all."""
    from refldm_desktop.core.events import Change

    first, second = tmp_path / "first", tmp_path / "second"
    draw_photo(first / "a.png", [(1, 0, 10, 10)])
    draw_photo(first / "b.png", [(2, 0, 100, 10)])
    draw_photo(second / "c.png", [(1, 1, 20, 20)])
    lib = open_test_library(tmp_path / "home")
    lib.index([first])
    ctx, window = open_app(lib)
    qtbot.waitUntil(lambda: _listed(window) == [str(first)], timeout=60_000)  # after the first paint
    qtbot.waitUntil(lambda: _settled(window, ctx), timeout=60_000)

    reads: list[int] = []
    real = lib.folders
    monkeypatch.setattr(lib, "folders", lambda: reads.append(1) or real())
    delivered: list[object] = []
    ctx.changed.connect(delivered.append)
    photo_ids = [p.id for p in lib.photos()]
    for n in range(1, 21):  # what a batch of 20 restores announces, one by one
        lib._emit(Change.of(versions=[n], photos=[photo_ids[n % len(photo_ids)]]))
    qtbot.waitUntil(lambda: len(delivered) == 20, timeout=60_000)
    qtbot.waitUntil(lambda: bool(reads) and _settled(window, ctx), timeout=60_000)
    batch = len(reads)
    assert batch <= 2  # the batch together (a loaded machine may split it once), not 20 reads
    assert _listed(window) == [str(first)]

    lib.index([second])  # a new folder: its commits and its end, each announced
    qtbot.waitUntil(lambda: _listed(window) == [str(first), str(second)], timeout=60_000)
    qtbot.waitUntil(lambda: _settled(window, ctx), timeout=60_000)
    assert len(reads) == batch + 1  # the new folder's changes, together


def test_a_change_naming_a_version_and_a_new_photo_shows_its_folder(qtbot, tmp_path, open_app, monkeypatch):
    """A verb that restores a photo from outside the library indexes it (its folder joins
    the library) and announces the version and the photo together. The sidebar once
    ignored every local change naming a version, so that folder never showed."""
    from refldm_desktop.core.events import Change

    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    draw_photo(first / "a.png", [(1, 0, 10, 10)])
    draw_photo(elsewhere / "old.png", [(2, 0, 100, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([first])
    ctx, window = open_app(lib)
    qtbot.waitUntil(lambda: _listed(window) == [str(first)], timeout=60_000)
    qtbot.waitUntil(lambda: _settled(window, ctx), timeout=60_000)

    with monkeypatch.context() as m:  # indexing's own announcements are not this verb's
        m.setattr(lib, "_emit", lambda change: None)
        lib.index_photos([elsewhere / "old.png"])
    new = [p.id for p in lib.photos() if p.path.parent == elsewhere.resolve()]
    assert len(new) == 1
    lib._emit(Change.of(versions=[1], photos=new))
    qtbot.waitUntil(lambda: _listed(window) == sorted([str(first), str(elsewhere.resolve())]), timeout=10_000)
