"""FFHQ face alignment and its exact inverse.

ReF-LDM was trained on FFHQ-aligned crops, so faces must be cut out the way FFHQ did: the eye
centres and mouth centre define an oriented square (a similarity transform of the photo), the
photo is resampled into it, and areas outside the photo are filled by blurred reflection.
We keep the transform as a 2x3 matrix so that a restored crop can be warped back into the
photo with the exact inverse.

Coordinates are continuous: pixel (i, j) covers [i, i+1) x [j, j+1), the same convention
Pillow's affine transform uses, so warping there and back lands on the same pixels. OpenCV
does the resampling (several times faster than Pillow); its matrices are shifted to its own
convention (pixel centres at integers) on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True, eq=False)
class AlignTransform:
    matrix: np.ndarray  # 2x3: image (x, y, 1) -> crop (u, v)
    size: int
    eye_distance: float  # in source pixels; a direct measure of face resolution

    def inverse(self) -> np.ndarray:
        """2x3 matrix mapping crop (u, v, 1) to image (x, y)."""
        return invert_affine(self.matrix)

    @property
    def source_pixels_per_crop_pixel(self) -> float:
        a = self.matrix[:, :2]
        return float(1.0 / np.sqrt(abs(np.linalg.det(a))))

    def crop_to_image(self, points: np.ndarray) -> np.ndarray:
        return apply_affine(self.inverse(), points)

    def image_to_crop(self, points: np.ndarray) -> np.ndarray:
        return apply_affine(self.matrix, points)


def invert_affine(m: np.ndarray) -> np.ndarray:
    full = np.vstack([np.asarray(m, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ m[:, :2].T + m[:, 2]


def _eyes_and_mouth(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape == (68, 2):
        # iBUG 68: 36-41 and 42-47 are the eyes (viewer's left first), 48 and 54 the mouth corners.
        return lm[36:42].mean(0), lm[42:48].mean(0), lm[48], lm[54]
    if lm.shape == (5, 2):
        # insightface order: left eye, right eye, nose, left mouth corner, right mouth corner.
        return lm[0], lm[1], lm[3], lm[4]
    raise ValueError(f"landmarks must have shape (68, 2) or (5, 2), got {lm.shape}")


def ffhq_quad(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre c and half-axes x, y of the FFHQ crop square in image coordinates."""
    eye_left, eye_right, mouth_left, mouth_right = _eyes_and_mouth(landmarks)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) * 0.5 - eye_avg
    # The square leans between the eye line and the perpendicular of the eye-mouth line,
    # which keeps it stable when one of the two is measured badly.
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1.0, 1.0]
    norm = np.hypot(*x)
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError("degenerate landmarks: eyes and mouth coincide")
    x = x / norm * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1.0, 1.0]
    c = eye_avg + eye_to_mouth * 0.1
    return c, x, y


def ffhq_transform(landmarks: np.ndarray, size: int = 512) -> AlignTransform:
    c, x, y = ffhq_quad(landmarks)
    # crop (u, v) -> image: top-left corner c - x - y, u runs along 2x, v along 2y.
    to_image = np.array(
        [
            [2 * x[0] / size, 2 * y[0] / size, c[0] - x[0] - y[0]],
            [2 * x[1] / size, 2 * y[1] / size, c[1] - x[1] - y[1]],
        ]
    )
    eye_left, eye_right, _, _ = _eyes_and_mouth(landmarks)
    return AlignTransform(
        matrix=invert_affine(to_image),
        size=int(size),
        eye_distance=float(np.hypot(*(eye_right - eye_left))),
    )


def _blurred_reflect_pad(region: np.ndarray, pads: tuple[int, int, int, int], blur: float) -> np.ndarray:
    """Pad (left, top, right, bottom) by reflection, fading the padding into a blur like FFHQ
    so that the model never sees hard mirror seams."""
    left, top, right, bottom = pads
    if not any(pads):
        return region
    h, w = region.shape[:2]
    mode: Literal["reflect", "symmetric"] = "reflect" if max(left, right) < w and max(top, bottom) < h else "symmetric"
    try:
        padded = np.pad(region, ((top, bottom), (left, right), (0, 0)), mode=mode)
    except ValueError:
        padded = np.pad(region, ((top, bottom), (left, right), (0, 0)), mode="edge")
    ph, pw = padded.shape[:2]
    blurred = _soft_blur(padded, max(blur, 1.0))
    # The fill colour: a median of some 16000 of the pixels is as good as one of all.
    flat = padded.reshape(-1, 3)
    median = np.median(flat[:: max(1, len(flat) // 16384)], axis=0).astype(np.float32)
    out = padded.copy()
    # Only the padding changes (its weight is 0 inside the region): blend it band by band.
    bands = [(0, top, 0, pw), (top + h, ph, 0, pw), (top, top + h, 0, left), (top, top + h, left + w, pw)]
    for y0, y1, x0, x1 in bands:
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        xx = np.arange(x0, x1, dtype=np.float32)[None, :]
        dist_x = np.maximum(np.maximum(left - xx, xx - (left + w - 1)), 0) / max(left, right, 1)
        dist_y = np.maximum(np.maximum(top - yy, yy - (top + h - 1)), 0) / max(top, bottom, 1)
        weight = np.clip(np.maximum(dist_x, dist_y) * 3.0, 0.0, 1.0)[..., None]
        band = padded[y0:y1, x0:x1].astype(np.float32)
        band += (blurred[y0:y1, x0:x1].astype(np.float32) - band) * weight
        band += (median - band) * weight * 0.5
        out[y0:y1, x0:x1] = np.clip(np.rint(band), 0, 255).astype(np.uint8)
    return out


def warp_to_crop(image: np.ndarray, t: AlignTransform) -> np.ndarray:
    """The aligned (size, size, 3) uint8 crop of an (H, W, 3) uint8 RGB image."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("warp_to_crop expects an (H, W, 3) uint8 RGB image")
    h, w = image.shape[:2]
    size = t.size
    inv = t.inverse()
    corners = apply_affine(inv, np.array([[0, 0], [size, 0], [0, size], [size, size]], float))
    scale = t.source_pixels_per_crop_pixel
    border = max(int(np.ceil(scale * 4)), 3)
    x0 = int(np.floor(corners[:, 0].min())) - border
    y0 = int(np.floor(corners[:, 1].min())) - border
    x1 = int(np.ceil(corners[:, 0].max())) + border
    y1 = int(np.ceil(corners[:, 1].max())) + border
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx0 >= cx1 or cy0 >= cy1:
        raise ValueError("the face lies outside the image")
    region = image[cy0:cy1, cx0:cx1]
    pads = (cx0 - x0, cy0 - y0, x1 - cx1, y1 - cy1)
    region = _blurred_reflect_pad(np.ascontiguousarray(region), pads, blur=size * scale * 0.02)
    cv2 = opencv()
    # Shrink first with a low-pass filter (area averaging) when the face is larger than the
    # crop; an affine resampler alone would alias (FFHQ does the same).
    work = region
    fx = fy = 1.0
    if scale > 1.0:
        new_w = max(1, int(round(region.shape[1] / scale)))
        new_h = max(1, int(round(region.shape[0] / scale)))
        work = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
        fx, fy = region.shape[1] / new_w, region.shape[0] / new_h
    # crop (u, v) -> region coords -> work coords
    m = inv.copy()
    m[0, 2] -= x0
    m[1, 2] -= y0
    m[0] /= fx
    m[1] /= fy
    # A face smaller than the crop is enlarged. The 2-D bicubic affine costs about 24 ns per
    # output pixel, so it runs onto a grid of twice the face's own resolution (rotation and
    # shift, enough samples to keep the detail) and a separable bicubic resize, ten times
    # cheaper per pixel, enlarges that to the crop. Both grids share their outer edges, so no
    # shift is added; the round trip through paste-back measures as sharp as the direct warp.
    n = size
    if scale < 1.0:
        n = int(np.ceil(size * scale * _OVERSAMPLE))
        if n > _TWO_STEP_BELOW * size:
            n = size  # the resize would cost more than the smaller affine saves
    if n < size:
        m[:, :2] *= size / n  # grid pixel (i, j) covers crop pixels scaled by size / n
    out = cv2.warpAffine(
        work, opencv_affine(m), (n, n), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101
    )
    if n < size:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(out, dtype=np.uint8)


def opencv_affine(m: np.ndarray) -> np.ndarray:
    """An affine map between continuous coordinates (pixel (i, j) covers [i, i+1)) as
    OpenCV wants it, between pixel centres at integers."""
    out = np.array(m, dtype=np.float64)
    out[:, 2] += out[:, :2].sum(axis=1) * 0.5 - 0.5
    return out


def _soft_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of a uint8 image for padding: a wide one is blurred at a smaller
    scale (cheap, and nothing finer than the blur survives it anyway)."""
    cv2 = opencv()
    factor = int(sigma // 2)
    h, w = a.shape[:2]
    if factor < 2 or min(h, w) < 4 * factor:
        return cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    small = cv2.resize(a, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor, borderType=cv2.BORDER_REFLECT_101)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def opencv():
    """OpenCV, imported when first needed (it is heavy) and kept to one thread: the app
    runs one warp per face at a time, and on a shared machine more threads only contend."""
    global _cv2
    if _cv2 is None:
        try:
            import cv2
        except ImportError as exc:  # an install from before OpenCV was needed
            from refldm_desktop.errors import RestoreError

            raise RestoreError("aligning faces needs OpenCV, which is not installed: "
                               "python3 -m pip install opencv-python-headless") from exc
        cv2.setNumThreads(1)
        _cv2 = cv2
    return _cv2


_cv2 = None
# Samples per source pixel on the intermediate grid of an enlarged face: at 1 the round trip
# loses about 3 dB on the faces (two interpolations at 1:1 blur), at 2 nothing measurable.
_OVERSAMPLE = 2.0
# The intermediate grid pays off only when it has clearly fewer pixels than the crop.
_TWO_STEP_BELOW = 0.9
