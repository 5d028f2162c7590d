"""What does quality scoring cost next to finding and embedding the face?

For every image under a folder (default ../shared/data/faces), with dlib directly:
detection (HOG, upsampling images under 300 px) + 68 landmarks + 128-d embedding, then
quality scoring (faces.quality.assess per face, plus the whole-photo fingerprint once per
photo). Prints the per-face cost of each and their ratio, with the machine named.
Goal: scoring adds at most 10% to detection + embedding.

The restoration need's own cost is reported apart: the old-print measures that assess
takes for it (faces.oldprint.measure) plus the rating (faces.need.rate_need). Goal: at
most 5 ms per face.

    python benchmarks/quality.py [FOLDER] [--repeat N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from refldm_desktop.faces import oldprint
from refldm_desktop.faces.need import rate_need
from refldm_desktop.faces.quality import MODEL_EYE_DISTANCE, _source_gray, assess, detector_confidence, photo_fingerprint

REPO = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f}"
    return f"{platform.node()}: {cpu}, {os.cpu_count()} logical CPUs{load}, Python {platform.python_version()}"


def load_rgb(path: Path) -> np.ndarray | None:
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            return np.ascontiguousarray(np.asarray(im.convert("RGB")))
    except (OSError, UnidentifiedImageError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, default=REPO.parent / "shared" / "data" / "faces")
    ap.add_argument("--repeat", type=int, default=3, help="time scoring this many times, keep the fastest")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"no such folder: {args.folder}", file=sys.stderr)
        return 2
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        print("face_recognition_models is not installed", file=sys.stderr)
        return 2
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
    encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    paths = sorted(p for p in args.folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    t_backend = t_score = 0.0
    n_faces = n_photos = 0
    per_face_score: list[float] = []
    per_face_need: list[float] = []
    for path in paths:
        rgb = load_rgb(path)
        if rgb is None:
            continue
        n_photos += 1
        t0 = time.perf_counter()
        upsample = 1 if min(rgb.shape[:2]) < 300 else 0
        boxes, scores, _ = detector.run(rgb, upsample, 0.0)
        faces = []
        for box, score in zip(boxes, scores):
            shape = predictor(rgb, box)
            encoder.compute_face_descriptor(rgb, shape, 0)
            lm = np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float64)
            faces.append((lm, float(score)))
        t_backend += time.perf_counter() - t0
        if not faces:
            continue
        n_faces += len(faces)
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t1 = time.perf_counter()
            photo_fingerprint(rgb)
            for lm, score in faces:
                assess(rgb, lm, detector=detector_confidence(score, "dlib"))
            best = min(best, time.perf_counter() - t1)
        t_score += best
        per_face_score += [best / len(faces)] * len(faces)
        for lm, score in faces:
            q = assess(rgb, lm, detector=detector_confidence(score, "dlib"))
            gray, x0, y0 = _source_gray(rgb, lm)
            window = rgb[y0 : y0 + gray.shape[0], x0 : x0 + gray.shape[1]]
            reduce = max(1, int(q.eye_distance / MODEL_EYE_DISTANCE))
            extent = lm.max(0) - lm.min(0)
            best = float("inf")
            for _ in range(max(1, args.repeat)):
                t1 = time.perf_counter()
                oldprint.measure(rgb, window, reduce, float(extent[0] * extent[1]))
                rate_need(q)
                best = min(best, time.perf_counter() - t1)
            per_face_need.append(best)

    if n_faces == 0:
        print(f"no faces found under {args.folder}", file=sys.stderr)
        return 1
    backend_ms = 1000 * t_backend / n_faces
    score_ms = 1000 * t_score / n_faces
    print(f"machine: {machine()}")
    print(f"folder: {args.folder} ({n_photos} photos, {n_faces} faces)")
    print(f"detection + landmarks + embedding (dlib): {backend_ms:7.2f} ms per face")
    print(
        f"quality scoring:                          {score_ms:7.2f} ms per face "
        f"(median {1000 * float(np.median(per_face_score)):.2f}, max {1000 * max(per_face_score):.2f})"
    )
    print(f"scoring adds {100 * score_ms / backend_ms:.1f}% to detection + embedding (goal <= 10%)")
    need_ms = 1000 * np.asarray(per_face_need)
    print(
        f"restoration need (old-print measures + rating, part of scoring): {need_ms.mean():.2f} ms per face "
        f"(median {np.median(need_ms):.2f}, max {need_ms.max():.2f}; goal <= 5 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
