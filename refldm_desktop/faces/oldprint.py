"""What an old print suffers from, measured from the physics of each defect.

- Film grain: clumps of silver or dye a pixel or two across. Unlike a sensor's noise, it is
  correlated between neighbouring pixels, so it survives averaging pairs of pixels far
  better than white noise does (white noise halves, grain barely shrinks).
- Scratches: where the emulsion is scraped off, the paper shows through as thin, long,
  bright lines. A grey opening (erode, then dilate, with a square wider than the line)
  removes anything bright and thinner than the square; what it removed and lies along one
  long straight line is a scratch.
- Cracks: an old print's emulsion cracks in a jagged network across the whole print, the
  paper showing through. Each crack bends too often for the straight-line search above, so
  they are found over the whole photo as connected thin lines that stand out by a good part
  of the print's tonal range, and their lengths add up. A few of them count only on a print
  that shows its age otherwise too (faded, toned or cast, grainy): thin bright lines in a
  fresh photo are hair, wires and railings.
- Halftone: a printed picture is a grid of dots, one sharp peak (and its harmonics) far out
  in the spectrum, far above everything at the same frequency.
- Fading: dyes and silver lose density, so the darkest tone of the whole print lifts and
  the tonal range shrinks.
- Colour cast: the dyes fade at different rates (or the print was toned), so the darkest
  and lightest tones, which are neutral in a fresh photo, lean one way.

Grain and scratches are measured on the face at about the scale ReF-LDM sees it (eyes at
most 128 px apart), because finer grain is averaged away before the model sees it. Fading
and colour cast are properties of the whole print and are measured on a small copy of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Opening square (pixels at the measuring scale): removes bright lines up to 4 px wide.
_OPEN = 5
# Side of the photo's small copy used for tone and colour (pixels, longest side).
_TONE_SIDE = 160
# Side of the middle of the face that grain is measured on.
_GRAIN_SIDE = 128
# Longest side of the photo's copy that cracks are looked for on: a crack a few pixels wide
# in a large scan is a line one or two pixels wide there.
_CRACK_SIDE = 400


@dataclass(frozen=True)
class PrintSigns:
    """Raw signs of an old print around one face (and of its whole photo)."""

    grain: float  # noise sigma (0..255) left after averaging 2x2 pixels at the face's measuring scale
    grain_ratio: float  # that over the sigma before averaging: ~0.5 white noise, near 1 grain
    chroma_grain: float  # the same for the colour-difference channels, at source pixels
    chroma_grain_ratio: float
    scratches: float  # the longest thin bright line across the face, in face widths
    halftone: float  # strongest isolated spectral peak over the median at its frequency (log10)
    context: float  # the photo's area over the face's: ~1.5 for a tight crop of a face
    black: float  # the photo's 2nd luma percentile (0..1): its darkest tone
    white: float  # its 98th percentile
    shadow_cast: float  # chroma (0..1) of the photo's darkest tenth; ~0 when neutral
    light_cast: float  # chroma of its lightest tenth
    cast_agreement: float  # cosine between the two casts' directions (1: the same way)
    colourful: float  # mean chroma of the whole photo (0 for black and white)
    tint: float  # chroma of the photo's mean colour
    tint_spread: float  # how far pixels' chroma strays from the mean tint: small for a toned monochrome print
    # Summed length (in photo sides) of the photo's long connected thin bright lines; 0 in
    # answers stored before it was measured.
    cracks: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def measure(image: np.ndarray, window: np.ndarray, reduce: int, face_area: float) -> PrintSigns:
    """Measure one face: `image` is the whole (H, W, 3) uint8 photo, `window` the photo
    around the face at source resolution (uint8 RGB), `reduce` the whole factor that
    brings it to the measuring scale, `face_area` the area (source pixels) of the box
    around the face's landmarks."""
    rgb = np.asarray(window, np.float32)
    gray = rgb @ _LUMA
    g = _box_reduce(gray, reduce)
    # Grain is the same all over the print: the middle of the face is enough.
    grain, ratio = _grain(_centre(g, _GRAIN_SIDE))
    scratches = _scratches(g)
    tone = photo_tone(image)
    # Colour speckle, on the photo's own pixels (dye clouds are a property of the film and
    # the scan, not of the face's size).
    c = _centre(rgb, _GRAIN_SIDE)
    chroma, chroma_ratio = max(_grain(c[..., 0] - c[..., 1]), _grain((c[..., 0] + c[..., 1]) / 2 - c[..., 2]))
    return PrintSigns(
        grain=grain,
        grain_ratio=ratio,
        chroma_grain=chroma,
        chroma_grain_ratio=chroma_ratio,
        scratches=scratches,
        halftone=_halftone(gray),
        context=float(image.shape[0] * image.shape[1] / max(face_area, 1.0)),
        **tone,
    )


# ---------------------------------------------------------------------------------------


def _centre(a: np.ndarray, side: int) -> np.ndarray:
    h, w = a.shape[:2]
    y0, x0 = max((h - side) // 2, 0), max((w - side) // 2, 0)
    return a[y0 : y0 + side, x0 : x0 + side]


def _box_reduce(g: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or min(g.shape) < 2 * k:
        return g
    h, w = (g.shape[0] // k) * k, (g.shape[1] // k) * k
    return g[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def calm_sigma(g: np.ndarray) -> float:
    """Immerkaer's fast noise estimate: a 3x3 mask that cancels smooth image structure,
    averaged over the calmer half of the pixels (edges are structure, not noise)."""
    if min(g.shape) < 8:
        return 0.0
    r = (
        g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:]
        - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1] - 2 * g[1:-1, 2:]
        + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:]
    )
    a = np.abs(r).ravel()
    calm = np.partition(a, a.size // 2)[: a.size // 2]
    # For pure Gaussian noise, mean |r| = sqrt(2/pi) * 6 * sigma over all pixels; the
    # calmer half's mean is about 0.41 of that, hence the extra factor.
    return float(math.sqrt(math.pi / 2) * calm.mean() / 6.0 / 0.41)


def _grain(g: np.ndarray) -> tuple[float, float]:
    """Noise sigma after averaging 2x2 pixels, and its ratio to the sigma before."""
    fine = calm_sigma(g)
    coarse = calm_sigma(_box_reduce(g, 2))
    return coarse, coarse / fine if fine > 1e-6 else 0.0


def _shift_extreme(a: np.ndarray, size: int, op) -> np.ndarray:
    """Separable min or max over a size x size square (edges repeated)."""
    r = size // 2
    p = np.pad(a, r, mode="edge")
    h, w = a.shape
    out = p[:, 0:w].copy()
    for i in range(1, size):
        op(out, p[:, i : i + w], out=out)
    q = out
    out = q[0:h].copy()
    for i in range(1, size):
        op(out, q[i : i + h], out=out)
    return out


def _opening(a: np.ndarray, size: int) -> np.ndarray:
    return _shift_extreme(_shift_extreme(a, size, np.minimum), size, np.maximum)


def _closing(a: np.ndarray, size: int) -> np.ndarray:
    return _shift_extreme(_shift_extreme(a, size, np.maximum), size, np.minimum)


_ANGLES = np.radians(np.arange(0.0, 180.0, 4.0))


def _scratches(g: np.ndarray) -> float:
    """Length of the longest thin, straight, bright line, over the window's side.

    Bright structure thinner than the opening square (top-hat) that an opening of the mask
    itself would also remove is line-like; projecting those pixels onto the normal of each
    direction (a coarse Hough transform) finds how many lie on one straight line, which
    crossing scratches do not confuse. Eyelids, lips and glasses rims are bright and thin
    too, but curved or short."""
    n = min(g.shape)
    if n < 24:
        return 0.0
    # A line must stand out from the noise and from the skin's own texture.
    t = max(24.0, 4.0 * calm_sigma(g))
    mask = (g - _opening(g, _OPEN)) > t
    if not mask.any():
        return 0.0
    m = mask.astype(np.float32)
    # Only inside the face: the window's corners hold hair, collars and the background,
    # whose straight bright edges are no damage.
    h, w = g.shape
    yy, xx = np.ogrid[0:h, 0:w]
    inside = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2 <= 0.8
    thin = mask & (_opening(m, 3) < 0.5) & inside
    ys, xs = np.nonzero(thin)
    if ys.size < n / 4:
        return 0.0
    # Bins of 2 px across the line; a gently curved scratch still fills one over most of
    # its length.
    rho = np.outer(np.cos(_ANGLES), xs) + np.outer(np.sin(_ANGLES), ys)
    rho = np.floor((rho - rho.min(axis=1, keepdims=True)) / 2.0).astype(np.int64)
    width = int(rho.max()) + 1
    flat = rho + np.arange(len(_ANGLES))[:, None] * width
    counts = np.bincount(flat.ravel(), minlength=len(_ANGLES) * width).reshape(len(_ANGLES), width)
    # What scattered bright pixels (noise, pores) put on any line by chance is no scratch.
    chance = ys.size / max(float(np.count_nonzero(inside)), 1.0) * 2.0 * n
    return float(max(counts.max() - chance, 0.0) / n)


_HANN: dict = {}


def _halftone(gray: np.ndarray) -> float:
    """log10 of the strongest spectral peak far out in the spectrum over the median power at
    its frequency (ring by ring)."""
    n = 128
    h, w = gray.shape
    if min(h, w) < n:
        return 0.0
    y0, x0 = (h - n) // 2, (w - n) // 2
    patch = gray[y0 : y0 + n, x0 : x0 + n]
    if n not in _HANN:
        fy = np.fft.fftfreq(n)[:, None]
        fx = np.fft.rfftfreq(n)[None, :]
        radius = np.sqrt(fx**2 + fy**2)
        ring = np.rint(radius * n).astype(int)
        # Screens sit well above the face's own detail. Blocks of 8 (JPEG) and 2x or 4x
        # enlargements repeat every 8 pixels along a photo axis: their energy lies where
        # either frequency is a multiple of 1/8, which is no screen.
        def on_grid(f: np.ndarray) -> np.ndarray:
            return np.abs(f * 8 - np.rint(f * 8)) * n / 8 < 1.5

        band = (radius >= 0.12) & (radius <= 0.48) & ~on_grid(fx) & ~on_grid(fy)
        _HANN[n] = (np.outer(np.hanning(n), np.hanning(n)).astype(np.float32), ring, band)
    win, ring, band = _HANN[n]
    p = np.abs(np.fft.rfft2((patch - patch.mean()) * win)) ** 2
    r = ring[band]
    v = p[band]
    order = np.lexsort((v, r))
    r_sorted, v_sorted = r[order], v[order]
    starts = np.searchsorted(r_sorted, np.unique(r_sorted))
    ends = np.append(starts[1:], r_sorted.size)
    med = np.zeros(ring.max() + 1)
    med[r_sorted[starts]] = v_sorted[(starts + ends - 1) // 2]
    ratio = v / np.maximum(med[r], 1e-9)
    return float(math.log10(max(ratio.max(), 1.0)))


_TONE_CACHE: dict[tuple, dict[str, float]] = {}


def photo_tone(image: np.ndarray) -> dict[str, float]:
    """Tone and colour of the whole photo, from a small copy of it. The faces of one photo
    share it: the last few photos' answers are kept, keyed by size and a sample of pixels."""
    sy, sx = max(1, image.shape[0] // 61), max(1, image.shape[1] // 61)
    key = (image.shape, hash(np.ascontiguousarray(image[::sy, ::sx]).tobytes()))
    if key not in _TONE_CACHE:
        if len(_TONE_CACHE) >= 4:
            _TONE_CACHE.pop(next(iter(_TONE_CACHE)))
        _TONE_CACHE[key] = _photo_tone(image)
    return dict(_TONE_CACHE[key])


def _photo_tone(image: np.ndarray) -> dict[str, float]:
    # Every k-th pixel: tone statistics need a fair sample, not a filtered copy.
    k = max(1, max(image.shape[:2]) // _TONE_SIDE)
    a = image[k // 2 :: k, k // 2 :: k].reshape(-1, 3).astype(np.float32) / 255.0
    luma = a @ _LUMA
    rg = a[:, 0] - a[:, 1]
    by = (a[:, 0] + a[:, 1]) / 2 - a[:, 2]
    lo, p10, p90, hi = np.percentile(luma, (2, 10, 90, 98))
    dark = luma <= p10
    light = luma >= p90
    sc = np.array([rg[dark].mean(), by[dark].mean()]) if dark.any() else np.zeros(2)
    lc = np.array([rg[light].mean(), by[light].mean()]) if light.any() else np.zeros(2)
    ns, nl = float(np.hypot(*sc)), float(np.hypot(*lc))
    agree = float(sc @ lc / (ns * nl)) if ns > 1e-6 and nl > 1e-6 else 0.0
    return {
        "black": float(lo),
        "white": float(hi),
        "shadow_cast": ns,
        "light_cast": nl,
        "cast_agreement": agree,
        "colourful": float(np.hypot(rg, by).mean()),
        "tint": float(np.hypot(rg.mean(), by.mean())),
        "tint_spread": float(np.sqrt(rg.var() + by.var())),
        "cracks": _cracks(image),
    }


def _cracks(image: np.ndarray) -> float:
    """Summed length, in the photo's longest sides, of the long connected thin bright lines
    of the whole photo (see the module docstring)."""
    from PIL import Image

    k = max(1, round(max(image.shape[:2]) / _CRACK_SIDE))
    # Shrunk first (box filter, in C): a large scan costs no more than a small one.
    small = np.asarray(Image.fromarray(np.ascontiguousarray(image)).reduce(k)) if k > 1 else image
    g = np.asarray(small, np.float32) @ _LUMA
    n = max(g.shape)
    if min(g.shape) < 24:
        return 0.0
    lo, hi = np.percentile(g, (2, 98))
    # A crack shows the paper: it stands out by a good part of the print's range, far more
    # than its noise or the skin's texture.
    t = max(24.0, 4.0 * calm_sigma(g), 0.3 * float(hi - lo))
    bright = (g - _opening(g, _OPEN)) > t
    thin = bright & (_opening(bright.astype(np.float32), 3) < 0.5)
    spans = _component_spans(thin)
    return float(spans[spans >= 0.05 * n].sum() / n)


def _component_spans(mask: np.ndarray, min_pixels: int = 5) -> np.ndarray:
    """The longer side of the bounding box of each 8-connected group of `mask`'s pixels
    (groups of at least `min_pixels`). Union-find over neighbouring pairs: lines are
    sparse, so this is a few thousand pairs at most."""
    ys, xs = np.nonzero(mask)
    if ys.size < min_pixels:
        return np.zeros(0)
    h, w = mask.shape
    index = np.full(mask.shape, -1, np.int64)
    index[ys, xs] = np.arange(ys.size)
    parent = np.arange(ys.size)

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    # Each pixel's neighbours right, below-left, below and below-right.
    pairs = (
        (index[:, :-1], index[:, 1:]),
        (index[:-1, 1:], index[1:, :-1]),
        (index[:-1, :], index[1:, :]),
        (index[:-1, :-1], index[1:, 1:]),
    )
    for a, b in pairs:
        both = (a >= 0) & (b >= 0)
        for u, v in zip(a[both].tolist(), b[both].tolist(), strict=True):
            ru, rv = root(u), root(v)
            if ru != rv:
                parent[ru] = rv
    roots = np.array([root(i) for i in range(ys.size)])
    _, group, sizes = np.unique(roots, return_inverse=True, return_counts=True)
    g = sizes.size
    y0, x0 = np.full(g, h), np.full(g, w)
    y1, x1 = np.full(g, -1), np.full(g, -1)
    np.minimum.at(y0, group, ys)
    np.minimum.at(x0, group, xs)
    np.maximum.at(y1, group, ys)
    np.maximum.at(x1, group, xs)
    spans = np.maximum(y1 - y0, x1 - x0).astype(np.float64)
    return spans[sizes >= min_pixels]


# ---------------------------------------------------------------------------------------
# How bad each sign is, 0 (none) to 1 (plain to anyone). The reference score and the
# restoration need both read these, so that the two never disagree on what a sign means.


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at lo, 1 at hi, linear between (either direction)."""
    if hi == lo:
        return 1.0 if x >= hi else 0.0
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def severities(s: PrintSigns) -> dict[str, float]:
    """Each old-print defect's severity, keyed by the reason a user reads."""
    # Grain: correlated noise that survives averaging neighbours (white noise halves and
    # is judged as noise instead), or colour speckle, which digital photos smooth away.
    luma_grain = _ramp(s.grain, 4.5, 7.0) * _ramp(s.grain_ratio, 0.7, 0.9)
    colour_grain = _ramp(s.chroma_grain, 1.5, 3.0) * _ramp(s.chroma_grain_ratio, 0.6, 0.7)
    # A toned print (sepia, selenium, cyanotype): every tone leans the same way.
    toned = _ramp(s.tint, 0.03, 0.06) * _ramp(-s.tint_spread, -0.045, -0.03)
    # Fading is judged where the photo shows more than the face: a tight crop of a face
    # may simply hold no shadow.
    faded = _ramp(s.black, 0.10, 0.14) if s.context >= 2.5 else 0.0
    grain = max(luma_grain, colour_grain)
    cast = max(_ramp(s.shadow_cast, 0.14, 0.22), toned)
    # A crack network counts on a print that shows its age otherwise too; a dense one (over
    # twice what fresh photos' hair, wires and railings add up to) counts alone.
    cracked = _ramp(s.cracks, 0.3, 0.5) * max(faded, cast, grain, _ramp(s.cracks, 0.6, 1.0))
    return {
        "scratched print": max(_ramp(s.scratches, 0.35, 0.45), cracked),
        "film grain": grain,
        "halftone": _ramp(s.halftone, 2.3, 2.8),
        "faded": faded,
        "colour cast": cast,
    }
