"""A restored JPEG keeps the original's untouched blocks: outside the changed area every
pixel decodes exactly as the original's, in every orientation and chroma sampling."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image, ImageOps

from musthave import require_module  # noqa: E402

require_module("jpeglib")

from refldm_desktop.library.jpeg_splice import _segments, splice_jpeg  # noqa: E402

ICC = b"\x00\x00\x02\x0cfake-icc-profile-bytes" + bytes(64)


def photo(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Smooth colour fields plus fine noise: every DCT band has something in it."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), np.int16)
    return np.clip(base + rng.integers(-12, 13, (h, w, 3)), 0, 255).astype(np.uint8)


def make_jpeg(path, stored: np.ndarray, *, orientation: int = 1, subsampling: int = 2, mode: str = "RGB"):
    img = Image.fromarray(stored)
    if mode == "L":
        img = img.convert("L")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = orientation
    kwargs = {"quality": 85, "exif": exif.tobytes(), "icc_profile": ICC}
    if mode == "RGB":
        kwargs["subsampling"] = subsampling
    img.save(path, "JPEG", **kwargs)
    return path


def decode_upright(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB")).astype(np.int16)


def near(mask: np.ndarray, n: int) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    out = np.zeros_like(mask)
    out[max(ys.min() - n, 0) : ys.max() + n + 1, max(xs.min() - n, 0) : xs.max() + n + 1] = True
    return out


@pytest.mark.parametrize("subsampling", [0, 1, 2])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_untouched_blocks_decode_exactly_as_the_original(tmp_path, subsampling, orientation):
    stored = photo(200, 152)  # not a multiple of the 16 px MCU either way
    original = make_jpeg(tmp_path / "o.jpg", stored, orientation=orientation, subsampling=subsampling)
    before = decode_upright(original.read_bytes())
    h, w = before.shape[:2]
    new = before.astype(np.uint8).copy()
    changed = np.zeros((h, w), bool)
    changed[h // 3 : h // 3 + 30, w // 4 : w // 4 + 40] = True
    new[changed] = (255 - new[changed]) // 2 + 40

    data = splice_jpeg(original, new, changed)
    assert data is not None
    after = decode_upright(data)
    assert after.shape == before.shape
    # Blocks are 8 px (16 px for subsampled chroma); decoding smooths chroma one sample further.
    outside = ~near(changed, 18)
    assert np.array_equal(after[outside], before[outside])
    # The changed area shows the new pixels, within JPEG's own error at this quality.
    assert np.abs(after[changed] - new[changed].astype(np.int16)).mean() < 6
    # Metadata segments come over byte for byte: EXIF (with its orientation) and ICC.
    keep = lambda b: [seg for m, seg in _segments(b) if 0xE0 <= m <= 0xEF or m == 0xFE]  # noqa: E731
    assert keep(data) == keep(original.read_bytes())
    with Image.open(io.BytesIO(data)) as img:
        assert img.getexif()[0x0112] == orientation and img.info["icc_profile"] == ICC


def test_grayscale_jpeg(tmp_path):
    original = make_jpeg(tmp_path / "g.jpg", photo(120, 96, 1), mode="L")
    before = decode_upright(original.read_bytes())
    changed = np.zeros(before.shape[:2], bool)
    changed[40:60, 30:70] = True
    new = before.astype(np.uint8).copy()
    new[changed] = 10
    data = splice_jpeg(original, new, changed)
    assert data is not None
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "L"
    after = decode_upright(data)
    outside = ~near(changed, 8)
    assert np.array_equal(after[outside], before[outside])
    assert np.abs(after[changed] - 10).mean() < 6


def test_nothing_changed_keeps_every_pixel(tmp_path):
    original = make_jpeg(tmp_path / "o.jpg", photo(64, 48, 2))
    before = decode_upright(original.read_bytes())
    data = splice_jpeg(original, before.astype(np.uint8), np.zeros(before.shape[:2], bool))
    assert np.array_equal(decode_upright(data), before)


def test_what_cannot_be_spliced_returns_none(tmp_path, monkeypatch):
    png = tmp_path / "p.png"
    Image.fromarray(photo(32, 32)).save(png)
    img = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), bool)
    assert splice_jpeg(png, img, mask) is None
    cmyk = tmp_path / "c.jpg"
    Image.fromarray(photo(32, 32)).convert("CMYK").save(cmyk, "JPEG")
    assert splice_jpeg(cmyk, img, mask) is None
    original = make_jpeg(tmp_path / "o.jpg", photo(32, 32))
    assert splice_jpeg(original, np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), bool)) is None  # size differs
    monkeypatch.setitem(sys.modules, "jpeglib", None)  # not installed
    assert splice_jpeg(original, img, mask) is None
