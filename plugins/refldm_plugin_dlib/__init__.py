"""The default, offline face backend: dlib with the models from face_recognition_models.

Detection runs on a "working copy" of the photo whose size is chosen per photo: small
photos are enlarged so that faces of about 40 pixels reach the HOG detector's 80-pixel
window, and large photos are shrunk so that one photo never costs more than a fixed
number of pixels. Boxes and landmarks are mapped back to the photo's own pixels, and the
embedding is computed from the original pixels so that shrinking never costs identity
detail.

dlib and the model files are loaded lazily, on the first detect(), once per backend.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

from refldm_desktop.plugin_api import DetectedFace, EmbeddingSpace, as_rgb_image

__all__ = ["DlibBackend", "DLIB_SPACE", "default_models_dir"]

# Euclidean distances between dlib ResNet embeddings. dlib documents 0.6 as its
# same/different threshold on LFW pairs (99.38%), and its own clustering example uses 0.5.
# Clustering chains decisions, where one false link fuses two people, so we sit between
# the two. On the 55 labelled identity photos in ../shared (benchmarks/face_backends.py):
# same-person pairs median 0.32, 95th percentile 0.50, max 0.59; different people min
# 0.61, 1st percentile 0.69. Clustering there meets precision >= 0.98 and recall >= 0.95
# for every threshold from 0.475 to 0.625; 0.55 is the middle of that band, so neither
# side is tuned to the edge of these photos.
DLIB_SPACE = EmbeddingSpace(
    model_id="dlib-resnet-v1", dim=128, metric="euclidean", same_person=0.55
)

_MODEL_FILES = {
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "embedder": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}

# The HOG detector has five filters; its index tells roughly how the face is turned.
_HOG_VIEWS = ("front", "left", "right", "front-tilted-left", "front-tilted-right")


def default_models_dir() -> Path | None:
    """The models/ folder of the installed face_recognition_models, without importing it.

    Importing the package would pull in pkg_resources and print warnings; we only need
    the path to its data files.
    """
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models"
        if candidate.is_dir():
            return candidate
    return None


class DlibBackend:
    """dlib HOG (or CNN) detection, 68 landmarks and the 128-d ResNet embedding.

    Options (keyword only):
      detector: "hog" (fast, frontal faces) or "cnn" (dlib's MMOD detector: finds more
        turned faces, several times slower on a CPU).
      num_jitters: 1 computes each embedding once (deterministic). Larger values average
        that many randomly jittered crops: slightly more robust, that many times slower,
        and no longer exactly repeatable.
      max_upsample: the most a small photo is enlarged for detection (2.0 finds faces of
        about 40 pixels with HOG).
      max_pixels: the working copy never has more pixels than this, which bounds the cost
        of one photo; faces smaller than about 80 * (photo size / working size) pixels
        are then missed in very large photos.
      min_score: detections scoring below this are dropped (HOG's own threshold is 0).
      models_dir: a folder holding the dlib .dat files (default: face_recognition_models).
    """

    name = "dlib"

    def __init__(
        self,
        *,
        detector: Literal["hog", "cnn"] = "hog",
        num_jitters: int = 1,
        max_upsample: float = 2.0,
        max_pixels: int | None = None,
        min_score: float | None = None,
        models_dir: str | Path | None = None,
    ) -> None:
        if detector not in ("hog", "cnn"):
            raise ValueError(f"detector must be 'hog' or 'cnn', got {detector!r}")
        if int(num_jitters) < 1:
            raise ValueError(f"num_jitters must be at least 1, got {num_jitters}")
        if not max_upsample >= 1.0:
            raise ValueError(f"max_upsample must be at least 1.0, got {max_upsample}")
        self.detector = detector
        self.num_jitters = int(num_jitters)
        self.max_upsample = float(max_upsample)
        # The CNN detector costs roughly 20x HOG per pixel on a CPU, so it gets a
        # smaller working copy by default; it also finds smaller faces than HOG.
        default_pixels = 2_500_000 if detector == "hog" else 1_000_000
        self.max_pixels = int(max_pixels) if max_pixels is not None else default_pixels
        if self.max_pixels < 10_000:
            raise ValueError(f"max_pixels is too small to find faces: {self.max_pixels}")
        self.min_score = float(min_score) if min_score is not None else (0.0 if detector == "hog" else 0.3)
        self.models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
        self._lock = threading.Lock()
        self._models: dict[str, Any] | None = None

    @property
    def space(self) -> EmbeddingSpace:
        return DLIB_SPACE

    # -- availability and loading ---------------------------------------------------------

    def _needed_files(self) -> list[str]:
        keys = ["landmarks68", "landmarks5", "embedder"] + (["cnn"] if self.detector == "cnn" else [])
        return [_MODEL_FILES[k] for k in keys]

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("dlib") is None:
            return False, "dlib is not installed; install it with: pip install dlib-bin"
        if self.models_dir is None:
            return False, (
                "the dlib model files were not found; install them with: "
                "pip install face_recognition_models"
            )
        missing = [f for f in self._needed_files() if not (self.models_dir / f).is_file()]
        if missing:
            return False, f"missing dlib model files in {self.models_dir}: {', '.join(missing)}"
        return True, ""

    def _load(self) -> dict[str, Any]:
        with self._lock:
            if self._models is None:
                ok, reason = self.available()
                if not ok:
                    raise RuntimeError(f"dlib face backend is not available: {reason}")
                import dlib  # heavy: only when faces are actually wanted

                d = self.models_dir
                assert d is not None
                models: dict[str, Any] = {
                    "dlib": dlib,
                    "landmarks68": dlib.shape_predictor(str(d / _MODEL_FILES["landmarks68"])),
                    "landmarks5": dlib.shape_predictor(str(d / _MODEL_FILES["landmarks5"])),
                    "embedder": dlib.face_recognition_model_v1(str(d / _MODEL_FILES["embedder"])),
                }
                if self.detector == "cnn":
                    models["cnn"] = dlib.cnn_face_detection_model_v1(str(d / _MODEL_FILES["cnn"]))
                else:
                    models["hog"] = dlib.get_frontal_face_detector()
                self._models = models
            return self._models

    # -- detection ------------------------------------------------------------------------

    def working_scale(self, height: int, width: int) -> float:
        """How much detection enlarges (> 1) or shrinks (< 1) a photo of this size."""
        budget = math.sqrt(self.max_pixels / float(height * width))
        return min(self.max_upsample, budget)

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        image = as_rgb_image(image)
        models = self._load()
        dlib = models["dlib"]
        h, w = image.shape[:2]
        scale = self.working_scale(h, w)
        if abs(scale - 1.0) < 0.02:
            scale, work = 1.0, image
        else:
            work = _resize(image, max(1, round(w * scale)), max(1, round(h * scale)))
        # Exact per-axis factors, since the working size was rounded to whole pixels.
        sx, sy = work.shape[1] / w, work.shape[0] / h

        with self._lock:  # dlib's objects are not meant for concurrent calls
            found = self._find(models, work)
            faces = []
            for rect, score, extra in found:
                if score < self.min_score:
                    continue
                shape68 = models["landmarks68"](work, rect)
                shape5 = models["landmarks5"](work, rect)
                lm68 = _to_original(_points(shape68), sx, sy)
                lm5 = _to_original(_points(shape5), sx, sy)
                embedding = self._embed(models, dlib, image, lm5)
                box = (
                    max(0.0, rect.left() / sx),
                    max(0.0, rect.top() / sy),
                    min(float(w), (rect.right() + 1) / sx),
                    min(float(h), (rect.bottom() + 1) / sy),
                )
                if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
                    continue  # a box that lies almost wholly outside the photo
                extra = dict(extra, detector=self.detector, landmarks5=lm5.round(2).tolist())
                faces.append(
                    DetectedFace(box=box, score=float(score), landmarks=lm68, embedding=embedding, extra=extra)
                )
        faces.sort(key=lambda f: (f.box[0], f.box[1]))
        return faces

    def _find(self, models: dict[str, Any], work: np.ndarray) -> list[tuple[Any, float, dict]]:
        if self.detector == "cnn":
            dets = models["cnn"](work, 0)
            return [(d.rect, float(d.confidence), {}) for d in dets]
        # A negative min_score lowers dlib's own threshold; a positive one filters later.
        rects, scores, kinds = models["hog"].run(work, 0, min(self.min_score, 0.0))
        return [
            (r, float(s), {"view": _HOG_VIEWS[int(k)] if 0 <= int(k) < len(_HOG_VIEWS) else str(k)})
            for r, s, k in zip(rects, scores, kinds)
        ]

    def _embed(self, models: dict[str, Any], dlib: Any, image: np.ndarray, lm5: np.ndarray) -> np.ndarray:
        """The 128-d embedding from the original pixels, aligned on the 5-point landmarks.

        dlib's ResNet was trained on chips aligned with its 5-point predictor
        (get_face_chip); using the 5 points keeps us on the distribution it was trained on.
        """
        pts = [dlib.point(int(round(x)), int(round(y))) for x, y in lm5]
        xs, ys = lm5[:, 0], lm5[:, 1]
        rect = dlib.rectangle(
            int(math.floor(xs.min())), int(math.floor(ys.min())), int(math.ceil(xs.max())), int(math.ceil(ys.max()))
        )
        shape = dlib.full_object_detection(rect, pts)
        vec = models["embedder"].compute_face_descriptor(image, shape, self.num_jitters)
        return np.asarray(vec, dtype=np.float32)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    # Pillow's resize filters over the whole source footprint when shrinking, so small
    # faces in big photos are not aliased away.
    out = Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(out))


def _points(shape: Any) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _to_original(points: np.ndarray, sx: float, sy: float) -> np.ndarray:
    # Pixel centres: centre i of the working copy lies at (i + 0.5) / s - 0.5 in the photo.
    out = np.empty_like(points)
    out[:, 0] = (points[:, 0] + 0.5) / sx - 0.5
    out[:, 1] = (points[:, 1] + 0.5) / sy - 0.5
    return out.astype(np.float32)
