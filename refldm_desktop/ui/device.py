"""What the status bar says about the device: which one restores, and how fast it was here.

The device is looked up once per session on a worker (importing torch takes seconds). The
speed is measured by the restores this machine has run: the median seconds per restored
face of the library's recent ReF-LDM jobs on that kind of device. Before any, it says so.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library

RECENT_JOBS = 20


def device_name() -> tuple[str, str]:
    """("cuda", "NVIDIA ...") or ("cpu", "CPU"); torch missing counts as the CPU."""
    try:
        import torch
    except ImportError:
        return "cpu", "CPU"
    if torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_name(0)
    return "cpu", "CPU"


def seconds_per_face(lib: "Library", kind: str) -> float | None:
    """Median wall time per restored face of recent ReF-LDM jobs on this kind of device."""
    from refldm_desktop.core.outcomes import FaceOutcome
    from refldm_desktop.db.models import JobState

    versions = {v.job_id: v for v in lib.jobs.versions() if v.job_id is not None and v.restorer == "refldm"}
    times = []
    for job in reversed(lib.jobs.list(states=(JobState.DONE,))):
        v = versions.get(job.id)
        if v is None or not (job.started_at and job.finished_at):
            continue
        if (kind == "cuda") != str(v.parameters.get("device", "")).startswith("cuda"):
            continue
        faces = sum(1 for f in v.face_status if FaceOutcome.from_json(f).restored)
        if faces:
            times.append((job.finished_at - job.started_at).total_seconds() / faces)
        if len(times) >= RECENT_JOBS:
            break
    return statistics.median(times) if times else None


def describe(lib: "Library") -> str:
    kind, name = device_name()
    speed = seconds_per_face(lib, kind)
    if speed is None:
        return f"{name}: speed not measured yet (after the first restore)"
    return f"{name}: about {speed:.0f} s per face on this machine"
