"""Killing `batch` (SIGKILL: no cleanup code runs) in the middle leaves no partial output;
running the same command again finishes the remaining photos, and none twice."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from restore_testlib import LIBRARY_PARTS, REPO, indexed_library, outputs_under, sha256_tree

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


def batch_command(library, out: Path) -> list[str]:
    return [
        sys.executable, "-c", "import sys; from refldm_desktop.cli import main; sys.exit(main())",
        "--home", str(library.home), "batch", str(library.lib / "old_photos"), "--restorer", "passthrough",
        "--no-refs-ok", "--min-quality", "1.0", "--output-dir", str(out), "--json",
    ]


def batch_jobs(lib, out: Path):
    return [j for j in lib.jobs.list(all=True) if j.payload.get("output_dir") == str(out)]


def test_killed_batch_leaves_no_partial_file_and_the_rerun_finishes_once(faces_dir, tmp_path):
    from refldm_desktop.core.home import Home
    from refldm_desktop.core.library import Library

    library = indexed_library(LIBRARY_PARTS)
    out = tmp_path / "out"
    proc = subprocess.Popen(batch_command(library, out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with Library.open(Home(library.home)) as lib:
            end = time.monotonic() + 240
            while True:
                jobs = batch_jobs(lib, out)
                done = sum(j.state == "done" for j in jobs)
                if jobs and 2 <= done < len(jobs) and any(j.state == "running" for j in jobs):
                    break
                assert proc.poll() is None, "the batch ended before it could be killed: " + proc.stderr.read().decode()
                assert time.monotonic() < end, "the batch did not get going"
                time.sleep(0.01)
    finally:
        proc.kill()
        proc.communicate()

    with Library.open(Home(library.home)) as lib:
        jobs = batch_jobs(lib, out)
        done_before = {j.id for j in jobs if j.state == "done"}
        assert 2 <= len(done_before) < len(jobs)
    for f in outputs_under(out):  # whatever has a real name is a whole image
        with Image.open(f) as img:
            img.load()

    again = subprocess.run(batch_command(library, out), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    with Library.open(Home(library.home)) as lib:
        jobs = batch_jobs(lib, out)
        assert {j.state for j in jobs} == {"done"}
        assert all(j.attempts == 1 for j in jobs if j.id in done_before)  # finished jobs never ran again
        ids = {j.id for j in jobs}
        versions = [v for v in lib.jobs.versions() if v.job_id in ids]
    per_photo = Counter(v.photo_id for v in versions)
    assert per_photo and set(per_photo.values()) == {1}  # one new file per photo, none twice
    files = outputs_under(out)
    assert sorted(v.output for v in versions) == files
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary files left
    assert sha256_tree(library.lib) == library.before
