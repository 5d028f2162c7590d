"""What the status bar says about the device: which one restores, and how fast it was here.

Which device: found once by a child process that imports torch (seconds of work that, done
on a thread of the app, held the GIL and froze the window), then kept in
`home/cache/device.json` with the installed torch's version, so later starts read one small
file. A failed probe is not stored there (the next start tries again), but describe() keeps
its answer for the rest of the session, so the re-measures after every restore do not start
the probe again; describe(lib, probe_again=True) asks afresh (the label's "Look up the device
again"). How fast: the median seconds per restored face of the library's recent ReF-LDM jobs on
that kind of device; before the first one it says it is not measured yet.

The probe is background work nobody waits for: the window asks for it only when idle
(AppContext.when_idle), its child runs at the lowest priority, and one runs at a time (a
second caller waits for its answer). Closing the app ends a probe still running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library

RECENT_JOBS = 20
PROBE_TIMEOUT_S = 120

_PROBE = """
import json
import os
if hasattr(os, "nice"):
    os.nice(19)  # importing torch takes seconds of CPU: let a scrolling window have the cores
try:
    import torch
except ImportError:
    print(json.dumps(["cpu", "CPU"]))
else:
    cuda = torch.cuda.is_available()
    print(json.dumps(["cuda", torch.cuda.get_device_name(0)] if cuda else ["cpu", "CPU"]))
"""


def _torch_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return ""


class ProbeStopped(Exception):
    """The app closed while the probe ran: there is no answer, and none is remembered."""


def _run_probe(cancelled: Callable[[], bool]) -> str:
    """The probe child's output. The child is ended when `cancelled()` turns true (the app
    is closing: its thread must not outlive the window, waiting seconds for torch)."""
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    with subprocess.Popen([sys.executable, "-c", _PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as child:
        while True:
            try:
                out, err = child.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                stop = cancelled()
                if stop or time.monotonic() > deadline:
                    child.kill()
                    child.communicate()
                    if stop:
                        raise ProbeStopped() from None
                    raise
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, child.args, out, err)
    return out


def device_name(cache_dir: Path | None = None, fresh: bool = False,
                cancelled: Callable[[], bool] = lambda: False) -> tuple[str, str]:
    """("cuda", "NVIDIA ...") or ("cpu", "CPU"); no torch, or a failed probe, is the CPU.
    `fresh`: probe even when an answer is stored (and store the new one). Raises
    ProbeStopped when `cancelled()` turns true while the probe runs."""
    version = _torch_version()
    if not version:
        return "cpu", "CPU"
    stored = cache_dir / "device.json" if cache_dir is not None else None
    if stored is not None and not fresh:
        try:
            data = json.loads(stored.read_text())
            if data.get("torch") == version and data.get("kind") in ("cpu", "cuda"):
                return data["kind"], str(data["name"])
        except (OSError, ValueError, AttributeError, KeyError):
            pass  # missing or damaged: probe again
    try:
        out = _run_probe(cancelled)
        kind, name = json.loads(out.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return "cpu", "CPU"  # not stored: the next start tries again
    if stored is not None:
        try:
            stored.parent.mkdir(parents=True, exist_ok=True)
            tmp = stored.with_name(f".device.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"torch": version, "kind": kind, "name": name}))
            os.replace(tmp, stored)
        except OSError:
            pass  # an unwritable cache only costs the probe next time
    return kind, name


def seconds_per_face(lib: "Library", kind: str) -> float | None:
    """Median wall time per restored face of recent ReF-LDM jobs on this kind of device."""
    import statistics

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


# What device_name() answered this session, per cache folder: a failed probe too.
_known: dict[Path | None, tuple[str, str]] = {}
_probing = threading.Lock()  # one probe at a time: the re-measures after a batch's bursts


def describe(lib: "Library", probe_again: bool = False, cancelled: Callable[[], bool] = lambda: False) -> str:
    """The label's text. `probe_again`: forget the stored device and probe once more.
    `cancelled`: see device_name."""
    home = getattr(lib, "home", None)
    cache_dir = getattr(home, "cache", None)
    with _probing:
        if probe_again or cache_dir not in _known:
            _known[cache_dir] = device_name(cache_dir, fresh=probe_again, cancelled=cancelled)
        kind, name = _known[cache_dir]
    speed = seconds_per_face(lib, kind)
    if speed is None:
        return f"{name}: speed not measured yet (the first restore measures it)"
    return f"{name}: about {speed:.0f} s per face on this machine"
