"""The persistent queue: jobs survive a restart, a batch run twice queues nothing twice,
a job is finished exactly once, cancel and resume do what they say."""

from __future__ import annotations

import pytest
from jobfix import home, library_with_photos, reopen  # noqa: F401 (fixtures)
from job_handlers import write_output
from sqlalchemy.exc import IntegrityError

from refldm_desktop.core.changes import LibraryError, NotFound
from refldm_desktop.jobs.lock import RunnerLock
from refldm_desktop.jobs.queue import JobError, JobResult, VersionRecord
from refldm_desktop.jobs.runner import HandlerRegistry

HANDLERS = HandlerRegistry({"restore_photo": write_output})


def states(lib) -> dict[int, str]:
    return {j.photo_id: j.state for j in lib.jobs.list(all=True)}


def test_jobs_and_their_settings_survive_a_restart(library_with_photos, home, tmp_path):
    lib, ids = library_with_photos(3)
    r = lib.jobs.enqueue_restore(
        ids, restorer="passthrough", model="m1", steps=20, cfg=2.0, seed=7, device="cpu",
        output_dir=tmp_path / "out", options={"upscale": 2},
    )
    assert len(r.queued) == 3 and r.existing == ()
    lib.close()

    with reopen(home) as lib:
        jobs = lib.jobs.list()
        assert [j.photo_id for j in jobs] == ids and {j.state for j in jobs} == {"queued"}
        p = jobs[0].payload
        assert (p["photo_id"], p["restorer"], p["model"], p["steps"], p["cfg"], p["seed"], p["device"]) == (
            ids[0], "passthrough", "m1", 20, 2.0, 7, "cpu",
        )
        assert p["output_dir"] == str(tmp_path / "out") and p["options"] == {"upscale": 2}
        assert jobs[0].batch_id == r.batch_id and jobs[0].photo == lib.photos()[0].path
        summary = lib.jobs.run(HANDLERS)
        assert sorted(summary.done) == sorted(r.queued)

    with reopen(home) as lib:
        assert set(states(lib).values()) == {"done"}
        assert lib.jobs.list() == []  # the default list hides finished jobs
        versions = lib.jobs.versions()
        assert sorted(v.photo_id for v in versions) == ids
        v = lib.jobs.versions(ids[1])[0]
        assert v.output.is_file() and v.seed == 7 and v.restorer == "test-writer"
        assert v.original == lib.photos()[1].path
        assert v.original_sha256 == lib.photos()[1].content_hash
        assert v.references_used == [{"face_id": 1, "references": [2, 3]}]
        assert v.face_status[0]["status"] == "restored"
        job = lib.jobs.get(v.job_id)
        assert job.version_id == v.id and job.output == v.output and job.attempts == 1


def test_a_random_seed_is_fixed_when_queued(library_with_photos):
    lib, ids = library_with_photos(2)
    lib.jobs.enqueue_restore(ids)
    seeds = {j.payload["seed"] for j in lib.jobs.list()}
    assert len(seeds) == 1 and isinstance(seeds.pop(), int)


def test_running_a_batch_again_queues_no_photo_twice(library_with_photos):
    lib, ids = library_with_photos(4)
    first = lib.jobs.enqueue_restore(ids[:2], batch_id="album-2024")
    lib.jobs.run(HANDLERS)
    again = lib.jobs.enqueue_restore(ids, batch_id="album-2024")
    assert again.existing == first.queued and len(again.queued) == 2
    assert len(lib.jobs.list(all=True)) == 4
    lib.jobs.run(HANDLERS)
    assert sorted(v.photo_id for v in lib.jobs.versions()) == ids  # one version each

    # Another batch (or a plain `restore`) is a new request and makes new versions.
    other = lib.jobs.enqueue_restore(ids[:1])
    assert len(other.queued) == 1 and other.batch_id != "album-2024"


def test_bad_requests_queue_nothing(library_with_photos, tmp_path):
    lib, ids = library_with_photos(2)
    with pytest.raises(NotFound, match="no photo with id 999"):
        lib.jobs.enqueue_restore([ids[0], 999])
    with pytest.raises(NotFound, match="not in the library"):
        lib.jobs.enqueue_restore([tmp_path / "elsewhere.jpg"])
    with pytest.raises(LibraryError, match="steps"):
        lib.jobs.enqueue_restore(ids, steps=0)
    with pytest.raises(LibraryError, match="device"):
        lib.jobs.enqueue_restore(ids, device="gpu0")
    (tmp_path / "file").write_text("x")
    with pytest.raises(LibraryError, match="is a file"):
        lib.jobs.enqueue_restore(ids, output_dir=tmp_path / "file")
    assert lib.jobs.list(all=True) == []
    # A photo named twice (by id and by path) is queued once.
    r = lib.jobs.enqueue_restore([ids[0], str(lib.photos()[0].path)])
    assert len(r.queued) == 1


def test_a_job_left_running_by_a_killed_process_is_done_exactly_once(library_with_photos, home, tmp_path):
    lib, ids = library_with_photos(3)
    lib.jobs.enqueue_restore(ids, output_dir=tmp_path / "out")
    claimed = lib.jobs.queue.claim_next()  # a process took it ... and died
    assert claimed.state == "running" and claimed.attempts == 1
    lib.close()

    with reopen(home) as lib:
        job = lib.jobs.get(claimed.id)
        assert job.state == "queued" and "interrupted" in job.note
        summary = lib.jobs.run(HANDLERS)
        assert sorted(summary.done) == sorted(j.id for j in lib.jobs.list(all=True))
        again = lib.jobs.run(HANDLERS)
        assert again.done == ()
        assert sorted(v.photo_id for v in lib.jobs.versions()) == ids
        assert lib.jobs.get(claimed.id).attempts == 2
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_opening_leaves_the_jobs_of_a_live_runner_alone(library_with_photos, home):
    lib, ids = library_with_photos(2)
    lib.jobs.enqueue_restore(ids)
    live = RunnerLock(lib.jobs.lock_path)
    assert live.acquire()  # another process (the GUI) is running jobs
    try:
        job = lib.jobs.queue.claim_next()
        with reopen(home) as other:  # e.g. `jobs list` from a terminal
            assert other.jobs.get(job.id).state == "running"
            with pytest.raises(LibraryError, match="already running jobs"):
                other.jobs.run(HANDLERS)
    finally:
        live.release()
    with reopen(home) as other:
        assert other.jobs.get(job.id).state == "queued"


def test_done_and_its_version_are_one_transaction(library_with_photos, tmp_path):
    lib, ids = library_with_photos(2)
    lib.jobs.enqueue_restore(ids)
    q = lib.jobs.queue
    a, b = q.claim_next(), q.claim_next()
    record = VersionRecord(output_path=tmp_path / "same.jpg", output_sha256="0" * 64, restorer="x")
    assert q.complete(a.id, JobResult(version=record)) is not None
    # The second version cannot be stored (same output path): its job must not be done.
    with pytest.raises(IntegrityError):
        q.complete(b.id, JobResult(version=record))
    assert q.job(b.id).state == "running" and q.job(b.id).version_id is None
    assert len(q.versions()) == 1
    # Finishing a job twice is refused; still one version.
    with pytest.raises(JobError, match="not running"):
        q.complete(a.id, JobResult(version=record))
    assert len(q.versions()) == 1


def test_cancel_queued_and_resume(library_with_photos):
    lib, ids = library_with_photos(3)
    r = lib.jobs.enqueue_restore(ids)
    c = lib.jobs.cancel([r.queued[0], r.queued[1]])
    assert c.cancelled == r.queued[:2] and c.stopping == ()
    summary = lib.jobs.run(HANDLERS)
    assert summary.done == r.queued[2:]
    assert [v.photo_id for v in lib.jobs.versions()] == [ids[2]]
    assert lib.jobs.cancel([r.queued[2]]).unchanged == ((r.queued[2], "done"),)
    with pytest.raises(NotFound, match="no job with id 999"):
        lib.jobs.cancel([r.queued[0], 999])
    assert lib.jobs.get(r.queued[0]).state == "cancelled"  # nothing changed by the bad call

    res = lib.jobs.resume([r.queued[0], r.queued[2]])
    assert res.requeued == (r.queued[0],) and res.unchanged == ((r.queued[2], "done"),)
    res = lib.jobs.resume()  # every failed or cancelled one
    assert res.requeued == (r.queued[1],)
    lib.jobs.run(HANDLERS)
    assert sorted(v.photo_id for v in lib.jobs.versions()) == ids


def test_a_failing_handler_fails_its_job_only_and_resume_retries(library_with_photos):
    lib, ids = library_with_photos(2)
    r = lib.jobs.enqueue_restore(ids)
    calls = []

    def flaky(ctx):
        calls.append(ctx.id)
        if ctx.id == r.queued[0] and ctx.attempt == 1:
            raise ValueError("the photo has no faces with references")
        return None  # done, nothing written

    handlers = HandlerRegistry({"restore_photo": flaky})
    s = lib.jobs.run(handlers)
    assert s.failed == r.queued[:1] and s.done == r.queued[1:]
    failed = lib.jobs.get(r.queued[0])
    assert failed.state == "failed" and "no faces with references" in failed.error
    assert [j.id for j in lib.jobs.list()] == [r.queued[0]]  # failed jobs stay visible
    lib.jobs.resume()
    s = lib.jobs.run(handlers)
    assert s.done == r.queued[:1] and lib.jobs.get(r.queued[0]).error is None
    assert calls == [r.queued[0], r.queued[1], r.queued[0]]
    assert lib.jobs.versions() == []


def test_a_handler_returning_the_wrong_thing_fails_clearly(library_with_photos):
    lib, ids = library_with_photos(1)
    lib.jobs.enqueue_restore(ids)
    s = lib.jobs.run(HandlerRegistry({"restore_photo": lambda ctx: "/tmp/out.jpg"}))
    assert len(s.failed) == 1
    assert "not a JobResult" in lib.jobs.get(s.failed[0]).error


def test_progress_writes_are_throttled_and_the_last_values_kept(library_with_photos):
    lib, ids = library_with_photos(1)
    lib.jobs.enqueue_restore(ids)
    q = lib.jobs.queue
    q.progress_interval = 60.0
    job = q.claim_next()
    assert q.progress(job.id, faces_done=0, faces_total=3, step=1, steps=50)
    assert not q.progress(job.id, step=2)  # too soon: kept, not written
    assert not q.progress(job.id, faces_done=1, step=3, message="face 2 of 3")
    seen = q.job(job.id)
    assert (seen.faces_done, seen.step) == (0, 1)
    assert q.progress(job.id, force=True)
    seen = q.job(job.id)
    assert (seen.faces_done, seen.faces_total, seen.step, seen.message) == (1, 3, 3, "face 2 of 3")
    q.progress(job.id, step=40)
    q.complete(job.id)
    done = q.job(job.id)
    assert done.state == "done" and done.step == 40 and done.faces_done == 3
    with pytest.raises(TypeError):
        q.progress(job.id, percent=5)


def test_jobs_of_kinds_without_a_handler_wait(library_with_photos):
    lib, ids = library_with_photos(1)
    lib.jobs.queue.enqueue("future_kind", [(ids[0], {})])
    s = lib.jobs.run(HandlerRegistry({}))
    assert s.done == () and lib.jobs.list()[0].state == "queued"


def test_a_handler_that_cannot_be_imported_fails_its_jobs_clearly(library_with_photos):
    lib, ids = library_with_photos(1)
    lib.jobs.enqueue_restore(ids)
    s = lib.jobs.run(HandlerRegistry({"restore_photo": "refldm_desktop.no_such_module:handler"}))
    assert len(s.failed) == 1
    error = lib.jobs.get(s.failed[0]).error
    assert "cannot load the handler for 'restore_photo' jobs" in error and "no_such_module" in error
