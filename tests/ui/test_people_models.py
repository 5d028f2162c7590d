"""The people, faces, references and jobs item models: valid for Qt's model tester, kept
in step with the core without a reset, and asking for edits instead of making them."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from musthave import require_module  # noqa: E402

require_module("PySide6")
from PySide6.QtCore import QModelIndex, Qt  # noqa: E402
from PySide6.QtTest import QAbstractItemModelTester  # noqa: E402

from fakes import draw_photo, open_test_library  # noqa: E402
from refldm_desktop.core.changes import PersonInfo  # noqa: E402
from refldm_desktop.jobs.queue import JobInfo  # noqa: E402
from refldm_desktop.jobs.runner import FULL_STAGE, PREVIEW_STAGE, JobEvent  # noqa: E402
from refldm_desktop.ui.models.faces import FaceIdRole, FacesModel  # noqa: E402
from refldm_desktop.ui.models.jobs import FractionRole, Eta, JobsModel, fraction, progress_text  # noqa: E402
from refldm_desktop.ui.models.people import (  # noqa: E402
    PERSON_MIME,
    PeopleModel,
    PeopleSortFilter,
    PersonIdRole,
)
from refldm_desktop.ui.thumbnails import ThumbnailCache  # noqa: E402
from refldm_desktop.ui.models.references import ReasonsRole, ReferencesModel  # noqa: E402

FAIL = QAbstractItemModelTester.FailureReportingMode.Fatal


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "Pictures"
    for i in range(4):
        draw_photo(root / f"a{i}.png", [(1, i * 2, 10, 10), (2, i * 3, 100, 10)])
    draw_photo(root / "c.png", [(3, 1, 40, 40)])
    library = open_test_library(tmp_path / "home")
    library.index([root])
    yield library
    library.close()


def no_pictures():
    return ThumbnailCache(None, source=lambda key: Path("/nonexistent.png"), workers=1)


def person(pid, name=None, n=1, hidden=False):
    return PersonInfo(pid, name, hidden, n, 0, datetime(2024, 1, 1))


def test_people_model_follows_edits_without_a_reset(qtbot, lib):
    pixmaps = ThumbnailCache(lib)
    model = PeopleModel(pixmaps, 64)
    QAbstractItemModelTester(model, FAIL)
    model.set_people(lib.people())
    ids = [model.index(r).data(PersonIdRole) for r in range(model.rowCount())]
    assert ids == [p.id for p in lib.people()] and len(ids) == 3
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    lib.rename_person(ids[0], "Ann")
    lib.merge_people(ids[0], [ids[2]])
    model.set_people(lib.people())
    assert model.rowCount() == 2 and model.index(0).data() == "Ann"
    lib.undo()
    model.set_people(lib.people())
    assert [model.index(r).data(PersonIdRole) for r in range(3)] == ids and not resets
    # The cover arrives from a worker thread, then the tile repaints.
    assert model.index(0).data(Qt.DecorationRole) is None
    with qtbot.waitSignal(pixmaps.ready, timeout=10000):
        pass
    qtbot.waitUntil(lambda: model.index(0).data(Qt.DecorationRole) is not None)
    assert not model.index(0).data(Qt.DecorationRole).isNull()


def test_people_model_asks_to_rename_and_merge(qtbot):
    model = PeopleModel(no_pictures(), 32)
    QAbstractItemModelTester(model, FAIL)
    model.set_people([person(1, "Ann"), person(2), person(3)])
    with qtbot.waitSignal(model.renameRequested) as sig:
        assert model.setData(model.index(1), "  Bob ")
    assert sig.args == [2, "Bob"]
    assert not model.setData(model.index(0), "   ")  # an empty name is no rename
    mime = model.mimeData([model.index(1), model.index(2)])
    assert mime.hasFormat(PERSON_MIME)
    with qtbot.waitSignal(model.mergeRequested) as sig:
        model.dropMimeData(mime, Qt.MoveAction, -1, -1, model.index(0))
    assert sig.args == [1, [2, 3]]
    assert not model.canDropMimeData(mime, Qt.MoveAction, -1, -1, QModelIndex())


def test_people_are_sorted_named_first_and_hidden_ones_filtered():
    model = PeopleModel(no_pictures(), 32)
    proxy = PeopleSortFilter()
    proxy.setSourceModel(model)
    QAbstractItemModelTester(proxy, FAIL)
    model.set_people([person(1, n=2), person(2, "Zoe"), person(3, n=9), person(4, "al"), person(5, "X", hidden=True)])
    labels = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    assert labels == ["al", "Zoe", "Person 3", "Person 1"]
    proxy.set_show_hidden(True)
    assert proxy.rowCount() == 5
    proxy.set_named_only(False)
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["Person 3", "Person 1"]


def test_faces_and_references_models(qtbot, lib):
    pixmaps = ThumbnailCache(lib)
    faces = FacesModel(pixmaps, 64)
    refs = ReferencesModel(pixmaps, 64)
    QAbstractItemModelTester(faces, FAIL)
    QAbstractItemModelTester(refs, FAIL)
    pid = max(lib.people(), key=lambda p: p.face_count).id
    faces.set_faces(lib.faces(pid))
    assert faces.rowCount() == 4
    first = faces.index(0).data(FaceIdRole)
    lib.reject_face(first)
    faces.set_faces(lib.faces(pid))
    assert faces.rowCount() == 3 and faces.index(0).data(FaceIdRole) != first
    from refldm_desktop.faces.refselect import Choice

    a, b = (faces.face(r) for r in range(2))
    choices = [
        Choice(a.id, a.photo_id, str(a.photo), a.box, 0.9, ("pinned by you",), pinned=True),
        Choice(b.id, b.photo_id, str(b.photo), b.box, 0.7, ("sharp", "frontal")),
    ]
    refs.set_references(choices)
    assert refs.rowCount() == 2 and refs.index(0).data() == "pinned · quality 0.90"
    assert refs.index(1).data(ReasonsRole) == ["sharp", "frontal"]
    assert "frontal" in refs.index(1).data(Qt.ToolTipRole)
    refs.set_references(choices[1:])
    assert refs.rowCount() == 1


def job(jid, state="queued", **kw):
    base = dict(
        id=jid, kind="restore_photo", batch_id="b", photo_id=jid, photo=Path(f"/p/{jid}.jpg"), state=state,
        payload={}, priority=0, cancel_requested=False, faces_done=0, faces_total=None, step=None, steps=None,
        message=None, error=None, note=None, result=None, staged=None, attempts=0,
        created_at=datetime(2024, 1, 1), started_at=None, finished_at=None,
    )
    base.update(kw)
    return JobInfo(**base)


def test_jobs_model_shows_progress_time_left_and_errors():
    model = JobsModel()
    QAbstractItemModelTester(model, FAIL)
    model.set_jobs([job(1), job(2)])
    assert model.index(0, 2).data() == "waiting"
    ev = JobEvent(1, "restore_photo", "running", "b", 1, faces_done=1, faces_total=3, step=10, steps=50)
    assert model.apply_event(ev)
    assert model.index(0, 2).data() == "face 2 of 3 · step 10 of 50"
    assert model.apply_event(JobEvent(2, "restore_photo", "failed", "b", 2, error="the photo is gone"))
    assert model.index(1, 1).data() == "failed" and model.index(1, 3).data() == "the photo is gone"
    assert not model.apply_event(JobEvent(9, "restore_photo", "queued", "b", 9))
    model.set_jobs([job(2, "failed", error="the photo is gone")])
    assert model.rowCount() == 1


def test_time_left_comes_from_the_progress_so_far():
    now = [100.0]
    eta = Eta(clock=lambda: now[0])
    running = dict(state="running", faces_total=2, steps=10)
    start, quarter = job(1, faces_done=0, step=0, **running), job(1, faces_done=0, step=5, **running)
    assert eta.update(start, fraction(start)) is None
    now[0] += 10
    left = eta.update(quarter, fraction(quarter))  # a quarter in 10 s
    assert left == pytest.approx(30.0, abs=1e-6)
    assert progress_text(job(1, faces_done=0, step=5, **running), left) == "face 1 of 2 · step 5 of 10 · about 30 s left"


def test_a_listing_read_after_the_last_report_leaves_the_time_left_as_it_was():
    """The Jobs page also re-reads the jobs from the database (after any job queues or
    ends): a row saying no more than the last report, or less (the database is written less
    often), read later, must not count that wait as slow work. The status bar, which hears
    only the reports, and the Jobs page then say the same time left."""
    now = [0.0]
    eta = Eta(clock=lambda: now[0])
    running = dict(state="running", faces_total=1, steps=10)
    at = {step: job(1, faces_done=0, step=step, **running) for step in (0, 2, 4)}
    eta.update(at[0], fraction(at[0]))
    now[0] = 10.0
    assert eta.update(at[4], fraction(at[4])) == pytest.approx(15.0, abs=1e-6)  # 4 steps in 10 s
    now[0] = 30.0  # a listing: the same step, or an older one from the database
    assert eta.update(at[4], fraction(at[4])) == pytest.approx(15.0, abs=1e-6)
    assert eta.update(at[2], fraction(at[2])) == pytest.approx(15.0, abs=1e-6)


def test_a_restore_with_a_preview_shows_its_phase_and_runs_its_progress_on_through_both():
    """One photo restored from the menu makes an 8-step preview, then the 50-step result:
    the row says which phase it is in and that the preview is ready, and the bar and the
    time left run on through both phases instead of starting again at the full run."""
    now = [0.0]
    model = JobsModel(clock=lambda: now[0])
    QAbstractItemModelTester(model, FAIL)
    payload = {"steps": 50, "options": {"preview_steps": 8}}
    model.set_jobs([job(1, "running", payload=payload)])

    def hear(t, **kw):
        now[0] = t
        assert model.apply_event(JobEvent(1, "restore_photo", "running", "b", 1, **kw))
        return model.index(0, 2).data(), model.index(0, 2).data(FractionRole)

    seen = [hear(0, faces_done=0, faces_total=2, step=0, steps=8, stage=PREVIEW_STAGE)[1]]
    text, f = hear(4, faces_done=0, faces_total=2, step=4, steps=8, stage=PREVIEW_STAGE)  # 1 s a step
    assert text.startswith("quick preview · face 1 of 2 · step 4 of 8")
    seen.append(f)
    seen.append(hear(8, faces_done=1, faces_total=2, step=8, steps=8, stage=PREVIEW_STAGE)[1])
    seen.append(hear(16, faces_done=2, faces_total=2, step=8, steps=8, stage=PREVIEW_STAGE)[1])
    hear(16, preview="/home/cache/previews/job-1.jpg")
    text, f = hear(16, faces_done=0, faces_total=2, step=0, steps=50, stage=FULL_STAGE)
    assert text.startswith("preview ready · face 1 of 2 · step 0 of 50")
    seen.append(f)
    text, f = hear(41, faces_done=0, faces_total=2, step=25, steps=50, stage=FULL_STAGE)
    seen.append(f)
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] < 1
    # 16 + 25 steps took 41 s: the 75 steps left take about 75 s.
    assert f == pytest.approx((16 + 25) / 116, abs=1e-6)
    assert text == "preview ready · face 1 of 2 · step 25 of 50 · about 1 min left"
    assert model.preview(1) == "/home/cache/previews/job-1.jpg"
    # Without a preview in its plan a job counts its steps as they come.
    plain = job(2, "running", faces_done=0, faces_total=1, step=10, steps=50)
    assert fraction(plain, FULL_STAGE) == pytest.approx(0.2)
    # The job ends: nothing of its phases is kept.
    model.set_jobs([job(1, "done", payload=payload)])
    assert model.preview(1) is None and model.stage(1) is None and model.index(0, 2).data() == "done"


def test_a_preview_heard_before_the_job_is_listed_survives_a_listing_read_before_it_started():
    """The runner's events and the job listing race: the preview event can come while the
    panel's listing is still being read, and that listing can say "queued". The preview and
    phase are still shown once the job is listed; only the job's end forgets them."""
    model = JobsModel()
    QAbstractItemModelTester(model, FAIL)
    payload = {"steps": 50, "options": {"preview_steps": 8}}
    early = JobEvent(1, "restore_photo", "running", "b", 1, faces_done=0, faces_total=1, step=8, steps=8,
                     stage=PREVIEW_STAGE, preview="/home/cache/previews/job-1.jpg")
    assert not model.apply_event(early)  # not listed yet: the panel lists again
    model.set_jobs([job(1, "queued", payload=payload)])  # a listing read before the job started
    assert model.preview(1) == "/home/cache/previews/job-1.jpg" and model.stage(1) == PREVIEW_STAGE
    model.set_jobs([job(1, "running", payload=payload, faces_total=1, step=8, steps=8)])
    assert model.index(0, 2).data().startswith("quick preview · face 1 of 1")
    assert model.apply_event(JobEvent(1, "restore_photo", "cancelled", "b", 1))
    assert model.preview(1) is None and model.stage(1) is None


class _NoThumbnails:
    """A library that makes no thumbnails of its own (only its faces and their crops)."""

    def __init__(self, lib):
        self.faces, self.face_crop, self.cover_face = lib.faces, lib.face_crop, lib.cover_face


@contextmanager
def _people_pictures(lib, own: bool):
    """(context, the people pages' picture cache) over `lib`: its own thumbnails, or only
    its face crops (own=False)."""
    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.views.people_common import people_thumbs

    make_qapp()
    ctx = AppContext(lib, start_jobs=False)
    try:
        if not own:
            ctx.library = _NoThumbnails(lib)
        yield ctx, people_thumbs(ctx)
    finally:
        ctx.library = lib
        ctx.close()


@pytest.mark.parametrize("own", [True, False], ids=["library-thumbnails", "face-crops"])
def test_people_pages_get_person_and_face_pictures_either_way(qtbot, lib, own):
    """The people pages' one cache decides where pictures come from: the library's own
    thumbnails (made by id in the worker), else the face crops (a person's best face)."""
    from refldm_desktop.ui.views.people_common import people_thumbs

    with _people_pictures(lib, own) as (ctx, cache):
        assert people_thumbs(ctx) is cache
        person = max(lib.people(), key=lambda p: p.face_count)
        keys = [("person", person.id, 64), ("face", lib.faces(person.id)[0].id, 64)]
        for key in keys:
            cache.get(key)
        qtbot.waitUntil(lambda: all(cache.cached(k) is not None for k in keys), timeout=30_000)


@pytest.mark.parametrize("own", [True, False], ids=["library-thumbnails", "face-crops"])
def test_a_person_tile_shows_the_face_the_core_chooses(qtbot, lib, own):
    """A person's tile shows their best face as the core chooses it (Library.cover_face),
    whether the library makes the picture or the app crops the face itself. Here the faces
    tie on quality, so the detector's confidence decides: the app's own rule once took the
    oldest face instead."""
    from sqlalchemy import update

    from refldm_desktop.db.models import Face
    from refldm_desktop.ui.models.people import PeopleModel

    who = max(lib.people(), key=lambda p: p.face_count)
    faces = sorted(f.id for f in lib.faces(who.id))
    with lib._Session.begin() as s:  # the newest face is the detector's surest
        for rank, face_id in enumerate(faces):
            s.execute(update(Face).where(Face.id == face_id).values(quality_score=0.5, score=0.5 + 0.1 * rank))
    cover = lib.cover_face(who.id)
    assert cover == faces[-1] != faces[0]

    with _people_pictures(lib, own) as (_ctx, cache):
        model = PeopleModel(cache, size=64)
        QAbstractItemModelTester(model, FAIL)
        model.set_people(lib.people())
        tile = model.index(model.row_of(who.id))
        keys = [("face", cover, 64), ("face", faces[0], 64)]
        for key in keys:
            cache.get(key)
        tile.data(Qt.ItemDataRole.DecorationRole)  # asks for the tile's picture
        qtbot.waitUntil(lambda: tile.data(Qt.ItemDataRole.DecorationRole) is not None
                        and all(cache.cached(k) is not None for k in keys), timeout=30_000)
        shown = tile.data(Qt.ItemDataRole.DecorationRole).toImage()
        assert shown == cache.cached(keys[0]).toImage()
        assert shown != cache.cached(keys[1]).toImage()  # the faces do look different

def test_a_job_another_process_runs_shows_its_phase_from_the_database():
    """`jobs run` from a terminal sends this app no events: the listing's phase says which
    one it is in, and the bar runs on through both phases as for the app's own jobs."""
    model = JobsModel()
    QAbstractItemModelTester(model, FAIL)
    payload = {"steps": 50, "options": {"preview_steps": 8}}
    model.set_jobs([job(1, "running", payload=payload, faces_done=0, faces_total=1, step=4, steps=8,
                        stage=PREVIEW_STAGE)])
    assert model.index(0, 2).data().startswith("quick preview · face 1 of 1 · step 4 of 8")
    assert model.index(0, 2).data(FractionRole) == pytest.approx(4 / 58)
    model.set_jobs([job(1, "running", payload=payload, faces_done=0, faces_total=1, step=25, steps=50,
                        stage=FULL_STAGE)])
    assert model.index(0, 2).data().startswith("full result · face 1 of 1 · step 25 of 50")
    assert model.index(0, 2).data(FractionRole) == pytest.approx((8 + 25) / 58)
    model.set_jobs([job(1, "done", payload=payload, stage=FULL_STAGE)])
    assert model.index(0, 2).data() == "done" and model.stage(1) is None


def test_the_full_run_is_timed_by_its_own_steps():
    """The preview's pace includes encoding the references once; the full run's time left
    comes from the full run's own steps as soon as it has some."""
    now = [0.0]
    model = JobsModel(clock=lambda: now[0])
    payload = {"steps": 50, "options": {"preview_steps": 10}}
    model.set_jobs([job(1, "running", payload=payload)])

    def hear(t, step, stage, steps):
        now[0] = t
        model.apply_event(JobEvent(1, "restore_photo", "running", "b", 1, faces_done=0, faces_total=1,
                                   step=step, steps=steps, stage=stage))
        return model.index(0, 2).data()

    hear(0, 0, PREVIEW_STAGE, 10)
    hear(40, 10, PREVIEW_STAGE, 10)  # 4 s a step, the references' encoding included
    assert hear(40, 0, FULL_STAGE, 50).endswith("about 3 min left")  # 50 steps at the preview's pace meanwhile
    assert hear(50, 10, FULL_STAGE, 50).endswith("about 40 s left")  # then 1 s a step: 40 steps left
