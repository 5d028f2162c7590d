"""SIGKILL at many points of every operation that writes: first open, each schema upgrade
step, index, recluster, restore and batch.

For each operation a clean run first counts its injected points (SQL statements, commits,
renames, links, fsyncs, unlinks; see forking.py) and gives the reference result. Then the
operation is killed at KILLS points spread evenly over that count, each time on a fresh copy
of the starting library. After each kill: the library opens and is whole, the originals are
byte-identical, the next run (what the README tells a user to do) succeeds, and the result is
the reference's: no orphan or partial output file, no version made twice.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from forking import preload, run_forked, spread
from scenarios import (
    RESTORE_PHOTOS,
    TOTALS,
    cli,
    copy_home,
    forget_people,
    inspect,
    judge,
    make_pictures,
    recluster,
    tree_hashes,
)

KILLS = 21  # per operation (the issue asks for at least 20)


def _library_at(home: Path, revision: str) -> None:
    """A library left by an older version of the app, with a person in it."""
    from alembic import command

    from refldm_desktop.db.engine import alembic_config, make_engine

    home.mkdir(parents=True)
    engine = make_engine(home / "library.sqlite3")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    engine.dispose()
    with sqlite3.connect(home / "library.sqlite3") as db:
        db.execute("INSERT INTO photos (id, path, size, mtime_ns, state, indexed_at) "
                   "VALUES (1, '/gone/a.png', 10, 1, 'ok', '2024-01-01')")
        db.execute("INSERT INTO faces (id, photo_id, x0, y0, x1, y1, score, landmarks, backend, model_id, "
                   "needs_clustering, created_at) VALUES (1, 1, 0, 0, 9, 9, 1.0, x'00', 'fake', 'fake-colour-v1', 0, "
                   "'2024-01-01')")
        db.execute("INSERT INTO people (id, name, hidden, created_at) VALUES (1, 'Ada', 0, '2024-01-01')")
        db.execute("INSERT INTO face_assignments (face_id, person_id, state, updated_at) "
                   "VALUES (1, 1, 'confirmed', '2024-01-01')")


@dataclass
class World:
    root: Path
    pictures: Path
    originals: dict[str, str]
    templates: dict[str, Path]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    preload()
    root = tmp_path_factory.mktemp("faults")
    pics = make_pictures(root / "Pictures")
    t = {name: root / f"template-{name}" for name in ("empty", "schema", "0001", "0002", "0003", "0004", "indexed", "unclustered")}
    t["empty"].mkdir()
    assert run_forked(lambda: cli(t["schema"], "people", "list")).status == 0
    for rev in ("0001", "0002", "0003", "0004"):
        assert run_forked(lambda rev=rev: _library_at(t[rev], rev)).status == 0
    copy_home(t["schema"], t["indexed"])
    assert run_forked(lambda: cli(t["indexed"], "index", pics)).status == 0
    copy_home(t["indexed"], t["unclustered"])
    forget_people(t["unclustered"])
    return World(root, pics, tree_hashes(pics), t)


@dataclass(frozen=True)
class Operation:
    template: str
    run: Callable[[Path, Path, Path], int]  # (home, out, pictures) -> exit status
    again: Callable[[Path, Path, Path], int]  # the next run a user makes after a crash


_RESTORE_OPTIONS = ("--restorer", "passthrough", "--no-refs-ok")


def _restore(home, out, pics):
    return cli(home, "restore", *(pics / n for n in RESTORE_PHOTOS), *_RESTORE_OPTIONS, "--output-dir", out)


def _restore_again(home, out, pics):
    """`jobs run` finishes what was queued; a photo the killed command never queued is
    asked for again."""
    from fakes import FakeBackend, open_test_library

    rc = cli(home, "jobs", "run")
    with open_test_library(home, FakeBackend()) as lib:
        queued = {str(j.photo) for j in lib.jobs.list(all=True)}
    missing = [pics / n for n in RESTORE_PHOTOS if str((pics / n).resolve()) not in queued]
    if missing:
        rc = rc or cli(home, "restore", *missing, *_RESTORE_OPTIONS, "--output-dir", out)
    return rc


def _batch(home, out, pics):
    return cli(home, "batch", pics, "--restorer", "passthrough", "--no-refs-ok", "--min-quality", "1.0",
               "--output-dir", out)


def _open(home, out, pics):
    return cli(home, "people", "list")


def _index(home, out, pics):
    return cli(home, "index", pics)


def _recluster(home, out, pics):
    return recluster(home)


OPERATIONS = {
    "first open": Operation("empty", _open, _open),
    # Each later step is also covered by every run that starts before it.
    "upgrade from 0001": Operation("0001", _open, _open),
    "upgrade from 0002": Operation("0002", _open, _open),
    "upgrade from 0003": Operation("0003", _open, _open),
    "upgrade from 0004": Operation("0004", _open, _open),
    "index": Operation("schema", _index, _index),
    "recluster": Operation("unclustered", _recluster, _recluster),
    "restore": Operation("indexed", _restore, _restore_again),
    "batch": Operation("indexed", _batch, _batch),
}


def _attempt(world: World, op: Operation, work: Path, kill_at: int | None):
    home = copy_home(world.templates[op.template], work / "home")
    out = work / "out"
    first = run_forked(lambda: op.run(home, out, world.pictures), kill_at=kill_at, stderr_to=work / "first.err")
    after_kill = run_forked(lambda: inspect(home)).value
    again = run_forked(lambda: op.again(home, out, world.pictures), stderr_to=work / "again.err")
    final = run_forked(lambda: inspect(home)).value
    return home, out, first, after_kill, again, final


def _comparable(state: dict) -> dict:
    keys = ("opens", "integrity", "revision", "schema", "photos", "photo_states", "faces", "assigned", "people")
    out = {k: state.get(k) for k in keys}
    out["versions"] = len(state.get("versions", []))
    out["job states"] = sorted(j["state"] for j in state.get("jobs", []))
    return out


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_a_kill_anywhere_loses_nothing_and_the_next_run_finishes_once(world, tmp_path, name):
    op = OPERATIONS[name]
    home, out, clean, _, again, reference = _attempt(world, op, tmp_path / "clean", None)
    assert clean.status == 0 and again.status == 0, clean.stderr + again.stderr
    assert reference["opens"] and reference["integrity"] == "ok", reference
    assert reference["revision"] == reference["head"]
    points = clean.points
    assert points and points >= 10, f"{name}: only {points} injection points"
    expected = _comparable(reference)

    problems = []
    kill_points = spread(points, KILLS)
    assert len(kill_points) >= 20 or len(kill_points) == points
    for k in kill_points:
        work = tmp_path / f"kill-{k}"
        home, out, first, after, again, final = _attempt(world, op, work, k)
        TOTALS["kills tried"] += 1
        where = f"{name}, killed at point {k} of {points}"
        if not first.killed:
            # A run may pass a point or two fewer than the counting run (a commit batch
            # closes on time): then it finished before the last point, which is fine.
            if first.status != 0 or first.points is None or first.points >= k:
                problems.append(f"{where}: was not killed (status {first.status}): {first.stderr[-500:]}")
        problems += judge(after, world.pictures, world.originals, [], f"{where}, after the kill")
        if again.status != 0 or "Traceback" in again.stderr:
            problems.append(f"{where}: the next run failed ({again.status}): {again.stderr[-800:]}")
        problems += judge(final, world.pictures, world.originals, [out], f"{where}, after the next run")
        partial_backups = [p.name for p in (home / "backups").glob(".*")]
        TOTALS["orphan files"] += len(partial_backups)
        if partial_backups:
            problems.append(f"{where}: partial backups left: {partial_backups}")
        if not final or not final.get("opens"):
            continue
        if _comparable(final) != expected:
            diff = {k: (v, expected[k]) for k, v in _comparable(final).items() if v != expected[k]}
            problems.append(f"{where}: the next run did not end where a clean run does: {diff}")
    assert not problems, "\n".join(problems[:10])
