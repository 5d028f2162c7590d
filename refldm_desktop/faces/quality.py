"""How good is one face as a reference for ReF-LDM?

Every measure is taken where it means something:
- sharpness, exposure, colour and a near-duplicate fingerprint on the face interior of the
  FFHQ-aligned crop, so that pose and framing do not matter;
- face resolution in source pixels (the eye distance);
- JPEG blockiness and noise on the source photo's own pixels around the face, because the
  8x8 JPEG grid and the sensor noise live there, not on a resampled crop;
- head pose and eye opening from the landmarks.

Sharpness is scale-normalised: it compares the energy in the top octave that the face's
own resolution can carry (capped at what ReF-LDM's 512 crop can use) with the energy in the
three octaves below. A natural image has about the same energy in every octave, a blurred
one loses its top octaves. So a sharp 150x150 chip
and a sharp 4000x3000 portrait both score as sharp, while the chip blown up from a quarter
of its size (all its pixels, none of its detail) scores as blurry. How many pixels the face
has is judged separately, by the eye distance.

`assess` returns raw, person-independent measures (store them with the face, keyed by
QUALITY_VERSION); `rate` turns them, plus the distance to the person's centre when known,
into one score in [0, 1] with short reasons a user can read.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from refldm_desktop.faces import oldprint
from refldm_desktop.faces.align import AlignTransform, apply_affine, ffhq_transform, invert_affine

# Bump whenever a measure or the rating changes, so stored scores get recomputed.
QUALITY_VERSION = 2

# The measures look at the face interior of an FFHQ crop (brows to below the mouth, cheek to
# cheek), in crop fractions. In a crop of size N the eyes sit about N/4 apart.
_INTERIOR = (0.25, 0.34, 0.75, 0.84)  # u0, v0, u1, v1: a square of side N/2
# Interior sides (pixels) that FFTs handle fast; the work crop is twice the side.
_FAST_SIDES = (128, 144, 160, 180, 192, 200, 216, 240, 256)
# ReF-LDM sees 512 crops, eyes 128 px apart: finer detail than that never reaches the model.
MODEL_EYE_DISTANCE = 128.0
FINGERPRINT_SIDE = 16
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Largest source window (per side) used for blockiness and noise; the centre of the face is enough.
_SOURCE_WINDOW = 320


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees. yaw > 0: the nose points to the viewer's right;
    pitch > 0: the face looks up; roll > 0: the head leans clockwise as seen by the viewer."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class ColourStats:
    """Mean opponent colour of the face interior (RGB in [0, 1]).

    red_green = mean(R - G), blue_yellow = mean((R + G) / 2 - B): skin under warm light has a
    larger blue_yellow; a black-and-white photo has both near 0. chroma is their length."""

    red_green: float
    blue_yellow: float

    @property
    def chroma(self) -> float:
        return math.hypot(self.red_green, self.blue_yellow)

    def distance(self, other: ColourStats) -> float:
        return math.hypot(self.red_green - other.red_green, self.blue_yellow - other.blue_yellow)


@dataclass(frozen=True)
class QualityScores:
    """Raw, person-independent measures of one face. Store them; `rate` is cheap."""

    version: int
    sharpness: float  # top usable octave / three octaves below; > 0.01 sharp, < 0.002 blurry
    native_sharpness: float  # the same at the photo's own pixel size (differs for faces larger than the model's)
    eye_distance: float  # source pixels between the eye centres
    pose: Pose
    brightness: float  # mean luma of the face interior, 0..1
    contrast: float  # luma standard deviation of the face interior, 0..1
    clipped: float  # fraction of interior pixels crushed to black or blown to white
    eye_openness: float | None  # eye aspect ratio (68 landmarks), None when unknown
    blockiness: float  # 8x8 grid step excess at the source; 0 none, > 0.5 heavy
    noise: float  # noise sigma in 0..255 units at the crop's scale
    detector: float | None  # detector confidence in [0, 1] when known
    colour: ColourStats
    fingerprint: tuple[int, ...] = field(repr=False, default=())  # int8 luma thumbnail
    # Signs of an old print (grain, scratches, halftone, fading, cast); None when unknown.
    print_signs: oldprint.PrintSigns | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fingerprint"] = list(self.fingerprint)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> QualityScores:
        d = dict(d)
        d["pose"] = Pose(**d["pose"])
        d["colour"] = ColourStats(**d["colour"])
        d["fingerprint"] = tuple(int(v) for v in d.get("fingerprint", ()))
        if d.get("print_signs") is not None:
            d["print_signs"] = oldprint.PrintSigns(**d["print_signs"])
        return cls(**d)


@dataclass(frozen=True)
class Rating:
    score: float  # 0..1, higher is a better reference
    reasons: tuple[str, ...]  # the main good and bad points, worst first
    factors: dict[str, float]  # each aspect's fitness in [0, 1], for tuning and display


# ---------------------------------------------------------------------------------------
# Measuring


def assess(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    detector: float | None = None,
    transform: AlignTransform | None = None,
    crop: np.ndarray | None = None,
) -> QualityScores:
    """Measure one face of an (H, W, 3) uint8 RGB photo (upright).

    `landmarks` are (68, 2) or (5, 2). `detector` is a confidence in [0, 1] (see
    `detector_confidence`). When the caller already holds an FFHQ crop (any size) and its
    transform, pass both and the crop is reused instead of resampling the photo.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("assess expects an (H, W, 3) uint8 RGB image")
    lm = np.asarray(landmarks, dtype=np.float64)
    if transform is None:
        if crop is not None:
            raise ValueError("a crop needs the transform it was cut with")
        transform = ffhq_transform(lm, 512)
    # The face's size as the crop sees it: the eye distance of a frontal face that fills the
    # crop the same way (a turned face's eyes are closer than its size).
    face_size = transform.source_pixels_per_crop_pixel * transform.size / 4.0
    side = interior_side(face_size)
    if crop is not None:
        if crop.shape[:2] != (transform.size, transform.size):
            raise ValueError("crop does not match the transform's size")
        luma, mean_rgb = _interior_from_crop(crop, side)
    else:
        luma, mean_rgb = _resample_interior(image, transform, side)
    # Source pixels per work pixel (the work crop is 2 * side wide): below 1 the face was
    # blown up to fill it.
    scale = face_size * 4.0 / (2 * side)

    source = _source_gray(image, lm)
    # Source pixels per pixel of ReF-LDM's own crop: noise shrinks by this much before the
    # model sees it.
    model_scale = max(face_size / MODEL_EYE_DISTANCE, 1.0)
    sharpness = _sharpness(luma, scale, _source_axis_angle(transform))
    # A face larger than the work crop is also looked at pixel for pixel: a copy blown up
    # from a quarter of its size can still fill the model's crop, but has no fine detail.
    native = _native_sharpness(source[0]) if scale > 1.05 else sharpness
    signs = None
    if source[0].size:
        gh, gw = source[0].shape
        window = image[source[2] : source[2] + gh, source[1] : source[1] + gw]
        extent = lm.max(0) - lm.min(0)
        signs = oldprint.measure(
            image, window, max(1, int(face_size / MODEL_EYE_DISTANCE)), float(extent[0] * extent[1])
        )
    return QualityScores(
        version=QUALITY_VERSION,
        sharpness=sharpness,
        native_sharpness=native,
        eye_distance=float(transform.eye_distance),
        pose=head_pose(lm),
        brightness=float(luma.mean()),
        contrast=float(luma.std()),
        clipped=float(np.mean((luma < 3 / 255) | (luma > 252 / 255))),
        eye_openness=eye_openness(lm),
        # Blocks are judged as they are: heavy JPEG also smears colour and rings, which
        # shrinking does not hide.
        blockiness=_blockiness(*source),
        noise=_noise_sigma(source[0]) / model_scale,
        detector=None if detector is None else float(np.clip(detector, 0.0, 1.0)),
        colour=_colour(mean_rgb),
        fingerprint=_fingerprint(luma),
        print_signs=signs,
    )


def interior_side(face_size: float) -> int:
    """Side (pixels) of the face interior we measure on, for a face of this size (its eye
    distance when frontal).

    Twice the size, so the face is neither blown up nor shrunk, kept between 128 (tiny
    faces are blown up to a size the measures work at) and 256 (what ReF-LDM sees)."""
    want = 2.0 * min(max(face_size, 64.0), MODEL_EYE_DISTANCE)
    for s in _FAST_SIDES:
        if s >= want - 0.5:
            return s
    return _FAST_SIDES[-1]


def detector_confidence(score: float, backend: str) -> float:
    """Map a backend's detector score onto [0, 1].

    dlib's HOG detector gives an SVM margin (0 is its threshold, clear faces reach 1.5-3);
    detectors that already give a probability (insightface SCRFD) pass through."""
    if backend.startswith("dlib"):
        return float(1.0 / (1.0 + math.exp(-3.0 * (score - 0.4))))
    return float(np.clip(score, 0.0, 1.0))


def _interior_px(size: int) -> tuple[int, int]:
    """Top-left corner of the interior in a crop of `size`."""
    return round(_INTERIOR[0] * size), round(_INTERIOR[1] * size)


def _resample_interior(image: np.ndarray, t: AlignTransform, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Luma (float32, 0..1) of the interior of the (2 * side) FFHQ crop, resampled straight
    from the photo, and the interior's mean RGB (0..1).

    Same geometry as warp_to_crop without FFHQ's padding, which only fills areas outside
    the photo that the interior never reaches (or barely: then edge pixels repeat). Only
    luma is resampled finely, which costs about a millisecond where the full colour crop
    costs about ten."""
    size = 2 * side
    x0, y0 = _interior_px(size)
    to_work = np.asarray(t.matrix, dtype=np.float64) * (size / t.size)
    inv = invert_affine(to_work)  # work crop -> image
    corners = apply_affine(
        inv, np.array([[x0, y0], [x0 + side, y0], [x0, y0 + side], [x0 + side, y0 + side]], float)
    )
    scale = t.source_pixels_per_crop_pixel * t.size / size
    h, w = image.shape[:2]
    pad = int(math.ceil(2 * max(scale, 1.0))) + 2
    rx0 = int(math.floor(corners[:, 0].min())) - pad
    ry0 = int(math.floor(corners[:, 1].min())) - pad
    rx1 = int(math.ceil(corners[:, 0].max())) + pad
    ry1 = int(math.ceil(corners[:, 1].max())) + pad
    cx0, cy0, cx1, cy1 = max(rx0, 0), max(ry0, 0), min(rx1, w), min(ry1, h)
    if cx0 >= cx1 or cy0 >= cy1:
        raise ValueError("the face lies outside the image")
    region = image[cy0:cy1, cx0:cx1]
    mean_rgb = region[pad : region.shape[0] - pad, pad : region.shape[1] - pad].reshape(-1, 3)
    mean_rgb = (mean_rgb if mean_rgb.size else region.reshape(-1, 3)).mean(0) / 255.0
    if (cx0, cy0, cx1, cy1) != (rx0, ry0, rx1, ry1):
        # A face cut by the photo's border: repeat the edge pixels, as FFHQ reflects them,
        # rather than let black corners pass for contrast and detail.
        pads = ((cy0 - ry0, ry1 - cy1), (cx0 - rx0, rx1 - cx1), (0, 0))
        region = np.pad(region, pads, mode="edge")
    # Float luma: rounding to 8 bits again would add a noise floor that hides how little
    # detail a blurred face has.
    gray = Image.fromarray(np.ascontiguousarray(region, dtype=np.float32) @ _LUMA, mode="F")
    # Shrink by the whole part of the scale with a box filter first (an affine resampler
    # alone would alias), then let bicubic do the rotation and the fractional rest.
    k = max(int(scale), 1)
    if k > 1:
        gray = gray.reduce(k)
    m = inv.copy()
    m[:, 2] -= (rx0, ry0)
    m /= k
    # Output pixel (i, j) is work pixel (x0 + i, y0 + j).
    m[:, 2] += m[:, 0] * x0 + m[:, 1] * y0
    out = gray.transform(
        (side, side), Image.Transform.AFFINE, tuple(m.reshape(-1)), resample=Image.Resampling.BICUBIC
    )
    return np.asarray(out, dtype=np.float32) * np.float32(1 / 255), mean_rgb


def _interior_from_crop(crop: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    size = crop.shape[0]
    x0, y0 = _interior_px(size)
    n = size // 2
    rgb = np.ascontiguousarray(crop[y0 : y0 + n, x0 : x0 + n])
    gray = Image.fromarray(rgb.astype(np.float32) @ _LUMA, mode="F")
    if gray.size != (side, side):
        gray = gray.resize((side, side), Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.float32) * np.float32(1 / 255), rgb.reshape(-1, 3).mean(0) / 255.0


def _source_axis_angle(t: AlignTransform) -> float:
    """Angle (radians) of the photo's x axis inside the crop."""
    a = np.asarray(t.matrix)[:, :2]
    return float(math.atan2(a[1, 0], a[0, 0]))


_SPECTRUM_CACHE: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _spectrum_grid(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if n not in _SPECTRUM_CACHE:
        fy = np.fft.fftfreq(n)[:, None]
        fx = np.fft.rfftfreq(n)[None, :]
        radius = np.sqrt(fx * fx + fy * fy).astype(np.float32)
        angle = np.arctan2(fy + 0 * fx, fx + 0 * fy).astype(np.float32)
        win = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
        _SPECTRUM_CACHE[n] = (radius, angle, win)
    return _SPECTRUM_CACHE[n]


# Half-width (degrees) of the wedge around the photo's axes left out of the sharpness bands.
_AXIS_WEDGE = 22.0


def _sharpness(gray: np.ndarray, scale: float, axis_angle: float) -> float:
    """Energy in the top usable octave over the energy in the three octaves below it.

    The top usable frequency is where the source's own detail ends: the work crop's
    Nyquist limit when the face was shrunk into it, the source's (mapped into the crop)
    when it was blown up. A margin keeps the band clear of the resamplers' roll-off.

    Only directions diagonal to the photo's pixel grid count: JPEG blocks, scan lines and
    other grid-aligned artefacts put their energy along the grid's axes, where it would
    pass for detail; faces have detail in every direction."""
    n = gray.shape[0]
    radius, angle, win = _spectrum_grid(n)
    g = (gray - gray.mean()) * win
    power = np.abs(np.fft.rfft2(g)) ** 2
    # Angular distance to the nearest grid axis, folded into [0, 45] degrees.
    rel = np.mod(np.degrees(angle - axis_angle), 90.0)
    off_axis = np.minimum(rel, 90.0 - rel) >= _AXIS_WEDGE
    f_top = 0.5 * min(1.0, scale) * 0.8
    high = power[off_axis & (radius >= f_top / 2) & (radius < f_top)].sum()
    # The three octaves below: they keep most of a blurred face's energy, so the ratio
    # falls with any blur, where a single reference octave would blur away too. When a
    # heavy blur empties even those, all the face's structure (down to 2 cycles across the
    # window) stands in, so that a blur filter's ripples or rounding noise left in the top
    # octave are not mistaken for detail.
    low = power[off_axis & (radius >= f_top / 16) & (radius < f_top / 2)].sum()
    structure = power[off_axis & (radius >= 2.0 / n) & (radius < f_top / 2)].sum()
    return float(high / max(low, 0.25 * structure, 1e-12))


def _native_sharpness(gray: np.ndarray, side: int = 128) -> float:
    """_sharpness on the photo's own pixels at the centre of the face (eyes, nose, mouth)."""
    h, w = gray.shape
    if min(h, w) < side:
        return 0.0
    y0, x0 = (h - side) // 2, (w - side) // 2
    patch = gray[y0 : y0 + side, x0 : x0 + side] * np.float32(1 / 255)
    return _sharpness(patch, 1.0, 0.0)


def _source_gray(image: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Luma of the photo around the face, at source resolution, with its top-left corner.

    Centred on the landmarks, at most _SOURCE_WINDOW per side: the JPEG grid and the noise
    are the same all over the face, and a fixed cap keeps big faces cheap."""
    h, w = image.shape[:2]
    lo, hi = lm.min(0), lm.max(0)
    cx, cy = (lo + hi) / 2
    half = min(max(hi - lo) / 2, _SOURCE_WINDOW / 2)
    x0, y0 = max(int(cx - half), 0), max(int(cy - half), 0)
    x1, y1 = min(int(cx + half) + 1, w), min(int(cy + half) + 1, h)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return np.zeros((0, 0), np.float32), x0, y0
    return image[y0:y1, x0:x1].astype(np.float32) @ _LUMA, x0, y0


def _blockiness(gray: np.ndarray, x0: int, y0: int) -> float:
    """How much the steps on one 8-pixel phase stand out from their neighbours.

    JPEG codes 8x8 blocks independently; at low quality each block edge becomes a step
    larger than the steps beside it. Per axis we average log((step + 1) / (neighbour steps
    + 1)) for each of the 8 phases and take how far the strongest phase rises above the
    others: the grid may sit at any phase once a photo is cropped or rotated, and the
    opposite phase (4 away) is among the others so that a 4-periodic pattern, such as a 4x
    upscale, does not count. Both axes must show it, as a JPEG grid always does."""
    if gray.size == 0:
        return 0.0
    excess = []
    for axis, origin in ((1, x0), (0, y0)):
        d = np.abs(np.diff(gray, axis=axis))
        if axis == 0:
            d = d.T  # steps along each row of d
        if d.shape[1] < 32:
            return 0.0
        padded = np.pad(d, ((0, 0), (1, 1)), mode="edge")
        beside = 0.5 * (padded[:, :-2] + padded[:, 2:])
        profile = np.log((d + 1.0) / (beside + 1.0)).mean(axis=0)
        # Step i lies between pixel origin+i and origin+i+1.
        phase = (origin + np.arange(profile.size) + 1) % 8
        by_phase = np.bincount(phase, weights=profile, minlength=8) / np.bincount(phase, minlength=8)
        p = int(np.argmax(by_phase))
        ref = max(float(np.median(np.delete(by_phase, p))), float(by_phase[(p + 4) % 8]))
        excess.append(by_phase[p] - ref)
    return float(max(min(excess), 0.0))


def _noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer's fast noise estimate on the calmer half of the pixels (oldprint.calm_sigma)."""
    return oldprint.calm_sigma(gray)


def _colour(mean_rgb: np.ndarray) -> ColourStats:
    r, g, b = (float(v) for v in mean_rgb)
    return ColourStats(red_green=r - g, blue_yellow=(r + g) / 2 - b)


def _fingerprint(luma: np.ndarray) -> tuple[int, ...]:
    """A FINGERPRINT_SIDE^2 thumbnail of the face interior, zero mean and unit length, as int8.

    Blur, rescaling and recompression barely move it; another photo of the same person
    does, because light, expression and pose differ."""
    h, w = luma.shape
    n = FINGERPRINT_SIDE
    small = luma[: h - h % n, : w - w % n].reshape(n, h // n, n, w // n).mean(axis=(1, 3))
    return _quantised_unit(small)


def photo_fingerprint(image: np.ndarray) -> tuple[int, ...]:
    """A FINGERPRINT_SIDE^2 thumbnail of a whole photo, letterbox bars trimmed, as int8.

    Per photo, not per face: it finds copies of one photo (resized, recompressed, blurred,
    letterboxed) even where a face's landmarks, and so its crop, came out differently."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("photo_fingerprint expects an (H, W, 3) uint8 RGB image")
    im = Image.fromarray(np.ascontiguousarray(image))
    k = max(1, max(im.size) // 256)
    if k > 1:
        im = im.reduce(k)
    g = np.asarray(im, dtype=np.float32) @ _LUMA

    def bars(a: np.ndarray) -> np.ndarray:
        # Letterbox bars are flat and near black or near white; a dark background is not.
        mean = a.mean(1)
        return (a.std(1) < 6) & ((mean < 20) | (mean > 235))

    rows, cols = np.flatnonzero(~bars(g)), np.flatnonzero(~bars(g.T))
    if rows.size >= FINGERPRINT_SIDE and cols.size >= FINGERPRINT_SIDE:
        g = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    n = FINGERPRINT_SIDE
    small = np.asarray(Image.fromarray(np.ascontiguousarray(g), mode="F").resize((n, n), Image.Resampling.BOX))
    return _quantised_unit(small)


def _quantised_unit(small: np.ndarray) -> tuple[int, ...]:
    v = small.astype(np.float64).ravel()
    v = v - v.mean()
    norm = float(np.linalg.norm(v))
    if norm < 1e-6:
        return tuple([0] * v.size)
    # Unit length times 4 * 127 keeps 256 values in int8 with room for peaks.
    return tuple(int(x) for x in np.clip(np.rint(v / norm * 127 * 4), -127, 127))


def fingerprint_similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Correlation of two fingerprints in [-1, 1] (0 when either is missing)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    va = np.asarray(a, np.float64)
    vb = np.asarray(b, np.float64)
    va -= va.mean()
    vb -= vb.mean()
    d = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / d) if d > 0 else 0.0


# ---------------------------------------------------------------------------------------
# Geometry from landmarks

# A generic head, in millimetres: x to the viewer's right, y down, z away from the camera,
# nose tip at the origin. Only points a landmark detector places on the face itself (no
# jaw line, which follows the silhouette and moves with pose).
_MODEL_68 = {
    17: (-58, -50, 30), 19: (-32, -56, 16), 21: (-10, -50, 14),
    22: (10, -50, 14), 24: (32, -56, 16), 26: (58, -50, 30),
    27: (0, -40, 20), 30: (0, 0, 0),
    31: (-14, 6, 12), 33: (0, 8, 10), 35: (14, 6, 12),
    36: (-45, -35, 32), 39: (-16, -35, 24), 42: (16, -35, 24), 45: (45, -35, 32),
    48: (-25, 32, 26), 51: (0, 22, 12), 54: (25, 32, 26), 57: (0, 42, 16),
    8: (0, 75, 22),
}
_IDX_68 = np.array(sorted(_MODEL_68))
_PTS_68 = np.array([_MODEL_68[i] for i in _IDX_68], np.float64)
# insightface order: eyes (viewer's left first), nose tip, mouth corners.
_PTS_5 = np.array([(-31, -35, 28), (31, -35, 28), (0, 0, 0), (-25, 32, 26), (25, 32, 26)], np.float64)


def head_pose(landmarks: np.ndarray) -> Pose:
    """Yaw, pitch and roll from a scaled-orthographic fit of a generic head to the landmarks.

    Cheap (one small least-squares problem) and good to about 10 degrees, which is all
    reference choice needs. With 5 points, depth rests on the nose alone: coarser."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape == (68, 2):
        img, model = lm[_IDX_68], _PTS_68
    elif lm.shape == (5, 2):
        img, model = lm, _PTS_5
    else:
        raise ValueError(f"landmarks must have shape (68, 2) or (5, 2), got {lm.shape}")
    xc = img - img.mean(0)
    mc = model - model.mean(0)
    # Affine projection M (2x3) with xc ~ mc @ M.T, then the nearest scaled rotation.
    m_t, *_ = np.linalg.lstsq(mc, xc, rcond=None)
    u, s, vt = np.linalg.svd(m_t.T, full_matrices=False)
    r12 = u @ vt
    r3 = np.cross(r12[0], r12[1])
    r = np.vstack([r12, r3])
    # r = Rz(roll) Ry(yaw) Rx(pitch), model -> camera, with y down and z into the scene.
    yaw_ry = math.degrees(math.asin(float(np.clip(-r[2, 0], -1.0, 1.0))))
    pitch_rx = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    # Ry(+) swings the nose (front, z < 0) to the viewer's left; Rx(+) tips it down.
    return Pose(yaw=-yaw_ry, pitch=-pitch_rx, roll=roll)


def eye_openness(landmarks: np.ndarray) -> float | None:
    """Mean eye aspect ratio (lid gap over eye width) from 68 landmarks; None for 5 points.

    Open eyes measure about 0.25-0.35, closed ones under 0.15."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        return None
    ratios = []
    for e in (lm[36:42], lm[42:48]):
        width = np.linalg.norm(e[0] - e[3])
        if width < 1e-6:
            return None
        gap = np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])
        ratios.append(gap / (2 * width))
    return float(np.mean(ratios))


# ---------------------------------------------------------------------------------------
# Rating


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at lo, 1 at hi, linear between (either direction)."""
    if hi == lo:
        return 1.0 if x >= hi else 0.0
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def rate(
    q: QualityScores,
    identity_distance: float | None = None,
    same_person: float | None = None,
    *,
    judge_pose: bool = True,
) -> Rating:
    """One score in [0, 1] and the reasons behind it.

    Each aspect gives a fitness in [0, 1] and removes up to its weight of the score, so one
    serious flaw (blurred, eyes shut, far from the person) pulls a face down whatever its
    other merits. `identity_distance` is the face's distance to its person's centre
    and `same_person` the embedding space's threshold; both or neither. judge_pose=False
    leaves head pose out (for choosing references that should match a target's pose)."""
    f: dict[str, float] = {}
    bad: list[tuple[float, str]] = []
    good: list[str] = []

    # Compression first: heavy JPEG blocking also fakes fine detail (see sharpness below).
    f["compression"] = _ramp(-q.blockiness, -0.7, -0.3)
    if q.blockiness >= 0.55:
        bad.append((f["compression"], "heavy JPEG artefacts"))
    elif q.blockiness >= 0.35:
        bad.append((f["compression"], "JPEG artefacts"))

    # Sharpness on a log scale. Photographs of faces measure 0.01-0.3 (natural 1/f texture
    # would give about 1/3), blurred or blown-up copies of them under 0.002. The detail of a
    # heavily compressed face is partly the blocks' own edges, so it earns no more
    # sharpness credit than its compression allows.
    sharp = _ramp(math.log10(max(q.sharpness, 1e-9)), math.log10(0.0008), math.log10(0.012))
    # A face bigger than the model's crop with no detail at its own pixel size was blown up
    # (or is soft): it loses a little, enough to rank below a true copy of it.
    native = 0.85 + 0.15 * _ramp(math.log10(max(q.native_sharpness, 1e-9)), math.log10(0.0008), math.log10(0.008))
    # Grain and scratches add fine, high-contrast structure that is not the face's detail:
    # a grainy or scratched face earns no more sharpness credit than they leave it.
    signs = oldprint.severities(q.print_signs) if q.print_signs is not None else {}
    for key, name in (("grain", "film grain"), ("scratches", "scratched print")):
        if name in signs:
            f[key] = 1.0 - signs[name]
            if signs[name] >= 0.3:
                bad.append((f[key], name))
    f["sharpness"] = min(sharp * native, f["compression"], f.get("grain", 1.0), f.get("scratches", 1.0))
    if sharp * native < 0.5 and f["compression"] >= 0.5:
        bad.append((f["sharpness"], "blurry"))
    elif native < 0.95 and f["compression"] >= 0.5:
        bad.append((native, "less detail than its size suggests"))
    elif f["sharpness"] >= 0.95:
        good.append("sharp")

    # Resolution: ReF-LDM's 512 crop puts the eyes 128 px apart; below ~16 px a face is a guess.
    ed = q.eye_distance
    f["resolution"] = _ramp(math.log2(max(ed, 1.0)), math.log2(16), math.log2(MODEL_EYE_DISTANCE))
    if ed < 40:
        bad.append((f["resolution"], f"small face ({ed:.0f} px between the eyes)"))
    elif ed >= 100:
        good.append(f"large face ({ed:.0f} px between the eyes)")

    # Pose: ReF-LDM copies the reference's texture best from a similar, mostly frontal view.
    yaw, pitch, roll = abs(q.pose.yaw), abs(q.pose.pitch), abs(q.pose.roll)
    if judge_pose:
        f["pose"] = _ramp(-yaw, -60, -20) * _ramp(-pitch, -45, -20)
        if yaw >= 30:
            bad.append((f["pose"], f"turned {yaw:.0f} degrees to the side"))
        elif pitch >= 25:
            bad.append((f["pose"], f"looking {'up' if q.pose.pitch > 0 else 'down'} ({pitch:.0f} degrees)"))
        elif yaw < 12 and pitch < 15:
            good.append("frontal")
    # Roll is undone by the alignment; it only matters when extreme (likely a bad fit).
    f["roll"] = _ramp(-roll, -60, -35)

    # Exposure and contrast of the face itself.
    b = q.brightness
    f["exposure"] = min(_ramp(b, 0.06, 0.22), _ramp(-b, -0.95, -0.8)) * _ramp(-q.clipped, -0.35, -0.1)
    if b < 0.22:
        bad.append((f["exposure"], "dark"))
    elif b > 0.8 or q.clipped > 0.1:
        bad.append((f["exposure"], "overexposed"))
    f["contrast"] = _ramp(q.contrast, 0.02, 0.07)
    if f["contrast"] < 0.6:
        bad.append((f["contrast"], "low contrast"))

    if q.eye_openness is not None:
        f["eyes"] = _ramp(q.eye_openness, 0.13, 0.2)
        if q.eye_openness < 0.15:
            bad.append((f["eyes"], "eyes closed"))
        elif q.eye_openness < 0.2:
            bad.append((f["eyes"], "eyes half closed"))

    f["noise"] = _ramp(-q.noise, -14.0, -5.0)
    if q.noise >= 8:
        bad.append((f["noise"], "noisy"))

    if q.detector is not None:
        f["detector"] = _ramp(q.detector, 0.05, 0.5)
        if q.detector < 0.3:
            bad.append((f["detector"], "uncertain detection"))

    if identity_distance is not None:
        if same_person is None or same_person <= 0:
            raise ValueError("identity_distance needs the embedding space's same_person threshold")
        rel = identity_distance / same_person
        f["identity"] = _ramp(-rel, -1.0, -0.6)
        if rel >= 0.85:
            bad.append((f["identity"], "far from this person's other photos"))

    # Each flaw removes up to its weight of the score: a fully blurred face keeps at most
    # 20% of it, whatever its other merits; mild flaws cost little.
    weights = {
        "sharpness": 0.8, "resolution": 0.7, "pose": 0.6, "roll": 0.3, "exposure": 0.6,
        "contrast": 0.3, "eyes": 0.6, "compression": 0.5, "noise": 0.3, "detector": 0.3,
        "identity": 0.8, "grain": 0.5, "scratches": 0.5,
    }
    score = 1.0
    for k, v in f.items():
        score *= 1.0 - weights[k] * (1.0 - v)
    bad.sort(key=lambda x: x[0])
    reasons = tuple([r for _, r in bad] + good)
    return Rating(score=float(np.clip(score, 0.0, 1.0)), reasons=reasons, factors=f)
