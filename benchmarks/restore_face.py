"""Seconds per face and peak memory of ReF-LDM restoration, full-size architecture, random weights.

Each configuration runs in its own process, so that peak memory (CUDA max allocated, or the
process's peak RSS on the CPU) belongs to that configuration alone.

    python benchmarks/restore_face.py                      # reduced CPU grid (slow: minutes)
    python benchmarks/restore_face.py --grid full --device cuda [--cuda-graphs]
    python benchmarks/restore_face.py --refs 4 --steps 50 --batch 8 --precision bf16 --device cuda
    python benchmarks/restore_face.py --refs 4 --steps 20 --stored-latents --preview-steps 8
    python benchmarks/restore_face.py --refs 4 --steps 20 --stored-latents --no-psnr \
        --authors ~/ref-ldm --authors-python ~/ref-ldm-venv/bin/python

--stored-latents runs each configuration twice, in two processes sharing a reference-latent
store: the first encodes and stores the references (a person's first face), the second, a NEW
process, reads them back (a later photo of that person in a later run). --preview-steps N
times a low-step preview before the full restore (`preview_s`).

Reported per configuration: the reference pass (VQ encode of the references + the UNet
reference pass, once per person), the restore call for the batch (LQ encode, DDIM with CFG 1.5,
decode), seconds per face = (references + restore) / batch, faces per second when the
references are already cached, and peak memory. With --psnr (on by default) the bf16 output is
compared with the fp32 output of the same inputs, weights and noise. `step_s` and `step_cpu_s`
are the median wall and CPU time of a whole DDIM step, from the end of one step to the end of
the next (the per-step callback), over all steps but the first: the guided UNet call (both
branches as one batch of 2), the guidance mix, the DDIM update and the loop's own work.

--authors PATH first times the authors' code from that checkout at the same references and
steps (authors_face.py, which says what it needs, and times its steps the same way, through
its sampler's per-step callback), so that both run at the same load, and reports ours/authors
in wall and CPU time per face and per DDIM step; without it that is skipped with a line saying
so.

Measured on the shared 2-core AMD EPYC VM (Zen 3, AVX2, no AVX-512), torch 2.13.0+cpu, 2
threads, 4 references, 20 steps, CFG 1.5, fp32, `--stored-latents --authors`, the three runs one
after the other while other engineers' tests kept the load at 10-13 (so wall times are
3-10x the quiet ones and CPU times 1.5-2x: compare the ratios, not the seconds):

| run | wall | CPU | step CPU* | peak | ours/authors (wall, CPU) |
|---|---|---|---|---|---|
| authors' code, one face | 1249 s | 373 s | 12.36 s | 5.98 GiB | |
| ours, a person's first face | 1033 s | 280 s | 7.68 s | 2.38 GiB | 0.83x, 0.75x |
| ours, a later face, latents from disk | 882 s | 208 s | 8.16 s | 2.36 GiB | 0.71x, 0.56x |

Quiet (the same machine alone, load 1.0-2.0 with the benchmark's own threads, same command):

| run | wall | CPU | step wall (CPU)* | peak | ours/authors (wall, CPU) |
|---|---|---|---|---|---|
| authors' code, one face | 137.7 s | 260.2 s | 4.02 s (7.46) | 5.94 GiB | |
| ours, a person's first face | 105.7 s | 204.1 s | 2.00 s (3.97) | 2.35 GiB | 0.77x, 0.78x |
| ours, a later face, latents from disk | 59.7 s | 117.8 s | 1.94 s (3.85) | 2.42 GiB | 0.43x, 0.45x |

*These runs were made before both sides timed the same thing: the authors' figure is their
guided UNet call alone, ours the whole DDIM step as described above, so the authors' step was
somewhat longer than shown (by its guidance mix, DDIM update and conditioning copies, not
measured). Compare the step columns only from a run made since.

Quiet again a session later (load 1.8-1.9, same command, both sides timing the whole DDIM
step), after: the reference strip's striped encode without its extra passes, the VQ's lean
residual blocks, the guided batch's two halves sharing the UNet layers before the first
attention, the reference pass stopping at the last attention layer, and sleeping OpenMP
threads:

| run | wall | CPU | step wall (CPU) | peak | ours/authors (wall, CPU) |
|---|---|---|---|---|---|
| authors' code, one face | 128.4 s | 235.0 s | 3.74 s (6.73) | 5.94 GiB | |
| ours, a person's first face | 78.5 s | 147.9 s | 1.68 s (3.17) | 2.35 GiB | 0.61x, 0.63x |
| ours, a later face, latents from disk | 51.6 s | 96.9 s | 1.73 s (3.25) | 2.23 GiB | 0.40x, 0.41x |

The first face's references took 30.3 s (46.1 s before), a later face's reference pass from
stored latents 2.0 s (3.5 s). What is left is nearly all arithmetic: on this CPU (2.45 GHz,
two AVX2 FMA units per core, about 157 GFLOP/s in fp32 for both cores) the VQ convolutions
run at 145-152 GFLOP/s and the UNet's at about 127 (benchmarks/profile_face.py).

A third quiet run a session later (load 1.8-1.9), after the VQ encoder's levels went
channels_last on the CPU. The VM ran everything slower that hour (the authors' code too), so
compare the ratios:

| run | wall | CPU | step wall (CPU) | peak | ours/authors (wall, CPU) |
|---|---|---|---|---|---|
| authors' code, one face | 149.4 s | 265.1 s | 4.40 s (7.60) | 5.84 GiB | |
| ours, a person's first face | 83.7 s | 154.0 s | 2.03 s (3.66) | 2.35 GiB | 0.56x, 0.58x |
| ours, a later face, latents from disk | 57.1 s | 104.6 s | 1.94 s (3.51) | 2.22 GiB | 0.38x, 0.39x |

benchmarks/arithmetic_floor.py, right after it: a later face is 6424 GFLOP, a first face 9546;
at the best rate of a 4096^3 matrix product that hour (174 GFLOP/s) the floors are 36.9 s
(0.25x the authors) and 55.0 s (0.37x). Ours ran at 65% and 66% of that rate over the whole face.

A fourth quiet run a session later (load 1.2-1.9), after nearest-2x upsampling + 3x3 conv
became four 2x2 convs (upsample.py), the decoder's blocks went lean, and freed memory stayed
in the process while the model works (heap.py; the main thread's only: the command line and
this benchmark, not the app's job thread). The VM ran faster that hour than the last:

| run | wall | CPU | step wall (CPU) | peak | ours/authors (wall, CPU) |
|---|---|---|---|---|---|
| authors' code, one face | 136.7 s | 247.1 s | 4.09 s (7.23) | 6.00 GiB | |
| ours, a person's first face | 68.2 s | 128.7 s | 1.70 s (3.13) | 2.72 GiB | 0.50x, 0.52x |
| ours, a later face, latents from disk | 49.9 s | 92.3 s | 1.81 s (3.27) | 2.82 GiB | 0.37x, 0.37x |

The peak grew by about 0.4 GiB: freed blocks are kept for reuse until the model's work ends.

A fifth quiet run a session later (load 1.5-1.9): first the code as it was, then after the 3x3
convolutions went Winograd by default on the CPU (winograd.py), the zeroed reference's equal
tokens were kept once and the first attention layer's own tokens computed for one half
(attention.py), and the VQ's 128 channels at 512 px went Winograd too. The VM ran the
authors' code faster that hour than the last (102-112 s), so compare the ratios:

| run | wall | CPU | step wall (CPU) | peak | ours/authors (wall, CPU) |
|---|---|---|---|---|---|
| authors' code, one face | 102.3 s | 186.3 s | 2.74 s (5.02) | 6.05 GiB | |
| before: a person's first face | 50.0 s | 95.9 s | 1.15 s (2.17) | 2.80 GiB | 0.49x, 0.51x |
| before: a later face, latents from disk | 34.5 s | 65.3 s | 1.17 s (2.20) | 2.40 GiB | 0.34x, 0.35x |
| authors' code, one face (again) | 112.3 s | 200.4 s | 2.95 s (5.31) | 5.94 GiB | |
| after: a person's first face | 44.8 s | 79.6 s | 1.02 s (1.78) | 3.06 GiB | 0.40x, 0.40x |
| after: a later face, latents from disk | 31.6 s | 54.8 s | 1.06 s (1.82) | 3.28 GiB | 0.28x, 0.27x |

Winograd alone (measured between the two): 0.44x and 0.29x against the authors' 104.0 s.
The same hour, `--refs 8 --stored-latents --preview-steps 8`: a first face 68.6 s (the 8-step
preview 18.5 s besides), a later face 41.2 s, peaks 3.57 and 3.25 GiB. And `--precision fp32
bf16` (a first face, load 1.3-1.5): bf16 36.7 s against fp32's 50.2 s, peak 1.52 against 3.06
GiB, PSNR 41.4 dB against fp32. bf16 now pays on this CPU even without native BF16 (it did not
on the AVX-512 VM the issue was measured on); `--precision auto` picks it where its own trial
on that device finds it faster and within 35 dB (precision.py).

The issue's goals (<= 46 s and <= 28 s) were set from the authors' 92.9 s on an AVX-512 CPU
with BF16: as ratios to the authors' code, 0.50x and 0.30x. This VM ran the authors' code 1.10x
to 1.61x slower than that one, depending on the hour (102-150 s); at the fifth run's 112.3 s the
goals in seconds would be 56 s and 34 s, and ours took 44.8 s and 31.6 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package, whatever the installed copy points at

# The precision trial's inputs and measure: the benchmark's bf16 figures are the same ones.
from refldm_desktop.restore.metrics import psnr  # noqa: E402
from refldm_desktop.restore.refldm.precision import synthetic_faces as smooth_images  # noqa: E402
CPU_GRID = [dict(refs=1, steps=20, batch=1, precision="fp32"), dict(refs=1, steps=50, batch=1, precision="fp32")]


def full_grid() -> list[dict]:
    return [
        dict(refs=r, steps=s, batch=b, precision=p)
        for p, r, s, b in itertools.product(("bf16", "fp32"), (1, 4, 8), (20, 50), (1, 8))
    ]


def random_model(cfg, device, precision: str, **kw):
    """A RefLDM of config `cfg` with seeded random weights, built where it will run."""
    import torch
    from diffusers import UNet2DModel, VQModel

    from refldm_desktop.restore.refldm.model import RefLDM

    torch.manual_seed(0)
    with torch.device(device):
        unet, vq = UNet2DModel(**cfg.unet_kwargs()), VQModel(**cfg.vq_kwargs())
    return RefLDM.from_state_dicts(cfg, unet.state_dict(), vq.state_dict(), device, precision, **kw)


def run_one(spec: dict) -> dict:
    """Child process: build the model, time one configuration, print a JSON line."""
    import torch

    from refldm_desktop.restore.refldm.config import DEFAULT_CONFIG as cfg
    from refldm_desktop.restore.refldm.model import resolve_device

    device = resolve_device(spec["device"])
    model = random_model(cfg, device, spec["precision"], cuda_graphs=spec["cuda_graphs"])
    size = cfg.image_size
    refs = smooth_images(spec["refs"], size, seed=1)
    lqs = smooth_images(spec["batch"], size, seed=2)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    if device.type == "cuda":  # first calls pay for kernel selection and graph capture
        model.restore(lqs, model.encode_references(refs), steps=2, seed=0)
        sync()
        torch.cuda.reset_peak_memory_stats()
    t0, c0 = time.perf_counter(), time.process_time()
    from_disk = False
    if spec.get("latent_dir"):
        from refldm_desktop.restore.refldm.latent_store import ReferenceLatentStore, latent_key

        store = ReferenceLatentStore(spec["latent_dir"])
        key = latent_key("benchmark", size, list(refs))
        latents = store.get(key)
        from_disk = latents is not None
        if latents is None:
            latents = model.encode_reference_latents(list(refs))
            store.put(key, latents)
        cache = model.reference_cache_from_latents(latents)
    else:
        cache = model.encode_references(refs)
    sync()
    t1 = time.perf_counter()
    refs_s = t1 - t0
    preview_s = None
    if spec.get("preview_steps"):
        model.restore(lqs, cache, steps=spec["preview_steps"], cfg=1.5, seed=2024)
        sync()
        preview_s = time.perf_counter() - t1
        t1 = time.perf_counter()
    ticks: list[tuple[float, float]] = []  # (wall, cpu) as each step ends

    def tick(_state) -> None:
        sync()
        ticks.append((time.perf_counter(), time.process_time()))

    out = model.restore(lqs, cache, steps=spec["steps"], cfg=1.5, seed=2024, callback=tick)
    sync()
    t2, c2 = time.perf_counter(), time.process_time()
    # a whole step, end to end (see the docstring; authors_face.py times theirs the same way)
    step_wall = [b[0] - a[0] for a, b in itertools.pairwise(ticks)]
    step_cpu = [b[1] - a[1] for a, b in itertools.pairwise(ticks)]
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    if spec.get("save"):
        np.save(spec["save"], out)
    b = spec["batch"]
    return {
        **{k: spec[k] for k in ("refs", "steps", "batch", "precision", "cuda_graphs")},
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "refs_s": refs_s,  # the preview, when timed, is in neither figure
        "restore_s": t2 - t1,
        "s_per_face": (refs_s + t2 - t1) / b,
        "faces_per_s_cached_refs": b / (t2 - t1),
        "peak_gib": peak,
        # CPU seconds of this process over the whole face, beside its wall time: on a shared
        # machine a wall time far above cpu_s / threads is other work holding the cores.
        "cpu_s": c2 - c0,
        "step_s": statistics.median(step_wall) if step_wall else None,
        "step_cpu_s": statistics.median(step_cpu) if step_cpu else None,
        "load_avg_1min": os.getloadavg()[0],
        "peak_kind": "cuda max allocated" if device.type == "cuda" else "process peak RSS",
        "latents_from_disk": from_disk,
        "preview_steps": spec.get("preview_steps") or 0,
        "preview_s": preview_s,
    }


def child(spec: dict) -> dict:
    cmd = [sys.executable, __file__, "--one", json.dumps(spec)]
    # The child imports this checkout's package, whatever the installed copy points at.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    if res.returncode != 0:
        raise SystemExit(f"configuration {spec} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def compare_precisions(results: list[dict], device: str, cuda_graphs: bool, tmp: str) -> None:
    """PSNR of bf16 against fp32 for every configuration run in both; else run one bf16 twin."""
    same = ("refs", "steps", "batch")
    pairs = [(r, q) for r in results for q in results if r["precision"] == "fp32" and q["precision"] == "bf16"
             and all(r[k] == q[k] for k in same) and r["latents_from_disk"] == q["latents_from_disk"]]
    if not pairs:
        first = next((r for r in results if r["precision"] == "fp32"), None)
        if first is None:
            return
        spec = {**{k: first[k] for k in same}, "precision": "bf16", "device": device, "cuda_graphs": cuda_graphs,
                "save": f"{tmp}/bf16.npy"}
        twin = {**child(spec), "output": spec["save"]}
        results.append(twin)
        print(f"(bf16 twin for the PSNR: {twin['s_per_face']:.3f} s per face, {twin['peak_gib']:.2f} GiB)")
        pairs = [(first, twin)]
    for r, q in pairs:
        value = psnr(np.load(r["output"]), np.load(q["output"]))
        r["psnr_bf16_vs_fp32_db"] = q["psnr_bf16_vs_fp32_db"] = value
        print(f"PSNR bf16 vs fp32 (refs {r['refs']}, steps {r['steps']}, batch {r['batch']}): {value:.2f} dB", flush=True)


def time_authors_first(checkout: Path | None, python: str | None, grid: list[dict]) -> list[dict]:
    """The authors' code at each fp32 (refs, steps) of the grid, before ours, at the same load."""
    from authors_face import check_checkout, time_authors

    why = check_checkout(checkout)
    if why:
        print(f"authors' baseline: {why}", flush=True)
        return []
    assert checkout is not None
    runs = []
    for refs, steps in dict.fromkeys((g["refs"], g["steps"]) for g in grid if g["precision"] == "fp32"):
        r = time_authors(checkout, refs, steps, 1.5, python)
        print(f"authors' code, {refs} refs, {steps} steps: {r['s_per_face']:.1f} s per face (cpu {r['cpu_s']:.1f} s, "
              f"refs {r['refs_s']:.1f} s), DDIM step {r['step_s'] or float('nan'):.2f} s "
              f"(cpu {r['step_cpu_s'] or float('nan'):.2f} s), peak {r['peak_gib']:.2f} GiB, "
              f"load {r['load_avg_1min']:.1f}", flush=True)
        runs.append(r)
    return runs


def report_ratios(results: list[dict], authors: list[dict]) -> None:
    """ours / authors per face (wall and CPU) and per DDIM step, for each matching run."""
    for a in authors:
        for r in results:
            if (r["refs"], r["steps"], r["batch"], r["precision"]) != (a["refs"], a["steps"], 1, "fp32"):
                continue
            r["vs_authors"] = {
                "s_per_face": r["s_per_face"] / a["s_per_face"],
                "cpu_s": r["cpu_s"] / a["cpu_s"],
                "step_cpu_s": (r["step_cpu_s"] / a["step_cpu_s"]
                               if r.get("step_cpu_s") and a.get("step_cpu_s") else None),
            }
            face = "later face (latents from disk)" if r["latents_from_disk"] else "first face"
            v = r["vs_authors"]
            print(f"ours/authors, {r['refs']} refs, {r['steps']} steps, {face}: {v['s_per_face']:.2f}x wall, "
                  f"{v['cpu_s']:.2f}x CPU" + (f", DDIM step {v['step_cpu_s']:.2f}x CPU" if v["step_cpu_s"]
                                               else ""), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--grid", choices=("cpu", "full"), help="default: full on CUDA, the reduced cpu grid otherwise")
    ap.add_argument("--refs", type=int, nargs="+", help="instead of a grid: these reference counts (default 4) x")
    ap.add_argument("--steps", type=int, nargs="+", help="these step counts (default 50) x")
    ap.add_argument("--batch", type=int, nargs="+", help="these batch sizes (default 1) x")
    ap.add_argument("--precision", nargs="+", choices=("fp32", "bf16", "fp16"), help="these precisions (default fp32)")
    ap.add_argument("--cuda-graphs", action="store_true")
    ap.add_argument("--no-psnr", action="store_true", help="skip the bf16-vs-fp32 comparison")
    ap.add_argument("--stored-latents", action="store_true",
                    help="run each configuration again in a new process with the references' latents from disk")
    ap.add_argument("--preview-steps", type=int, default=0, help="time a preview of N steps first")
    ap.add_argument("--authors", type=Path, metavar="PATH",
                    help="a checkout of the authors' ref-ldm: time it first, at the same refs and steps "
                         "(authors_face.py), and report ours/authors")
    ap.add_argument("--authors-python", help="the interpreter with the authors' dependencies")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "restore_face.json")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return

    import torch

    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = "cuda" if cuda else "cpu"
    if args.refs or args.steps or args.batch or args.precision:
        grid = [
            dict(refs=r, steps=s, batch=b, precision=p)
            for r in (args.refs or [4]) for s in (args.steps or [50]) for b in (args.batch or [1])
            for p in (args.precision or ["fp32"])
        ]
    else:
        grid = full_grid() if (args.grid or ("full" if cuda else "cpu")) == "full" else list(CPU_GRID)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"device {device}", flush=True)
    authors = time_authors_first(args.authors, args.authors_python, grid)
    results = []
    header = f"{'refs':>4} {'steps':>5} {'batch':>5} {'prec':>5} {'refs s':>8} {'restore s':>9} {'s/face':>8} " \
             f"{'faces/s':>8} {'peak GiB':>8}"
    print(header, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(i, spec, None) for i, spec in enumerate(grid)]
        if args.stored_latents:  # first face (stores latents), then a later face in a new process
            runs = [(f"{i}{tag}", spec, f"{tmp}/latents{i}") for i, spec in enumerate(grid) for tag in "ab"]
        for i, spec, latent_dir in runs:
            spec = {**spec, "device": device, "cuda_graphs": args.cuda_graphs, "save": f"{tmp}/{i}.npy",
                    "latent_dir": latent_dir, "preview_steps": args.preview_steps}
            r = child(spec)
            r["output"] = spec["save"]
            results.append(r)
            print(f"{r['refs']:>4} {r['steps']:>5} {r['batch']:>5} {r['precision']:>5} {r['refs_s']:>8.3f} "
                  f"{r['restore_s']:>9.3f} {r['s_per_face']:>8.3f} {r['faces_per_s_cached_refs']:>8.2f} "
                  f"{r['peak_gib']:>8.2f}"
                  + (" latents from disk" if r["latents_from_disk"] else "")
                  + (f" preview {r['preview_s']:.3f} s" if r["preview_s"] else "")
                  + (f" step {r['step_s']:.2f} s (cpu {r['step_cpu_s']:.2f})" if r["step_s"] else "")
                  + f" (cpu {r['cpu_s']:.1f} s, load {r['load_avg_1min']:.1f})", flush=True)
        if not args.no_psnr:
            compare_precisions(results, device, args.cuda_graphs, tmp)
        for r in results:
            r.pop("output", None)
    report_ratios(results, authors)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.node(), "results": results, "authors": authors}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
