"""The authors' ReF-LDM code timed on this machine, the baseline that restore_face.py is compared with.

    python benchmarks/authors_face.py --authors PATH [--refs 4] [--steps 20] [--cfg 1.5] [--size 512]
    python benchmarks/restore_face.py --refs 4 --steps 20 --stored-latents --authors PATH

PATH is a checkout of github.com/ChiWeiHsiao/ref-ldm (the golden data came from commit af6690c)
that the user provides; nothing of it is copied here. Its Python needs (omegaconf, einops,
pytorch_lightning, and taming's VectorQuantizer2, e.g. from the taming-transformers-rom1504
package) must be importable, for instance from a virtual environment made with
--system-site-packages: pass its interpreter with --python. Without a checkout the script
says so and exits 0, so it never fails a run that has none.

What is timed, in a fresh process: the full-size model from the checkout's configs/refldm.yaml
with seeded random weights (no checkpoints; the layers the authors zero-initialise get small
random weights, so that no pass works on zeros), fp32, on the CPU, one face as their
inference.py runs it: VQ-encode the LQ face and the references side by side
(get_learned_conditioning), DDIM with guidance under the EMA weights (their first step also
saves the references' keys/values), decode. Reported: `s_per_face` (all of that), `refs_s` (the
conditioning encode), `sample_s`, `decode_s`, `first_step_s`, `step_s` and `step_cpu_s`, CPU
seconds, load, peak RSS. A step is timed as restore_face.py times ours: from the end of one
DDIM step to the end of the next (the sampler's per-step callback), so it holds the guided
UNet call (the unconditional and conditional branch as one batch of 2), the guidance mix, the
DDIM update and the loop's own work; `step_s` is the median over all steps but the first
(which also saves the references' keys/values; `first_step_s` is that one, from the start of
sampling). `--size` (default 512, the model's) only makes a quick check of the script cheap:
its times are not comparable with anything.

Two import lines of that code do not load with current libraries; the child provides them
without touching the checkout: `pytorch_lightning.utilities.distributed.rank_zero_only`
(moved to `utilities.rank_zero` in Lightning 1.8) and `torchvision.utils.make_grid` (used
only for training image logs; stubbed when torchvision is absent).

Measured on the shared 2-core AMD EPYC (Zen 3, AVX2) VM, torch 2.13.0+cpu, 2 threads, 4
references, 20 steps, CFG 1.5, fp32, at load 12.5 (other engineers' tests running): 1249 s
wall, 373 s CPU per face (references 75 s, sampling 276 s, decode 22 s of CPU), peak 5.98 GiB
(the issue's 92.9 s came from an AVX-512 CPU, quiet). That run timed the guided UNet call
alone (12.4 s of CPU), not yet the whole step. restore_face.py's docstring has ours beside it
at the same load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _provide_moved_imports() -> None:
    """Make the two stale imports of the authors' ddpm.py resolve (see the module docstring)."""
    import importlib

    try:
        importlib.import_module("pytorch_lightning.utilities.distributed")
    except ImportError:
        from pytorch_lightning.utilities.rank_zero import rank_zero_only

        shim = types.ModuleType("pytorch_lightning.utilities.distributed")
        shim.rank_zero_only = rank_zero_only
        sys.modules[shim.__name__] = shim
    try:
        importlib.import_module("torchvision.utils")
    except ImportError:
        def make_grid(*_a, **_k):
            raise RuntimeError("torchvision is not installed (make_grid is used only for training logs)")

        pkg, utils = types.ModuleType("torchvision"), types.ModuleType("torchvision.utils")
        utils.make_grid, pkg.utils = make_grid, utils
        sys.modules["torchvision"], sys.modules["torchvision.utils"] = pkg, utils


def _images(n: int, seed: int, size: int):
    """The same smooth faces restore_face.py uses, as [n, 3, size, size] in [-1, 1]."""
    import torch

    sys.path.insert(0, str(HERE))
    from restore_face import smooth_images

    return torch.from_numpy(smooth_images(n, size, seed)).permute(0, 3, 1, 2) / 127.5 - 1.0


def run_one(spec: dict) -> dict:
    """Child process: build the authors' model from the checkout, time one face."""
    import resource

    import torch

    checkout = Path(spec["authors"]).resolve()
    os.chdir(checkout)
    sys.path.insert(0, str(checkout))
    _provide_moved_imports()
    from omegaconf import OmegaConf

    from ldm.models.diffusion.ddim import DDIMSampler
    from ldm.util import instantiate_from_config

    config = OmegaConf.load(checkout / "configs" / "refldm.yaml").model
    for key in ("ckpt_path", "perceptual_loss_config", "ignore_keys"):
        config.params.pop(key, None)
    config.params.first_stage_config.params.pop("ckpt_path", None)
    torch.manual_seed(0)
    model = instantiate_from_config(config)
    with torch.no_grad():  # zero-initialised layers (output convs) get small random weights
        for p in model.parameters():
            if p.dim() > 1 and not p.any():
                p.normal_(0.0, 0.02)
    if getattr(model, "use_ema", False):  # the EMA copy was taken at construction: take it again
        model.model_ema = type(model.model_ema)(model.model)
    model.eval()
    torch.set_grad_enabled(False)

    size = spec.get("size", 512)  # the model's own size: image_size latents of 1/8 the pixels
    lq = _images(1, 2, size)
    refs = _images(spec["refs"], 1, size)
    latent = model.image_size * size // 512
    shape = [model.model.diffusion_model.out_channels, latent, latent]
    torch.manual_seed(2024)
    x_t = torch.randn([1, *shape])
    ticks: list[tuple[float, float]] = []  # (wall, cpu) as each step ends, as restore_face.py's

    def tick(_i) -> None:
        ticks.append((time.perf_counter(), time.process_time()))

    sampler = DDIMSampler(model, print_tqdm=False, schedule="uniform_trailing")

    t0, c0 = time.perf_counter(), time.process_time()
    c = model.get_learned_conditioning({"lq_image": lq, "ref_image": torch.cat(list(refs), dim=-1)[None]})
    uc = None
    if spec["cfg"] != 1.0:
        uc = {k: v.detach().clone() for k, v in c.items()}
        uc["ref_image"] *= 0
    t1, c1 = time.perf_counter(), time.process_time()
    import contextlib
    import io

    with model.ema_scope(), contextlib.redirect_stdout(io.StringIO()):  # it prints its timesteps
        latent, _ = sampler.sample(S=spec["steps"], unconditional_guidance_scale=spec["cfg"], conditioning=c,
                                   unconditional_conditioning=uc, shape=shape, x_T=x_t, batch_size=1,
                                   verbose=False, callback=tick)
    t2, c2 = time.perf_counter(), time.process_time()
    step_wall = [b[0] - a[0] for a, b in itertools.pairwise(ticks)]
    step_cpu = [b[1] - a[1] for a, b in itertools.pairwise(ticks)]
    image = ((model.decode_first_stage(latent) + 1.0) / 2.0).clamp(0.0, 1.0)
    t3, c3 = time.perf_counter(), time.process_time()
    assert torch.isfinite(image).all()
    return {
        "code": "authors", "checkout": str(checkout), "refs": spec["refs"], "steps": spec["steps"],
        "cfg": spec["cfg"], "precision": "fp32", "device": f"cpu ({torch.get_num_threads()} threads)",
        "size": size, "s_per_face": t3 - t0, "refs_s": t1 - t0, "sample_s": t2 - t1, "decode_s": t3 - t2,
        "first_step_s": ticks[0][0] - t1 if ticks else None,
        "step_s": statistics.median(step_wall) if step_wall else None,
        "step_cpu_s": statistics.median(step_cpu) if step_cpu else None,
        "cpu_s": c3 - c0, "refs_cpu_s": c1 - c0, "sample_cpu_s": c2 - c1, "decode_cpu_s": c3 - c2,
        "load_avg_1min": os.getloadavg()[0],
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def time_authors(checkout: Path, refs: int, steps: int, cfg: float, python: str | None = None,
                 size: int = 512) -> dict:
    """Run one timed face of the authors' code in a new process; returns its JSON record."""
    spec = {"authors": str(checkout), "refs": refs, "steps": steps, "cfg": cfg, "size": size}
    cmd = [python or sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(spec)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"the authors' code failed in {checkout}:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def check_checkout(path: Path | None) -> str | None:
    """Why `path` cannot be timed, or None when it looks like a ref-ldm checkout."""
    if path is None:
        return "no checkout of the authors' code given (--authors PATH): skipped"
    if not (path / "configs" / "refldm.yaml").is_file() or not (path / "ldm" / "models" / "diffusion").is_dir():
        return f"{path} is not a checkout of ChiWeiHsiao/ref-ldm (no configs/refldm.yaml or ldm/): skipped"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--authors", type=Path, help="a checkout of github.com/ChiWeiHsiao/ref-ldm")
    ap.add_argument("--python", help="the interpreter that has its dependencies (default: this one)")
    ap.add_argument("--refs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=1.5)
    ap.add_argument("--size", type=int, default=512,
                    help="face size in pixels, a multiple of 64; below 512 only to check the script quickly")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "authors_face.json")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    why = check_checkout(args.authors)
    if why:
        print(why)
        return
    r = time_authors(args.authors, args.refs, args.steps, args.cfg, args.python, args.size)
    print(f"authors' code: {r['s_per_face']:.1f} s per face (refs {r['refs_s']:.1f} + sample {r['sample_s']:.1f} "
          f"+ decode {r['decode_s']:.1f}), DDIM step {r['step_s'] or float('nan'):.2f} s "
          f"(cpu {r['step_cpu_s'] or float('nan'):.2f} s), "
          f"cpu {r['cpu_s']:.1f} s, load {r['load_avg_1min']:.1f}, peak {r['peak_gib']:.2f} GiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
