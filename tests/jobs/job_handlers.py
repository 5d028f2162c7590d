"""Test handlers for the job runner, importable by a subprocess (tests/jobs on sys.path).

`write_output` behaves like the photo pipeline will: it works a while (checking for cancel),
then writes its output the way library.output does (hidden temp file in the destination,
flushed, then linked under the first free "NAME (restored).txt" name, never overwriting),
staging the bytes first so an interrupted attempt can be cleaned up.
"""

from __future__ import annotations

import hashlib
import os
import signal
import tempfile
import time
from pathlib import Path

from refldm_desktop.jobs.queue import JobResult, VersionRecord

OUTPUT_SIZE = 64 * 1024


def output_bytes(photo_id: int, attempt: int) -> bytes:
    """Content that names its photo; a half-written file is recognisably incomplete."""
    head = f"photo {photo_id} attempt {attempt}\n".encode()
    body = (head * (OUTPUT_SIZE // len(head) + 1))[: OUTPUT_SIZE - 4]
    return body + b"END\n"


def _log(ctx, line: str) -> None:
    log = ctx.payload.get("options", {}).get("log")
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")
            f.flush()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # never reached


def write_output(ctx) -> JobResult:
    pid = ctx.photo_id
    _log(ctx, f"start {ctx.id} photo {pid} attempt {ctx.attempt}")
    out_dir = Path(ctx.payload["output_dir"])
    work = float(ctx.payload.get("options", {}).get("work_s", 0.0))
    die = ctx.payload.get("options", {}).get("die")
    ticks = max(1, int(work / 0.02))
    ctx.progress(faces_done=0, faces_total=1, steps=ticks)
    for i in range(ticks):
        ctx.check_cancelled()
        time.sleep(work / ticks)
        ctx.progress(step=i + 1)
    data = output_bytes(pid, ctx.attempt)
    sha = ctx.stage_output(out_dir, data)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".refldm-", suffix=".part", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            if die == "during_write" and ctx.attempt == 1:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
                _die()
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        stem = f"photo{pid}"
        names = [f"{stem} (restored).txt"] + [f"{stem} (restored {i}).txt" for i in range(2, 100)]
        final = None
        for name in names:
            try:
                os.link(tmp, out_dir / name)
            except FileExistsError:
                continue
            final = out_dir / name
            break
        assert final is not None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if die == "after_write" and ctx.attempt == 1:
        _die()
    _log(ctx, f"wrote {ctx.id} {final.name}")
    return JobResult(
        version=VersionRecord(
            output_path=final,
            output_sha256=sha,
            restorer="test-writer",
            model="none",
            parameters={"work_s": work},
            seed=ctx.payload.get("seed"),
            references_used=[{"face_id": 1, "references": [2, 3]}],
            face_status=[{"face_id": 1, "box": [0, 0, 1, 1], "person_id": 1, "status": "restored"}],
        ),
        summary={"faces": 1},
    )


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
