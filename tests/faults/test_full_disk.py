"""A disk that fills up under the home folder (the database) or under the output folder.

Where the suite may mount file systems (root on Linux) each disk is a small tmpfs filled to
a chosen few bytes of free space, so the kernel itself answers ENOSPC wherever it happens.
Elsewhere the same failures are injected: SQLite's page limit for the database, and ENOSPC
from fsync (where a full disk surfaces for delayed allocation) for output files.

After each: the command stops with one line and no traceback, what was done is kept, the
library opens and is whole, the originals are unchanged, no partial or unrecorded output file
remains, and once space is freed the next run finishes the work exactly once.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from forking import preload, run_forked
from scenarios import (
    RESTORE_PHOTOS,
    TOTALS,
    cli,
    copy_home,
    fill_disk,
    inspect,
    judge,
    make_pictures,
    stderr_problems,
    tree_hashes,
)

LEAVE = (0, 4096, 16384, 65536)  # bytes left free on the disk when the command starts


class Disk:
    """A small disk at `path`: a real tmpfs, or a folder with injected ENOSPC."""

    def __init__(self, path: Path, real: bool) -> None:
        self.path, self.real = path, real
        self.filler: Path | None = None

    def fill(self, leave: int) -> None:
        if self.real:
            self.filler = fill_disk(self.path, leave)
        self.leave = leave

    def free(self) -> None:
        if self.filler is not None:
            self.filler.unlink()
            self.filler = None
        self.leave = None

    def inject(self) -> None:
        """In the child: make writes under this disk fail as a full disk would."""
        if self.real or self.leave is None:
            return
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        root, budget = str(self.path), self.leave

        def limit_pages(dbapi_connection, _record) -> None:
            db = dbapi_connection.execute("PRAGMA database_list").fetchone()[2]
            if db.startswith(root):
                pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
                dbapi_connection.execute(f"PRAGMA max_page_count = {pages + budget // 4096}")

        event.listen(Engine, "connect", limit_pages)
        real_fsync = os.fsync

        def fsync(fd):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if target.startswith(root) and os.fstat(fd).st_size > budget:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_fsync(fd)

        os.fsync = fsync


def _mount(path: Path, size: str) -> bool:
    path.mkdir(parents=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    real = _mount(path, "2m")
    d = Disk(path, real)
    yield d
    if real:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    preload()
    root = tmp_path_factory.mktemp("full-disk")
    pics = make_pictures(root / "Pictures")
    schema, indexed = root / "template-schema", root / "template-indexed"
    assert run_forked(lambda: cli(schema, "people", "list")).status == 0
    copy_home(schema, indexed)
    assert run_forked(lambda: cli(indexed, "index", pics)).status == 0
    reference = run_forked(lambda: inspect(indexed)).value
    return pics, tree_hashes(pics), schema, indexed, reference


@pytest.mark.parametrize("leave", LEAVE)
def test_a_full_disk_under_the_home_stops_index_cleanly(start, disk, tmp_path, leave):
    pics, originals, schema, _, reference = start
    home = copy_home(schema, disk.path / "home")
    disk.fill(leave)
    TOTALS["disks filled"] += 1
    first = run_forked(lambda: cli(home, "index", pics), stderr_to=tmp_path / "first.err", before=disk.inject)
    problems = [f"index on a full disk: {p}" for p in stderr_problems(first.stderr)]
    if first.status not in (0, 2):
        problems.append(f"index on a full disk ended with status {first.status}: {first.stderr[-600:]}")
    if leave == 0 and (first.status != 2 or "full" not in first.stderr):
        problems.append(f"index on a disk with no space left did not say so: {first.stderr[-600:]}")
    disk.free()
    problems += judge(run_forked(lambda: inspect(home)).value, pics, originals, [], "after the full disk")
    again = run_forked(lambda: cli(home, "index", pics), stderr_to=tmp_path / "again.err")
    final = run_forked(lambda: inspect(home)).value
    problems += judge(final, pics, originals, [], "after the next run")
    if again.status != 0:
        problems.append(f"the next index failed: {again.stderr[-600:]}")
    for key in ("photos", "photo_states", "faces", "people"):
        if final and final.get(key) != reference[key]:
            problems.append(f"after the next run {key} is {final.get(key)}, a clean run gives {reference[key]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("verb", ["restore", "batch"])
@pytest.mark.parametrize("leave", LEAVE[:3])
def test_a_full_output_disk_fails_the_jobs_cleanly_and_they_finish_later(start, disk, tmp_path, verb, leave):
    pics, originals, _, indexed, _ = start
    home = copy_home(indexed, tmp_path / "home")
    out = disk.path / "out"
    out.mkdir()
    options = ["--restorer", "passthrough", "--no-refs-ok", "--output-dir", out]
    if verb == "restore":
        args = ["restore", *(pics / n for n in RESTORE_PHOTOS), *options]
    else:
        args = ["batch", pics, "--min-quality", "1.0", *options]
    disk.fill(leave)
    TOTALS["disks filled"] += 1
    first = run_forked(lambda: cli(home, *args), stderr_to=tmp_path / "first.err", before=disk.inject)
    problems = [f"{verb} on a full disk: {p}" for p in stderr_problems(first.stderr)]
    if first.status not in (0, 1, 2):
        problems.append(f"{verb} on a full disk ended with status {first.status}: {first.stderr[-600:]}")
    if leave == 0 and first.status == 0:
        problems.append(f"{verb} on a disk with no space left succeeded: the test tested nothing")
    if first.status == 1 and "disk is full" not in first.stderr and "disk quota" not in first.stderr:
        problems.append(f"{verb}: a failed photo does not say the disk is full: {first.stderr[-600:]}")
    disk.free()
    problems += judge(run_forked(lambda: inspect(home)).value, pics, originals, [out], "after the full disk")

    def finish():
        # What the README says: run the same batch again; `jobs resume` + `jobs run` otherwise.
        if verb == "batch":
            return cli(home, *args)
        return cli(home, "jobs", "resume") or cli(home, "jobs", "run")

    again = run_forked(finish, stderr_to=tmp_path / "again.err")
    final = run_forked(lambda: inspect(home)).value
    problems += judge(final, pics, originals, [out], "after the next run")
    if again.status != 0:
        problems.append(f"the next run failed: {again.stderr[-600:]}")
    if final and verb == "restore":
        per_photo = sorted(v["photo_id"] for v in final["versions"])
        if len(per_photo) != len(RESTORE_PHOTOS) or len(set(per_photo)) != len(per_photo):
            problems.append(f"restore: {len(per_photo)} versions for {len(RESTORE_PHOTOS)} photos")
    if final and {j["state"] for j in final["jobs"]} != {"done"}:
        problems.append(f"jobs left unfinished: {final['jobs']}")
    assert not problems, "\n".join(problems)
