"""The restore_photo job on fake photos: references per person, versions, skipped faces,
out-of-memory fall-back, cancel, and batch planning. Fast: no real model, no dlib."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from fakes import FakeBackend, draw_photo, open_test_library

from refldm_desktop.core import restore_job
from refldm_desktop.core.changes import LibraryError
from refldm_desktop.core.outcomes import FaceStatus
from refldm_desktop.core.restoring import NO_REFS_FLAG, LeftOut, RestoreSettings
from refldm_desktop.db.models import JobState
from refldm_desktop.plugin_api import RestoreCancelled, RestoreProgress


class OutOfMemoryError(RuntimeError):
    """Named like torch's, which is how the runner recognises it without torch."""


class Painter:
    """Paints each face grey; records its calls; can run out of memory off the CPU."""

    name = "painter"
    model = "painter-1"
    needs_references = False
    made: list["Painter"] = []

    def __init__(self, *, device="auto", model=None, models_dir=None, oom_off_cpu=False, on_restore=None,
                 precision="auto"):
        self.resolution = 32
        self.precision = precision
        self.device = "cpu" if device == "auto" else device
        self.oom_off_cpu = oom_off_cpu
        self.on_restore = on_restore
        self.calls: list[tuple[int, list[np.ndarray], object]] = []
        Painter.made.append(self)

    def available(self):
        return True, ""

    def restore(self, crops, references, options, progress=None, cancelled=None):
        if self.oom_off_cpu and self.device != "cpu":
            raise OutOfMemoryError(f"CUDA out of memory (batch {options.batch_size})")
        self.calls.append((len(crops), list(references), options))
        if self.on_restore:
            self.on_restore()
        out = []
        for i, c in enumerate(crops):
            if cancelled is not None and cancelled():
                raise RestoreCancelled("cancelled")
            assert c.shape == (32, 32, 3)
            out.append(np.full_like(c, 128))
            if progress:
                progress(RestoreProgress(i + 1, len(crops), 1, 1))
        return out


@dataclass(frozen=True)
class Pick:
    face_id: int
    photo_id: int
    photo_path: str


def pick_others(lib):
    """A predictable stand-in for Library.references_for_face: the other photos of the person."""

    def choose(face_id, k):
        face = lib.face(face_id)
        if face.person_id is None:
            return []
        others = [f for f in lib.faces(face.person_id) if f.photo_id != face.photo_id]
        return [Pick(f.id, f.photo_id, str(f.photo)) for f in others[:k]]

    return choose


@pytest.fixture
def painter(monkeypatch):
    Painter.made = []
    options: dict = {}

    def create(name, **kw):
        return Painter(device=kw.get("device", "auto"), precision=kw.get("precision", "auto"), **options)

    monkeypatch.setattr(restore_job, "create_restorer", create)
    return options


@pytest.fixture
def lib(tmp_path):
    pics = tmp_path / "Pictures"
    # Person 1 (red 20) in a, b, c; person 2 (red 40) in a and d; person 3 only in e.
    draw_photo(pics / "a.png", [(1, 0, 20, 30), (2, 0, 100, 30)])
    draw_photo(pics / "b.png", [(1, 1, 60, 40)])
    draw_photo(pics / "c.png", [(1, 2, 40, 50)])
    draw_photo(pics / "d.png", [(2, 1, 70, 20)])
    draw_photo(pics / "e.png", [(3, 0, 70, 20)])
    library = open_test_library(tmp_path / "home", FakeBackend())
    library.index([pics])
    library.references_for_face = pick_others(library)
    yield library
    library.close()


def photo(lib, name):
    return next(p for p in lib.photos() if p.path.name == name)


def run(lib, ids, out, **settings):
    queued = lib.restoring.enqueue(ids, RestoreSettings(restorer="painter", output_dir=out, **settings))
    summary = lib.jobs.run(batch_id=queued.batch_id)
    return summary, lib.restoring.outcomes(queued.batch_id)


def test_faces_are_restored_with_their_persons_references_and_recorded(lib, painter, tmp_path):
    a = photo(lib, "a.png")
    out = tmp_path / "out"
    summary, (o,) = run(lib, [a.id], out, seed=7, steps=3)
    assert summary.done and not summary.failed
    # One call per person, each with that person's references as aligned crops.
    assert sorted((n, len(refs)) for n, refs, _ in Painter.made[0].calls) == [(1, 1), (1, 2)]
    assert all(r.shape == (32, 32, 3) for _, refs, _ in Painter.made[0].calls for r in refs)
    assert {f.status for f in o.faces} == {FaceStatus.RESTORED}
    output = o.output
    assert output == out / "a (restored).png" and output.is_file()
    (v,) = lib.jobs.versions(a.id)
    assert v.output == output and v.restorer == "painter" and v.model == "painter-1" and v.seed == 7
    assert v.parameters["steps"] == 3 and v.parameters["upscale"] == 1
    by_face = {r["face_id"]: r["references"] for r in v.references_used}
    for f in o.faces:
        assert by_face[f.face_id] == list(f.references) and f.references
        others = {x.id for x in lib.faces(f.person_id) if x.photo_id != a.id}
        assert set(f.references) <= others
    # The faces were painted where they are; far from them nothing changed.
    from PIL import Image

    before = np.asarray(Image.open(a.path).convert("RGB"))
    after = np.asarray(Image.open(output).convert("RGB"))
    assert after[42, 32].tolist() != before[42, 32].tolist()
    assert np.array_equal(after[100:, :], before[100:, :])


def test_outcomes_print_what_the_job_stored(lib, painter, tmp_path):
    """`restore --json` prints each job's stored face list as it is; a job that has not run
    lists its faces as not restored, without references."""
    a, b = photo(lib, "a.png"), photo(lib, "b.png")
    _, (o,) = run(lib, [a.id], tmp_path / "out")
    stored = lib.jobs.get(o.job_id).result["faces"]
    assert o.to_json()["faces"] == stored and len(stored) == 2
    assert list(stored[0]) == ["face_id", "box", "person_id", "status", "references", "identity"]
    queued = lib.restoring.enqueue([b.id], RestoreSettings(restorer="painter", output_dir=tmp_path / "out"))
    (waiting,) = lib.restoring.outcomes(queued.batch_id)
    assert waiting.state is JobState.QUEUED
    assert waiting.to_json() == {
        "photo": str(b.path), "output": None, "job_id": queued.queued[0], "state": "queued", "error": None,
        "faces": [{"face_id": f.id, "box": list(f.box), "person_id": f.person_id,
                   "status": "not restored: the job is queued"} for f in lib.faces() if f.photo_id == b.id],
    }


def test_a_person_without_references_is_skipped_with_a_reason_unless_allowed(lib, painter, tmp_path):
    e = photo(lib, "e.png")
    _, (o,) = run(lib, [e.id], tmp_path / "out")
    (f,) = o.faces
    assert o.output is None and f.status is FaceStatus.SKIPPED and "no usable reference photos" in f.reason
    assert lib.jobs.versions(e.id) == []
    _, (o,) = run(lib, [e.id], tmp_path / "out", no_refs_ok=True)
    assert o.faces[0].restored and o.output.is_file()


def test_a_photo_changed_since_indexing_fails_with_a_clear_reason(lib, painter, tmp_path):
    b = photo(lib, "b.png")
    draw_photo(b.path, [(1, 3, 10, 10)])
    summary, (o,) = run(lib, [b.id], tmp_path / "out")
    assert summary.failed and o.state is JobState.FAILED and "changed since it was indexed" in o.error
    assert o.output is None and not (tmp_path / "out").exists()


def test_a_reference_whose_photo_changed_is_left_out_with_a_note(lib, painter, tmp_path):
    b, c = photo(lib, "b.png"), photo(lib, "c.png")
    draw_photo(c.path, [(1, 9, 10, 10)])  # c's landmarks no longer fit it
    _, (o,) = run(lib, [b.id], tmp_path / "out")
    (f,) = o.faces
    assert f.restored
    a_face = lib.faces(f.person_id)[0].id
    assert f.references == (a_face,)  # c's face is gone from the references
    assert "changed since it was indexed" in lib.jobs.get(o.job_id).note


def test_out_of_memory_falls_back_to_the_cpu_and_says_so(lib, painter, tmp_path):
    painter["oom_off_cpu"] = True
    d = photo(lib, "d.png")
    summary, (o,) = run(lib, [d.id], tmp_path / "out", device="cuda")
    assert summary.done, o
    note = lib.jobs.get(o.job_id).note
    assert "batch size 4" in note and "running on the CPU" in note
    assert [p.device for p in Painter.made][-1] == "cpu"
    (v,) = lib.jobs.versions(d.id)
    assert v.parameters["device"] == "cpu"


def test_cancel_while_restoring_leaves_no_output(lib, painter, tmp_path):
    b = photo(lib, "b.png")
    out = tmp_path / "out"
    queued = lib.restoring.enqueue([b.id], RestoreSettings(restorer="painter", output_dir=out))
    painter["on_restore"] = lambda: lib.jobs.cancel(queued.queued)
    summary = lib.jobs.run(batch_id=queued.batch_id, cancel_check_interval=0.0)
    assert summary.cancelled == queued.queued
    assert not out.exists() or not any(out.rglob("*"))
    assert lib.jobs.versions(b.id) == []


def test_one_restorer_serves_every_job_of_a_run(lib, painter, tmp_path):
    ids = [p.id for p in lib.photos()]
    summary, outcomes = run(lib, ids, tmp_path / "out", no_refs_ok=True)
    assert len(summary.done) == len(ids) and len(Painter.made) == 1
    assert all(o.output for o in outcomes)


def test_batch_plan_picks_low_quality_faces_of_people_with_references(lib, painter, tmp_path):
    a, e = photo(lib, "a.png"), photo(lib, "e.png")
    faces = {f.id: f for f in lib.faces()}
    a1, a2 = sorted(fid for fid, f in faces.items() if f.photo_id == a.id)
    scores = {fid: (0.2 if f.photo_id in (a.id, e.id) else 0.9, ("blurry",)) for fid, f in faces.items()}
    scores[a2] = (0.9, ())
    settings = RestoreSettings(restorer="painter", output_dir=tmp_path / "out")
    plan = lib.restoring.plan_batch(None, min_quality=0.5, settings=settings, quality=lambda lib, fs: scores)
    assert plan.photos == (a.id,)  # e's person has no other photo, so no references
    assert [f.face_id for f in plan.faces] == [a1]
    assert plan.without_references == 1 and plan.good_enough == 4  # a2, b, c and d
    again = lib.restoring.plan_batch(None, min_quality=0.5, settings=settings, quality=lambda lib, fs: scores)
    assert again.batch_id == plan.batch_id
    other = lib.restoring.plan_batch(None, min_quality=0.4, settings=settings, quality=lambda lib, fs: scores)
    assert other.batch_id != plan.batch_id

    first = lib.restoring.enqueue_batch(plan, settings)
    lib.jobs.run(batch_id=plan.batch_id)
    (o,) = lib.restoring.outcomes(plan.batch_id)
    status = {f.face_id: (f.status, f.reason) for f in o.faces}
    assert status == {a1: (FaceStatus.RESTORED, ""), a2: (FaceStatus.NOT_CHOSEN, "its quality 0.90 is at least 0.5")}
    # The JSON keeps its one-string status.
    assert {f["face_id"]: f["status"] for f in o.to_json()["faces"]} == {
        a1: "restored", a2: "skipped: not chosen for this batch: its quality 0.90 is at least 0.5"}
    second = lib.restoring.enqueue_batch(plan, settings)
    assert first.queued and second.queued == () and second.existing == first.queued
    assert len(lib.jobs.versions(a.id)) == 1
    report = lib.restoring.write_report(plan.batch_id, tmp_path / "out")
    page = report.read_text("utf-8")
    assert page.count('alt="before"') == 1 and "quality 0.20: blurry" in page


def test_ctrl_c_during_restore_leaves_the_rest_for_jobs_run(lib, tmp_path, monkeypatch, capsys):
    from refldm_desktop.cli import job_verbs, library_verbs, main
    from refldm_desktop.jobs.runner import HandlerRegistry

    home = lib.home.root
    lib.close()
    monkeypatch.setattr(library_verbs, "open_library", lambda args: open_test_library(home, FakeBackend()))
    calls = []

    def stop_at_the_second(ctx):
        calls.append(ctx.id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return restore_job.restore_photo_job(ctx)

    monkeypatch.setattr(job_verbs, "handler_registry", lambda: HandlerRegistry({"restore_photo": stop_at_the_second}))
    pics = sorted((tmp_path / "Pictures").glob("*.png"))
    out = tmp_path / "out"
    args = ["--home", str(home), "restore", *map(str, pics), "--restorer", "passthrough", "--no-refs-ok",
            "--output-dir", str(out)]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "jobs run" in err and "Traceback" not in err
    assert len(list(out.rglob("*.png"))) == 1  # the first photo is done, nothing half-written

    monkeypatch.undo()
    monkeypatch.setattr(library_verbs, "open_library", lambda args: open_test_library(home, FakeBackend()))
    assert main(["--home", str(home), "jobs", "run"]) == 0
    with open_test_library(home, FakeBackend()) as again:
        assert {j.state for j in again.jobs.list(all=True)} == {"done"}
        assert sorted(v.photo_id for v in again.jobs.versions()) == sorted(p.id for p in again.photos())
    assert len(list(out.rglob("*.png"))) == len(pics)  # one each, none twice


def test_an_upscale_too_big_for_memory_fails_with_a_reason(lib, painter, tmp_path, monkeypatch):
    monkeypatch.setattr(restore_job, "MAX_OUTPUT_PIXELS", 160 * 120 * 4)  # allows 2x, not 4x
    d = photo(lib, "d.png")
    summary, (o,) = run(lib, [d.id], tmp_path / "out", upscale=4)
    assert summary.failed and "use a smaller --upscale" in o.error
    summary, (o,) = run(lib, [d.id], tmp_path / "out", upscale=2)
    assert summary.done and o.output.is_file()
    from PIL import Image

    assert Image.open(o.output).size == (320, 240)


def test_batch_plan_chooses_by_need_and_says_why_each_face_was_left_out(lib, painter, tmp_path):
    a, b, c, d, e = (photo(lib, f"{n}.png") for n in "abcde")
    faces = {f.id: f for f in lib.faces()}
    by_photo = {pid: sorted(fid for fid, f in faces.items() if f.photo_id == pid) for pid in (a.id, b.id, c.id, d.id, e.id)}
    a1, a2 = by_photo[a.id]
    (b1,), (c1,), (d1,), (e1,) = by_photo[b.id], by_photo[c.id], by_photo[d.id], by_photo[e.id]
    lib.hide_person(faces[d1].person_id)  # the user does not want person 2 restored
    lib.reject_face(c1)  # c's face now belongs to nobody
    needs = {a1: 0.8, a2: 0.1, b1: 0.3, c1: 0.9, d1: 0.9, e1: 0.95}
    measured = {fid: (needs[fid], ("blurry",) if needs[fid] >= 0.5 else ()) for fid in needs}
    quality = {fid: (0.9, ("eyes closed",)) for fid in needs}  # reference score plays no part
    settings = RestoreSettings(restorer="painter", output_dir=tmp_path / "out")

    def plan(**kw):
        kw.setdefault("settings", settings)
        return lib.restoring.plan_batch(None, need=lambda lib, fs: measured, quality=lambda lib, fs: quality, **kw)

    p = plan()
    assert [f.face_id for f in p.faces] == [a1] and p.photos == (a.id,)
    assert p.faces[0].need == 0.8 and p.faces[0].need_reasons == ("blurry",)
    why = {x.face_id: x.why for x in p.skipped}
    assert why == {a2: LeftOut.SHARP, b1: LeftOut.SHARP, c1: LeftOut.NOT_A_PERSON,
                   d1: LeftOut.EXCLUDED, e1: LeftOut.NO_REFERENCES}
    assert p.counts == {LeftOut.SHARP: 2, LeftOut.NO_REFERENCES: 1, LeftOut.NOT_A_PERSON: 1,
                        LeftOut.EXCLUDED: 1, LeftOut.UNMEASURED: 0}
    assert p.without_refs == 2 and all(NO_REFS_FLAG in x.detail for x in p.skipped if x.face_id in (c1, e1))
    # One flag includes the faces without references; the user's exclusion still wins.
    allowed = plan(settings=RestoreSettings(restorer="painter", output_dir=tmp_path / "out", no_refs_ok=True))
    assert sorted(f.face_id for f in allowed.faces) == sorted([a1, c1, e1])
    assert {x.face_id for x in allowed.skipped if x.why == LeftOut.EXCLUDED} == {d1}
    # A lower threshold takes the mildly soft face too, under another batch id.
    lower = plan(min_need=0.25)
    assert b1 in {f.face_id for f in lower.faces} and lower.batch_id != p.batch_id
    assert plan().batch_id == p.batch_id
    with pytest.raises(LibraryError, match="between 0 and 1"):
        plan(min_need=1.5)
    with pytest.raises(LibraryError, match="not both"):
        plan(min_need=0.5, min_quality=0.5)

    lib.restoring.enqueue_batch(p, settings)
    lib.jobs.run(batch_id=p.batch_id)
    page = lib.restoring.write_report(p.batch_id, tmp_path / "out").read_text("utf-8")
    assert "restoration need 0.80: blurry" in page and "reference quality 0.90: eyes closed" in page


def test_the_precision_setting_reaches_the_restorer_of_every_job(lib, painter, tmp_path):
    from refldm_desktop.core.settings import Settings

    a = photo(lib, "a.png")
    # The user's setting, unless a flag says otherwise.
    assert RestoreSettings.from_settings(Settings(precision="fp32")).precision == "fp32"
    assert RestoreSettings.from_settings(Settings(precision="fp32"), precision="bf16").precision == "bf16"
    with pytest.raises(LibraryError, match="precision must be one of auto, fp32, bf16, fp16"):
        RestoreSettings(precision="fp8")
    summary, _ = run(lib, [a.id], tmp_path / "out", precision="bf16")
    assert summary.done and Painter.made[-1].precision == "bf16"
    summary, _ = run(lib, [a.id], tmp_path / "out2")
    assert summary.done and Painter.made[-1].precision == "auto"  # a new restorer: the precision differs


def run_with_face_settings(lib, photo_id, out, face_settings, **settings):
    queued = lib.restoring.enqueue(
        [photo_id], RestoreSettings(restorer="painter", output_dir=out, **settings),
        per_photo={photo_id: {"face_settings": face_settings}},
    )
    summary = lib.jobs.run(batch_id=queued.batch_id)
    return summary, lib.jobs.versions(photo_id)[-1]


def test_each_face_is_restored_with_its_own_steps_guidance_and_seed(lib, painter, tmp_path):
    a = photo(lib, "a.png")
    first, second = sorted(f.id for f in lib.faces() if f.photo_id == a.id)
    # The first face has all its own settings; the second only its own seed.
    summary, v = run_with_face_settings(
        lib, a.id, tmp_path / "out", {str(first): {"steps": 4, "cfg": 2.5, "seed": 11}, second: {"seed": 5}},
        steps=3, cfg=1.0, seed=7,
    )
    assert summary.done and not summary.failed
    used = sorted((o.steps, o.cfg, o.seed) for _, _, o in Painter.made[0].calls)
    assert used == [(3, 1.0, 5), (4, 2.5, 11)]
    # The version says how each face was restored; the photo's own settings stay the photo's.
    assert v.sampling(first) == {"steps": 4, "cfg": 2.5, "seed": 11}
    assert v.sampling(second) == {"steps": 3, "cfg": 1.0, "seed": 5}
    assert v.sampling() == {"steps": 3, "cfg": 1.0, "seed": 7} and v.seed == 7


def test_faces_of_one_person_are_restored_together_unless_their_settings_differ(lib, painter, tmp_path):
    pics = tmp_path / "Pictures"
    draw_photo(pics / "twice.png", [(1, 3, 20, 30), (1, 4, 100, 30)])
    lib.index([pics])
    p = photo(lib, "twice.png")
    first, second = sorted(f.id for f in lib.faces() if f.photo_id == p.id)
    lib.confirm_face(second, lib.face(first).person_id)  # one person twice (a photo of a photo)
    # The same settings, given per face or not: one call for both faces.
    run_with_face_settings(lib, p.id, tmp_path / "out", {first: {"seed": 7}}, seed=7)
    assert [n for n, _, _ in Painter.made[-1].calls] == [2]
    run_with_face_settings(lib, p.id, tmp_path / "out", {first: {"seed": 8}}, seed=7)
    assert sorted((n, o.seed) for n, _, o in Painter.made[-1].calls) == [(1, 7), (1, 8)]


@pytest.mark.parametrize("bad, words", [
    ({"1": {"stpes": 4}}, "unknown setting 'stpes' (use steps, cfg or seed)"),
    ({"1": {"steps": 0}}, "steps must be a whole number at least 1, got 0"),
    ({"1": {"steps": 2.5}}, "steps must be a whole number at least 1, got 2.5"),
    ({"1": {"cfg": -1}}, "cfg must be a number >= 0, got -1"),
    ({"1": {"cfg": float("nan")}}, "cfg must be a number >= 0, got nan"),
    ({"1": {"seed": -3}}, "seed must be a whole number between 0 and"),
    ({"1": {"seed": True}}, "seed must be a whole number"),
    ({"face one": {"seed": 1}}, "'face one' is not a face id"),
    ({"1": 50}, "must be a mapping of steps, cfg and seed, got int"),
    ([1, 2], "face_settings must map face ids to settings, got list"),
])
def test_bad_face_settings_are_refused_in_one_line_before_anything_is_queued(lib, painter, tmp_path, bad, words):
    a = photo(lib, "a.png")
    with pytest.raises(LibraryError) as caught:
        lib.restoring.enqueue([a.id], RestoreSettings(restorer="painter"), per_photo={a.id: {"face_settings": bad}})
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert lib.jobs.list(all=True) == []


def test_a_selection_is_queued_whole_or_not_at_all_and_the_error_names_the_bad_photo(lib, painter, tmp_path):
    """Restore with Options over several photos: the second photo's face settings are wrong.
    The first photo was once queued already (one job at a time) when the error came."""
    a, b, c = photo(lib, "a.png"), photo(lib, "b.png"), photo(lib, "c.png")
    face_b = next(f.id for f in lib.faces() if f.photo_id == b.id)
    good = {"face_settings": {str(next(f.id for f in lib.faces() if f.photo_id == a.id)): {"seed": 3}}}
    with pytest.raises(LibraryError) as caught:
        lib.restoring.enqueue([a.id, b.id, c.id], RestoreSettings(restorer="painter"),
                              per_photo={a.id: good, b.id: {"face_settings": {str(face_b): {"steps": 0}}}})
    line = str(caught.value)
    assert str(b.path) in line and str(a.path) not in line and "\n" not in line
    assert f"face {face_b}: steps must be a whole number at least 1, got 0" in line
    assert lib.jobs.list(all=True) == []
    # Fixed, the same selection is queued in one batch, each photo with its own options.
    queued = lib.restoring.enqueue([a.id, b.id, c.id], RestoreSettings(restorer="painter"),
                                   per_photo={a.id: good, b.id: {"face_settings": {face_b: {"steps": 2}}}})
    assert len(queued.queued) == 3
    jobs = {j.photo_id: j for j in lib.jobs.list(all=True, batch_id=queued.batch_id)}
    assert jobs[a.id].payload["options"]["face_settings"] == good["face_settings"]
    assert jobs[b.id].payload["options"]["face_settings"] == {str(face_b): {"steps": 2}}
    assert "face_settings" not in jobs[c.id].payload["options"]
    assert len({j.payload["seed"] for j in jobs.values()}) == 1  # one run, one seed


def test_a_job_with_bad_face_settings_fails_with_the_reason(lib, painter, tmp_path):
    """A job queued some other way (an older app, a hand-edited queue) is checked too."""
    a = photo(lib, "a.png")
    queued = lib.jobs.enqueue_restore([a.id], restorer="painter", output_dir=tmp_path / "out")
    from refldm_desktop.db.models import Job

    with lib._Session() as s, s.begin():
        job = s.get(Job, queued.queued[0])
        job.payload = {**job.payload, "options": {"face_settings": {"1": {"guidance": 2}}}}
    summary = lib.jobs.run(batch_id=queued.batch_id)
    assert summary.failed
    assert "unknown setting 'guidance'" in lib.jobs.get(queued.queued[0]).error


def test_a_preview_never_gives_a_face_more_steps_than_its_own(lib, painter, tmp_path):
    a = photo(lib, "a.png")
    few, many = sorted(f.id for f in lib.faces() if f.photo_id == a.id)
    # The photo: 10 steps, previewed at 6. One face has 2 steps of its own: its preview has 2, not 6.
    summary, _ = run_with_face_settings(
        lib, a.id, tmp_path / "out", {few: {"steps": 2, "seed": 3}}, steps=10, seed=5, preview_steps=6,
    )
    assert summary.done and not summary.failed
    calls = [(o.seed, o.steps) for _, _, o in Painter.made[0].calls]
    preview, full = calls[:2], calls[2:]
    assert sorted(preview) == [(3, 2), (5, 6)]
    assert sorted(full) == [(3, 2), (5, 10)]
