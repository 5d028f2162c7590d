"""Two commands that write, at the same moment, on one library: every pair of writing verbs.

Each may succeed, or refuse with one clear line (another one is indexing, another process
runs the jobs); neither may crash, corrupt the library, leave an unrecorded file or do a job
twice. Afterwards running both again, then `jobs run`, finishes everything exactly once.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from pathlib import Path

import pytest
from forking import finish, preload, run_forked
from scenarios import (
    PHOTOS,
    RESTORE_PHOTOS,
    TOTALS,
    cli,
    copy_home,
    inspect,
    judge,
    make_pictures,
    recluster,
    stderr_problems,
    tree_hashes,
)

_PASS = ("--restorer", "passthrough", "--no-refs-ok")


def _verbs(home: Path, pics: Path, out: Path) -> dict:
    return {
        "index": lambda: cli(home, "index", pics),
        "recluster": lambda: recluster(home),
        "restore": lambda: cli(home, "restore", *(pics / n for n in RESTORE_PHOTOS), *_PASS, "--output-dir", out),
        "batch": lambda: cli(home, "batch", pics, *_PASS, "--min-quality", "1.0", "--output-dir", out),
        "jobs run": lambda: cli(home, "jobs", "run"),
        "rename": lambda: cli(home, "people", "rename", "1", "Grandma"),
        "reject": lambda: cli(home, "faces", "reject", "2"),
        "pin": lambda: cli(home, "refs", "pin", "3"),
        "db backup": lambda: cli(home, "db", "backup"),
    }


VERBS = list(_verbs(Path(), Path(), Path()))
PAIRS = list(itertools.combinations_with_replacement(VERBS, 2))


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    preload()
    root = tmp_path_factory.mktemp("concurrent")
    pics = make_pictures(root / "Pictures")
    template = root / "template"
    assert run_forked(lambda: cli(template, "index", pics)).status == 0

    def queue_two():  # work waiting for `jobs run`
        from fakes import FakeBackend, open_test_library

        from refldm_desktop.core.restoring import RestoreSettings

        with open_test_library(template, FakeBackend()) as lib:
            ids = [p.id for p in lib.photos() if p.path.name in ("p05.png", "p06.png")]
            lib.restoring.enqueue(ids, RestoreSettings(restorer="passthrough", no_refs_ok=True,
                                                       output_dir=root / "queued-out"))
        return 0

    assert run_forked(queue_two).status == 0
    return pics, tree_hashes(pics), template


@pytest.mark.parametrize("a, b", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_two_writers_at_once_lose_nothing(start, tmp_path, a, b):
    pics, originals, template = start
    home = copy_home(template, tmp_path / "home")
    out, queued_out = tmp_path / "out", tmp_path / "queued-out"
    with sqlite3.connect(home / "library.sqlite3") as db:  # this copy's queued work writes here
        db.execute("UPDATE jobs SET payload = json_set(payload, '$.output_dir', ?)", (str(queued_out),))
    verbs = _verbs(home, pics, out)
    go_r, go_w = os.pipe()

    def together(fn):
        def run():
            os.read(go_r, 1)  # both start on the same signal
            return fn()
        return run

    handles = [run_forked(together(verbs[v]), stderr_to=tmp_path / f"{i}.err", wait=False) for i, v in enumerate((a, b))]
    os.write(go_w, b"xx")
    results = [finish(h) for h in handles]
    os.close(go_r)
    os.close(go_w)
    TOTALS["concurrent pairs"] += 1

    problems = []
    for verb, r in zip((a, b), results):
        for p in stderr_problems(r.stderr):
            problems.append(f"{verb}: {p}: {r.stderr[-800:]}")
        if r.status not in (0, 2):
            problems.append(f"{verb} ended with status {r.status}: {r.stderr[-800:]}")

    outs = [out, queued_out]
    problems += judge(run_forked(lambda: inspect(home)).value, pics, originals, outs, "right after")
    # The next run: whatever was refused is done now, then the queue is emptied.
    refused = [v for v, r in zip((a, b), results) if r.status != 0]

    def again():
        # A refused verb may now have nothing left to do (the other one rejected that face
        # already): refusing again in one line is fine; the queue must empty.
        statuses = [verbs[v]() for v in refused]
        return cli(home, "jobs", "run") or (1 if set(statuses) - {0, 2} else 0)

    rerun = run_forked(again, stderr_to=tmp_path / "again.err")
    if rerun.status != 0 or "Traceback" in rerun.stderr:
        problems.append(f"the next run failed ({rerun.status}): {rerun.stderr[-800:]}")
    final = run_forked(lambda: inspect(home)).value
    problems += judge(final, pics, originals, outs, "after the next run")
    if final and final.get("opens"):
        if len(final["photos"]) != len(PHOTOS):
            problems.append(f"{len(final['photos'])} photos in the library, {len(PHOTOS)} on disk")
        if {j["state"] for j in final["jobs"]} - {"done"}:
            problems.append(f"jobs left unfinished: {[j for j in final['jobs'] if j['state'] != 'done']}")
    assert not problems, "\n".join(problems)
