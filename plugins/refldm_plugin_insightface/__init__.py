"""Face backend for insightface's buffalo_l models, run with onnxruntime and numpy alone.

buffalo_l is not shipped with the app (its licence allows non-commercial research only);
it is used when the user has put the model folder in place. We read two of its files:

- det_10g.onnx: the SCRFD detector. Input "input.1" (1, 3, H, W), RGB, (x - 127.5) / 128.
  Nine outputs: scores, box distances and key-point offsets for strides 8, 16 and 32, two
  anchors per grid cell, one row per anchor ((N, 1), (N, 4), (N, 10); some exports add a
  leading batch axis of 1).
- w600k_r50.onnx: the ArcFace recogniser. Input (n, 3, 112, 112), RGB, (x - 127.5) / 127.5,
  the face aligned by a similarity transform of its 5 key points onto ArcFace's template.
  Output (n, 512), which we L2-normalise.

The insightface package itself is never needed (it pulls in OpenCV and more); the
decoding, NMS and alignment below follow the published model conventions.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from refldm_desktop.plugin_api import DetectedFace, EmbeddingSpace, as_rgb_image

__all__ = [
    "InsightFaceBackend",
    "INSIGHTFACE_SPACE",
    "ARCFACE_TEMPLATE",
    "default_model_dir",
    "similarity_transform",
    "nms",
]

# Cosine distance (1 - cosine similarity) between L2-normalised ArcFace embeddings.
# 0.5 is Immich's long-standing default for clustering with exactly this model
# (buffalo_l, maxDistance 0.5); insightface's own notes put same-person similarities
# above ~0.3-0.4, so 0.5 distance is on the safe side for chained clustering.
INSIGHTFACE_SPACE = EmbeddingSpace(
    model_id="insightface-buffalo_l-w600k_r50", dim=512, metric="cosine", same_person=0.5
)

DETECTOR_FILE = "det_10g.onnx"
RECOGNISER_FILE = "w600k_r50.onnx"

# Where the 5 key points (left eye, right eye, nose, left and right mouth corners, as
# seen by the viewer) sit in ArcFace's 112x112 input, in pixel-centre coordinates.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
ARCFACE_SIZE = 112


def default_model_dir() -> Path:
    """The buffalo_l folder where insightface itself keeps it."""
    root = os.environ.get("INSIGHTFACE_HOME")
    base = Path(root).expanduser() if root else Path.home() / ".insightface"
    return base / "models" / "buffalo_l"


class InsightFaceBackend:
    """SCRFD detection with 5 key points and 512-d ArcFace embeddings (buffalo_l).

    Options (keyword only):
      model_dir: folder holding det_10g.onnx and w600k_r50.onnx (default:
        $INSIGHTFACE_HOME/models/buffalo_l, else ~/.insightface/models/buffalo_l).
      det_size: the detector sees the photo letterboxed into det_size x det_size pixels
        (insightface's default 640): bigger finds smaller faces in big photos, slower.
      min_score: detector confidence below which faces are dropped (insightface: 0.5).
      nms_iou: overlap above which the weaker of two boxes is dropped (insightface: 0.4).
      providers: onnxruntime execution providers (default: CPU).
    """

    name = "insightface"

    def __init__(
        self,
        *,
        model_dir: str | Path | None = None,
        det_size: int = 640,
        min_score: float = 0.5,
        nms_iou: float = 0.4,
        providers: Sequence[str] | None = None,
    ) -> None:
        if int(det_size) < 32 or int(det_size) % 32:
            raise ValueError(f"det_size must be a positive multiple of 32, got {det_size}")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        self.model_dir = Path(model_dir).expanduser() if model_dir is not None else default_model_dir()
        self.det_size = int(det_size)
        self.min_score = float(min_score)
        self.nms_iou = float(nms_iou)
        self.providers = list(providers) if providers else ["CPUExecutionProvider"]
        self._lock = threading.Lock()
        self._det: _Scrfd | None = None
        self._rec: _ArcFace | None = None

    @property
    def space(self) -> EmbeddingSpace:
        return INSIGHTFACE_SPACE

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("onnxruntime") is None:
            return False, "onnxruntime is not installed; install it with: pip install onnxruntime"
        missing = [f for f in (DETECTOR_FILE, RECOGNISER_FILE) if not (self.model_dir / f).is_file()]
        if missing:
            return False, (
                f"insightface buffalo_l models not found: {', '.join(missing)} missing in "
                f"{self.model_dir}; unpack buffalo_l.zip there, or set INSIGHTFACE_HOME or "
                "the backend's model_dir option"
            )
        return True, ""

    def _load(self) -> tuple[_Scrfd, _ArcFace]:
        with self._lock:
            if self._det is None or self._rec is None:
                ok, reason = self.available()
                if not ok:
                    raise RuntimeError(f"insightface face backend is not available: {reason}")
                import onnxruntime  # heavy: only when faces are actually wanted

                def session(name: str) -> Any:
                    return onnxruntime.InferenceSession(str(self.model_dir / name), providers=self.providers)

                self._det = _Scrfd(session(DETECTOR_FILE))
                self._rec = _ArcFace(session(RECOGNISER_FILE))
            return self._det, self._rec

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        image = as_rgb_image(image)
        det, rec = self._load()
        with self._lock:
            boxes, scores, kps = det.detect(image, self.det_size, self.min_score, self.nms_iou)
            if len(boxes) == 0:
                return []
            crops = np.stack([align_arcface(image, k) for k in kps])
            embeddings = rec.embed(crops)
        h, w = image.shape[:2]
        faces = []
        for box, score, points, emb in zip(boxes, scores, kps, embeddings):
            x0, y0, x1, y1 = (float(v) for v in box)
            x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
            if x1 - x0 < 1.0 or y1 - y0 < 1.0:
                continue
            faces.append(
                DetectedFace(
                    box=(x0, y0, x1, y1),
                    score=float(score),
                    landmarks=points.astype(np.float32),
                    embedding=emb.astype(np.float32),
                    extra={"detector": "scrfd-10g"},
                )
            )
        faces.sort(key=lambda f: (f.box[0], f.box[1]))
        return faces


class _Scrfd:
    """SCRFD's pre- and post-processing around an onnxruntime session."""

    def __init__(self, session: Any) -> None:
        self.session = session
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise RuntimeError(f"SCRFD model should have one input, it has {len(inputs)}")
        self.input_name = inputs[0].name
        self.output_names = [o.name for o in session.get_outputs()]
        n = len(self.output_names)
        if n == 9:
            self.strides, self.anchors = (8, 16, 32), 2
        elif n == 15:
            self.strides, self.anchors = (8, 16, 32, 64, 128), 1
        else:
            raise RuntimeError(
                f"SCRFD model with {n} outputs is not supported: we need the key-point "
                "variant (9 or 15 outputs: scores, boxes and key points per stride)"
            )
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}

    def detect(
        self, image: np.ndarray, size: int, min_score: float, nms_iou: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        # Letterbox: fit the photo into size x size keeping its aspect, pad right/bottom.
        scale = min(size / w, size / h)
        nw, nh = max(1, min(size, int(round(w * scale)))), max(1, min(size, int(round(h * scale))))
        canvas = np.zeros((size, size, 3), dtype=np.uint8)
        canvas[:nh, :nw] = _resize(image, nw, nh)
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outs = self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(blob)})

        k = len(self.strides)
        all_boxes, all_scores, all_kps = [], [], []
        for i, stride in enumerate(self.strides):
            scores = np.asarray(outs[i], dtype=np.float32).reshape(-1)
            dist = np.asarray(outs[i + k], dtype=np.float32).reshape(-1, 4) * stride
            kps = np.asarray(outs[i + 2 * k], dtype=np.float32).reshape(-1, 10) * stride
            centres = self._anchor_centres(size // stride, size // stride, stride)
            if centres.shape[0] != scores.shape[0]:
                raise RuntimeError(
                    f"SCRFD output for stride {stride} has {scores.shape[0]} rows; "
                    f"expected {centres.shape[0]} for a {size}x{size} input"
                )
            keep = scores >= min_score
            if not keep.any():
                continue
            c, d, kp = centres[keep], dist[keep], kps[keep]
            all_boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
            all_scores.append(scores[keep])
            all_kps.append(c[:, None, :] + kp.reshape(-1, 5, 2))
        if not all_boxes:
            return np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, 5, 2))
        boxes = np.concatenate(all_boxes) / scale
        scores = np.concatenate(all_scores)
        kps = np.concatenate(all_kps) / scale
        keep_idx = nms(boxes, scores, nms_iou)
        return boxes[keep_idx], scores[keep_idx], kps[keep_idx]

    def _anchor_centres(self, rows: int, cols: int, stride: int) -> np.ndarray:
        key = (rows, cols, stride)
        if key not in self._centres:
            ys, xs = np.mgrid[:rows, :cols]
            centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            # Each grid cell has `anchors` anchors in a row, all at the cell's corner.
            self._centres[key] = np.repeat(centres, self.anchors, axis=0)
        return self._centres[key]


class _ArcFace:
    def __init__(self, session: Any) -> None:
        self.session = session
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = session.get_outputs()[0].name
        # Some exports fix the batch size to 1; then faces go through one at a time.
        self.batch_one = isinstance(inp.shape[0], int) and inp.shape[0] == 1

    def embed(self, crops: np.ndarray) -> np.ndarray:
        blob = ((crops.astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)
        blob = np.ascontiguousarray(blob)
        if self.batch_one:
            out = np.concatenate([self.session.run([self.output_name], {self.input_name: b[None]})[0] for b in blob])
        else:
            out = self.session.run([self.output_name], {self.input_name: blob})[0]
        out = np.asarray(out, dtype=np.float64).reshape(len(crops), -1)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    boxes = np.asarray(boxes, dtype=np.float64)
    order = np.argsort(-np.asarray(scores), kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation + uniform scale + shift that best maps src points onto dst.

    Least squares in closed form (Umeyama, 1991), without reflection.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1.0
    rot = u @ fix @ vt
    var = (s**2).sum() / len(src)
    scale = (sig * np.diag(fix)).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def align_arcface(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The 112x112 RGB crop ArcFace expects, from a face's 5 key points."""
    from PIL import Image

    m = similarity_transform(points, ARCFACE_TEMPLATE)  # image -> crop, pixel centres
    inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))[:2]
    # Pillow samples output pixel (u, v) at inv @ (u + .5, v + .5, 1) in pixel-edge
    # coordinates. With q_edge = q + .5 and p_edge = p + .5 (p, q pixel centres):
    # p_edge = inv @ (q_edge - .5) + .5, so each row's constant gains .5 - .5 * (its two
    # linear coefficients).
    a, b, c = inv[0]
    d, e, f = inv[1]
    data = (a, b, c - 0.5 * (a + b) + 0.5, d, e, f - 0.5 * (d + e) + 0.5)
    crop = Image.fromarray(image).transform(
        (ARCFACE_SIZE, ARCFACE_SIZE), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR
    )
    return np.asarray(crop)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if (width, height) == (image.shape[1], image.shape[0]):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
