"""The sidebar lists the library's folders again only when a change can have added one."""

from __future__ import annotations

from fakes import draw_photo, open_test_library


def _listed(window) -> list[str]:
    from refldm_desktop.ui.mainwindow.sidebar import ARG

    library = window.sidebar._items["photos"]
    return [library.child(i).data(0, ARG) for i in range(library.childCount())]


def test_a_batch_of_restores_does_not_list_the_folders_again_but_a_new_folder_shows(qtbot, tmp_path, open_app, monkeypatch):
    """Each restored photo of a batch announces its version and its photo. The sidebar used
    to read every folder of the library again for each one; a restore never adds a folder.
    Indexing a new folder does, and announces every commit: it is listed once for them all."""
    from refldm_desktop.core.events import Change

    first, second = tmp_path / "first", tmp_path / "second"
    draw_photo(first / "a.png", [(1, 0, 10, 10)])
    draw_photo(first / "b.png", [(2, 0, 100, 10)])
    draw_photo(second / "c.png", [(1, 1, 20, 20)])
    lib = open_test_library(tmp_path / "home")
    lib.index([first])
    ctx, window = open_app(lib)
    qtbot.waitUntil(lambda: _listed(window) == [str(first)], timeout=60_000)  # after the first paint
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=60_000)

    reads: list[int] = []
    real = lib.folders
    monkeypatch.setattr(lib, "folders", lambda: reads.append(1) or real())
    delivered: list[object] = []
    ctx.changed.connect(delivered.append)
    photo_ids = [p.id for p in lib.photos()]
    for n in range(1, 21):  # what a batch of 20 restores announces, one by one
        lib._emit(Change.of(versions=[n], photos=[photo_ids[n % len(photo_ids)]]))
    qtbot.waitUntil(lambda: len(delivered) == 20, timeout=60_000)

    lib.index([second])  # a new folder: its commits and its end, each announced
    qtbot.waitUntil(lambda: _listed(window) == [str(first), str(second)], timeout=60_000)
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=60_000)
    assert len(reads) == 1  # the new folder's changes, together; none for the restores
