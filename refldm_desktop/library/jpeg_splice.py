"""Keep a JPEG's untouched 8x8 blocks bit for bit when only some faces changed.

Re-encoding a JPEG changes every pixel a little, even with the original's quantisation
tables and sampling: colour conversion, chroma resampling and the DCT round differently on
the way back (on the JPEGs of ../shared, 1 to 36% of all pixels move, by up to 14 levels).
A restored photo should differ from its original only where faces were restored. So for a
JPEG original we work on its DCT coefficients: the new pixels are encoded with the
original's tables and sampling, and only the blocks that cover a changed pixel take the new
coefficients. Every other block keeps the original's coefficients and therefore decodes to
exactly the original's pixels. (The decoder smooths chroma across block edges, so pixels
within one chroma sample of a replaced block can move by a level or two.)

The new file keeps the original's stored orientation and its metadata segments (EXIF with
its orientation tag, ICC profile, XMP, ...) byte for byte, so it shows upright wherever the
original did. Turning the blocks upright instead would not be exact: the inverse DCT rounds
differently along rows and columns.

`splice_jpeg` returns None whenever this cannot be done (not a JPEG, CMYK, unusual
sampling, jpeglib not installed, a file libjpeg will not read); the caller then encodes the
whole photo again.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, JpegImagePlugin

log = logging.getLogger(__name__)

ORIENTATION = 0x0112

# PIL transposes that undo each EXIF orientation: upright pixels -> stored pixels. These are
# the inverses of the ones ImageOps.exif_transpose applies (stored -> upright).
_TO_STORED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

# Segments that describe the photo (APP0..APP15, COM); everything else in a JPEG header
# (tables, frame, scan) is written anew.
_META = set(range(0xE0, 0xF0)) | {0xFE}
_SOS = 0xDA


def to_stored_orientation(upright: np.ndarray, orientation: int) -> np.ndarray:
    """Upright pixels (H, W[, 3]) uint8 or bool back in a file's stored orientation."""
    method = _TO_STORED.get(int(orientation))
    if method is None:
        return upright
    a = np.asarray(upright)
    as_bool = a.dtype == np.bool_
    img = Image.fromarray(a.astype(np.uint8) * 255 if as_bool else a)
    out = np.asarray(img.transpose(method))
    return out > 127 if as_bool else out


def _segments(data: bytes) -> list[tuple[int, bytes]] | None:
    """(marker, whole segment bytes) from SOI up to, not including, the first SOS; None
    when the header does not parse."""
    if data[:2] != b"\xff\xd8":
        return None
    out: list[tuple[int, bytes]] = []
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        while i < len(data) and data[i] == 0xFF and data[i + 1] == 0xFF:
            i += 1  # fill bytes
        marker = data[i + 1]
        if marker == _SOS:
            return out
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2 or i + 2 + length > len(data):
            return None
        out.append((marker, data[i : i + 2 + length]))
        i += 2 + length
    return None


def _with_metadata_of(new: bytes, original: bytes) -> bytes | None:
    """`new` with its own APPn/COM segments replaced by the original's."""
    head_new = _segments(new)
    head_orig = _segments(original)
    if head_new is None or head_orig is None:
        return None
    header_len = 2 + sum(len(seg) for _, seg in head_new)
    meta = b"".join(seg for m, seg in head_orig if m in _META)
    tables = b"".join(seg for m, seg in head_new if m not in _META)
    return b"\xff\xd8" + meta + tables + new[header_len:]


def _block_mask(changed: np.ndarray, blocks: tuple[int, int], foot: tuple[int, int]) -> np.ndarray:
    """Which (blocks) of a component cover a changed pixel; a block spans foot (rows, cols)
    pixels of the image."""
    bh, bw = blocks
    fy, fx = foot
    h, w = changed.shape
    padded = np.zeros((bh * fy, bw * fx), bool)
    padded[: min(h, bh * fy), : min(w, bw * fx)] = changed[: bh * fy, : bw * fx]
    return np.asarray(padded.reshape(bh, fy, bw, fx).any(axis=(1, 3)))


def _grow(mask: np.ndarray, n: int) -> np.ndarray:
    """Dilate a boolean image by n pixels (a square), with shifted maxima (no SciPy)."""
    out = mask.copy()
    for axis in (0, 1):
        src = out.copy()
        for d in range(1, n + 1):
            if axis == 0:
                out[d:] |= src[:-d]
                out[:-d] |= src[d:]
            else:
                out[:, d:] |= src[:, :-d]
                out[:, :-d] |= src[:, d:]
    return out


def splice_jpeg(original: Path, pixels: np.ndarray, changed: np.ndarray) -> bytes | None:
    """A JPEG of upright `pixels` that keeps `original`'s coefficients outside `changed`.

    `pixels` (H, W, 3) uint8 are the new photo, upright and the size of the upright
    original; `changed` (H, W) bool marks every pixel that may differ from the original.
    Returns the file's bytes, or None when the original cannot be treated this way.
    """
    jpeglib = _jpeglib()
    if jpeglib is None:
        return None
    original = Path(original)
    try:
        raw = original.read_bytes()
        with Image.open(io.BytesIO(raw)) as img:
            if img.format != "JPEG" or img.mode not in ("RGB", "L"):
                return None
            try:
                orientation = int(img.getexif().get(ORIENTATION, 1))
            except (SyntaxError, ValueError, OSError, TypeError):
                orientation = 1
            quantization = getattr(img, "quantization", None)
            sampling = JpegImagePlugin.get_sampling(img) if img.mode == "RGB" else -1
            mode, stored_size = img.mode, img.size
    except OSError:
        return None
    if not quantization or (mode == "RGB" and sampling == -1):
        return None
    pixels = np.asarray(pixels)
    changed = np.asarray(changed, dtype=bool)
    if pixels.shape[:2] != changed.shape:
        raise ValueError("pixels and the changed mask differ in size")
    stored = to_stored_orientation(pixels, orientation)
    mask = to_stored_orientation(changed, orientation)
    if stored.shape[:2] != (stored_size[1], stored_size[0]):
        return None

    with tempfile.TemporaryDirectory(prefix="refldm-jpeg-") as tmp:
        new_path, out_path = Path(tmp) / "new.jpg", Path(tmp) / "out.jpg"
        try:
            old = jpeglib.read_dct(str(original))
            samp = np.asarray(old.samp_factor).reshape(-1, 2)  # per component: (vertical, horizontal)
            vmax, hmax = int(samp[:, 0].max()), int(samp[:, 1].max())
            mcu_y, mcu_x = 8 * vmax, 8 * hmax
            # Chroma is smoothed across one sample when upsampled: widen the mask so that a
            # face's own chroma never comes from an old block next to it.
            grown = _grow(mask, max(vmax, hmax)) if (vmax, hmax) != (1, 1) else mask
            rows, cols = np.nonzero(grown.any(axis=1))[0], np.nonzero(grown.any(axis=0))[0]
            if len(rows):
                # Only the changed region is encoded anew, cut on the MCU grid so that its
                # blocks line up with the original's.
                y0, x0 = rows[0] // mcu_y * mcu_y, cols[0] // mcu_x * mcu_x
                y1 = min(-(-(rows[-1] + 1) // mcu_y) * mcu_y, stored.shape[0])
                x1 = min(-(-(cols[-1] + 1) // mcu_x) * mcu_x, stored.shape[1])
                _encode_like(stored[y0:y1, x0:x1], mode, quantization, sampling, new_path)
                new = jpeglib.read_dct(str(new_path))
                if not _compatible(old, new):
                    return None
                for i, name in enumerate(("Y", "Cb", "Cr")[: old.num_components]):
                    v, h = int(samp[i, 0]), int(samp[i, 1])
                    fy, fx = 8 * vmax // v, 8 * hmax // h  # image pixels per block of this component
                    a, b = np.array(getattr(old, name), copy=True), getattr(new, name)
                    by, bx = y0 // fy, x0 // fx
                    ny, nx = min(b.shape[0], a.shape[0] - by), min(b.shape[1], a.shape[1] - bx)
                    pick = _block_mask(grown[y0:y1, x0:x1], (ny, nx), (fy, fx))
                    region = a[by : by + ny, bx : bx + nx]
                    region[pick] = b[:ny, :nx][pick]
                    setattr(old, name, a)
            # Without its source file jpeglib writes the coefficients as they are; with it, it
            # first decodes the whole original once more only to copy its parameters.
            _ = old.Y, old.qt  # read the coefficients and tables if nothing read them yet
            old.content = None
            old.write_dct(str(out_path), flags=["+OPTIMIZE_CODING"])
            spliced = out_path.read_bytes()
        except (OSError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
            log.info("cannot splice %s at the block level (%s); encoding it whole", original, exc)
            return None
    return _with_metadata_of(spliced, raw)


def _jpeglib():
    """jpeglib, set once to libjpeg-turbo's code where the package has it (a fifth faster to
    read and write coefficients than its default IJG 6b; the coefficients are the same), or
    None when it is not installed."""
    global _TURBO_SET
    try:
        import jpeglib
    except ImportError:
        return None
    if not _TURBO_SET:
        _TURBO_SET = True
        try:
            jpeglib.version.set("turbo210")
        except (RuntimeError, NotImplementedError, OSError, ValueError):
            pass  # another libjpeg (or turbo's library would not load): slower, the same result
    return jpeglib


_TURBO_SET = False


def _encode_like(pixels: np.ndarray, mode: str, quantization: dict, sampling: int, path: Path) -> None:
    """Encode pixels with the original's quantisation tables and chroma sampling."""
    img = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    params: dict = {"qtables": {k: list(v) for k, v in quantization.items()}}
    if mode == "L":
        img = img.convert("L")
        params["qtables"] = {0: list(quantization[0])}
    else:
        params["subsampling"] = sampling
    img.save(path, "JPEG", **params)


def _compatible(old, new) -> bool:
    """Same components, colour space, sampling and tables: their blocks can be swapped."""
    if old.num_components != new.num_components or old.num_components not in (1, 3):
        return False
    if str(old.jpeg_color_space) != str(new.jpeg_color_space):
        return False
    if not np.array_equal(np.asarray(old.samp_factor), np.asarray(new.samp_factor)):
        return False
    return all(
        np.array_equal(old.get_component_qt(i), new.get_component_qt(i)) for i in range(old.num_components)
    )
