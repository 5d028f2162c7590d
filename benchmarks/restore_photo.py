"""Per-face cost of the photo pipeline around the model: align, colour match, warp back +
blend, save. The model itself is the passthrough restorer (free), so what is measured is
everything the app adds to each face. Face detection is not counted: indexing did it.

Two measurements:
- the pipeline's pieces called directly (decode, upscale, align, paste, save), per step;
- the real job path: `restore_photo` jobs run by the job runner on an indexed copy of the
  photos (database reads, decode, align, restore, warp back, blend, colour match, JPEG block
  splice or encode, staging, atomic write, version record), timed per job from the runner's
  events. Only the model is missing from it (passthrough); the identity guard, which runs
  dlib's face descriptor on every restored face, is in it.

    python benchmarks/restore_photo.py [--repeat 3] [--size 512] [--upscale 1] [--json] [--no-handler]
                                       [--changed]

The passthrough restorer returns its crops unchanged, and paste-back then skips the warp (the
photo stays as it was). --changed swaps in a stand-in that flips the lowest bit of every
crop pixel, so every face takes the whole paste path (colour fit, warp back, keep-detail
warp, blend) that a real model's output takes; the stand-in itself is not timed.

Photos: ../shared/data/faces/{old_photos,groups}. Faces: dlib HOG + 68 landmarks.

Figures (2-core AMD EPYC VM, shared by four engineers at load 8 to 11, so CPU time per face
is the figure to trust; old = Pillow align + torch paste-back, new = OpenCV for both; runs
alternated old, new, old, new), 69 faces in 16 photos, --changed --repeat 3 --no-handler:

    CPU ms per face    align   paste (colour)   save   added
    old                16.1    13.0    (5.5)     7.2    36.4-37.2
    new                 4.7     6.6    (3.3)     5.9    17.2-17.8

Wall time at that load was 131-147 ms old and 51-72 ms new; on the quiet machine the old
code took 34.0 ms wall. Of the save, PNG's zlib and JPEG's optimised Huffman coding are most
of what is left (writing JPEGs without `optimize` would save 1.2 ms more, for files 6% larger on the largest).

The job path (passthrough, timed whole in one process, runs of all 16 photos): 210-212 ms
CPU per face old, 175-178 new. Of that, the identity guard takes 138-142 ms either way; the
rest went from 70 to 36-38 ms (faster align and paste, the tone test without BLAS threads,
the JPEG splice through libjpeg-turbo without decoding the original a third time, PNG
metadata read without decoding the photo). The splice still costs about 3.6 times a plain
encode of the same photo: jpeglib's header pass costs about as much as reading the
coefficients, and every block's coefficients are entropy-coded again.

Quiet (the machine alone, load 1.0), final code, --changed --repeat 3: added per face 16.5 ms
wall (align 4.6, paste 5.8 of which colour 2.7, save 6.1; goal 20), 16.3 ms CPU; the job path
165 ms per face, most of it the identity guard's dlib face descriptor.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
FACES = REPO.parent / "shared" / "data" / "faces"
sys.path.insert(0, str(REPO))

from refldm_desktop.faces.align import ffhq_transform, opencv, warp_to_crop  # noqa: E402
from refldm_desktop.library.output import write_restored  # noqa: E402
from refldm_desktop.restore.paste import (  # noqa: E402
    FacePaste,
    PasteOptions,
    paste_faces,
    scale_landmarks,
    upscale_image,
)
from refldm_plugin_passthrough import PassthroughRestorer  # noqa: E402

opencv()  # align and paste resample with OpenCV: its import is not a per-face cost


def now() -> tuple[float, float]:
    """Wall clock and this process's CPU time."""
    return time.perf_counter(), time.process_time()


def load_average() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import PIL

    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, Pillow {PIL.__version__}"
    )


def detector():
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    det = dlib.get_frontal_face_detector()
    pred = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))

    def find(image: np.ndarray) -> list[np.ndarray]:
        up = 1 if max(image.shape[:2]) <= 1400 else 0
        return [
            np.array([(p.x + 0.5, p.y + 0.5) for p in pred(image, r).parts()]) for r in det(image, up)
        ]

    return find


class ChangingRestorer:
    """Returns each crop with the lowest bit of every value flipped: a change the paste
    must carry over, at no cost worth timing."""

    name = "changing"
    needs_references = False

    def __init__(self, resolution: int) -> None:
        self.resolution = resolution

    def restore(self, crops, references, *args, **kwargs):
        return [np.bitwise_xor(c, 1) for c in crops]


def load(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(img).convert("RGB")))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per photo; the median counts")
    ap.add_argument("--size", type=int, default=512, help="crop resolution (ReF-LDM: 512)")
    ap.add_argument("--upscale", type=int, default=1, choices=(1, 2, 4))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-handler", action="store_true", help="skip the job-path measurement")
    ap.add_argument("--changed", action="store_true",
                    help="a stand-in restorer that changes every pixel, so pasting does all its work")
    args = ap.parse_args()
    if not FACES.is_dir():
        print(f"photos not found: {FACES}", file=sys.stderr)
        return 2

    find = detector()
    raw = PasteOptions(color_match=False, lowfreq_sigma=0.0, keep_detail=False)
    restorer = ChangingRestorer(args.size) if args.changed else PassthroughRestorer(resolution=args.size)
    photos = sorted(p for d in ("old_photos", "groups") for p in (FACES / d).iterdir() if p.is_file())
    rows = []
    totals = {"decode": 0.0, "upscale": 0.0, "align": 0.0, "colour": 0.0, "paste": 0.0, "save": 0.0}
    cpu_totals = dict(totals)
    n_faces = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in photos:
            image = load(path)
            marks = find(image)
            if not marks:
                continue
            runs = {k: [] for k in totals}
            cpu_runs = {k: [] for k in totals}
            for _ in range(args.repeat):
                t0 = now()
                image = load(path)
                t1 = now()
                work = upscale_image(image, args.upscale)
                t2 = now()
                ts = [ffhq_transform(scale_landmarks(lm, args.upscale), args.size) for lm in marks]
                crops = [warp_to_crop(work, t) for t in ts]
                t3 = now()
                restored = restorer.restore(crops, [])
                t4 = now()
                pasted = paste_faces(work, [FacePaste(t, r, c) for t, r, c in zip(ts, restored, crops)])
                t5 = now()
                out = write_restored(path, pasted.image, Path(tmp))
                t6 = now()
                out.unlink()
                # The colour match runs inside paste_faces: its share is what pasting without
                # it saves.
                t7 = now()
                paste_faces(work, [FacePaste(t, r, c) for t, r, c in zip(ts, restored, crops)], raw)
                t8 = now()
                for i, r in ((0, runs), (1, cpu_runs)):
                    r["decode"].append(t1[i] - t0[i])
                    r["upscale"].append(t2[i] - t1[i])
                    r["align"].append(t3[i] - t2[i])
                    r["paste"].append(t5[i] - t4[i])
                    r["colour"].append(max((t5[i] - t4[i]) - (t8[i] - t7[i]), 0.0))
                    r["save"].append(t6[i] - t5[i])
            med = {k: statistics.median(v) for k, v in runs.items()}
            for k in totals:
                totals[k] += med[k]
                cpu_totals[k] += statistics.median(cpu_runs[k])
            n_faces += len(marks)
            rows.append({"photo": f"{path.parent.name}/{path.name}", "faces": len(marks),
                         **{f"{k}_ms_per_face": 1e3 * v / len(marks) for k, v in med.items()}})

    per_face = {k: 1e3 * v / max(n_faces, 1) for k, v in totals.items()}
    # What the app adds per face: align + paste (colour match, warp back, blend) + save.
    added = per_face["align"] + per_face["paste"] + per_face["save"]
    cpu = {k: 1e3 * v / max(n_faces, 1) for k, v in cpu_totals.items()}
    handler = None if args.no_handler else handler_path(args.repeat, args.upscale)
    result = {
        "machine": machine(),
        "load": load_average(),
        "crop_size": args.size,
        "upscale": args.upscale,
        "photos": len(rows),
        "faces": n_faces,
        "restorer": restorer.name,
        "ms_per_face": per_face,
        "added_ms_per_face": added,
        # CPU time of this process (all its threads): what a busy machine changes least.
        "cpu_ms_per_face": cpu,
        "cpu_added_ms_per_face": cpu["align"] + cpu["paste"] + cpu["save"],
        "rows": rows,
        "handler": handler,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"machine: {result['machine']} ({load_average()} at the end: other work shares the CPUs)")
    print(f"{len(rows)} photos, {n_faces} faces, crop {args.size}, upscale {args.upscale}, median of {args.repeat}, "
          f"restorer {restorer.name}")
    print(f"{'photo':34s} {'faces':>5s} {'align':>7s} {'paste':>7s} {'(colour)':>8s} {'save':>7s}  ms/face")
    for r in rows:
        print(f"{r['photo']:34s} {r['faces']:5d} {r['align_ms_per_face']:7.1f} {r['paste_ms_per_face']:7.1f} "
              f"{r['colour_ms_per_face']:8.1f} {r['save_ms_per_face']:7.1f}")
    print(f"{'all':34s} {n_faces:5d} {per_face['align']:7.1f} {per_face['paste']:7.1f} "
          f"{per_face['colour']:8.1f} {per_face['save']:7.1f}")
    print(f"added per face (align + paste + save): {added:.1f} ms; "
          f"decode {per_face['decode']:.1f} ms and upscale {per_face['upscale']:.1f} ms per face on top")
    print(f"CPU time per face (median per photo; less sensitive to other work): align {cpu['align']:.1f}, "
          f"paste {cpu['paste']:.1f} (colour {cpu['colour']:.1f}), save {cpu['save']:.1f}, "
          f"added {result['cpu_added_ms_per_face']:.1f} ms")
    if handler:
        print(f"job path (restore_photo jobs, passthrough model, median of {args.repeat}): "
              f"{handler['ms_per_face']:.1f} ms per face over {handler['faces']} faces in {handler['photos']} photos "
              f"({handler['jpeg_spliced']} JPEGs kept block by block)")
        for r in handler["rows"]:
            print(f"  {r['photo']:32s} {r['faces']:3d} faces {r['ms_per_face']:7.1f} ms/face")
    return 0


def handler_path(repeat: int, upscale: int) -> dict | None:
    """Time real restore_photo jobs (passthrough model) on an indexed copy of the photos."""
    import shutil

    from refldm_desktop.core.home import Home
    from refldm_desktop.core.library import Library
    from refldm_desktop.core.restoring import RestoreSettings

    with tempfile.TemporaryDirectory() as tmp:
        lib_dir = Path(tmp) / "Pictures"
        for d in ("old_photos", "groups"):
            shutil.copytree(FACES / d, lib_dir / d)
        with Library.open(Home(Path(tmp) / "home")) as lib:
            lib.index([lib_dir])  # not timed: detection is indexing's cost
            ids = [p.id for p in lib.photos() if p.face_count]
            faces = {p.id: p.face_count for p in lib.photos()}
            names = {p.id: f"{p.path.parent.name}/{p.path.name}" for p in lib.photos()}
            times: dict[int, list[float]] = {i: [] for i in ids}
            spliced = 0
            for r in range(repeat):
                settings = RestoreSettings(
                    restorer="passthrough", no_refs_ok=True, upscale=upscale, output_dir=Path(tmp) / f"out{r}"
                )
                queued = lib.restoring.enqueue(ids, settings)
                start: dict[int, float] = {}
                job_photo = {j.id: j.photo_id for j in lib.jobs.list(all=True, batch_id=queued.batch_id)}

                def on_event(e, start=start, job_photo=job_photo) -> None:
                    now = time.perf_counter()
                    if e.state == "running":
                        start.setdefault(e.job_id, now)
                    elif e.state == "done":
                        times[job_photo[e.job_id]].append(now - start[e.job_id])

                lib.jobs.run(batch_id=queued.batch_id, on_event=on_event)
                if r == 0:
                    spliced = sum(1 for v in lib.jobs.versions() if v.parameters.get("jpeg_blocks_kept"))
    rows = []
    total_t = total_f = 0.0
    for pid, ts in times.items():
        if not ts:
            continue
        med = statistics.median(ts)
        total_t += med
        total_f += faces[pid]
        rows.append({"photo": names[pid], "faces": faces[pid], "ms_per_face": 1e3 * med / faces[pid]})
    if not total_f:
        return None
    return {
        "photos": len(rows),
        "faces": int(total_f),
        "ms_per_face": 1e3 * total_t / total_f,
        "jpeg_spliced": spliced,
        "rows": rows,
    }


if __name__ == "__main__":
    raise SystemExit(main())
