"""Put restored face crops back into their photo.

Each restored crop is warped back with the exact inverse of the alignment transform and
blended in with a soft face mask, after its colour and lowest frequencies were matched to the
crop the restorer was given (ReF-LDM can carry a colour cast over from references taken in
other light). Pixels that no face mask touches are copied unchanged, byte for byte.

What is pasted is the restorer's change, not its pixels: the photo plus (restored crop minus
the crop it was given), both warped back the same way. Warping a crop there and back loses
the photo's finest detail (a face larger than the crop, film grain, a sharp scan), and
pasting plain warped pixels would replace that detail by a blur even where the restorer
changed nothing; a restorer that returns its crops unchanged now gives the photo back exactly.

Coordinates are continuous as in faces.align: pixel (i, j) covers [i, i+1) x [j, j+1), the
convention of Pillow's affine transform, so crop -> photo -> crop lands on the same spots.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from PIL import Image

from refldm_desktop.faces.align import AlignTransform, opencv, opencv_affine, warp_to_crop
from refldm_desktop.restore.tone import _RGB_TO_YCC, _YCC_TO_RGB, PhotoTone
from refldm_desktop.restore.torch_threads import one_torch_thread

# ---------------------------------------------------------------------------------------------
# Hooks for optional models


@runtime_checkable
class FaceParser(Protocol):
    """A face-parsing model (for example a BiSeNet trained on CelebAMask-HQ), when installed.

    `face_mask` gets an aligned (S, S, 3) uint8 crop and returns an (S, S) float array in
    [0, 1]: 1 where the crop shows the face itself (skin, brows, eyes, nose, lips), 0 on hair,
    neck, clothes and background. Blending then follows the face's real outline.
    """

    name: str

    def face_mask(self, crop: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Upscaler(Protocol):
    """A super-resolution model for whole photos, when installed."""

    name: str

    def upscale(self, image: np.ndarray, factor: int) -> np.ndarray:
        """(H, W, 3) uint8 -> (H * factor, W * factor, 3) uint8."""
        ...


# ---------------------------------------------------------------------------------------------
# Upscaling the whole photo before alignment

UPSCALE_FACTORS = (1, 2, 3, 4)


def upscale_image(image: np.ndarray, factor: int, upscaler: Upscaler | None = None) -> np.ndarray:
    """Enlarge a photo so that small faces get more pixels before they are restored.

    Lanczos by default, or `upscaler` (a super-resolution model). The corners stay put in
    continuous coordinates, so landmarks scale by exactly `factor` (see scale_landmarks).
    """
    if factor not in UPSCALE_FACTORS:
        raise ValueError(f"upscale factor must be one of {UPSCALE_FACTORS}, got {factor!r}")
    _check_image(image)
    if factor == 1:
        return image
    h, w = image.shape[:2]
    if upscaler is not None:
        out = np.asarray(upscaler.upscale(image, factor))
        if out.shape != (h * factor, w * factor, 3) or out.dtype != np.uint8:
            raise ValueError(
                f"upscaler {upscaler.name!r} returned {out.shape} {out.dtype}, "
                f"expected {(h * factor, w * factor, 3)} uint8"
            )
        return np.ascontiguousarray(out)
    big = Image.fromarray(image).resize((w * factor, h * factor), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(big, dtype=np.uint8))


def scale_landmarks(landmarks: np.ndarray, factor: float) -> np.ndarray:
    """Landmarks of a photo, moved onto the same photo enlarged by `factor`."""
    return np.asarray(landmarks, dtype=np.float64) * float(factor)


# ---------------------------------------------------------------------------------------------
# The blending mask


@dataclass(frozen=True)
class FaceMaskShape:
    """An ellipse in crop fractions that covers an FFHQ-aligned face from brow to chin.

    The mask is 1 inside `radii` and falls smoothly to 0 at `radii * (1 + feather)`. Being
    defined in the crop, its feather scales with the face: a face twice as large in the
    photo gets a feather twice as wide. The outer ellipse must stay inside the crop, because
    outside it there are no restored pixels.
    """

    centre: tuple[float, float] = (0.5, 0.55)
    radii: tuple[float, float] = (0.27, 0.34)
    feather: float = 0.3

    def __post_init__(self) -> None:
        cx, cy = self.centre
        rx, ry = (r * (1.0 + self.feather) for r in self.radii)
        if min(self.radii) <= 0 or self.feather <= 0:
            raise ValueError("mask radii and feather must be positive")
        if cx - rx < 0 or cx + rx > 1 or cy - ry < 0 or cy + ry > 1:
            raise ValueError("the feathered mask must fit inside the crop")

    def alpha(self, u: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
        """Mask values at crop coordinates (u, v), in crop pixels of a `size` crop."""
        du = (u / size - self.centre[0]) / self.radii[0]
        dv = (v / size - self.centre[1]) / self.radii[1]
        r = np.sqrt(du * du + dv * dv)
        t = np.clip((1.0 + self.feather - r) / self.feather, 0.0, 1.0)
        return (t * t * (3.0 - 2.0 * t)).astype(np.float32)

    def crop_alpha(self, size: int) -> np.ndarray:
        """The mask sampled at the pixel centres of a (size, size) crop (read-only, cached)."""
        return _crop_alpha(self, size)

    def outer_box(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Centre and outer half-axes in crop pixels."""
        c = np.array(self.centre) * size
        r = np.array(self.radii) * (1.0 + self.feather) * size
        return c, r


@functools.lru_cache(maxsize=16)
def _crop_alpha(shape: FaceMaskShape, size: int) -> np.ndarray:
    c = np.arange(size, dtype=np.float32) + 0.5
    a = shape.alpha(c[None, :], c[:, None], size)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class PasteOptions:
    mask: FaceMaskShape = field(default_factory=FaceMaskShape)
    # Match the restored face's colour (chroma mean and spread in YCbCr) to the original's.
    color_match: bool = True
    # Replace the restored face's lowest frequencies (lighting, colour cast) by the
    # original's, below a Gaussian of this sigma (a fraction of the crop side). 0: off.
    lowfreq_sigma: float = 1.0 / 16.0
    parser: FaceParser | None = None
    # Softening of a parsing mask, as a Gaussian sigma in crop fractions.
    parser_feather: float = 0.025
    # The photo's tone (restore.tone): a black-and-white or toned photo keeps it where faces
    # are pasted. None: colour as the restorer and colour matching leave it.
    tone: PhotoTone | None = None
    # Paste the restorer's change (photo + warped restored - warped original crop), so the
    # photo's detail that the crop cannot hold survives. False: paste the warped crop itself.
    keep_detail: bool = True
    # None: OpenCV warps back on the CPU (a few ms per face). A torch device name ("cuda"
    # where the model runs on a GPU) warps with torch there instead; "cpu" runs that same
    # torch code on the CPU, which is how the tests keep it covered.
    device: str | None = None


@dataclass(frozen=True, eq=False)
class FacePaste:
    """One restored face: its transform, the restored crop and (when the caller still has it)
    the crop the restorer was given; without it, the crop is cut from the photo again."""

    transform: AlignTransform
    restored: np.ndarray
    original: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class PasteResult:
    image: np.ndarray  # (H, W, 3) uint8
    # Where faces were blended: one (x0, y0, x1, y1) box and its float32 alpha per region of
    # overlapping faces. Outside these alphas' nonzero pixels, `image` equals the input.
    regions: list[tuple[tuple[int, int, int, int], np.ndarray]]

    def coverage(self) -> np.ndarray:
        """(H, W) float32 alpha of all faces together (0: pixel untouched)."""
        cov = np.zeros(self.image.shape[:2], np.float32)
        for (x0, y0, x1, y1), a in self.regions:
            np.maximum(cov[y0:y1, x0:x1], a, out=cov[y0:y1, x0:x1])
        return cov

    def touched(self) -> np.ndarray:
        """(H, W) bool: the pixels any face reaches (coverage() > 0, without its floats)."""
        out = np.zeros(self.image.shape[:2], bool)
        for (x0, y0, x1, y1), a in self.regions:
            out[y0:y1, x0:x1] |= a > 0
        return out


# ---------------------------------------------------------------------------------------------
# Colour and low-frequency matching, in crop space

# Colours are matched in full-range BT.601 YCbCr (tone's matrices): a colour cast lives in
# Cb/Cr and lightness in Y.


def _gauss_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _blur_small(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian of a small (h, w, c) float32 array, edges reflected."""
    cv2 = opencv()
    k = _gauss_kernel(sigma)
    r = len(k) // 2
    # Reflection needs more pixels than the kernel's radius; a smaller grid repeats its edge.
    border = cv2.BORDER_REFLECT_101 if r < min(a.shape[:2]) else cv2.BORDER_REPLICATE
    out = cv2.sepFilter2D(np.ascontiguousarray(a, np.float32), cv2.CV_32F, k, k, borderType=border)
    return out.reshape(a.shape)


@functools.lru_cache(maxsize=8)
def _linear_taps(m: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of `size` pixels: the two of `m` cells to mix and the weight of the second,
    with cell and pixel centres aligned (as Pillow's bilinear enlargement)."""
    src = np.clip((np.arange(size) + 0.5) * m / size - 0.5, 0, m - 1)
    i0 = np.minimum(np.floor(src).astype(np.intp), max(m - 2, 0))
    i1 = np.minimum(i0 + 1, m - 1)
    return i0, i1, (src - i0).astype(np.float32)


def _add_upsampled(target: np.ndarray, small: np.ndarray) -> None:
    """Add an (m, m, c) float32 grid, smoothly enlarged like Pillow's bilinear, to the
    (size, size, c) float32 array `target` in place.

    Plain gathers and broadcasts rather than matrix products: BLAS threads fight over the
    cores when other work runs, and these products are too small to gain from them.
    """
    m, _, c = small.shape
    size = target.shape[0]
    i0, i1, f = _linear_taps(m, size)
    rows = small[i0] + (small[i1] - small[i0]) * f[:, None, None]  # (size, m, c)
    step = size // m
    if step * m != size or step % 2 or not target.flags.c_contiguous:
        target += rows[:, i0] + (rows[:, i1] - rows[:, i0]) * f[None, :, None]
        return
    # Each cell spans `step` pixels; the first half of them blend with the cell before, the
    # second half with the cell after (edges held), so the blend is a broadcast per half.
    half = step // 2
    padded = np.concatenate([rows[:, :1], rows, rows[:, -1:]], axis=1)  # (size, m + 2, c)
    diff = padded[:, 1:] - padded[:, :-1]
    t = (np.arange(step, dtype=np.float32) + 0.5) / step
    out = target.reshape(size, m, step, c)  # a view: writes land in target
    out[:, :, :half] += padded[:, :m, None] + diff[:, :m, None] * (t[:half] + 0.5)[None, None, :, None]
    out[:, :, half:] += padded[:, 1 : m + 1, None] + diff[:, 1 : m + 1, None] * (t[half:] - 0.5)[None, None, :, None]


def _coarse(crop: np.ndarray, sigma_px: float) -> np.ndarray:
    """A uint8 crop box-averaged onto a float32 grid of cells of about sigma/2 pixels, the
    first step of its low band (see _fit_colour)."""
    size = crop.shape[0]
    cell = max(1, int(round(sigma_px / 2.0)))
    m = max(2, int(round(size / cell)))
    cv2 = opencv()
    small = cv2.resize(np.ascontiguousarray(crop), (m, m), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


def _weighted_stats(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and standard deviation of each column of (n, c) `x`."""
    total = float(w.sum())
    mean = (w @ x) / total
    var = (w @ (x - mean) ** 2) / total
    return mean, np.sqrt(np.maximum(var, 0.0))


def match_colour(
    restored: np.ndarray,
    original: np.ndarray,
    weights: np.ndarray,
    *,
    lowfreq_sigma: float = 1.0 / 16.0,
    color_match: bool = True,
) -> np.ndarray:
    """Give a restored crop the colour and lighting of the original crop, keep its detail.

    1. Low band: the restored crop's content below a Gaussian of `lowfreq_sigma` (a fraction
       of the crop side) is replaced by the original's. The original's low frequencies
       survive blur and noise, so they are the trustworthy part of it; this removes a cast
       or lighting change while leaving every finer detail of the restoration in place.
    2. Colour: within the face (`weights`), Cb and Cr are shifted and scaled to the
       original's mean and spread, so a faded or black-and-white photo stays so; Y is only
       shifted, because a restored face is sharper and rightly has more luma contrast.

    When `restored` equals `original`, every correction is zero and the crop comes back
    unchanged (the float error is far below the rounding to uint8).
    """
    fit = _fit_colour(restored, original, weights, lowfreq_sigma=lowfreq_sigma, color_match=color_match)
    r = restored.astype(np.float32)
    if fit.low is not None:
        _add_upsampled(r, fit.low)
    if fit.a is not None and fit.b is not None:
        r = _affine(r, fit.a, fit.b)
    np.clip(r, 0.0, 255.0, out=r)
    r += 0.5  # round half up by truncation: one pass cheaper than rint
    return r.astype(np.uint8)


@dataclass(frozen=True, eq=False)
class _ColourFit:
    """corrected = a @ (restored + low upsampled) + b, per pixel; None: that part is off."""

    size: int
    low: np.ndarray | None  # (m, m, 3) float32 grid over the crop
    a: np.ndarray | None  # 3x3
    b: np.ndarray | None  # 3


# Colour statistics look at every _STATS_STEP-th pixel of each row and column.
_STATS_STEP = 4


def _fit_colour(
    restored: np.ndarray,
    original: np.ndarray,
    weights: np.ndarray,
    *,
    lowfreq_sigma: float,
    color_match: bool,
) -> _ColourFit:
    """The correction match_colour applies, measured without touching every crop pixel, so
    that paste-back can apply it after warping, on the photo's (usually far fewer) pixels."""
    if restored.shape != original.shape or restored.ndim != 3 or restored.shape[0] != restored.shape[1]:
        raise ValueError(f"crops must be square and alike, got {restored.shape} and {original.shape}")
    size = restored.shape[0]
    low = None
    if lowfreq_sigma > 0:
        sigma_px = lowfreq_sigma * size
        # Both crops' coarse grids are blurred as one: the blur is linear.
        small = _coarse(original, sigma_px) - _coarse(restored, sigma_px)
        low = _blur_small(small, sigma_px * small.shape[0] / size)
    a = b = None
    if color_match:
        # Statistics on every _STATS_STEP-th pixel of each row and column, weighted by the
        # face's mask: some 8000 pixels of a face, plenty for a mean and a spread. Pixels
        # outside the face weigh 0; summing them costs less than picking the others out.
        step = _STATS_STEP
        ws = np.asarray(weights, np.float32)[::step, ::step].astype(np.float64).reshape(-1)
        if float(ws.sum()) * step * step > 4.0:
            r = restored[::step, ::step].astype(np.float32)
            if low is not None:
                r += _upsampled_every(low, size, step)
            yr = r.reshape(-1, 3).astype(np.float64) @ _RGB_TO_YCC.T
            yc = original[::step, ::step].reshape(-1, 3).astype(np.float64) @ _RGB_TO_YCC.T
            mr, sr = _weighted_stats(yr, ws)
            mc, sc = _weighted_stats(yc, ws)
            gain = np.ones(3)
            # Y is only shifted; Cb and Cr are scaled to the original's spread too.
            gain[1:] = np.where(sr[1:] > 0.5, np.clip(sc[1:] / np.maximum(sr[1:], 1e-12), 0.0, 4.0), 1.0)
            shift = mc - gain * mr
            # The per-channel YCbCr map folds into one 3x3 matrix plus offset in RGB.
            a = _YCC_TO_RGB @ np.diag(gain) @ _RGB_TO_YCC
            b = _YCC_TO_RGB @ shift
    return _ColourFit(size, low, a, b)


def _upsampled_every(small: np.ndarray, size: int, step: int) -> np.ndarray:
    """Pixels [::step, ::step] of `small` enlarged to `size` as _add_upsampled does,
    without computing the others."""
    cv2 = opencv()
    m = small.shape[0]
    n = len(range(0, size, step))
    # Output pixel i lies at (i * step + 0.5) * m / size - 0.5 in the grid's pixel centres;
    # beyond the outer centres the edge is held, as _linear_taps clips.
    f = m / size
    matrix = np.array([[step * f, 0.0, 0.5 * f - 0.5], [0.0, step * f, 0.5 * f - 0.5]])
    out = cv2.warpAffine(
        np.ascontiguousarray(small, np.float32), matrix, (n, n),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(n, n, -1)


def _affine(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x @ a.T + b for (..., 3) float32 pixels, channel by channel (no BLAS, see _upsample)."""
    out = np.empty_like(x)
    c0, c1, c2 = x[..., 0], x[..., 1], x[..., 2]
    for i in range(3):
        o = out[..., i]
        np.multiply(c0, np.float32(a[i, 0]), out=o)
        o += np.float32(a[i, 1]) * c1
        o += np.float32(a[i, 2]) * c2
        o += np.float32(b[i])
    return out


# ---------------------------------------------------------------------------------------------
# Warping back


def _footprint(t: AlignTransform, shape: FaceMaskShape, image_hw: tuple[int, int]):
    """Integer box (x0, y0, x1, y1) of the photo that the feathered mask can touch."""
    inv = t.inverse()
    c, r = shape.outer_box(t.size)
    centre = inv[:, :2] @ c + inv[:, 2]
    # Half-extents of an affinely mapped ellipse with axes along u and v.
    ext = np.sqrt((inv[:, 0] * r[0]) ** 2 + (inv[:, 1] * r[1]) ** 2)
    h, w = image_hw
    x0 = max(int(np.floor(centre[0] - ext[0])) - 1, 0)
    y0 = max(int(np.floor(centre[1] - ext[1])) - 1, 0)
    x1 = min(int(np.ceil(centre[0] + ext[0])) + 1, w)
    y1 = min(int(np.ceil(centre[1] + ext[1])) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def _parser_alpha(parser: FaceParser, crop: np.ndarray, shape: FaceMaskShape, feather: float) -> np.ndarray:
    size = crop.shape[0]
    raw = np.asarray(parser.face_mask(crop), dtype=np.float32)
    if raw.shape != (size, size):
        raise ValueError(f"face parser {parser.name!r} returned a {raw.shape} mask for a {size}px crop")
    soft = _blur_small(np.clip(raw, 0, 1)[..., None], max(feather * size, 0.5))[..., 0]
    # The ellipse bounds it, so the mask never reaches the crop's edge.
    return np.clip(soft, 0.0, 1.0) * shape.crop_alpha(size)


@dataclass(eq=False)
class _Warped:
    box: tuple[int, int, int, int]
    rgb: np.ndarray  # (h, w, 3) float32
    alpha: np.ndarray  # (h, w) float32


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("expected an (H, W, 3) uint8 RGB image")


def _torch():
    import torch  # heavy: imported when the first face is pasted, not with this module

    return torch


def _chw(torch, a: np.ndarray, device):
    """(h, w[, c]) array -> (c, h, w) float32 tensor on `device`."""
    if not a.flags.writeable:
        a = a.copy()  # torch shares only writable memory without a warning
    t = torch.from_numpy(a)
    if t.ndim == 2:
        t = t[..., None]
    return t.to(device).permute(2, 0, 1).to(torch.float32).contiguous()


@functools.lru_cache(maxsize=16)
def _crop_window(shape: FaceMaskShape, size: int) -> tuple[int, int, int, int]:
    """The part (u0, v0, u1, v1) of a crop that the mask can reach, with room for the
    resampling taps, on a grid of 8 pixels so that it shrinks by powers of two evenly."""
    c, r = shape.outer_box(size)
    lo = np.floor((c - r - 4) / 8) * 8
    hi = np.ceil((c + r + 4) / 8) * 8
    u0, v0 = (int(x) for x in np.clip(lo, 0, size))
    u1, v1 = (int(x) for x in np.clip(hi, 0, size))
    if size % 8:
        return 0, 0, size, size
    return u0, v0, u1, v1


@dataclass(frozen=True, eq=False)
class _Field:
    """Where a crop-space tensor lies: photo (x, y, 1) -> its pixel (u, v), and its size."""

    matrix: np.ndarray  # 2x3
    width: int
    height: int

    @staticmethod
    def of_crop(t: AlignTransform, window: tuple[int, int, int, int], reduce: int = 1) -> "_Field":
        u0, v0, u1, v1 = window
        m = np.array(t.matrix, dtype=np.float64)
        m[:, 2] -= (u0, v0)
        return _Field(m / reduce, (u1 - u0) // reduce, (v1 - v0) // reduce)

    @property
    def per_photo_pixel(self) -> float:
        """Field pixels per photo pixel (along each axis)."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))


def _box_grid(torch, field: _Field, box: tuple[int, int, int, int], k: int, device):
    """grid_sample's grid: where the centre of each pixel of a grid k times finer than the
    photo's over `box` lies in the field, in its [-1, 1] coordinates (align_corners False:
    -1 and 1 are the outer edges, the convention of faces.align)."""
    x0, y0, x1, y1 = box
    m = field.matrix * np.array([[2.0 / field.width], [2.0 / field.height]])
    m[:, 2] -= 1.0
    xs = x0 + (np.arange((x1 - x0) * k, dtype=np.float64) + 0.5) / k
    ys = y0 + (np.arange((y1 - y0) * k, dtype=np.float64) + 0.5) / k
    grid = torch.empty((1, len(ys), len(xs), 2), dtype=torch.float32, device=device)
    for i in range(2):
        along_x = torch.from_numpy((m[i, 0] * xs + m[i, 2]).astype(np.float32)).to(device)
        along_y = torch.from_numpy((m[i, 1] * ys).astype(np.float32)).to(device)
        torch.add(along_x[None, :], along_y[:, None], out=grid[0, :, :, i])
    return grid


# Field pixels per sample of the finer grid that a crop is warped back on (see _warp_back).
_FINE_SPACING = 2.0


def _warp_back(torch, tensor, field: _Field, box: tuple[int, int, int, int], smooth: bool = False):
    """Resample a (c, h, w) float32 crop-space tensor onto the photo pixels of `box`, the
    inverse of warp_to_crop.

    Where the crop has more pixels than the face has in the photo (the usual case), taps at
    photo pixels alone would alias: the crop is sampled bilinearly on a grid k times finer
    than the photo's, and that grid is shrunk by k with an antialiasing cubic filter; both
    grids share their pixel edges, so no shift is added. k keeps the samples within
    2c / (c + 1) crop pixels of each other (c: crop pixels per photo pixel), so what folds
    over between them lies above the photo's own resolution, where the shrink removes it.
    A face larger than the crop is enlarged with bicubic taps. `smooth` tensors (a coarse
    colour grid) take bilinear taps on the photo's grid.
    """
    import torch.nn.functional as F

    x0, y0, x1, y1 = box
    k = 1 if smooth else _fineness(field)
    grid = _box_grid(torch, field, box, k, tensor.device)
    mode = "bilinear" if smooth or k > 1 else "bicubic"
    out = F.grid_sample(tensor[None], grid, mode=mode, padding_mode="border", align_corners=False)
    if k > 1:
        out = F.interpolate(out, size=(y1 - y0, x1 - x0), mode="bicubic", antialias=True, align_corners=False)
    return out[0]


def _fineness(field: _Field) -> int:
    """k of _warp_back: the finer grid keeps its samples within 2c / (c + 1) field pixels."""
    return max(1, int(np.ceil((field.per_photo_pixel + 1.0) / _FINE_SPACING - 1e-6)))


# The 3-tap sharpening that follows an area shrink: -1/24 on each side cancels the box
# filter's loss of contrast in the passband (its response 1 - (pi f)^2 / 6 + ...), so that
# detail at the photo's own scale comes back as strong as the restorer drew it.
_AREA_SHARPEN = np.array([-1.0 / 24.0, 1.0 + 1.0 / 12.0, -1.0 / 24.0], np.float32)


def _warp_back_cv(array: np.ndarray, field: _Field, box: tuple[int, int, int, int], smooth: bool = False) -> np.ndarray:
    """_warp_back with OpenCV on the CPU, for an (h, w, c) float32 crop-space array:
    bilinear taps on the grid k times finer than the photo's, shrunk by area averaging
    (then sharpened back, see _AREA_SHARPEN) where torch uses an antialiasing cubic; on the
    photos of ../shared both land a drawn change equally well (tests/restore/test_paste.py).
    Returns (box height, box width, c) float32."""
    cv2 = opencv()
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    k = 1 if smooth else _fineness(field)
    # Fine pixel (i, j) lies at photo (x0 + i / k, y0 + j / k) in continuous coordinates.
    to_photo = np.array([[1.0 / k, 0.0, x0], [0.0, 1.0 / k, y0], [0.0, 0.0, 1.0]])
    m = opencv_affine(field.matrix @ to_photo)
    mode = cv2.INTER_LINEAR if smooth or k > 1 else cv2.INTER_CUBIC
    out = cv2.warpAffine(array, m, (w * k, h * k), flags=mode | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    if k > 1:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
        out = cv2.sepFilter2D(out, -1, _AREA_SHARPEN, _AREA_SHARPEN, borderType=cv2.BORDER_REPLICATE)
    return out.reshape(h, w, -1)


def _reduced(crop: np.ndarray, window: tuple[int, int, int, int], reduce: int) -> np.ndarray:
    """The window of a uint8 crop (or float mask), box-averaged over reduce x reduce pixels."""
    u0, v0, u1, v1 = window
    if reduce == 1:
        return crop[v0:v1, u0:u1]
    h, w = (v1 - v0) // reduce, (u1 - u0) // reduce
    if crop.dtype == np.uint8:
        cv2 = opencv()
        return cv2.resize(np.ascontiguousarray(crop[v0:v1, u0:u1]), (w, h), interpolation=cv2.INTER_AREA)
    return crop[v0:v1, u0:u1].reshape(h, reduce, w, reduce).mean(axis=(1, 3), dtype=np.float32)


# A crop with at least this many pixels per photo pixel is box-reduced by a power of two
# before it is warped back (keeping at least half as many): far cheaper, and the warp's own
# low-pass at the photo's resolution is what sets the sharpness.
_REDUCE_FROM = 8.0


def _box_alpha(t: AlignTransform, shape: FaceMaskShape, box: tuple[int, int, int, int]) -> np.ndarray:
    """The mask evaluated exactly at the photo's pixel centres inside `box`."""
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, dtype=np.float64) + 0.5
    ys = np.arange(y0, y1, dtype=np.float64) + 0.5
    m = t.matrix
    # The grids in float32 (crop positions to 1/30000 of a pixel): half the memory traffic.
    u = (m[0, 0] * xs).astype(np.float32)[None, :] + (m[0, 1] * ys + m[0, 2]).astype(np.float32)[:, None]
    v = (m[1, 0] * xs).astype(np.float32)[None, :] + (m[1, 1] * ys + m[1, 2]).astype(np.float32)[:, None]
    return shape.alpha(u, v, t.size)


def _prepare(image: np.ndarray, face: FacePaste, options: PasteOptions) -> _Warped | None:
    t = face.transform
    size = t.size
    restored = np.asarray(face.restored)
    if restored.shape != (size, size, 3) or restored.dtype != np.uint8:
        raise ValueError(
            f"a restored crop must be a ({size}, {size}, 3) uint8 array like its transform, "
            f"got {restored.shape} {restored.dtype}"
        )
    box = _footprint(t, options.mask, image.shape[:2])
    if box is None:
        return None
    x0, y0, x1, y1 = box
    original = None
    if options.color_match or options.lowfreq_sigma > 0 or options.keep_detail or options.parser is not None:
        original = face.original if face.original is not None else warp_to_crop(image, t)
        if original.shape != restored.shape:
            raise ValueError("the original crop and the restored crop differ in size")
    crop_mask = None
    if options.parser is not None and original is not None:
        # The face as both crops show it: what covers the face in the photo (a hand, hair,
        # a glasses frame) stays, and so does whatever the restorer did not draw as face.
        crop_mask = np.minimum(
            _parser_alpha(options.parser, restored, options.mask, options.parser_feather),
            _parser_alpha(options.parser, original, options.mask, options.parser_feather),
        )
    if options.keep_detail and crop_mask is None and original is not None and np.array_equal(restored, original):
        # Nothing changed (the passthrough restorer): the photo stays as it is.
        return _Warped(box, image[y0:y1, x0:x1].astype(np.float32), _box_alpha(t, options.mask, box))
    # The colour fit reads the crops at full size: it only looks at a coarse grid and every
    # other pixel, which is cheaper than shrinking the original crop for it below.
    fit = None
    if original is not None:
        weights = crop_mask if crop_mask is not None else options.mask.crop_alpha(size)
        fit = _fit_colour(
            restored, original, weights, lowfreq_sigma=options.lowfreq_sigma, color_match=options.color_match
        )
    if options.device is None:
        rgb, mask = _warped_change_cv(image, t, box, restored, original, fit, crop_mask, options)
    else:
        torch = _torch()
        device = torch.device(options.device)
        with one_torch_thread() if device.type == "cpu" else contextlib.nullcontext():
            rgb, mask = _warped_change(torch, device, image, t, box, restored, original, fit, crop_mask, options)
    if options.tone is not None and options.tone.monochrome:
        rgb = options.tone.apply(rgb)  # last, so that a grey photo stays exactly grey
    if mask is None:
        alpha = _box_alpha(t, options.mask, box)
    else:
        alpha = np.clip(mask, 0.0, 1.0)
        # Where the ellipse is 0 the mask is exactly 0, whatever the resampler left there.
        alpha[_box_alpha(t, options.mask, box) <= 0] = 0.0
    return _Warped(box, rgb, alpha)


def _crop_part(t: AlignTransform, options: PasteOptions) -> tuple[tuple[int, int, int, int], int]:
    """The window of the crop that is warped back and by how much it is box-reduced first:
    a crop with far more pixels than the face has in the photo is reduced by powers of two."""
    window = _crop_window(options.mask, t.size)
    crop_per_photo = 1.0 / t.source_pixels_per_crop_pixel
    u0, v0, u1, v1 = window
    reduce = 1
    while crop_per_photo / reduce >= _REDUCE_FROM and (u1 - u0) % (2 * reduce) == 0 and (v1 - v0) % (2 * reduce) == 0:
        reduce *= 2
    return window, reduce


def _low_grid(fit: _ColourFit, t: AlignTransform) -> tuple[np.ndarray, _Field]:
    """The colour fit's smooth part (its low band through the 3x3 part, plus the offset) as an
    (m, m, 3) float32 grid, and where that grid lies."""
    assert fit.low is not None
    a = fit.a if fit.a is not None else np.eye(3)
    b = fit.b if fit.b is not None else np.zeros(3)
    low = (fit.low.astype(np.float64) @ a.T + b).astype(np.float32)
    m = low.shape[0]
    return low, _Field(t.matrix * (m / t.size), m, m)


def _warped_change(torch, device, image, t, box, restored, original, fit, crop_mask, options):
    """The restored face on the photo's pixels of `box` ((h, w, 3) float32, 0..255) and the
    parsing mask there (or None): one warp of everything, done by torch on `device`.

    What is warped, in crop space, is the restored crop with its colour fit's 3x3 part,
    minus the crop it was given when the photo's own detail is kept: warping is linear, so
    one warp of the difference equals the difference of two warps. Only the window of the
    crop the mask can reach is used, box-reduced first when the crop has far more pixels
    than the face in the photo. The colour fit's smooth part is sampled at the photo's pixels.
    """
    x0, y0, x1, y1 = box
    window, reduce = _crop_part(t, options)
    keep = options.keep_detail and original is not None
    field = _Field.of_crop(t, window, reduce)
    tensor = _chw(torch, _reduced(restored, window, reduce), device)
    if fit is not None and fit.a is not None:
        a = torch.from_numpy(fit.a.astype(np.float32)).to(device)
        tensor = (a @ tensor.view(3, -1)).view(tensor.shape)
    if keep:
        tensor -= _chw(torch, _reduced(original, window, reduce), device)
    if crop_mask is not None:
        tensor = torch.cat([tensor, _chw(torch, _reduced(crop_mask, window, reduce), device)])
    warped = _warp_back(torch, tensor, field, box)
    rgb = warped[:3]
    if fit is not None and fit.low is not None:
        low, low_field = _low_grid(fit, t)
        rgb += _warp_back(torch, _chw(torch, low, device), low_field, box, smooth=True)
    elif fit is not None and fit.b is not None:
        rgb += torch.from_numpy(fit.b.astype(np.float32)).to(device)[:, None, None]
    if keep:
        rgb += _chw(torch, image[y0:y1, x0:x1], device)
    rgb.clamp_(0.0, 255.0)
    mask = warped[3].cpu().numpy() if crop_mask is not None else None
    return rgb.permute(1, 2, 0).contiguous().cpu().numpy(), mask


def _warped_change_cv(image, t, box, restored, original, fit, crop_mask, options):
    """_warped_change with OpenCV on the CPU, in (h, w, c) float32 arrays throughout."""
    cv2 = opencv()
    x0, y0, x1, y1 = box
    window, reduce = _crop_part(t, options)
    keep = options.keep_detail and original is not None
    field = _Field.of_crop(t, window, reduce)
    change = _reduced(restored, window, reduce).astype(np.float32)
    if fit is not None and fit.a is not None:
        change = cv2.transform(change, fit.a.astype(np.float32))
    if keep:
        change -= _reduced(original, window, reduce)
    if crop_mask is not None:
        change = np.dstack([change, _reduced(crop_mask, window, reduce)])
    warped = _warp_back_cv(change, field, box)
    rgb = np.ascontiguousarray(warped[..., :3])
    if fit is not None and fit.low is not None:
        low, low_field = _low_grid(fit, t)
        rgb += _warp_back_cv(low, low_field, box, smooth=True)
    elif fit is not None and fit.b is not None:
        rgb += fit.b.astype(np.float32)
    if keep:
        rgb += image[y0:y1, x0:x1]
    np.clip(rgb, 0.0, 255.0, out=rgb)
    mask = warped[..., 3].copy() if crop_mask is not None else None
    return rgb, mask


def _group_overlapping(items: list[_Warped]) -> list[list[_Warped]]:
    """Faces whose boxes overlap are blended together; the others one by one."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(items):
        for j in range(i + 1, len(items)):
            b = items[j]
            if a.box[0] < b.box[2] and b.box[0] < a.box[2] and a.box[1] < b.box[3] and b.box[1] < a.box[3]:
                parent[find(i)] = find(j)
    groups: dict[int, list[_Warped]] = {}
    for i, item in enumerate(items):
        groups.setdefault(find(i), []).append(item)
    return list(groups.values())


# How strongly the face with the stronger mask wins where masks overlap (1: plain average).
_OVERLAP_SHARPNESS = 4.0


def paste_faces(
    image: np.ndarray,
    faces: Sequence[FacePaste | tuple[AlignTransform, np.ndarray]],
    options: PasteOptions = PasteOptions(),
) -> PasteResult:
    """Blend restored crops into a copy of `image` (H, W, 3) uint8.

    Where masks of several faces overlap, each pixel is a weighted mix of the faces with
    weights alpha**4, so the face whose mask is strongest there dominates and the result
    does not depend on the order of `faces`; the total opacity is 1 - prod(1 - alpha).
    """
    _check_image(image)
    items: list[_Warped] = []
    for f in faces:
        face = f if isinstance(f, FacePaste) else FacePaste(*f)
        w = _prepare(image, face, options)
        if w is not None:
            items.append(w)
    out = image.copy()
    regions: list[tuple[tuple[int, int, int, int], np.ndarray]] = []
    for group in _group_overlapping(items):
        x0 = min(w.box[0] for w in group)
        y0 = min(w.box[1] for w in group)
        x1 = max(w.box[2] for w in group)
        y1 = max(w.box[3] for w in group)
        orig = image[y0:y1, x0:x1].astype(np.float32)
        if len(group) == 1:
            alpha = group[0].alpha
            blended = group[0].rgb
        else:
            num = np.zeros_like(orig)
            den = np.zeros(orig.shape[:2], np.float32)
            keep = np.ones(orig.shape[:2], np.float32)
            for w in group:
                sl = (slice(w.box[1] - y0, w.box[3] - y0), slice(w.box[0] - x0, w.box[2] - x0))
                weight = w.alpha**_OVERLAP_SHARPNESS
                num[sl] += weight[..., None] * w.rgb
                den[sl] += weight
                keep[sl] *= 1.0 - w.alpha
            alpha = 1.0 - keep
            safe = np.maximum(den, 1e-30)[..., None]
            blended = np.where(den[..., None] > 0, num / safe, orig)
        new = np.subtract(blended, orig, out=blended)  # blended is ours to change
        new *= alpha[..., None]
        new += orig
        # OpenCV rounds (half to even, as np.rint) and saturates to uint8 in one pass.
        np.copyto(out[y0:y1, x0:x1], opencv().convertScaleAbs(new), where=(alpha > 0)[..., None])
        regions.append(((x0, y0, x1, y1), np.asarray(alpha, np.float32)))
    return PasteResult(out, regions)


__all__ = [
    "FaceMaskShape",
    "FacePaste",
    "FaceParser",
    "PasteOptions",
    "PasteResult",
    "UPSCALE_FACTORS",
    "Upscaler",
    "match_colour",
    "paste_faces",
    "scale_landmarks",
    "upscale_image",
]
