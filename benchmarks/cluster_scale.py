"""People clustering at family-library scale: time and peak memory, from scratch and when
500 new faces arrive (issue 13).

    python benchmarks/cluster_scale.py                    # every case
    python benchmarks/cluster_scale.py --case family --case 5x4000
    python benchmarks/cluster_scale.py --quick            # the small cases only
    python benchmarks/cluster_scale.py --quick --old      # the same with the old clustering

Synthetic 128-d embeddings shaped like dlib's (tests/faces/synthetic_people.py: faces of
one person about 0.35 apart, well inside dlib's 0.55; people about 0.9 apart). Each case
runs in a fresh subprocess, so that its peak memory is its own: "added memory" is the
process's peak resident size minus its size once the embeddings are loaded. "cpu s" is
the process's CPU time (all threads) during the clustering: on a busy shared machine it
says more than the wall time.

"scratch" clusters every face as on a first index. "+500" is a later index run: the
library's faces already carry their people (as a perfect earlier run left them; people seen
once stay unassigned) and 500 new faces of the same people and strangers arrive; only the
new faces search. "family/db" times the same through the database, as Library.index does
it (loading the faces, clustering, writing the assignments).

Goals (issue 13), on a 2-core machine: family (29,000 faces) from scratch <= 60 s and
<= 1 GB added memory; +500 faces <= 2 s; 100,000 faces from scratch <= 5 min.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "faces"))
from synthetic_people import pairwise_scores, synthetic_library  # noqa: E402

NEW_FACES = 500

# name -> (people x faces each, ...): the table, then the family libraries.
CASES = {
    "200x50": [(200, 50)],
    "500x100": [(500, 100)],
    "5x1000": [(5, 1000)],
    "5x2000": [(5, 2000)],
    "5x4000": [(5, 4000)],
    "family": [(5, 4000), (200, 20), (5000, 1)],
    "100k": [(10, 5000), (1000, 30), (20000, 1)],
}
QUICK = ["200x50", "5x1000"]


def machine() -> str:
    from index import machine as described  # benchmarks/index.py

    try:
        load = "load average %.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        load = "load unknown"
    return f"{described()}, {load}"


def library(case: str):
    sizes = [n for people, n in CASES[case] for _ in range(people)]
    return synthetic_library(sizes, extra=NEW_FACES, seed=0)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds() -> float:
    """User and system time of this process, all threads: on a busy shared machine the wall
    time says more about the neighbours than about the code."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one(case: str, mode: str, data: Path, old: bool = False) -> dict:
    """Runs in the subprocess: load the faces, cluster them, report."""
    from refldm_desktop.faces.cluster import cluster
    from refldm_plugin_dlib import DLIB_SPACE

    if old:
        from cluster_reference import cluster as reference

        def cluster(*args, search=None):  # the old one has no search hint: all free faces
            return reference(*args)

    z = np.load(data)
    emb, person, photo, extra = z["embeddings"], z["person"], z["photo"], int(z["extra"])
    fixed = [None if p < 0 else int(p) for p in z["fixed"]]
    n = len(person) - extra
    if mode == "scratch":
        emb, person, photo, fixed = emb[:n], person[:n], photo[:n], [None] * n
    m = len(person)
    search = None if mode == "scratch" else [i >= n for i in range(m)]
    if mode == "db":
        return one_db(emb, photo, fixed, n, person)
    base, cpu = rss_mib(), cpu_seconds()
    t = time.perf_counter()
    labels = cluster(DLIB_SPACE, emb, photo.tolist(), fixed, [frozenset()] * m, search=search)
    seconds, cpu = time.perf_counter() - t, cpu_seconds() - cpu
    precision, recall = pairwise_scores(labels, person)
    return dict(faces=m, seconds=seconds, cpu=cpu, added_mib=peak_mib() - base, precision=precision, recall=recall)


def one_db(emb, photo, fixed, n, person) -> dict:
    """The +500 run through the database, as Library.index's clustering step does it."""
    from sqlalchemy import insert

    from refldm_desktop.core import people
    from refldm_desktop.db.engine import open_database
    from refldm_desktop.db.models import AssignmentState, Face, FaceAssignment, Person, Photo
    from refldm_desktop.faces.cluster import cluster
    from refldm_plugin_dlib import DLIB_SPACE

    with tempfile.TemporaryDirectory() as tmp:
        engine, Session = open_database(Path(tmp) / "library.sqlite")
        with Session.begin() as s:
            s.execute(insert(Photo), [
                dict(id=int(p) + 1, path=f"/photos/{p}.jpg", size=1, mtime_ns=0, state="ok")
                for p in np.unique(photo)
            ])
            s.execute(insert(Person), [dict(id=p) for p in sorted({p for p in fixed if p is not None})])
            s.execute(insert(Face), [
                dict(id=i + 1, photo_id=int(photo[i]) + 1, x0=0.0, y0=0.0, x1=1.0, y1=1.0, score=1.0,
                     landmarks=b"", embedding=emb[i].tobytes(), backend="dlib",
                     model_id=DLIB_SPACE.model_id, needs_clustering=i >= n)
                for i in range(len(photo))
            ])
            s.execute(insert(FaceAssignment), [
                dict(face_id=i + 1, person_id=p, state=AssignmentState.SUGGESTED)
                for i, p in enumerate(fixed) if p is not None
            ])
        base, cpu = rss_mib(), cpu_seconds()
        t = time.perf_counter()
        with Session.begin() as s:
            result = people.recluster(s, DLIB_SPACE, cluster)
        seconds, cpu = time.perf_counter() - t, cpu_seconds() - cpu
        engine.dispose()
    return dict(faces=len(photo), seconds=seconds, cpu=cpu, added_mib=peak_mib() - base,
                assigned=result.faces_assigned, new_people=result.people_created)


def run(case: str, mode: str, tmp: Path, old: bool = False) -> dict:
    data = tmp / f"{case}.npz"
    if not data.exists():
        f = library(case)
        fixed = np.array([-1 if p is None else p for p in f.known_people()] + [-1] * f.extra)
        np.savez(data, embeddings=f.embeddings, person=f.person, photo=f.photo, extra=f.extra, fixed=fixed)
    out = subprocess.run(
        [sys.executable, __file__, "--one", case, mode, str(data)] + (["--old"] if old else []),
        capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins"), os.environ.get("PYTHONPATH", "")])},
    )
    if out.returncode != 0:
        sys.exit(f"{case} {mode} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="repeatable; default: all")
    ap.add_argument("--mode", action="append", choices=["scratch", "+500", "db"], help="default: all")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--old", action="store_true",
                    help="time the clustering before issue 13 (tests/faces/cluster_reference.py) instead")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        case, mode, data = args.one
        print(json.dumps(one(case, mode, Path(data), args.old)))
        return
    cases = args.case or (QUICK if args.quick else list(CASES))
    modes = args.mode or (["scratch", "+500"] if args.old else ["scratch", "+500", "db"])
    print(f"machine: {machine()}")
    print("clustering before issue 13" if args.old else "clustering of issue 13")
    print(f"{'case':<9} {'mode':<8} {'faces':>7} {'seconds':>8} {'cpu s':>8} {'added MiB':>10}  result")
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            for mode in modes:
                if mode == "db" and case != "family":
                    continue
                r = run(case, mode, Path(tmp), args.old)
                if "precision" in r:
                    extra = f"pairwise precision {r['precision']:.4f}, recall {r['recall']:.4f}"
                else:
                    extra = f"{r['assigned']} faces assigned, {r['new_people']} new people"
                print(f"{case:<9} {mode:<8} {r['faces']:>7} {r['seconds']:>8.2f} {r['cpu']:>8.2f} {r['added_mib']:>10.0f}  {extra}",
                      flush=True)


if __name__ == "__main__":
    main()
