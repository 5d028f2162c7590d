"""Degraded copies of a real photo, each with one defect that restoration repairs.

Strengths follow the face, not the photo: a defect that is plain at the size ReF-LDM sees
a face (eyes 128 px apart) is as plain on a 150 px chip as on a 2000 px portrait. `eyes`
is the distance between the eye centres of the photo's face, in its pixels.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

KINDS = ("blur", "down4", "jpeg10", "noise", "grain", "scratches")
MODEL_EYES = 128.0


def _gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    """A true Gaussian blur of a float (H, W) or (H, W, C) array, edges reflected."""
    r = int(4 * sigma) + 1
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = [(r, r), (r, r)] + [(0, 0)] * (a.ndim - 2)
    p = np.pad(a, pad, mode="reflect")
    out = np.zeros_like(p[:, r:-r])
    for i, w in enumerate(k):
        out += w * p[:, i : i + out.shape[1]]
    p, out = out, np.zeros_like(out[r:-r])
    for i, w in enumerate(k):
        out += w * p[i : i + out.shape[0]]
    return out


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def blur(rgb: np.ndarray, eyes: float) -> np.ndarray:
    """Out of focus: a Gaussian of 2.5 px at the model's scale (never under 1.5 px)."""
    return _u8(_gauss(rgb.astype(np.float32), max(1.5, 2.5 * eyes / MODEL_EYES)))


def down_up(rgb: np.ndarray, factor: int = 4) -> np.ndarray:
    h, w = rgb.shape[:2]
    im = Image.fromarray(rgb).resize((max(1, w // factor), max(1, h // factor)), Image.Resampling.BICUBIC)
    return np.asarray(im.resize((w, h), Image.Resampling.BICUBIC))


def jpeg(rgb: np.ndarray, quality: int = 10) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def noise(rgb: np.ndarray, eyes: float, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise: independent per pixel and channel, sigma 20 of 255 at the model's scale."""
    sigma = 20.0 * max(1.0, eyes / MODEL_EYES)
    return _u8(rgb + rng.normal(0.0, sigma, rgb.shape))


def grain(rgb: np.ndarray, eyes: float, rng: np.random.Generator) -> np.ndarray:
    """Film grain: clumps of silver about 2 px across at the model's scale, the same in every
    channel, strongest in the mid-tones (where a print's density changes fastest)."""
    scale = max(1.0, eyes / MODEL_EYES)
    g = _gauss(rng.standard_normal(rgb.shape[:2]).astype(np.float32), 0.8 * scale)
    g /= g.std()
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    amp = 16.0 * (0.4 + 2.4 * luma * (1.0 - luma))
    return _u8(rgb + (amp * g)[..., None])


def scratches(rgb: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, n: int = 5) -> np.ndarray:
    """Scratches in the emulsion: thin, long, gently curved bright lines, several of them
    across the face (the paper shows through where the emulsion is gone)."""
    from PIL import ImageDraw, ImageFilter

    lm = np.asarray(landmarks, float)
    eyes = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))
    lo, hi = lm.min(0), lm.max(0)
    centre, half = (lo + hi) / 2, (hi - lo).max() * 0.9
    h, w = rgb.shape[:2]
    ss = 4  # drawn 4x larger, then shrunk: antialiased lines of any width
    mask = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(mask)
    width = max(1.5, 1.5 * eyes / MODEL_EYES)
    for _ in range(n):
        a = rng.uniform(0, np.pi)
        d = np.array([np.cos(a), np.sin(a)])
        off = centre + rng.uniform(-0.6, 0.6, 2) * half
        p0, p2 = off - d * half * 1.6, off + d * half * 1.6
        p1 = off + np.array([-d[1], d[0]]) * rng.uniform(-0.25, 0.25) * half
        t = np.linspace(0, 1, 40)[:, None]
        pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        draw.line([tuple(p) for p in pts * ss], fill=int(rng.uniform(230, 255)), width=max(1, round(width * ss)))
    alpha = np.asarray(mask.resize((w, h), Image.Resampling.BOX), np.float32)[..., None] / 255.0
    value = rng.uniform(235, 255)
    return _u8(rgb * (1 - alpha) + value * alpha)


def degrade(kind: str, rgb: np.ndarray, landmarks: np.ndarray, seed: int = 0) -> np.ndarray:
    """One degraded copy of `rgb`, whose face has these 68 landmarks."""
    rng = np.random.default_rng(seed)
    lm = np.asarray(landmarks, float)
    eyes = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))
    if kind == "blur":
        return blur(rgb, eyes)
    if kind == "down4":
        return down_up(rgb, 4)
    if kind == "jpeg10":
        return jpeg(rgb, 10)
    if kind == "noise":
        return noise(rgb, eyes, rng)
    if kind == "grain":
        return grain(rgb, eyes, rng)
    if kind == "scratches":
        return scratches(rgb, lm, rng)
    raise ValueError(f"unknown degradation {kind!r}")
