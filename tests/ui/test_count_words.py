"""Counts of one read as one: "1 face is now Person 18", "restored 1 of 1 face", not
"1 faces are now" or "restored 1 of 1 faces"."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")
from PySide6.QtCore import QItemSelectionModel  # noqa: E402

from ui_testlib import restored_library, wait_idle  # noqa: E402

WAIT = 30_000


def test_splitting_off_one_face_says_one_face(qtbot, fake_ctx):
    from refldm_desktop.ui.views.people_page import PeoplePage

    ctx = fake_ctx
    said = []
    ctx.status.connect(said.append)
    page = PeoplePage(ctx)
    qtbot.addWidget(page)
    page.show()
    person = max(ctx.library.people(), key=lambda p: p.face_count)
    assert person.face_count >= 2
    page.open_person(person.id)
    pp = page.person_page
    qtbot.waitUntil(lambda: pp.person is not None and pp.faces_model.rowCount() == person.face_count, timeout=WAIT)
    wait_idle(qtbot, ctx)
    pp.faces.selectionModel().select(pp.faces_model.index(0), QItemSelectionModel.SelectionFlag.Select)
    pp.buttons["split"].click()
    qtbot.waitUntil(lambda: any("now Person" in s for s in said), timeout=WAIT)
    line = next(s for s in said if "now Person" in s)
    assert line.startswith("1 face is now Person "), line


def test_a_one_face_restore_says_one_face_in_its_job(tmp_path):
    lib, photo, version = restored_library(tmp_path)
    try:
        (job,) = [j for j in lib.jobs.list(all=True) if j.photo_id == photo.id]
        assert job.message == "restored 1 of 1 face", job.message
    finally:
        lib.close()
