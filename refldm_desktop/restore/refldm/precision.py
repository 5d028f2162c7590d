"""`--precision auto`: bf16 only where it was measured faster than fp32 here, and close enough.

Whether bf16 pays depends on the device: an H200 runs it faster, while a CPU without AMX
can be slower in bf16 than in fp32 (measured on a 2-core AVX-512 VM: 50.5 s vs 35.2 s per
face). So the first `auto` restore on a device times a short restore in both precisions on
the same synthetic face and references, compares the outputs (PSNR), and picks bf16 only if
it was faster AND within MIN_PSNR_DB of fp32. The trial is stored in the home's cache, keyed
by the device, the torch version and the model's weights, and reused by every later run:
it is measured once per device, not per run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from refldm_desktop.restore.metrics import psnr

log = logging.getLogger(__name__)

MIN_PSNR_DB = 35.0
TRIAL_STEPS = 4  # enough denoising steps to time the loop, few enough to do once per device
TRIAL_REFS = 2
STORE_VERSION = 2  # 2: fp32 on the CPU got faster (winograd.py), so earlier trials are stale


@dataclass(frozen=True)
class PrecisionTrial:
    """Seconds of the same short restore in fp32 and in bf16, and the PSNR between them."""

    fp32_s: float
    bf16_s: float
    psnr_db: float


def choose(trial: PrecisionTrial) -> str:
    """bf16 when it was faster and its output within MIN_PSNR_DB of fp32's; fp32 otherwise."""
    if trial.bf16_s < trial.fp32_s and trial.psnr_db >= MIN_PSNR_DB:
        return "bf16"
    return "fp32"


def device_name(device) -> str:
    """What decides the speed: the CPU model or the GPU, and the torch build."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        what = torch.cuda.get_device_name(dev)
    else:
        what = _cpu_model()
    return f"{dev.type}:{what}|torch {torch.__version__}|threads {torch.get_num_threads()}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


class PrecisionStore:
    """Trials kept in one small JSON file; unreadable or foreign content counts as none."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != STORE_VERSION or not isinstance(data.get("trials"), dict):
            return {}
        return data

    def get(self, key: str) -> PrecisionTrial | None:
        entry = self._read().get("trials", {}).get(key)
        try:
            trial = PrecisionTrial(float(entry["fp32_s"]), float(entry["bf16_s"]), float(entry["psnr_db"]))
        except (TypeError, KeyError, ValueError):
            return None
        return trial if math.isfinite(trial.fp32_s) and math.isfinite(trial.bf16_s) else None

    def put(self, key: str, trial: PrecisionTrial) -> None:
        from refldm_desktop.library.atomic import write_atomic

        data = self._read() or {"version": STORE_VERSION, "trials": {}}
        data["trials"][key] = {**asdict(trial), "choice": choose(trial)}
        write_atomic(self.path, json.dumps(data, indent=1).encode())


def auto_precision(store: PrecisionStore | None, key: str, measure: Callable[[], PrecisionTrial]) -> str:
    """The stored choice for `key`, or measure it once now and store it."""
    trial = store.get(key) if store is not None else None
    if trial is None:
        trial = measure()
        log.info("precision trial on %s: fp32 %.2f s, bf16 %.2f s, PSNR %.1f dB -> %s",
                 key, trial.fp32_s, trial.bf16_s, trial.psnr_db, choose(trial))
        if store is not None:
            try:
                store.put(key, trial)
            except OSError as exc:  # a read-only home: measure again next time, restore anyway
                log.warning("cannot keep the precision trial in %s: %s", store.path, exc)
    return choose(trial)


def store_in(cache: str | Path) -> Path:
    """The trials' file in a home's cache folder (where the reference latents are kept too)."""
    return Path(cache) / "precision.json"


def measure(model_dir: str | Path, device: str, steps: int = TRIAL_STEPS) -> PrecisionTrial:
    """Time one restore (LQ encode, `steps` guided steps, decode) per precision, references
    prepared beforehand, on smooth synthetic faces; one model in memory at a time."""
    import gc

    import torch

    from refldm_desktop.restore.refldm.model import RefLDM

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        return PrecisionTrial(1.0, math.inf, 0.0)  # no bf16 here: fp32
    outputs, seconds = {}, {}
    for precision in ("fp32", "bf16"):
        model = RefLDM.load(model_dir, device=device, precision=precision)
        size = model.config.image_size
        lq, refs = synthetic_faces(1, size, 1), synthetic_faces(TRIAL_REFS, size, 2)
        cache = model.encode_references(refs)
        if dev.type == "cuda":  # kernel selection on the first call is not the precision's cost
            model.restore(lq, cache, steps=1, seed=0)
        _sync(dev)
        start = time.perf_counter()
        outputs[precision] = model.restore(lq, cache, steps=steps, cfg=1.5, seed=0)
        _sync(dev)
        seconds[precision] = time.perf_counter() - start
        del model, cache
        gc.collect()
    return PrecisionTrial(seconds["fp32"], seconds["bf16"], psnr(outputs["fp32"], outputs["bf16"]))


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def synthetic_faces(n: int, size: int, seed: int) -> np.ndarray:
    """`n` smooth colour fields (uint8, n x size x size x 3), the same for the same seed:
    like faces, no pixel-level noise for bf16 to amplify (the trials and the benchmarks)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return np.stack([
        np.asarray(Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(
            (size, size), Image.Resampling.BICUBIC))
        for _ in range(n)
    ])


# Below this crop size (the test models) a trial times Python overhead, not arithmetic: fp32.
MIN_TRIAL_RESOLUTION = 256


def resolve(precision: str, model_dir: str | Path, device: str, store_path: str | Path | None,
            model_version: str, resolution: int) -> str:
    """`precision` itself, or for "auto" the measured choice for this device and model."""
    if precision != "auto":
        return precision
    if resolution < MIN_TRIAL_RESOLUTION:
        return "fp32"
    from refldm_desktop.restore.refldm.model import resolve_device

    dev = str(resolve_device(device))
    store = PrecisionStore(store_path) if store_path else None
    key = f"{device_name(dev)}|{model_version}"
    return auto_precision(store, key, lambda: measure(model_dir, dev))


def resolve_stored(precision: str, model_dir: str | Path, device: str, store_path: str | Path | None) -> str:
    """resolve() for a model of the store, reading its config and version from its manifest."""
    if precision != "auto":
        return precision
    from refldm_desktop.restore.refldm.store import UNET_FILE, open_model

    stored = open_model(Path(model_dir), verify=False)
    version = str(stored.manifest.get("files", {}).get(UNET_FILE, {}).get("sha256", ""))[:12]
    return resolve(precision, model_dir, device, store_path, f"{Path(model_dir).name}@{version}",
                   int(stored.config.image_size))
