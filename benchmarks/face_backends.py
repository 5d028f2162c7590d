"""Face backend figures on the shared real photos: detection counts and time per photo,
and how far apart the dlib embeddings of same and different people lie.

    python benchmarks/face_backends.py [--faces DIR] [--detector hog|cnn]

Prints the machine, then one line per photo (faces found / counted, seconds), then the
distance distributions and the pairwise precision/recall of clustering across a band of
thresholds around the one the embedding space uses. Nothing is written.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "contracts"))
from face_photos import load_rgb  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "data" / "faces")
    ap.add_argument("--detector", choices=("hog", "cnn"), default="hog")
    args = ap.parse_args()
    if not (args.faces / "MANIFEST.csv").is_file():
        print(f"no photos: {args.faces / 'MANIFEST.csv'} is absent", file=sys.stderr)
        return 2

    from refldm_desktop.faces.cluster import cluster
    from refldm_plugin_dlib import DlibBackend

    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    backend = DlibBackend(detector=args.detector)
    ok, reason = backend.available()
    if not ok:
        print(reason, file=sys.stderr)
        return 2
    backend.detect(np.zeros((64, 64, 3), np.uint8))  # load the models outside the timings

    with open(args.faces / "MANIFEST.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    times, emb, truth = [], [], []
    counted = found = extra = 0
    for r in rows:
        image = load_rgb(args.faces / r["path"])
        start = time.perf_counter()
        faces = backend.detect(image)
        seconds = time.perf_counter() - start
        times.append(seconds)
        n_visible = int(r["n_faces_visible"])
        counted += n_visible
        found += min(n_visible, len(faces))
        extra += max(0, len(faces) - n_visible)
        h, w = image.shape[:2]
        print(f"{r['path']:48s} {w:5d}x{h:<5d} faces {len(faces):2d}/{n_visible:<2d} {seconds:6.3f} s")
        if r["path"].startswith("identities/") and len(faces) == 1:
            emb.append(faces[0].embedding)
            truth.append(r["identity"])
    print(
        f"\n{len(rows)} photos: found {found} of {counted} counted faces, {extra} extra; "
        f"seconds per photo: median {statistics.median(times):.3f}, mean {statistics.mean(times):.3f}, "
        f"max {max(times):.3f}, total {sum(times):.1f}"
    )

    space = backend.space
    e = np.array(emb)
    d = space.distance(e, e)
    iu = np.triu_indices(len(e), 1)
    same = (np.array(truth)[:, None] == np.array(truth)[None, :])[iu]
    within, between = d[iu][same], d[iu][~same]
    q = lambda a, p: float(np.percentile(a, p))  # noqa: E731
    print(f"\n{space.model_id}: same_person = {space.same_person} ({space.metric})")
    print(
        f"same person ({within.size} pairs):      median {q(within, 50):.3f}  p95 {q(within, 95):.3f}  "
        f"max {within.max():.3f}"
    )
    print(
        f"different people ({between.size} pairs): min {between.min():.3f}  p1 {q(between, 1):.3f}  "
        f"p5 {q(between, 5):.3f}  median {q(between, 50):.3f}"
    )
    n = len(truth)
    print("\nthreshold  precision  recall")
    for t in np.round(np.arange(space.same_person - 0.125, space.same_person + 0.126, 0.025), 3):
        labels = cluster(replace(space, same_person=float(t)), e, list(range(n)), [None] * n, [frozenset()] * n)
        tp = fp = fn = 0
        for i, j in itertools.combinations(range(n), 2):
            s, together = truth[i] == truth[j], labels[i] is not None and labels[i] == labels[j]
            tp, fp, fn = tp + (s and together), fp + (together and not s), fn + (s and not together)
        mark = "  <- used" if abs(t - space.same_person) < 1e-9 else ""
        print(f"{t:9.3f}  {tp / max(tp + fp, 1):9.3f}  {tp / max(tp + fn, 1):6.3f}{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
