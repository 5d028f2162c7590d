"""What the identity guard costs per face, next to what the model costs per face.

    python benchmarks/identity_guard.py                    # 12 faces, model timed at 2 and 4 steps
    python benchmarks/identity_guard.py --faces 40 --model-steps 50 --device cuda

The guard: the face backend (dlib by default, as the library uses) embeds the aligned crop
the restorer was given and the one it returned (resized to restore.identity.GUARD_CROP),
and the distances to five known faces are compared. Crops come from the real photos of
../shared/data/faces (the "restored" crop is a slightly changed copy, so both are embedded).

The model: ReF-LDM's full-size architecture with random weights (as benchmarks/
restore_face.py), one face with one reference, timed at two step counts; the time at
--model-steps is extrapolated linearly (each DDIM step costs the same), unless the two
counts are the same. The goal is a guard under 10% of the model's time per face.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins")]
FACES = REPO.parent / "shared" / "data" / "faces"


def face_crops(backend, n: int, size: int) -> list[np.ndarray]:
    from refldm_desktop.faces.align import ffhq_transform, warp_to_crop
    from refldm_desktop.library.imageio import load_rgb

    crops: list[np.ndarray] = []
    for path in sorted((FACES / "identities").rglob("*.jp*g")):
        image = load_rgb(path)[0]
        for f in backend.detect(image):
            crops.append(warp_to_crop(image, ffhq_transform(f.landmarks, size)))
        if len(crops) >= n:
            break
    return crops[:n]


def time_guard(backend_name: str, n: int, size: int) -> dict:
    from refldm_desktop.core.plugins import Registry
    from refldm_desktop.restore.identity import IdentityGuard

    backend = Registry("refldm_desktop.face_backends").create(backend_name)
    guard = IdentityGuard(backend)
    crops = face_crops(backend, n, size)
    rng = np.random.default_rng(0)
    known = rng.normal(size=(5, backend.space.dim)).astype(np.float32) * 0.05
    # A restorer's output is never the input: add a little noise so both are embedded.
    restored = [np.clip(c.astype(int) + rng.integers(-3, 4, c.shape), 0, 255).astype(np.uint8) for c in crops]
    guard.check(crops[0], restored[0], known, "references")  # loads the backend's models
    t0 = time.perf_counter()
    verdicts = [guard.check(c, r, known, "references").verdict for c, r in zip(crops, restored)]
    dt = (time.perf_counter() - t0) / len(crops)
    return {"backend": backend_name, "faces": len(crops), "crop": size, "guard_s_per_face": dt,
            "no_face": verdicts.count("no_face")}


def time_model(device: str, steps: tuple[int, int], target: int, precision: str) -> dict:
    import torch
    from diffusers import UNet2DModel, VQModel

    from refldm_desktop.restore.refldm.config import DEFAULT_CONFIG as cfg
    from refldm_desktop.restore.refldm.model import RefLDM, resolve_device

    dev = resolve_device(device)
    torch.manual_seed(0)
    with torch.device(dev):
        unet, vq = UNet2DModel(**cfg.unet_kwargs()), VQModel(**cfg.vq_kwargs())
    model = RefLDM.from_state_dicts(cfg, unet.state_dict(), vq.state_dict(), dev, precision)
    del unet, vq
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 256, (1, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
    lq = rng.integers(0, 256, (1, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)

    def once(n: int) -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.restore(lq, model.encode_references(ref), steps=n, cfg=1.5, seed=0)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    if dev.type == "cuda":
        once(2)  # kernel selection
    a, b = steps
    ta = once(a)
    tb = ta if b == a else once(b)
    per_step = 0.0 if b == a else (tb - ta) / (b - a)
    at_target = ta + per_step * (target - a)
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "precision": precision, "measured": {a: ta, b: tb}, "steps": target,
        "model_s_per_face": at_target, "extrapolated": target not in (a, b),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=12)
    ap.add_argument("--backend", default="dlib")
    ap.add_argument("--crop", type=int, default=512, help="the restorer's crop size (ReF-LDM: 512)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--model-steps", type=int, default=50, help="steps the model is judged at (default 50)")
    ap.add_argument("--timed-steps", type=int, nargs=2, default=(2, 4), metavar=("A", "B"),
                    help="step counts actually timed (default 2 4; give the same number twice to time one)")
    ap.add_argument("--model-seconds", type=float, help="skip timing the model: seconds per face")
    args = ap.parse_args()
    if not (FACES / "MANIFEST.csv").is_file():
        raise SystemExit(f"{FACES} is absent: the benchmark needs the shared face photos")
    guard = time_guard(args.backend, args.faces, args.crop)
    print(json.dumps(guard), flush=True)
    if args.model_seconds is not None:
        model = {"model_s_per_face": args.model_seconds, "device": "given", "steps": args.model_steps}
    else:
        model = time_model(args.device, tuple(args.timed_steps), args.model_steps, args.precision)
    print(json.dumps(model), flush=True)
    share = guard["guard_s_per_face"] / model["model_s_per_face"]
    how = (f"extrapolated from {args.timed_steps[0]} and {args.timed_steps[1]} steps"
           if model.get("extrapolated") else "measured")
    print(
        f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"guard ({args.backend}) {guard['guard_s_per_face'] * 1000:.0f} ms per face; model "
        f"{model['model_s_per_face']:.2f} s per face at {model['steps']} steps, CFG 1.5 ({how}) on {model['device']}; "
        f"guard = {share:.1%} of the model (goal <= 10%)"
    )


if __name__ == "__main__":
    main()
