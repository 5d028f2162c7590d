"""What the job machinery costs per photo, apart from the work itself: queueing, claiming,
progress writes, staging the output and recording the Version, with a handler that does
nothing but report 50 steps and write a small file.

    python benchmarks/jobs_queue.py [--photos 500]

Goal: a few milliseconds per photo, negligible next to a restoration (seconds per face).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=500)
    args = ap.parse_args()

    from refldm_desktop.core.home import Home
    from refldm_desktop.core.library import Library
    from refldm_desktop.jobs.queue import JobResult, VersionRecord
    from refldm_desktop.jobs.runner import HandlerRegistry

    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home")
        out = Path(tmp) / "out"
        with Library.open(home, backend="none") as lib:
            # Photo rows straight into the database: indexing is not what is timed here.
            with sqlite3.connect(home.database) as raw:
                raw.executemany(
                    "INSERT INTO photos (path, size, mtime_ns, state, indexed_at, content_hash) "
                    "VALUES (?, 1, 1, 'ok', '2024-01-01', ?)",
                    [(f"/photos/{i:06d}.jpg", f"{i:064x}") for i in range(args.photos)],
                )
            ids = [p.id for p in lib.photos()]

            t0 = time.perf_counter()
            lib.jobs.enqueue_restore(ids, output_dir=out, batch_id="bench")
            t_enqueue = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = lib.jobs.enqueue_restore(ids, output_dir=out, batch_id="bench")
            t_requeue = time.perf_counter() - t0
            assert not again.queued

            def handler(ctx):
                ctx.progress(faces_done=0, faces_total=1, steps=50)
                for step in range(50):
                    ctx.check_cancelled()
                    ctx.progress(step=step + 1)
                data = f"photo {ctx.photo_id}".encode()
                sha = ctx.stage_output(out, data)
                out.mkdir(exist_ok=True)
                path = out / f"{ctx.photo_id}.txt"
                path.write_bytes(data)
                return JobResult(version=VersionRecord(path, sha, "bench", parameters={"steps": 50}))

            t0 = time.perf_counter()
            summary = lib.jobs.run(HandlerRegistry({"restore_photo": handler}))
            t_run = time.perf_counter() - t0
            assert len(summary.done) == args.photos
            t0 = time.perf_counter()
            listed = lib.jobs.list(all=True)
            t_list = time.perf_counter() - t0

    n = args.photos
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"enqueue {n} photos: {t_enqueue * 1000:.0f} ms ({t_enqueue / n * 1000:.2f} ms/photo)")
    print(f"enqueue the same batch again (nothing new): {t_requeue * 1000:.0f} ms")
    print(f"run {n} jobs (claim, 51 progress calls, stage, write, version): "
          f"{t_run / n * 1000:.2f} ms/photo")
    print(f"list {len(listed)} jobs: {t_list * 1000:.0f} ms")


if __name__ == "__main__":
    main()
