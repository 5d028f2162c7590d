"""Where the time of a later face goes on the CPU: full-size architecture, random weights.

A later face of a person has its references' keys/values cached already, so what it costs
is: the LQ crop's VQ encode, one UNet call per step (a batch [uncond, cond] with CFG), the
VQ decode. Paste-back is timed by benchmarks/restore_photo.py (tens of ms per face).

    python benchmarks/profile_face.py --profile --floor     # timings, profile and overhead floor
    python benchmarks/profile_face.py --variants default,plain --threads 1 --phases unet_pass_guided
    python benchmarks/profile_face.py --phases ref_encode,ref_pass --repeat 1 --profile  # a first face's extra

Variants (timed alternately, call by call, so that a shared machine's load falls on all
alike): default (the model as it loads), plain (cpu_packing=False: no packed convolutions,
NCHW activations), direct (winograd=False: no Winograd 3x3 convolutions, winograd.py), winograd
(winograd=True: the default since it was turned on; for code from before that).

It reports, each as a median over --repeat runs with wall and CPU seconds (process_time, all
threads) and the load average, since the machine may be shared:
- the phases of one face: LQ encode, one guided UNet pass, decode; on request, what a
  person's first face adds: the references' strip VQ-encoded (`ref_encode`) and the UNet's
  reference pass from their latents (`ref_pass`);
- the UNet pass with plain self-attention (the processors off): the reference attention's
  extra cost is the difference;
- the same UNet at an 8x8 latent (1/64 of the arithmetic): a floor for the per-pass cost
  that is not arithmetic (Python, module calls, dispatch, per-call weight reorders);
- a torch.profiler breakdown of each phase by kind of operator: convolution, matrix
  products, attention, normalisation, element-wise, copies and layout changes, and the rest
  of the wall time (Python and framework), with the convolutions' and matmuls' GFLOP/s.

Tried on the shared 2-core AMD EPYC VM (Zen 3, AVX2), torch 2.13.0+cpu, while the load was
6-13: variants alternated call by call, 1 thread, medians of CPU seconds (the wall times were
up to 10x those; a median moved by 5-10% between runs of the same code):
- lean residual blocks (in-place SiLUs and sums, no divide by 1.0; bitwise the same result;
  first tried on branch modelspeed-lean): LQ encode -13% at 256 px
  (2.38 vs 2.72 s) and -8% at 512 px (9.57 vs 10.44 s); decode -10% at 256 px (4.32 vs
  4.78 s) but +2.5% at 512 px (19.72 vs 19.23 s); the guided UNet pass +1.5% (3.21 vs 3.16 s).
  Only the encode's gain held in both runs. Landed for the VQ only (RefLDM(lean_blocks=True))
  after a third trial at 512 px, full-size, 2 threads, load 3.4-4.3, three alternated rounds:
  median CPU encode 11.72 vs 12.69 s (-8%), decode 20.08 vs 20.97 s (-4%).
- the VQ encoder on channels_last activations: 5% more CPU at 256 px (2.38 vs 2.26 s), so it
  stays NCHW; a lone 3x3 conv of 128 channels at 256 x 256 does run at 78 GFLOP/s per CPU
  second channels_last and 55 NCHW, but the whole encoder did not gain.
- torch.compile (inductor, gcc 12.2 present): on the tiny test model its first call took 750 s
  wall (30 C++ kernels built at load 11), and the compiled pass took as long as the eager one
  (0.036 vs 0.035-0.037 s CPU). The full-size pass was not compiled in the time left: not
  added, not even as an option.
- the plain attention fallback against the CPU flash kernel on the reference attention's
  shapes: 6 against 42-51 GFLOP/s per CPU second, so the flash kernel stays.
- threads: under load, torch's two OpenMP threads wait for each other on every small operator:
  a GroupNorm of 2 x 320 x 32 x 32 took 8.0 ms CPU with 2 threads against 0.44 ms with 1, a
  small flash-attention call 8 ms against 1 ms. Not changed: it needs a quiet machine to
  weigh against the large operators' gain from the second core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

# aten operator -> kind. Wrappers (aten::conv2d, aten::linear, ...) have next to no self time;
# the kernels under them carry it.
KINDS = {
    "conv": ("convolution", "conv2d", "mkldnn_convolution", "slow_conv2d", "thnn_conv2d", "_convolution"),
    "matmul": ("addmm", "mm", "bmm", "baddbmm", "matmul", "linear", "addmv", "mv"),
    "attention": ("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
                  "_scaled_dot_product_efficient_attention", "logsumexp"),
    "attention merge": ("logaddexp",),
    "norm": ("group_norm", "native_group_norm", "layer_norm", "native_layer_norm", "var_mean"),
    "copy/layout": ("copy_", "contiguous", "clone", "cat", "_to_copy", "to", "empty", "empty_like",
                    "empty_strided", "constant_pad_nd", "pad", "stack", "as_strided", "transpose", "permute",
                    "view", "reshape", "expand", "unsqueeze", "squeeze", "split", "chunk", "slice", "select",
                    "t", "_unsafe_view", "alias", "detach", "resize_", "narrow", "unflatten", "flatten",
                    "zeros", "zero_", "fill_", "full", "arange", "index", "lift_fresh", "_reshape_alias",
                    "split_with_sizes", "unbind", "repeat", "expand_as", "new_zeros", "new_empty"),
    "upsample": ("upsample_nearest2d", "_upsample_nearest_exact2d", "interpolate"),
}
KIND_OF = {f"aten::{name}": kind for kind, names in KINDS.items() for name in names}


def kind_of(name: str) -> str:
    if name in KIND_OF:
        return KIND_OF[name]
    if name.startswith("mkldnn::_convolution"):  # the packed convolutions (cpu_conv.py)
        return "conv"
    if not name.startswith("aten::"):
        return "framework"  # record_function labels, compiled graphs, ...
    return "elementwise"  # add, mul, silu, exp, sqrt, argmin, ...


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def lap(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def median_pair(pairs: list[tuple[float, float]]) -> dict:
    return {"wall_s": statistics.median(p[0] for p in pairs), "cpu_s": statistics.median(p[1] for p in pairs),
            "n": len(pairs)}


# Options given to RefLDM per variant; none for the default, so that the script also times
# code from before those options.
VARIANTS = {"default": {}, "plain": {"cpu_packing": False}, "direct": {"winograd": False},
            "winograd": {"winograd": True}}


class Face:
    """One later face: a model, its LQ image, the references' cache, and the fixed inputs of a
    guided UNet pass (so a pass can be timed on its own)."""

    def __init__(self, cfg, refs: int, precision: str, variant: str = "default") -> None:
        import torch

        from restore_face import random_model, smooth_images

        self.torch = torch
        # "plain": cpu_packing=False, the plain modules (cpu_conv.py); not passed otherwise, so
        # that the script also times code from before that option.
        self.model = random_model(cfg, "cpu", precision, **VARIANTS[variant])
        size, n = cfg.image_size, cfg.latent_size
        self.lq = smooth_images(1, size, seed=2)
        # Reference latents of the right shape and scale; their values do not change the cost.
        g = torch.Generator().manual_seed(3)
        self.ref_images = smooth_images(refs, size, seed=1)
        self.ref_latents = torch.randn((refs, cfg.latent_channels, n, n), generator=g)
        self.cache = self.model.reference_cache_from_latents(self.ref_latents)
        # [uncond, cond] get the same input, as in a guided step (model.sample)
        self.x_in = torch.randn((1, cfg.unet.in_channels, n, n), generator=g).to(self.model.dtype).repeat(2, 1, 1, 1)
        if hasattr(self.model, "_unet_input"):  # the layout the model feeds its UNet
            self.x_in = self.model._unet_input(self.x_in)
        self.t_in = torch.full((2,), 500, dtype=torch.long)

    def restore(self, steps: int) -> None:
        self.model.restore(self.lq, self.cache, steps=steps, cfg=1.5, seed=2024)

    def encode(self):
        return self.model.encode(self.model.images_to_tensor(self.lq))

    def guided_pass(self):
        # As sample() runs it: the two halves share the layers before the first attention
        # (the script also times code from before that, which has no _halves_shared).
        shared = getattr(self.model, "_halves_shared", None)
        with self.torch.inference_mode(), self.model._bound(self.cache, 1, True), (
                shared(True) if shared else contextlib.nullcontext()):
            return self.model.unet(self.x_in, self.t_in).sample

    def plain_pass(self):
        """The same UNet call with every attention layer doing plain self-attention."""
        with self.torch.inference_mode():
            return self.model.unet(self.x_in, self.t_in).sample


PHASES = ("lq_encode", "unet_pass_guided", "unet_pass_plain_attention", "decode", "restore")
FIRST_FACE_PHASES = ("ref_encode", "ref_pass")  # not run unless asked: a strip's encode is long


def time_phases(faces: dict[str, Face], phases: list[str], repeat: int, passes: int, steps: int) -> dict:
    """Medians per variant and phase. The variants' calls alternate, so that a shared machine's
    load falls on all of them alike."""
    calls = {
        "lq_encode": lambda f: f.encode(),
        "unet_pass_guided": lambda f: f.guided_pass(),
        "unet_pass_plain_attention": lambda f: f.plain_pass(),
        "decode": lambda f: f.model.decode(f.latent),
        "restore": lambda f: f.restore(steps),
        "ref_encode": lambda f: f.model.encode_reference_latents(f.ref_images),
        "ref_pass": lambda f: f.model.reference_cache_from_latents(f.ref_latents),
    }
    for face in faces.values():  # warm-up: first calls create the conv primitives
        face.latent = face.encode()
        for phase in phases:
            if phase.startswith("unet"):
                calls[phase](face)
    runs: dict[str, dict[str, list]] = {name: defaultdict(list) for name in faces}
    for _ in range(repeat):
        for phase in phases:
            for _ in range(passes if phase.startswith("unet") else 1):
                for name, face in faces.items():
                    start = clock()
                    calls[phase](face)
                    runs[name][phase].append(lap(start))
    report = {}
    for name, by_phase in runs.items():
        res = {k: median_pair(v) for k, v in by_phase.items()}
        if "unet_pass_guided" in res and "unet_pass_plain_attention" in res:
            g, p = res["unet_pass_guided"], res["unet_pass_plain_attention"]
            res["reference_attention_extra"] = {"wall_s": g["wall_s"] - p["wall_s"], "cpu_s": g["cpu_s"] - p["cpu_s"]}
        if "restore" in res:
            res[f"restore_{steps}_steps"] = res.pop("restore")
        report[name] = res
    return report


def overhead_floor(cfg, refs: int, precision: str, variant: str, repeat: int, passes: int) -> dict:
    """The guided pass of the same UNet at an 8x8 latent: 1/64 of the arithmetic, the same
    number of module calls and operators."""
    from refldm_desktop.restore.refldm.config import RefLDMConfig

    small = RefLDMConfig(vq=replace(cfg.vq, resolution=8 * cfg.vq.downsample_factor), unet=cfg.unet,
                         diffusion=cfg.diffusion)
    face = Face(small, refs, precision, variant)
    face.guided_pass()
    runs = []
    for _ in range(repeat * passes):
        start = clock()
        face.guided_pass()
        runs.append(lap(start))
    return median_pair(runs)


def profile_breakdown(face: Face, wanted: list[str], passes: int) -> dict:
    """torch.profiler over each phase of a later face; self time per kind of operator."""
    from torch.profiler import ProfilerActivity, profile

    latent = face.encode()
    phases = {
        "lq_encode": face.encode,
        "unet_pass_guided": face.guided_pass,
        "unet_pass_plain_attention": face.plain_pass,
        "decode": lambda: face.model.decode(latent),
        "ref_encode": lambda: face.model.encode_reference_latents(face.ref_images),
        "ref_pass": lambda: face.model.reference_cache_from_latents(face.ref_latents),
    }
    phases = {k: v for k, v in phases.items() if k in wanted}
    for fn in phases.values():
        fn()  # warm
    report = {}
    for name, fn in phases.items():
        reps = passes if name.startswith("unet") else 1
        with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            start = time.perf_counter()
            for _ in range(reps):
                fn()
            wall = (time.perf_counter() - start) / reps
        by_kind: dict[str, float] = defaultdict(float)
        flops: dict[str, float] = defaultdict(float)
        top: list[tuple[float, str, int]] = []
        ops = 0
        for ev in prof.key_averages():
            kind = kind_of(ev.key)
            if kind == "framework":
                continue
            by_kind[kind] += ev.self_cpu_time_total / 1e6 / reps
            flops[kind] += (ev.flops or 0) / reps
            ops += ev.count
            top.append((ev.self_cpu_time_total / 1e6 / reps, ev.key, ev.count // reps))
        accounted = sum(by_kind.values())
        by_kind["python/framework (rest of wall)"] = max(wall - accounted, 0.0)
        report[name] = {
            "wall_s_profiled": wall,
            "aten_ops": ops // reps,
            "seconds_by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
            "gflops_per_s": {k: flops[k] / by_kind[k] / 1e9 for k in flops if flops[k] and by_kind[k]},
            "top_ops": [{"op": n, "s": round(s, 5), "calls": c} for s, n, c in sorted(top, reverse=True)[:12]],
        }
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2, help="steps of the timed whole restore (default 2)")
    ap.add_argument("--passes", type=int, default=3, help="UNet passes timed per repeat")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--variants", default="default",
                    help="comma-separated, timed alternately: default, plain, direct, winograd (see above)")
    ap.add_argument("--phases", default=",".join(PHASES),
                    help=f"comma-separated subset of {', '.join(PHASES + FIRST_FACE_PHASES)} (default: the first {len(PHASES)})")
    ap.add_argument("--image-size", type=int, help="another face size (a quick check of the script: 64)")
    ap.add_argument("--profile", action="store_true", help="torch.profiler breakdown of each variant's phases")
    ap.add_argument("--floor", action="store_true", help="time the 8x8-latent pass (the per-pass overhead floor)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "profile_face.json")
    args = ap.parse_args()

    import refldm_desktop  # noqa: F401  first: its thread policy must be set before torch loads
    import torch

    from refldm_desktop.restore.refldm.config import DEFAULT_CONFIG

    cfg = DEFAULT_CONFIG
    if args.image_size:
        cfg = replace(cfg, vq=replace(cfg.vq, resolution=args.image_size))
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    phases = [p for p in args.phases.split(",") if p]
    if unknown := set(phases) - set(PHASES + FIRST_FACE_PHASES):
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    result = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()} ({os.cpu_count()} cpus)",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "image_size": cfg.image_size,
        **{k: getattr(args, k) for k in ("refs", "steps", "passes", "repeat", "precision")},
        "load_before": os.getloadavg(),
    }
    print(json.dumps({k: result[k] for k in ("machine", "torch", "threads", "load_before")}), flush=True)
    faces = {}
    for variant in variants:
        start = clock()
        faces[variant] = Face(cfg, args.refs, args.precision, variant)
        result.setdefault("setup", {})[variant] = lap(start)
    result["timing"] = time_phases(faces, phases, args.repeat, args.passes, args.steps)
    for variant, timing in result["timing"].items():
        print(variant, " ".join(f"{k} {v['wall_s']:.3f}/{v['cpu_s']:.3f}" for k, v in timing.items()),
              "(median wall/cpu s)", flush=True)
    for variant in variants if args.floor else ():
        floor = overhead_floor(cfg, args.refs, args.precision, variant, args.repeat, args.passes)
        result.setdefault("unet_pass_guided_8x8_latent", {})[variant] = floor
        print(variant, "8x8-latent pass:", json.dumps(floor), flush=True)
    for variant in variants if args.profile else ():
        result.setdefault("profile", {})[variant] = report = profile_breakdown(faces[variant], phases, args.passes)
        for phase, rep in report.items():
            kinds = ", ".join(f"{k} {v:.3f}" for k, v in rep["seconds_by_kind"].items())
            rates = ", ".join(f"{k} {v:.0f}" for k, v in rep["gflops_per_s"].items())
            print(f"{variant} {phase}: {rep['wall_s_profiled']:.3f} s profiled, {rep['aten_ops']} ops; {kinds}; "
                  f"GFLOP/s {rates}", flush=True)
    result["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"load average before {result['load_before']}, after {result['load_after']}; wrote {args.out}")


if __name__ == "__main__":
    main()
