"""Going back to a backup reopens the window where the user was, or at the nearest place the
backup still has: a person it lacks leads to People, a folder it lacks to the whole
Library, a result it lacks to its photo. Real window, fake faces."""

from __future__ import annotations

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

from ui_testlib import wait_idle  # noqa: E402


@pytest.fixture
def library(tmp_path):
    """Pictures (two people) backed up; then More (a third person) and a restored result,
    which the backup does not have."""
    from fakes import draw_photo, open_test_library
    from refldm_desktop.core.backups import back_up
    from refldm_desktop.core.restoring import RestoreSettings

    for i in range(3):
        draw_photo(tmp_path / "Pictures" / f"p{i}.png", [(1 + i % 2, i, 20, 30)])
    draw_photo(tmp_path / "More" / "m.png", [(3, 0, 20, 30)])
    lib = open_test_library(tmp_path / "home")
    lib.index([tmp_path / "Pictures"])
    taken = back_up(lib.home)
    lib.index([tmp_path / "More"])
    photo = next(p for p in lib.photos() if p.path.name == "p0.png")
    queued = lib.restoring.enqueue([photo.id], RestoreSettings(restorer="passthrough", no_refs_ok=True,
                                                               output_dir=tmp_path / "out"))
    assert lib.jobs.run(batch_id=queued.batch_id).done
    (version,) = lib.jobs.versions(photo.id)
    folder_of = {p.id: p.path.parent.name for p in lib.photos()}
    person_in = {folder_of[f.photo_id]: f.person_id for f in lib.faces()}
    assert None not in person_in.values()
    return lib, taken, photo, version, person_in


@pytest.mark.parametrize("where", ["a kept person", "a new person", "a kept folder", "a new folder",
                                   "a new result", "the jobs"])
def test_going_back_returns_to_where_the_user_was_or_the_nearest_place_that_exists(
        qtbot, tmp_path, open_app, library, where):
    from refldm_desktop.ui.views.photos_page import OpenVersion

    lib, taken, photo, version, person_in = library
    ctx, window = open_app(lib, start_jobs=False)
    pictures, more = str(tmp_path / "Pictures"), str(tmp_path / "More")
    if where.endswith("person"):
        pid = person_in["Pictures" if where == "a kept person" else "More"]
        people = window.show_page("people", pid)
        qtbot.waitUntil(lambda: people.person_page.person is not None, timeout=30_000)
    elif where.endswith("folder"):
        window.show_page("photos", pictures if where == "a kept folder" else more)
    elif where == "a new result":
        compare = window.show_page("photos", OpenVersion(version.id)).compare_view
        qtbot.waitUntil(lambda: compare.loaded is not None, timeout=30_000)
    else:
        window.show_page("jobs")
    wait_idle(qtbot, ctx)

    holder = window.holder
    holder.go_back(taken)
    qtbot.waitUntil(lambda: holder.window is not None and holder.window is not window, timeout=60_000)
    new = holder.window
    wait_idle(qtbot, holder.ctx)

    def at(key: str):
        page = new.current_page()
        return page if page is new.page_widget(key) else None

    if where == "a kept person":  # the same person's page
        qtbot.waitUntil(lambda: at("people") is not None
                        and at("people").stack.currentWidget() is at("people").person_page, timeout=10_000)
        assert at("people").person_page.person_id == pid
    elif where == "a new person":  # not in the backup: everyone
        qtbot.waitUntil(lambda: at("people") is not None, timeout=10_000)
        assert at("people").stack.currentIndex() == 0
    elif where.endswith("folder"):
        qtbot.waitUntil(lambda: at("photos") is not None, timeout=10_000)
        page = at("photos")
        folder = page.model.filter.folder
        assert (str(folder) if folder else "") == (pictures if where == "a kept folder" else "")
        assert page.stack.currentWidget() is page.grid
    elif where == "a new result":  # its photo is in the backup: the photo, since there is no result to compare
        qtbot.waitUntil(lambda: at("photos") is not None and at("photos").photo_view is not None
                        and at("photos").stack.currentWidget() is at("photos").photo_view, timeout=10_000)
        assert at("photos").photo_view.photo_id == photo.id
    else:
        qtbot.waitUntil(lambda: at("jobs") is not None, timeout=10_000)
    from refldm_desktop.ui.mainwindow.sidebar import KEY

    key = next(k for k in ("people", "photos", "jobs") if at(k) is not None)
    assert new.sidebar.currentItem().data(0, KEY) == key  # the sidebar says where the user is
    wait_idle(qtbot, holder.ctx)
