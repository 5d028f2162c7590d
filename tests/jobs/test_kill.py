"""Killing the process (SIGKILL: no cleanup code runs) in the middle of a batch leaves no
partial output; the next run removes leftovers, finishes the rest, and does nothing twice."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from jobfix import home, library_with_photos, reopen  # noqa: F401 (fixtures)
from job_handlers import OUTPUT_SIZE, output_bytes, sha256_file

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

RUN_QUEUE = Path(__file__).with_name("run_queue.py")


def run_queue(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RUN_QUEUE), str(home)], capture_output=True, text=True, timeout=120
    )


def outputs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if not p.name.startswith("."))


def temp_files(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.name.startswith("."))


def photo_of(path: Path) -> int:
    return int(path.name.split(" ")[0].removeprefix("photo"))


def check_all_done_once(lib, out: Path, ids: list[int]) -> None:
    jobs = lib.jobs.list(all=True)
    assert {j.state for j in jobs} == {"done"}, [(j.id, j.state, j.error) for j in jobs]
    versions = lib.jobs.versions()
    assert sorted(v.photo_id for v in versions) == sorted(ids)  # one version per photo
    files = outputs(out)
    assert sorted(photo_of(f) for f in files) == sorted(ids)  # one output file per photo
    assert {v.output for v in versions} == set(files)
    for v in versions:
        assert sha256_file(v.output) == v.output_sha256
    assert temp_files(out) == []


def test_sigkill_mid_batch_then_the_next_run_finishes_the_rest_once(library_with_photos, home, tmp_path):
    lib, ids = library_with_photos(8)
    out, log = tmp_path / "out", tmp_path / "handler.log"
    lib.jobs.enqueue_restore(ids, output_dir=out, options={"work_s": 0.25, "log": str(log)})

    proc = subprocess.Popen([sys.executable, str(RUN_QUEUE), str(home)])
    try:
        end = time.monotonic() + 60
        while sum(j.state == "done" for j in lib.jobs.list(all=True)) < 2:
            assert proc.poll() is None and time.monotonic() < end, "runner ended early"
            time.sleep(0.02)
        time.sleep(0.15)  # into the middle of the next job
    finally:
        proc.kill()
        proc.wait()

    jobs = lib.jobs.list(all=True)
    done_before = {j.id for j in jobs if j.state == "done"}
    assert 2 <= len(done_before) < 8
    assert [j.state for j in jobs].count("running") <= 1
    for f in outputs(out):  # whatever has a real name is complete
        assert f.stat().st_size == OUTPUT_SIZE and f.read_bytes().endswith(b"END\n")
    lib.close()

    second = run_queue(home)
    assert second.returncode == 0, second.stderr
    with reopen(home) as lib:
        check_all_done_once(lib, out, ids)
        jobs = {j.id: j for j in lib.jobs.list(all=True)}
        assert all(jobs[i].attempts == 1 for i in done_before)
    starts = Counter(line.split()[1] for line in log.read_text().splitlines() if line.startswith("start"))
    writes = Counter(line.split()[1] for line in log.read_text().splitlines() if line.startswith("wrote"))
    assert all(starts[str(i)] == 1 for i in done_before)  # finished jobs never ran again
    assert sorted(writes) == sorted(str(i) for i in jobs) and set(writes.values()) == {1}


@pytest.mark.parametrize("die", ["after_write", "during_write"])
def test_killed_while_writing_leaves_nothing_behind_after_the_next_run(library_with_photos, home, tmp_path, die):
    lib, ids = library_with_photos(3)
    out = tmp_path / "out"
    lib.jobs.enqueue_restore(ids[:1], output_dir=out)
    victim = lib.jobs.enqueue_restore(ids[1:2], output_dir=out, options={"die": die}).queued[0]
    lib.jobs.enqueue_restore(ids[2:], output_dir=out)
    lib.close()

    first = run_queue(home)
    assert first.returncode == -9  # killed itself at the chosen moment
    with reopen(home) as lib:
        assert [j.state for j in lib.jobs.list(all=True)] == ["done", "queued", "queued"]
        assert "interrupted" in lib.jobs.get(victim).note
        assert [v.photo_id for v in lib.jobs.versions()] == ids[:1]
    if die == "after_write":
        # A complete file that no version records: the orphan the next run must remove.
        orphan = out / f"photo{ids[1]} (restored).txt"
        assert orphan.read_bytes() == output_bytes(ids[1], 1)
    else:
        (part,) = temp_files(out)
        assert part.stat().st_size == OUTPUT_SIZE // 2
        assert [photo_of(f) for f in outputs(out)] == ids[:1]

    second = run_queue(home)
    assert second.returncode == 0, second.stderr
    with reopen(home) as lib:
        check_all_done_once(lib, out, ids)
        job = lib.jobs.get(victim)
        assert job.attempts == 2 and "removed unfinished output" in job.note
        assert job.output.read_bytes() == output_bytes(ids[1], 2)
