"""The library states and operations the fault suite breaks, and the checks that follow.

Everything here that opens the library runs inside a forked child (see forking.py): fake
photos and the fake face backend keep each run to a fraction of a second.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

from fakes import FakeBackend, draw_photo, open_test_library

# Three people over eight photos, one photo with two of them: enough for people, references,
# a batch, and several index commits.
PHOTOS = [
    ("p01.png", [(1, 0, 20, 30)]),
    ("p02.png", [(1, 1, 60, 40)]),
    ("p03.png", [(1, 2, 40, 50)]),
    ("p04.png", [(2, 0, 70, 20), (1, 3, 10, 70)]),
    ("p05.png", [(2, 1, 30, 30)]),
    ("p06.png", [(2, 2, 90, 60)]),
    ("p07.png", [(3, 0, 50, 50)]),
    ("sub/p08.png", [(3, 1, 20, 20)]),
]
RESTORE_PHOTOS = ("p01.png", "p04.png", "p07.png")

# What the whole suite found; printed at the end of the run (conftest.py).
TOTALS = {
    "kills tried": 0,
    "disks filled": 0,
    "concurrent pairs": 0,
    "unopenable libraries": 0,
    "changed originals": 0,
    "orphan files": 0,
    "duplicate versions": 0,
}


def make_pictures(root: Path) -> Path:
    for name, faces in PHOTOS:
        draw_photo(root / name, faces)
    return root


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# -- in a child ------------------------------------------------------------------------


def cli(home: Path, *args) -> int:
    """The CLI as a user runs it, with the fake face backend."""
    from refldm_desktop.cli import library_verbs, main

    library_verbs.open_library = lambda _args: open_test_library(home, FakeBackend())
    return main(["--home", str(home), *map(str, args)])


def recluster(home: Path) -> int:
    with open_test_library(home, FakeBackend()) as lib:
        lib.recluster()
    return 0


def forget_people(home: Path) -> None:
    """Leave every face waiting to be grouped, as after a backend change."""
    with sqlite3.connect(home / "library.sqlite3") as db:
        db.execute("DELETE FROM face_assignments")
        db.execute("DELETE FROM people")
        db.execute("UPDATE faces SET needs_clustering = 1")


def inspect(home: Path) -> dict:
    """What a user would find: does it open, is it whole, what does it hold."""
    from refldm_desktop.db.engine import head_revision

    db = home / "library.sqlite3"
    try:
        with open_test_library(home, FakeBackend()) as lib:
            photos = lib.photos()
            faces = lib.faces()
            people = lib.people()
            versions = lib.jobs.versions()
            jobs = lib.jobs.list(all=True)
    except Exception as exc:  # noqa: BLE001 - reported, the test judges it
        return {"opens": False, "why": f"{type(exc).__name__}: {exc}"}
    with sqlite3.connect(db) as raw:
        integrity = raw.execute("PRAGMA integrity_check").fetchone()[0]
        revision = raw.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        schema = sorted(r[0] for r in raw.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    return {
        "opens": True,
        "integrity": integrity,
        "revision": revision,
        "head": head_revision(),
        "schema": schema,
        "photos": sorted(str(p.path) for p in photos),
        "photo_states": sorted(str(p.state) for p in photos),
        "faces": len(faces),
        "assigned": sum(1 for f in faces if f.person_id is not None),
        "people": len([p for p in people if p.face_count]),
        "versions": [
            {"photo_id": v.photo_id, "job_id": v.job_id, "output": str(v.output), "sha": v.output_sha256}
            for v in versions
        ],
        "jobs": [
            {"id": j.id, "state": str(j.state), "batch": j.batch_id, "photo_id": j.photo_id, "error": j.error}
            for j in jobs
        ],
    }


# -- judging, in the parent ------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def orphan_files(state: dict, out: Path) -> list[str]:
    """Files in the output folder that no version records (partial or unrecorded), and
    recorded outputs whose bytes are not what was recorded."""
    recorded = {v["output"]: v["sha"] for v in state.get("versions", [])}
    orphans = []
    for f in files_under(out):
        if " thumbnails" in str(f.parent) or f.suffix == ".html":
            continue  # the batch report and its pictures
        if str(f) not in recorded:
            orphans.append(str(f))
        elif sha256(f) != recorded[str(f)]:
            orphans.append(f"{f} (bytes differ from the record)")
    return orphans


def duplicate_versions(state: dict) -> int:
    """Versions beyond one per photo and batch (a job done twice)."""
    batch_of = {j["id"]: j["batch"] for j in state.get("jobs", [])}
    seen: dict[tuple, int] = {}
    for v in state.get("versions", []):
        key = (v["photo_id"], batch_of.get(v["job_id"]))
        seen[key] = seen.get(key, 0) + 1
    return sum(n - 1 for n in seen.values() if n > 1)


def copy_home(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("*.lock"))
    return dest


def fill_disk(mount: Path, leave: int) -> Path:
    """Fill the file system at `mount` until `leave` bytes are free; returns the filler."""
    filler = mount / "filler"
    st = os.statvfs(mount)
    free = st.f_bavail * st.f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def stderr_problems(err: str) -> list[str]:
    """What is wrong with what a command told the user (empty when all is well)."""
    problems = []
    if "Traceback" in err:
        problems.append("a traceback reached the user")
    if len([line for line in err.splitlines() if line.startswith("refldm-desktop: error:")]) > 1:
        problems.append("more than one error line")
    if "(sqlite3." in err or "INSERT " in err or "UPDATE " in err:
        problems.append("SQL reached the user")
    return problems


def judge(state: dict | None, pictures: Path, originals: dict, outs: list[Path], label: str) -> list[str]:
    """The promises, after a fault: the library opens and is whole, the originals are
    unchanged, every output file is recorded, no job made two versions. Counts into TOTALS."""
    if not state or not state.get("opens") or state.get("integrity") != "ok":
        TOTALS["unopenable libraries"] += 1
        return [f"{label}: the library does not open: {state}"]
    problems = []
    if tree_hashes(pictures) != originals:
        TOTALS["changed originals"] += 1
        problems.append(f"{label}: an original changed")
    orphans = [f for out in outs for f in orphan_files(state, out)]
    TOTALS["orphan files"] += len(orphans)
    if orphans:
        problems.append(f"{label}: files no version records: {orphans}")
    dups = duplicate_versions(state)
    TOTALS["duplicate versions"] += dups
    if dups:
        problems.append(f"{label}: {dups} versions made twice")
    return problems
