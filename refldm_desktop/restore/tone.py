"""Black-and-white and toned photos keep their tone where a restored face is pasted.

A restorer trained on colour faces paints colour into a black-and-white photo (pink lips,
green patches in hair), and colour matching by mean and spread cannot remove a cast that
varies across the face. So each photo's tone is measured before pasting:

- grey: no colour at all. A pasted face keeps only its lightness, so R=G=B stays exact.
- toned (sepia, cyanotype, selenium...): one colour per lightness, the tone curve of the
  print. A pasted face keeps its lightness and takes the curve's colour at that lightness.
- colour (faded or not): several colours at the same lightness. Pasting keeps today's colour
  matching, which also follows a fading print's cast.

The test is in YCbCr: per band of lightness, how far pixels' colour (Cb, Cr) lies from the
band's median colour. In a monochrome print nearly every pixel sits on the curve (JPEG noise,
stains and scratches aside); in a colour photo skin, clothes and sky at one lightness differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GREY = "grey"
TONED = "toned"
COLOUR = "colour"

# Full-range BT.601, as JPEG uses; restore.paste matches colours with these too.
_RGB_TO_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float64
)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)

# Thresholds in Cb/Cr units (0..255 scale). Scanned sepia and cyanotype prints in
# ../shared have 90% of their pixels within 3.3 of their tone curve; the colour photos there,
# faded and black-and-white-looking ones included, have at least 6.
_CURVE_SPREAD_90 = 4.5
# Chroma under which a pixel has no colour worth keeping: grey JPEGs carry +-1 of noise.
_GREY_CHROMA_99 = 3.0
# A colour photo whose strongest colours stay this weak is called faded (a label only).
_FADED_CHROMA_99 = 25.0
_BANDS = 32  # lightness bands of the tone curve
_MAX_SAMPLES = 400_000  # pixels looked at per photo


@dataclass(frozen=True, eq=False)
class PhotoTone:
    kind: str  # GREY, TONED or COLOUR
    name: str  # what a person calls it: "black-and-white", "sepia", "faded colour"...
    # Cb and Cr per lightness 0..255 (toned photos only): (256, 2) float32.
    curve: np.ndarray | None = field(default=None, repr=False)
    spread: float = 0.0  # 90th percentile of the distance from the curve

    @property
    def monochrome(self) -> bool:
        return self.kind in (GREY, TONED)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """(…, 3) float32 RGB in 0..255 with this photo's tone: its own lightness, the
        photo's colour at that lightness. A colour tone returns `rgb` unchanged."""
        if not self.monochrome:
            return rgb
        rgb = np.asarray(rgb, np.float32)
        y = (np.float32(0.299) * rgb[..., 0] + np.float32(0.587) * rgb[..., 1]
             + np.float32(0.114) * rgb[..., 2])
        np.clip(y, 0.0, 255.0, out=y)
        if self.kind == GREY:
            return np.repeat(y[..., None], 3, axis=-1)
        assert self.curve is not None
        grid = np.arange(256, dtype=np.float32)
        cb = np.interp(y, grid, self.curve[:, 0]).astype(np.float32)
        cr = np.interp(y, grid, self.curve[:, 1]).astype(np.float32)
        m = _YCC_TO_RGB.astype(np.float32)
        out = np.empty(rgb.shape, np.float32)
        for i in range(3):
            out[..., i] = y + m[i, 1] * cb + m[i, 2] * cr
        return np.clip(out, 0.0, 255.0, out=out)

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name}


def _sample(image: np.ndarray) -> np.ndarray:
    """At most _MAX_SAMPLES pixels of the photo on a regular grid, as (n, 3) float64."""
    h, w = image.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / _MAX_SAMPLES))))
    return image[::step, ::step].reshape(-1, 3).astype(np.float64)


def _hue_name(cb: float, cr: float) -> str:
    """A word for the colour of a tone curve's middle."""
    hue = np.degrees(np.arctan2(cr, cb)) % 360.0
    # Cb/Cr angles: sepia and brown prints sit near 100-160 degrees (red-yellow), cyanotypes
    # near 300-360 (blue), selenium and purple-brown near 60-100.
    if 95.0 <= hue < 170.0:
        return "sepia"
    if 170.0 <= hue < 250.0:
        return "green-toned"
    if 250.0 <= hue or hue < 15.0:
        return "cyanotype"
    return "purple-toned"


def detect_tone(image: np.ndarray) -> PhotoTone:
    """The tone of an (H, W, 3) uint8 photo (see the module docstring)."""
    x = _sample(np.asarray(image))
    # Channel by channel rather than a matrix product: BLAS threads spin against each other
    # on a busy machine, and this product is plain arithmetic anyway.
    y, cb, cr = (x[:, 0] * m[0] + x[:, 1] * m[1] + x[:, 2] * m[2] for m in _RGB_TO_YCC)
    chroma = np.hypot(cb, cr)
    strong = float(np.percentile(chroma, 99)) if len(chroma) else 0.0
    if strong <= _GREY_CHROMA_99:
        return PhotoTone(GREY, "black-and-white")
    band = np.clip((y * (_BANDS / 256.0)).astype(np.intp), 0, _BANDS - 1)
    # Pixels sorted by band once, so that each band is one slice (not a mask over all).
    order = np.argsort(band.astype(np.uint8), kind="stable")  # a radix sort for bytes
    bounds = np.searchsorted(band[order], np.arange(_BANDS + 1))
    cb_sorted, cr_sorted = cb[order], cr[order]
    centres = np.full((_BANDS, 2), np.nan)
    for b in range(_BANDS):
        lo, hi = bounds[b], bounds[b + 1]
        if lo < hi:
            centres[b] = np.median(cb_sorted[lo:hi]), np.median(cr_sorted[lo:hi])
    dist = np.hypot(cb - centres[band, 0], cr - centres[band, 1])
    spread = float(np.percentile(dist, 90))
    if spread > _CURVE_SPREAD_90:
        name = "faded colour" if strong <= _FADED_CHROMA_99 else "colour"
        return PhotoTone(COLOUR, name, spread=spread)
    # The curve: band medians at band centres, bands without pixels bridged linearly, and
    # held flat past the darkest and lightest bands the photo has.
    have = ~np.isnan(centres[:, 0])
    mids = (np.arange(_BANDS) + 0.5) * (256.0 / _BANDS)
    grid = np.arange(256, dtype=np.float64)
    curve = np.stack(
        [np.interp(grid, mids[have], centres[have, 0]), np.interp(grid, mids[have], centres[have, 1])], axis=1
    )
    mid = np.median(cb), np.median(cr)
    return PhotoTone(TONED, _hue_name(*mid), curve.astype(np.float32), spread)


__all__ = ["COLOUR", "GREY", "PhotoTone", "TONED", "detect_tone"]
