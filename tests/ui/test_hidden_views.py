"""Views the user cannot see read nothing from the library when it changes: the compare view,
a photo's view, the people and person pages, Unknown Faces and the photo grids catch up once
when they are shown again, with what changed meanwhile. Real window, fake faces."""

from __future__ import annotations

import threading

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

from ui_testlib import restored_library, wait_idle  # noqa: E402

# What stays on screen on the Jobs page reads the library for a change: the Jobs list itself,
# the sidebar's folders, the Undo action's state.
SEEN_FROM_JOBS = {"jobs.list", "folders", "undo_state"}


class Reads:
    """Stands in for the library: passes every call on and notes the verb's name
    ("people", "jobs.versions"), from whichever thread calls it."""

    def __init__(self, lib, prefix: str = "", calls: list[str] | None = None) -> None:
        self._lib, self._prefix = lib, prefix
        self.calls = [] if calls is None else calls
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        value = getattr(self._lib, name)
        if name == "jobs":
            return Reads(value, "jobs.", self.calls)
        if not callable(value):
            return value

        def called(*args, **kwargs):
            with self._lock:
                self.calls.append(self._prefix + name)
            return value(*args, **kwargs)

        return called


def test_hidden_views_read_nothing_on_a_change_and_catch_up_when_shown(qtbot, tmp_path, open_app):
    from refldm_desktop.ui.views.photos_page import OpenVersion

    lib, photo, version = restored_library(tmp_path, photos=("beach.png", "dune.png"))
    ctx, window = open_app(lib, start_jobs=False)
    (face,) = lib.faces_of_photo(photo.id) if hasattr(lib, "faces_of_photo") else [
        f for f in lib.faces() if f.photo_id == photo.id]
    pid = face.person_id
    assert pid is not None

    # The user has a result open for comparing, a person's page, Unknown Faces and Restored,
    # then goes to Jobs.
    photos = window.show_page("photos", OpenVersion(version.id))
    compare = photos.compare_view
    qtbot.waitUntil(lambda: compare.loaded is not None, timeout=30_000)
    assert compare.keep.isEnabled() and compare.face_choice.findText(f"Person {pid}", flags_contains()) >= 0
    people = window.show_page("people", pid)
    qtbot.waitUntil(lambda: people.person_page.person is not None, timeout=30_000)
    window.show_page("unknown")
    restored = window.show_page("restored")
    restored.open_photo_view(photo.id)  # a photo's view, with its face boxes named
    view = restored.photo_view
    qtbot.waitUntil(lambda: [b.name for b in view.face_boxes()] == [f"Person {pid}"], timeout=30_000)
    window.show_page("jobs")
    wait_idle(qtbot, ctx)
    qtbot.wait(400)  # the pages' coalesced refreshes (300-500 ms) have fired
    wait_idle(qtbot, ctx)

    reads = Reads(lib)
    ctx.library = reads
    seen = []
    ctx.changed.connect(lambda change: seen.append(set(change.areas)))
    lib.rename_person(pid, "Ada")
    lib.jobs.discard_version(version.id)
    qtbot.waitUntil(lambda: any("people" in a for a in seen) and any("versions" in a for a in seen), timeout=10_000)
    qtbot.wait(700)  # longer than any page's coalescing
    wait_idle(qtbot, ctx)
    assert set(reads.calls) <= SEEN_FROM_JOBS, reads.calls

    # Back on the Library page, the comparison says what happened meanwhile: the name, the
    # result discarded (nothing left to keep or discard).
    del reads.calls[:]
    window.show_page("photos")
    assert window.current_page() is photos and photos.stack.currentWidget() is compare
    qtbot.waitUntil(lambda: compare.face_choice.findText("Ada", flags_contains()) >= 0, timeout=10_000)
    qtbot.waitUntil(lambda: "was discarded" in compare.title.text(), timeout=10_000)
    assert not compare.keep.isEnabled() and not compare.discard.isEnabled()
    wait_idle(qtbot, ctx)
    assert reads.calls.count("jobs.versions") == 1 and "people" not in reads.calls, reads.calls

    # The photo's view on the Restored page names the face anew.
    window.show_page("restored")
    qtbot.waitUntil(lambda: [b.name for b in view.face_boxes()] == ["Ada"], timeout=10_000)

    # The person's page, under People, catches up once too.
    del reads.calls[:]
    window.show_page("people")
    assert people.stack.currentWidget() is people.person_page
    qtbot.waitUntil(lambda: people.person_page.name.text() == "Ada", timeout=10_000)
    qtbot.wait(700)
    wait_idle(qtbot, ctx)
    assert reads.calls.count("person") == 1, reads.calls


def flags_contains():
    from PySide6.QtCore import Qt

    return Qt.MatchFlag.MatchContains
