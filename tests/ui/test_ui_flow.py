"""The app's main flow on real photos, driving the real window: add a copy of the shared
face photos, wait for indexing, see the grid and the people, correct a face, restore a
photo from its right-click menu (with the `passthrough` restorer, so no weights are
needed), compare, keep, and discard. `.ci/run` runs this once more in a real X window."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes import real_backend_or_skip, snapshot

from musthave import require_module  # noqa: E402

require_module("PySide6")

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


@pytest.fixture
def photos_copy(faces_dir, tmp_path) -> Path:
    copy = tmp_path / "Pictures"
    shutil.copytree(faces_dir, copy)
    return copy


@pytest.fixture
def real_library(tmp_path):
    from refldm_desktop.core.home import Home
    from refldm_desktop.core.library import Library

    return Library.open(Home(tmp_path / "home"), backend=real_backend_or_skip("dlib"))


def _popup_action(qtbot, name: str):
    from PySide6.QtWidgets import QApplication, QMenu

    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5_000)
    menu = QApplication.activePopupWidget()
    action = next(a for a in menu.actions() if a.objectName() == name)
    assert action.isEnabled()
    menu.close()
    return action


def _right_click(qtbot, grid, photo_id):
    assert grid.select_photo(photo_id)
    rect = grid.visualRect(grid.model().index(grid.model().row_of(photo_id)))
    grid.customContextMenuRequested.emit(rect.center())


def test_add_index_restore_compare_keep_and_discard(qtbot, open_app, photos_copy, real_library):
    from PySide6.QtWidgets import QListView, QWidget

    from refldm_desktop.core.restoring import RestoreSettings
    from refldm_desktop.ui.views.photo_view import FaceBox

    before = snapshot(photos_copy)
    n_photos = sum(1 for p in photos_copy.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    ctx, window = open_app(real_library)
    ctx.restore_defaults = RestoreSettings(restorer="passthrough")
    lib = ctx.library
    said: list[str] = []  # what the window told the user, for the failure messages
    ctx.status.connect(said.append)
    ctx.tasks.failed.connect(lambda _task, line, details: said.append(f"{line}\n{details}"))

    # Add the folder as a drop does; indexing runs in the background.
    window.open_paths([photos_copy])
    grid = window.findChild(QListView, "photoGrid")
    qtbot.waitUntil(lambda: grid.model().rowCount() == n_photos, timeout=900_000)
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=60_000)
    model = grid.model()
    names = {model.index(r).data() for r in range(model.rowCount()) if model.photo_row(r)}
    assert "obama.jpg" in names or not names  # rows fill in as they are painted

    # The people: Obama's three portraits are one person.
    obama = {p.id: p for p in lib.photos() if p.path.parent.name == "obama"}
    owners = {f.person_id for f in lib.faces() if f.photo_id in obama}
    assert len(owners) == 1 and None not in owners
    person = owners.pop()

    # Open a portrait: its face box carries the person's label; name the person there.
    page = window.current_page()
    portrait = next(pid for pid, p in obama.items() if p.path.name == "obama.jpg")
    page.open_photo_view(portrait)
    view = page.photo_view
    qtbot.waitUntil(lambda: len(view.face_boxes()) == 1, timeout=30_000)
    (box,) = view.face_boxes()
    assert box.face.person_id == person
    menu = view.person_menu(box.face, lib.people())
    confirm = next(a for a in menu.actions() if a.text().startswith("Yes, this is"))
    confirm.trigger()
    qtbot.waitUntil(lambda: lib.face(box.face.id).assignment == "confirmed", timeout=30_000)
    page.show_grid()

    # Right-click a photo, Restore Faces with the saved defaults: the compare view opens.
    _right_click(qtbot, grid, portrait)
    _popup_action(qtbot, "restoreAction").trigger()
    try:
        qtbot.waitUntil(lambda: page.compare_view is not None and page.compare_view.loaded is not None, timeout=120_000)
    finally:
        print("\n".join(said))
    compare = window.findChild(QWidget, "compareView")
    assert compare is page.compare_view and compare.isVisible()
    (version,) = lib.jobs.versions(portrait)
    assert compare.loaded.version.id == version.id and version.output.is_file()
    assert compare.face_choice.count() == 2  # the whole photo, and the one face
    assert compare.references.count() >= 1  # Obama's other portraits, with reasons
    assert all(compare.references.item(i).toolTip() for i in range(compare.references.count()))

    # Keep it: back to the photos, the new file stays.
    compare.keep.click()
    qtbot.waitUntil(lambda: not compare.isVisible(), timeout=10_000)
    assert version.output.is_file() and [v.id for v in lib.jobs.versions(portrait)] == [version.id]
    qtbot.waitUntil(lambda: lib.jobs.versions(portrait)[0].kept_at is not None, timeout=10_000)  # recorded

    # Restore another photo, and discard that result: only the new file goes.
    other = next(pid for pid, p in obama.items() if p.path.name == "obama2.jpg")
    _right_click(qtbot, grid, other)
    _popup_action(qtbot, "restoreAction").trigger()
    qtbot.waitUntil(lambda: compare.isVisible() and compare.loaded is not None and compare.loaded.version.photo_id == other, timeout=120_000)
    discarded = compare.loaded.version
    # The identity guard's verdict is shown: passthrough leaves the face as it was.
    assert "still looks like the same person" in compare.identity.text(), compare.identity.text()
    compare.discard.click()
    # The version is marked discarded first, then its file goes (a crash between the two
    # leaves a file, never a record without one): wait for both.
    qtbot.waitUntil(lambda: not lib.jobs.versions(other) and not discarded.output.exists(), timeout=30_000)
    (record,) = lib.jobs.versions(other, include_discarded=True)
    assert record.id == discarded.id  # the record of what was tried stays
    assert not discarded.output.exists() and version.output.is_file()
    assert snapshot(photos_copy) == before  # originals only ever read
