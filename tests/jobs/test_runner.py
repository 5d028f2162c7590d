"""The runner: one background worker, cancel of a running job, stop, events, and the
out-of-memory fallback (smaller batches, then the CPU, and a note that says so)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
from jobfix import home, library_with_photos, reopen  # noqa: F401 (fixtures)

from job_handlers import write_output

from refldm_desktop.jobs.lock import RunnerLock
from refldm_desktop.jobs.queue import JobResult
from refldm_desktop.jobs.runner import HandlerRegistry, is_out_of_memory


# Generous: a machine running other work can hold a thread for seconds. A test that checks
# something happens without a poll keeps its wait well under the poll interval instead.
def wait_for(cond, timeout=40.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Blocker:
    """A handler that runs until cancelled (or released), checking for cancel often."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()
        self.ran: list[int] = []

    def __call__(self, ctx):
        self.ran.append(ctx.id)
        self.started.set()
        while not self.release.is_set():
            ctx.check_cancelled()
            ctx.progress(message="working")
            time.sleep(0.01)
        return None


@pytest.fixture
def events():
    got = []
    lock = threading.Lock()

    def on_event(e):
        with lock:
            got.append(e)

    on_event.got = got
    return on_event


def test_cancel_a_running_job_from_another_process(library_with_photos, home, events):
    lib, ids = library_with_photos(2)
    r = lib.jobs.enqueue_restore(ids)
    blocker = Blocker()
    runner = lib.jobs.runner(
        HandlerRegistry({"restore_photo": blocker}), on_event=events, cancel_check_interval=0.05
    )
    runner.start()
    try:
        assert blocker.started.wait(40)
        assert runner.current_job_id == r.queued[0]
        # `jobs cancel` from a terminal: another Library on the same database.
        with reopen(home) as other:
            c = other.jobs.cancel([r.queued[0]])
            assert c.stopping == (r.queued[0],)
            # Asked for, or already done: the runner polls every 0.05 s and clears the flag
            # when it cancels the job.
            seen = other.jobs.get(r.queued[0])
            assert seen.cancel_requested or seen.state == "cancelled"
        wait_for(lambda: lib.jobs.get(r.queued[0]).state == "cancelled", what="cancel")
        # The runner goes on with the next job; let it finish.
        wait_for(lambda: runner.current_job_id == r.queued[1], what="next job")
        blocker.release.set()
        wait_for(lambda: lib.jobs.get(r.queued[1]).state == "done", what="second job")
    finally:
        runner.stop(timeout=10)
    assert not runner.running
    assert blocker.ran == list(r.queued)
    states = [(e.job_id, e.state) for e in events.got if e.state != "running"]
    assert states == [(r.queued[0], "cancelled"), (r.queued[1], "done")]
    assert any(e.message == "working" for e in events.got)


def test_runner_cancel_stops_the_running_job_at_once(library_with_photos):
    lib, ids = library_with_photos(1)
    r = lib.jobs.enqueue_restore(ids)
    blocker = Blocker()
    runner = lib.jobs.runner(HandlerRegistry({"restore_photo": blocker}), cancel_check_interval=60)
    runner.start()
    try:
        assert blocker.started.wait(40)
        runner.cancel(r.queued[0])  # no database poll needed (interval is 60 s)
        wait_for(lambda: lib.jobs.get(r.queued[0]).state == "cancelled", timeout=20, what="cancel")
    finally:
        runner.stop(timeout=10)


def test_stopping_the_runner_puts_the_running_job_back(library_with_photos, home):
    lib, ids = library_with_photos(1)
    r = lib.jobs.enqueue_restore(ids)
    blocker = Blocker()
    runner = lib.jobs.runner(HandlerRegistry({"restore_photo": blocker}))
    runner.start()
    assert blocker.started.wait(40)
    runner.stop(timeout=10)
    assert not runner.running
    job = lib.jobs.get(r.queued[0])
    assert job.state == "queued" and job.error is None
    # The lock went with the runner: a new one can take over and finish the job.
    blocker.release.set()
    assert lib.jobs.run(HandlerRegistry({"restore_photo": blocker})).done == r.queued


def test_the_background_runner_picks_up_jobs_queued_later(library_with_photos):
    lib, ids = library_with_photos(2)
    done = []
    runner = lib.jobs.runner(
        HandlerRegistry({"restore_photo": lambda ctx: done.append(ctx.photo_id)}), poll_interval=30
    )
    runner.start()
    try:
        time.sleep(0.1)  # idle, waiting
        lib.jobs.enqueue_restore(ids[:1])
        runner.wake()
        wait_for(lambda: done == ids[:1], timeout=20, what="first job")
        lib.jobs.enqueue_restore(ids[1:])
        runner.wake()
        wait_for(lambda: done == ids, timeout=20, what="second job")
    finally:
        runner.stop(timeout=10)


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which the runner must recognise by name."""


def oom_handler(limit_batch: int | None, gpu_ok: bool, log: list):
    def handler(ctx):
        log.append((ctx.batch_size, ctx.device, ctx.retry))
        ctx.progress(faces_done=0, faces_total=2)
        if ctx.device != "cpu":
            ctx.device = "cuda:0"  # what "auto" resolved to
            if not gpu_ok or limit_batch is None or ctx.batch_size > limit_batch:
                raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        elif limit_batch is not None and ctx.batch_size > limit_batch:
            raise MemoryError()
        return JobResult(summary={"batch": ctx.batch_size, "device": ctx.device})

    return handler


def test_out_of_memory_halves_the_batch_then_uses_the_cpu_and_says_so(library_with_photos, events):
    lib, ids = library_with_photos(2)
    r = lib.jobs.enqueue_restore(ids[:1])
    log: list = []
    s = lib.jobs.run(HandlerRegistry({"restore_photo": oom_handler(None, False, log)}), on_event=events)
    assert s.done == r.queued
    assert log == [(8, "auto", 0), (4, "auto", 1), (2, "auto", 2), (1, "auto", 3), (8, "cpu", 4)]
    job = lib.jobs.get(r.queued[0])
    assert job.result == {"batch": 8, "device": "cpu"}
    notes = job.note.splitlines()
    assert notes[:3] == [
        "out of memory on cuda:0 with batch size 8; retrying with batch size 4",
        "out of memory on cuda:0 with batch size 4; retrying with batch size 2",
        "out of memory on cuda:0 with batch size 2; retrying with batch size 1",
    ]
    assert notes[3] == "out of memory on cuda:0 even with batch size 1; running on the CPU instead (slower)"
    assert any(e.note == notes[3] for e in events.got)  # the GUI hears it too


def test_a_smaller_batch_that_fits_is_kept_for_later_jobs(library_with_photos):
    lib, ids = library_with_photos(2)
    lib.jobs.enqueue_restore(ids, device="cuda")
    log: list = []
    s = lib.jobs.run(HandlerRegistry({"restore_photo": oom_handler(2, True, log)}))
    assert len(s.done) == 2
    assert log == [(8, "cuda", 0), (4, "cuda", 1), (2, "cuda", 2), (2, "cuda", 0)]
    first, second = lib.jobs.list(all=True)
    assert "retrying with batch size 2" in first.note and second.note is None


def test_out_of_memory_on_the_cpu_too_fails_with_that_reason(library_with_photos):
    lib, ids = library_with_photos(1)
    lib.jobs.enqueue_restore(ids, device="cpu")
    log: list = []
    s = lib.jobs.run(HandlerRegistry({"restore_photo": oom_handler(0, True, log)}))
    assert len(s.failed) == 1
    assert [b for b, _, _ in log] == [8, 4, 2, 1]
    assert lib.jobs.get(s.failed[0]).error == "out of memory on cpu even with batch size 1"


def test_out_of_memory_is_recognised_without_torch():
    assert is_out_of_memory(OutOfMemoryError("whatever"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert is_out_of_memory(MemoryError())
    try:
        try:
            raise OutOfMemoryError("x")
        except OutOfMemoryError as inner:
            raise ValueError("restoring face 2 failed") from inner
    except ValueError as outer:
        assert is_out_of_memory(outer)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("no faces"))

    probe = "import sys, refldm_desktop.jobs.runner, refldm_desktop.core.jobs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ctrl_c_puts_the_job_back_and_removes_its_unrecorded_output(library_with_photos, tmp_path):
    lib, ids = library_with_photos(2)
    out = tmp_path / "out"
    r = lib.jobs.enqueue_restore(ids, output_dir=out)

    def interrupted(ctx):
        write_output(ctx)  # the file is written ...
        raise KeyboardInterrupt  # ... and Ctrl-C comes before the job is recorded done

    with pytest.raises(KeyboardInterrupt):
        lib.jobs.run(HandlerRegistry({"restore_photo": interrupted}))
    job = lib.jobs.get(r.queued[0])
    assert job.state == "queued" and "Ctrl-C" in job.note and job.staged is None
    assert list(out.iterdir()) == []  # no output, no temporary file
    assert lib.jobs.get(r.queued[1]).state == "queued"
    # The lock was released: the next run does both jobs.
    assert lib.jobs.run(HandlerRegistry({"restore_photo": write_output})).done == r.queued
    assert len(list(out.iterdir())) == 2


def test_a_result_that_cannot_be_recorded_fails_the_job_and_keeps_no_file(library_with_photos, tmp_path):
    lib, ids = library_with_photos(2)
    out = tmp_path / "out"
    r = lib.jobs.enqueue_restore(ids, output_dir=out)
    first = []

    def clashing(ctx):
        result = write_output(ctx)
        if first:  # claim the first job's file as our own: the database refuses it
            return JobResult(version=replace(result.version, output_path=first[0]))
        first.append(result.version.output_path)
        return result

    s = lib.jobs.run(HandlerRegistry({"restore_photo": clashing}))
    assert s.done == r.queued[:1] and s.failed == r.queued[1:]
    assert "could not record the result" in lib.jobs.get(r.queued[1]).error
    assert list(out.iterdir()) == [first[0]]  # the recorded file stays, the other is gone


def test_the_failed_attempts_memory_is_gone_when_the_cuda_cache_is_emptied(library_with_photos, monkeypatch):
    """The traceback of an out-of-memory error pins the handler's tensors; emptying the CUDA
    cache while they live frees nothing, and the retry runs out of memory again."""
    import types
    import weakref

    class Tensor:
        pass

    held = []
    emptied_while_alive = []
    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        empty_cache=lambda: emptied_while_alive.append(held[-1]() is not None),
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))

    lib, ids = library_with_photos(1)
    lib.jobs.enqueue_restore(ids, device="cuda")

    def handler(ctx):
        activations = Tensor()
        held.append(weakref.ref(activations))
        if ctx.retry == 0:
            raise OutOfMemoryError("CUDA out of memory")
        return None

    assert len(lib.jobs.run(HandlerRegistry({"restore_photo": handler})).done) == 1
    assert emptied_while_alive == [False]


def test_another_process_reads_the_phase_a_job_is_in(library_with_photos, home):
    """`jobs run` in a terminal while the app is open: the app knows the job only from the
    database, and reads there whether it makes the quick preview or the full result."""
    from refldm_desktop.jobs.runner import FULL_STAGE, PREVIEW_STAGE

    lib, ids = library_with_photos(1)
    (job_id,) = lib.jobs.enqueue_restore(ids).queued
    phase, done = [PREVIEW_STAGE], threading.Event()

    def handler(ctx):
        while not done.is_set():
            ctx.progress(faces_done=0, faces_total=1, step=1, steps=8, stage=phase[0])
            time.sleep(0.01)

    runner = lib.jobs.runner(HandlerRegistry({"restore_photo": handler}))
    runner.start()
    try:
        with reopen(home) as other:
            wait_for(lambda: other.jobs.get(job_id).stage == PREVIEW_STAGE, what="the preview phase")
            phase[0] = FULL_STAGE
            wait_for(lambda: other.jobs.get(job_id).stage == FULL_STAGE, what="the full phase")
            assert other.jobs.get(job_id).to_json()["progress"]["stage"] == FULL_STAGE
        done.set()
        wait_for(lambda: lib.jobs.get(job_id).state == "done", what="the end")
    finally:
        done.set()
        runner.stop(timeout=10)


def test_a_runner_that_runs_only_released_jobs_leaves_older_ones_queued(library_with_photos):
    """The app's runner: jobs an earlier session left wait, untouched, while a job the user
    asks for now runs; release_all (the user's Resume) runs them too."""
    lib, ids = library_with_photos(3)
    old = lib.jobs.enqueue_restore(ids[:2]).queued
    done = []
    runner = lib.jobs.runner(HandlerRegistry({"restore_photo": lambda ctx: done.append(ctx.id)}),
                             poll_interval=30, only_released=True)
    runner.start()
    try:
        (new,) = lib.jobs.enqueue_restore(ids[2:]).queued
        assert runner.held(new) and runner.held(old[0])
        runner.release([new])
        wait_for(lambda: done == [new], timeout=20, what="the new job")
        assert not runner.held(new) and runner.held(old[0])
        time.sleep(0.2)  # a turn of the loop that must leave the old jobs alone
        assert [lib.jobs.get(j).state for j in old] == ["queued", "queued"] and done == [new]
        assert [lib.jobs.get(j).attempts for j in old] == [0, 0]
        runner.release_all()
        wait_for(lambda: sorted(done) == sorted([new, *old]), timeout=20, what="the old jobs")
        assert not runner.holding
    finally:
        runner.stop(timeout=10)


def test_jobs_that_ended_are_no_longer_sent_with_every_look_at_the_queue(library_with_photos):
    """A long session releases thousands of jobs: the ones that ended must not go into each
    query again (SQLite refuses more than a few thousand parameters), yet still count as
    the user's own (not held)."""
    lib, ids = library_with_photos(3)
    done: list[int] = []
    runner = lib.jobs.runner(HandlerRegistry({"restore_photo": lambda ctx: done.append(ctx.id)}),
                             poll_interval=0.05, only_released=True)
    sent: list[frozenset] = []
    real = runner.queue.has_queued
    runner.queue.has_queued = lambda kinds=None, *, only=None: sent.append(frozenset(only or ())) or real(
        kinds, only=only)
    runner.start()
    try:
        jobs = lib.jobs.enqueue_restore(ids).queued
        runner.release(jobs)
        wait_for(lambda: sorted(done) == sorted(jobs), timeout=20, what="the released jobs")
        sent.clear()
        wait_for(lambda: len(sent) >= 2, timeout=5, what="the runner to look at the queue again")
        assert sent[-1] == frozenset()
        assert not any(runner.held(j) for j in jobs)
    finally:
        runner.stop(timeout=10)


def test_jobs_run_in_a_terminal_finishes_left_over_jobs_while_the_app_holds_them_back(library_with_photos):
    """The app's runner holds an earlier session's jobs back until Resume; meanwhile
    `refldm-desktop jobs run` must be able to run them (README), so the app must not keep
    the runner lock while it has nothing it may run. Its own jobs still run afterwards."""
    lib, ids = library_with_photos(3)
    old = lib.jobs.enqueue_restore(ids[:2]).queued
    app_done: list[int] = []
    app = lib.jobs.runner(HandlerRegistry({"restore_photo": lambda ctx: app_done.append(ctx.id)}),
                          poll_interval=0.05, only_released=True)
    app.start()
    try:
        # A job of the app's own first: its loop has surely taken the lock once by then.
        (first,) = lib.jobs.enqueue_restore(ids[2:3]).queued
        app.release([first])
        wait_for(lambda: lib.jobs.get(first).state == "done", timeout=20, what="the app's job")
        probe = RunnerLock(lib.jobs.lock_path)
        wait_for(probe.acquire, timeout=5, what="the app to leave the runner lock")
        probe.release()
        cli_done: list[int] = []
        summary = lib.jobs.run(HandlerRegistry({"restore_photo": lambda ctx: cli_done.append(ctx.id)}))
        assert sorted(cli_done) == sorted(old) and sorted(summary.done) == sorted(old)
        assert app_done == [first]
        # The app takes the lock again for what the user asks next.
        (second,) = lib.jobs.enqueue_restore(ids[:1]).queued
        app.release([second])
        wait_for(lambda: app_done == [first, second], timeout=20, what="the app's next job")
    finally:
        app.stop(timeout=10)
