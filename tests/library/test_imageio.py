"""Decoding photos the way a user expects to see them, and refusing bad files with a reason.

Every awkward file is generated here with Pillow (or written byte by byte where Pillow cannot
write it), so the cases run anywhere; the real photos in ../shared are checked at the end.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, features

from musthave import require_module
from refldm_desktop.library import imageio
from refldm_desktop.library.imageio import ImageError, load_rgb, parse_exif_datetime, png_chunks, probe, sniff

# --------------------------------------------------------------------------- helpers


def reference_image(h: int = 24, w: int = 36) -> np.ndarray:
    """An upright picture with no symmetry: every pixel's colour encodes its position."""
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = (xx * 255 // (w - 1)).astype(np.uint8)
    arr[..., 1] = (yy * 255 // (h - 1)).astype(np.uint8)
    arr[: h // 3, : w // 4, 2] = 255  # a blue block in the top-left corner
    return arr


def exif_bytes(**tags: object) -> bytes:
    exif = Image.Exif()
    if "orientation" in tags:
        exif[0x0112] = tags["orientation"]
    sub = {}
    if "taken" in tags:
        sub[0x9003] = tags["taken"]
    if "subsec" in tags:
        sub[0x9291] = tags["subsec"]
    if sub:
        exif.get_ifd(0x8769).update(sub)
    return exif.tobytes()


def save(path: Path, arr_or_img: np.ndarray | Image.Image, fmt: str, **params: object) -> Path:
    img = Image.fromarray(arr_or_img) if isinstance(arr_or_img, np.ndarray) else arr_or_img
    img.save(path, fmt, **params)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_by_hand(width: int, height: int, bit_depth: int, color_type: int, raw: bytes,
                extra_after_idat: bytes = b"") -> bytes:
    """A PNG written chunk by chunk: for 48-bit colour and headers that lie about size."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
            + extra_after_idat + png_chunk(b"IEND", b""))


def tiff_rgb48(arr: np.ndarray) -> bytes:
    """An uncompressed little-endian 16-bit-per-channel RGB TIFF (Pillow cannot write one)."""
    h, w, _ = arr.shape
    data = arr.astype("<u2").tobytes()
    count = 10
    bps_at = 8 + 2 + count * 12 + 4
    data_at = bps_at + 6

    def entry(tag: int, kind: int, n: int, value: int) -> bytes:
        if kind == 3 and n == 1:
            return struct.pack("<HHIHH", tag, kind, n, value, 0)
        return struct.pack("<HHII", tag, kind, n, value)

    entries = [
        entry(256, 4, 1, w), entry(257, 4, 1, h), entry(258, 3, 3, bps_at), entry(259, 3, 1, 1),
        entry(262, 3, 1, 2), entry(273, 4, 1, data_at), entry(277, 3, 1, 3), entry(278, 4, 1, h),
        entry(279, 4, 1, len(data)), entry(284, 3, 1, 1),
    ]
    return (b"II*\x00" + struct.pack("<IH", 8, count) + b"".join(entries) + b"\0\0\0\0"
            + struct.pack("<HHH", 16, 16, 16) + data)


def stored_for_orientation(upright: np.ndarray, orientation: int) -> np.ndarray:
    """What a camera stores so that a viewer applying the EXIF tag shows ``upright``.

    Written from the EXIF definitions with numpy, independently of the code under test.
    """
    if orientation == 1:
        return upright
    if orientation == 2:  # mirrored left-right
        return upright[:, ::-1]
    if orientation == 3:  # upside down
        return upright[::-1, ::-1]
    if orientation == 4:  # mirrored top-bottom
        return upright[::-1, :]
    if orientation == 5:  # mirrored along the main diagonal
        return upright.transpose(1, 0, 2)
    if orientation == 6:  # camera turned clockwise: viewer must rotate 90 degrees clockwise
        return np.rot90(upright, 1)
    if orientation == 7:  # mirrored along the anti-diagonal
        return upright[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:  # viewer must rotate 90 degrees counter-clockwise
        return np.rot90(upright, -1)
    raise AssertionError(orientation)


def reason_of(path: Path, fn=load_rgb) -> str:
    with pytest.raises(ImageError) as caught:
        fn(path)
    return caught.value.reason


# --------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_every_exif_orientation_comes_out_upright(tmp_path: Path, orientation: int, fmt: str) -> None:
    # Lossless formats so pixels compare exactly. TIFF matters on its own: Pillow turns TIFF
    # pixels itself while loading, and we must not turn them a second time.
    upright = reference_image()
    stored = np.ascontiguousarray(stored_for_orientation(upright, orientation))
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    if fmt == "TIFF":
        save(path, stored, fmt, tiffinfo={0x0112: orientation})
    else:
        save(path, stored, fmt, exif=exif_bytes(orientation=orientation), **({"lossless": True} if fmt == "WEBP" else {}))

    arr, info = load_rgb(path)

    assert info.orientation == orientation
    assert (info.width, info.height) == (upright.shape[1], upright.shape[0])
    assert arr.shape == upright.shape
    np.testing.assert_array_equal(arr, upright)
    # Pillow's own viewer logic agrees with ours.
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(im).convert("RGB")), upright)
    # The header-only probe reports the same upright size without decoding.
    assert probe(path) == info


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    upright = reference_image(48, 72)
    stored = np.ascontiguousarray(stored_for_orientation(upright, orientation))
    path = save(tmp_path / "o.jpg", stored, "JPEG", quality=98, exif=exif_bytes(orientation=orientation))

    arr, info = load_rgb(path)

    assert arr.shape == upright.shape
    assert (info.width, info.height) == (72, 48)
    assert np.abs(arr.astype(int) - upright.astype(int)).mean() < 4  # JPEG is lossy
    assert arr[:8, :8, 2].mean() > 200  # the blue block is back in the top-left corner


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_invalid_orientation_values_mean_upright(tmp_path: Path, value: int) -> None:
    upright = reference_image()
    path = save(tmp_path / "bad.png", upright, "PNG", exif=exif_bytes(orientation=value))
    arr, info = load_rgb(path)
    assert info.orientation == 1
    np.testing.assert_array_equal(arr, upright)


def test_probe_finds_exif_stored_after_the_image_data(tmp_path: Path) -> None:
    # PNG allows eXIf after IDAT; probe must still see the rotation without decoding.
    raw = b"".join(b"\x00" + bytes([r * 10, 0, 0]) * 4 for r in range(2))  # 4x2 RGB
    exif = exif_bytes(orientation=6)
    data = png_by_hand(4, 2, 8, 2, raw, extra_after_idat=png_chunk(b"eXIf", exif))
    path = tmp_path / "late_exif.png"
    path.write_bytes(data)
    info = probe(path)
    assert (info.orientation, info.width, info.height) == (6, 2, 4)
    arr, loaded = load_rgb(path)
    assert loaded == info
    assert arr.shape == (4, 2, 3)


def _late_exif_png() -> tuple[bytes, bytes]:
    raw = b"".join(b"\x00" + bytes([r * 10, 0, 0]) * 4 for r in range(2))  # 4x2 RGB
    exif = exif_bytes(orientation=6)
    return png_by_hand(4, 2, 8, 2, raw, extra_after_idat=png_chunk(b"eXIf", exif)), exif


def test_png_chunks_are_walked_from_their_headers_whatever_the_caller_reads() -> None:
    data, exif = _late_exif_png()
    f = io.BytesIO(data)
    seen = []
    for kind, length in png_chunks(f):
        seen.append((kind, length))
        if kind == b"IHDR":
            assert f.read(4) == (4).to_bytes(4, "big")  # the width; the rest is left unread
        elif kind == b"eXIf":
            assert f.read(length) == exif
    assert seen[0] == (b"IHDR", 13)
    assert [kind for kind, _ in seen] == [b"IHDR", b"IDAT", b"eXIf", b"IEND"]
    assert seen[2] == (b"eXIf", len(exif))


def test_a_png_cut_inside_its_late_exif_has_no_exif_and_is_still_a_truncated_png(tmp_path: Path) -> None:
    data, _ = _late_exif_png()
    cut = data[: data.index(b"eXIf") + 10]
    assert [kind for kind, _ in png_chunks(io.BytesIO(cut))] == [b"IHDR", b"IDAT", b"eXIf"]
    path = tmp_path / "cut_exif.png"
    path.write_bytes(cut)
    info = probe(path)  # half an EXIF block counts as none, as a missing one does
    assert (info.orientation, info.exif, info.width, info.height) == (1, False, 4, 2)
    assert reason_of(path) == "truncated PNG data"


def test_png_chunks_refuse_what_is_not_a_png(tmp_path: Path) -> None:
    jpeg = save(tmp_path / "photo.jpg", reference_image(), "JPEG").read_bytes()
    with pytest.raises(ValueError, match="not a PNG"):
        next(png_chunks(io.BytesIO(jpeg)))


# --------------------------------------------------------------------------- colour modes


def test_cmyk_jpeg_colours_are_right(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.paste((255, 255, 255, 0), (8, 0, 16, 8))  # right half near-black
    path = save(tmp_path / "cmyk.jpg", cmyk, "JPEG", quality=95)
    assert b"Adobe" in path.read_bytes()  # libjpeg writes the inverted Adobe CMYK flavour

    arr, info = load_rgb(path)

    assert info.mode == "CMYK"
    assert arr.shape == (8, 16, 3)
    red = arr[:, :6].reshape(-1, 3).mean(axis=0)
    dark = arr[:, 10:].reshape(-1, 3).mean(axis=0)
    assert red[0] > 230 and red[1] < 25 and red[2] < 25
    assert dark.max() < 25


def test_16bit_grayscale_png_keeps_its_tonal_range(tmp_path: Path) -> None:
    # Pillow's own conversion clips 16-bit to 255; a 16-bit scan would come out white.
    values = np.array([[0, 257 * 64, 32896, 65535]], np.uint16)
    path = save(tmp_path / "gray16.png", Image.fromarray(values), "PNG")
    arr, info = load_rgb(path)
    assert info.mode.startswith("I;16")
    np.testing.assert_array_equal(arr[0, :, 0], [0, 64, 128, 255])
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()


def test_48bit_rgb_png(tmp_path: Path) -> None:
    pixels = np.array([[[65535, 32896, 0], [0, 0, 65535]]], np.uint16)  # 2x1
    raw = b"\x00" + pixels.astype(">u2").tobytes()
    path = tmp_path / "rgb48.png"
    path.write_bytes(png_by_hand(2, 1, 16, 2, raw))
    arr, info = load_rgb(path)
    assert info.format == "PNG"
    np.testing.assert_array_equal(arr[0], [[255, 128, 0], [0, 0, 255]])


def test_48bit_rgb_tiff(tmp_path: Path) -> None:
    pixels = np.zeros((2, 3, 3), np.uint16)
    pixels[0, 0] = (65535, 32896, 0)
    pixels[1, 2] = (2570, 0, 65535)
    path = tmp_path / "rgb48.tif"
    path.write_bytes(tiff_rgb48(pixels))
    arr, info = load_rgb(path)
    assert info.format == "TIFF" and arr.shape == (2, 3, 3)
    assert tuple(arr[0, 0]) == (255, 128, 0)
    assert tuple(arr[1, 2]) == (10, 0, 255)


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grayscale_and_bilevel(tmp_path: Path, mode: str) -> None:
    gray = np.zeros((4, 6), np.uint8)
    gray[:, 3:] = 255
    img = Image.fromarray(gray).convert(mode)
    path = save(tmp_path / f"{mode}.png", img, "PNG")
    arr, info = load_rgb(path)
    assert info.mode == mode
    assert arr.shape == (4, 6, 3)
    np.testing.assert_array_equal(arr[..., 0], gray)
    assert (arr[..., 0] == arr[..., 2]).all()


def test_float_tiff_in_unit_range(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.5, 1.0]], np.float32)
    path = save(tmp_path / "f.tif", Image.fromarray(values, "F"), "TIFF")
    arr, info = load_rgb(path)
    assert info.mode == "F"
    np.testing.assert_array_equal(arr[0, :, 1], [0, 128, 255])


def test_32bit_integer_tiff_with_16bit_values(tmp_path: Path) -> None:
    values = np.array([[0, 32896, 65535]], np.int32)
    path = save(tmp_path / "i.tif", Image.fromarray(values, "I"), "TIFF")
    arr, info = load_rgb(path)
    assert info.mode == "I"
    np.testing.assert_array_equal(arr[0, :, 0], [0, 128, 255])


def test_alpha_is_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere
    rgba[:, 0, 3] = 0  # fully transparent
    rgba[:, 1, 3] = 128  # half
    rgba[:, 2, 3] = 255  # opaque
    path = save(tmp_path / "rgba.png", rgba, "PNG")
    arr, info = load_rgb(path)
    assert info.mode == "RGBA"
    assert tuple(arr[0, 0]) == (255, 255, 255)
    assert arr[0, 1, 0] == 255 and 120 <= arr[0, 1, 1] <= 135 and 120 <= arr[0, 1, 2] <= 135
    assert tuple(arr[0, 2]) == (255, 0, 0)


def test_gray_with_alpha(tmp_path: Path) -> None:
    la = Image.new("LA", (2, 1), (0, 255))
    la.putpixel((1, 0), (0, 0))
    path = save(tmp_path / "la.png", la, "PNG")
    arr, _ = load_rgb(path)
    assert tuple(arr[0, 0]) == (0, 0, 0) and tuple(arr[0, 1]) == (255, 255, 255)


def test_palette_with_transparent_index(tmp_path: Path) -> None:
    pal = Image.new("P", (3, 1))
    pal.putpalette([0, 0, 255, 0, 128, 0, 10, 20, 30] + [0] * (256 * 3 - 9))
    pal.putdata([0, 1, 2])
    path = save(tmp_path / "pal.png", pal, "PNG", transparency=0)
    arr, info = load_rgb(path)
    assert info.mode == "P"
    assert tuple(arr[0, 0]) == (255, 255, 255)  # transparent index shows the white background
    assert tuple(arr[0, 1]) == (0, 128, 0) and tuple(arr[0, 2]) == (10, 20, 30)


def test_rgb_with_colour_key_transparency(tmp_path: Path) -> None:
    img = Image.new("RGB", (2, 1), (1, 2, 3))
    img.putpixel((1, 0), (200, 100, 50))
    path = save(tmp_path / "key.png", img, "PNG", transparency=(1, 2, 3))
    arr, _ = load_rgb(path)
    assert tuple(arr[0, 0]) == (255, 255, 255) and tuple(arr[0, 1]) == (200, 100, 50)


def test_result_is_a_writable_contiguous_uint8_array(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", reference_image(), "PNG", exif=exif_bytes(orientation=6))
    arr, _ = load_rgb(path)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    assert arr.flags.c_contiguous and arr.flags.writeable


# --------------------------------------------------------------------------- formats by content


@pytest.mark.parametrize(
    ("fmt", "name", "params"),
    [
        ("PNG", "photo.jpg", {}),
        ("JPEG", "photo.png", {"quality": 95}),
        ("WEBP", "photo", {"lossless": True}),
        ("TIFF", "photo.jpeg", {}),
        ("BMP", "photo.dat", {}),
    ],
)
def test_format_is_decided_by_content_not_extension(tmp_path: Path, fmt: str, name: str, params: dict) -> None:
    upright = reference_image()
    path = save(tmp_path / name, upright, fmt, **params)
    assert sniff(path) == fmt
    arr, info = load_rgb(path)
    assert info.format == fmt
    error = np.abs(arr.astype(int) - upright.astype(int))
    if fmt == "JPEG":
        assert error.mean() < 4  # lossy
    else:
        assert error.max() == 0


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow was built without AVIF support")
def test_avif(tmp_path: Path) -> None:
    path = save(tmp_path / "a.avif", reference_image(32, 48), "AVIF", quality=90)
    assert sniff(path) == "AVIF"
    arr, info = load_rgb(path)
    assert info.format == "AVIF" and arr.shape == (32, 48, 3)


def test_heif_decodes_upright_when_pillow_heif_is_installed(tmp_path: Path) -> None:
    pillow_heif = require_module("pillow_heif")  # optional for users, in the test extra
    pillow_heif.register_heif_opener()
    upright = reference_image(32, 48)
    stored = np.ascontiguousarray(stored_for_orientation(upright, 6))
    path = save(tmp_path / "IMG_0001.HEIC", stored, "HEIF", quality=95, exif=exif_bytes(orientation=6))
    assert sniff(path) == "HEIF"
    arr, info = load_rgb(path)
    assert info.format == "HEIF"
    assert arr.shape == (32, 48, 3) and (info.width, info.height) == (48, 32)
    assert arr[:6, :6, 2].mean() > 180  # blue block top-left: upright, not rotated twice


def test_heif_without_pillow_heif_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "IMG_0002.heic"
    path.write_bytes(struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 64)
    monkeypatch.setattr(imageio, "_heif_state", None)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # makes "import pillow_heif" fail
    assert sniff(path) == "HEIF"
    assert "pillow-heif is not installed" in reason_of(path)


# --------------------------------------------------------------------------- bad files


def test_truncated_jpeg_is_an_error_not_a_grey_half_photo(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = save(tmp_path / "cut.jpg", rng.integers(0, 255, (64, 64, 3), np.uint8), "JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert reason_of(path) == "truncated JPEG data"
    probe(path)  # the header is intact, so probing still works


def test_truncated_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = save(tmp_path / "cut.png", rng.integers(0, 255, (64, 64, 3), np.uint8), "PNG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert reason_of(path) == "truncated PNG data"


def test_header_cut_short(tmp_path: Path) -> None:
    path = save(tmp_path / "stub.jpg", reference_image(), "JPEG")
    path.write_bytes(path.read_bytes()[:24])
    assert reason_of(path, probe) == "corrupt or truncated JPEG header"


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert sniff(path) is None
    assert reason_of(path) == "empty file (0 bytes)"
    assert reason_of(path, probe) == "empty file (0 bytes)"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"Holiday notes: bring the camera\n", "not an image (content is text)"),
        (b"PK\x03\x04" + b"\x00" * 40, "not an image (content is a ZIP archive)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "not an image (content is a PDF document)"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "unsupported image format (GIF)"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\0" * 16,
         "not an image (content is an MP4/QuickTime video)"),
        (b"<!DOCTYPE html><html></html>", "not an image (content is an HTML page)"),
        (b"\x13\x37\x00\x01\x02\x03", "not an image (unrecognised content starting with 13 37 00 01)"),
    ],
)
def test_non_images_with_image_names_get_a_reason(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    assert sniff(path) is None
    assert reason_of(path) == expected
    assert reason_of(path, probe) == expected


def test_corrupt_jpeg_body(tmp_path: Path) -> None:
    path = save(tmp_path / "bad.jpg", reference_image(64, 64), "JPEG")
    data = bytearray(path.read_bytes())
    sos = data.index(b"\xff\xda")
    data[sos + 20 : len(data) - 2] = b"\xff\x00" * ((len(data) - 2 - sos - 20) // 2) + b"\x00" * (
        (len(data) - 2 - sos - 20) % 2
    )
    path.write_bytes(bytes(data))
    # libjpeg may or may not call garbage entropy data an error; it must never crash us.
    try:
        arr, _ = load_rgb(path)
    except ImageError as exc:
        assert "JPEG" in exc.reason
    else:
        assert arr.shape == (64, 64, 3)


def test_png_with_bad_checksum(tmp_path: Path) -> None:
    path = save(tmp_path / "crc.png", reference_image(), "PNG")
    data = bytearray(path.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # flip bits inside the compressed data
    path.write_bytes(bytes(data))
    reason = reason_of(path)
    assert "PNG" in reason


def test_decompression_bomb_png_is_refused_from_the_header(tmp_path: Path) -> None:
    # 100000 x 100000 claimed by the header, a few bytes of body: decoding would need 30 GB.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_by_hand(100_000, 100_000, 8, 2, b"\x00" * 16))
    expected = "decompression bomb: 10000000000 pixels exceeds the 178956970 limit"
    assert reason_of(path, probe) == expected
    assert reason_of(path) == expected


def test_bomb_limit_holds_even_if_pillows_own_limit_is_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "bomb.jpg"  # a JPEG whose frame header claims 60000 x 60000
    data = bytearray(save(tmp_path / "small.jpg", reference_image(8, 8), "JPEG").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    path.write_bytes(bytes(data))
    assert reason_of(path) == "decompression bomb: 3600000000 pixels exceeds the 178956970 limit"


def test_a_lowered_pillow_limit_is_named_truthfully(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = save(tmp_path / "small.png", reference_image(64, 64), "PNG")
    assert reason_of(path) == "decompression bomb: 4096 pixels exceeds Pillow's 2000 limit"


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests often run as root, where chmod cannot take read access away; simulate the
    # operating system's answer instead, so the path really runs.
    path = save(tmp_path / "locked.jpg", reference_image(), "JPEG")
    real_open = open

    def guarded_open(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(imageio, "open", guarded_open, raising=False)
    assert reason_of(path) == "permission denied"
    assert reason_of(path, probe) == "permission denied"
    assert sniff(path) is None


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="running as root: chmod 000 does not stop root reading (the monkeypatched test covers it)")
def test_permission_denied_for_real(tmp_path: Path) -> None:
    path = save(tmp_path / "locked.jpg", reference_image(), "JPEG")
    path.chmod(0)
    try:
        assert reason_of(path) == "permission denied"
    finally:
        path.chmod(0o644)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "file not found" in reason_of(tmp_path / "gone.jpg")
    assert reason_of(tmp_path) == "is a folder, not a file"


# --------------------------------------------------------------------------- sizes


def test_one_pixel_image(tmp_path: Path) -> None:
    path = save(tmp_path / "dot.png", np.array([[[10, 20, 30]]], np.uint8), "PNG")
    arr, info = load_rgb(path)
    assert arr.shape == (1, 1, 3) and tuple(arr[0, 0]) == (10, 20, 30)
    assert (info.width, info.height) == (1, 1)


def test_wide_panorama_within_the_limit(tmp_path: Path) -> None:
    pano = np.zeros((500, 20000, 3), np.uint8)
    pano[:, 10000:] = 200
    path = save(tmp_path / "pano.jpg", pano, "JPEG", quality=90)
    arr, info = load_rgb(path)
    assert arr.shape == (500, 20000, 3) and (info.width, info.height) == (20000, 500)
    assert arr[:, :9990].mean() < 5 and arr[:, 10010:].mean() > 195


# --------------------------------------------------------------------------- EXIF dates


def test_exif_date_taken_is_read(tmp_path: Path) -> None:
    path = save(tmp_path / "d.jpg", reference_image(), "JPEG", exif=exif_bytes(taken="2019:07:04 18:30:05", subsec="25"))
    info = probe(path)
    assert info.taken_at == datetime(2019, 7, 4, 18, 30, 5, 250000)
    assert info.exif is True
    assert load_rgb(path)[1] == info


def test_garbage_exif_date_does_not_cost_the_photo(tmp_path: Path) -> None:
    path = save(tmp_path / "d.jpg", reference_image(), "JPEG", exif=exif_bytes(taken="    :  :     "))
    arr, info = load_rgb(path)
    assert info.taken_at is None and arr.shape == (24, 36, 3)


def test_garbage_exif_block_does_not_cost_the_photo(tmp_path: Path) -> None:
    path = save(tmp_path / "g.jpg", reference_image(), "JPEG", exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xf0garbage")
    arr, info = load_rgb(path)
    assert info.orientation == 1 and info.taken_at is None and arr.shape == (24, 36, 3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019:07:04 18:30:05", datetime(2019, 7, 4, 18, 30, 5)),
        (b"2019:07:04 18:30:05\x00", datetime(2019, 7, 4, 18, 30, 5)),
        ("2019-07-04T18:30:05+02:00", datetime(2019, 7, 4, 18, 30, 5)),
        ("2019:07:04", datetime(2019, 7, 4)),
        ("0000:00:00 00:00:00", None),
        ("    :  :     :  :  ", None),
        ("2019:13:45 25:00:00", None),
        ("1601:01:01 00:00:00", None),
        ("yesterday", None),
        (b"\xff\xfe\xfd", None),
        (20190704, None),
        (None, None),
    ],
)
def test_parse_exif_datetime_tolerates_garbage(value: object, expected: datetime | None) -> None:
    assert parse_exif_datetime(value) == expected


def test_icc_flag(tmp_path: Path) -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with_icc = save(tmp_path / "icc.png", reference_image(), "PNG", icc_profile=profile)
    without = save(tmp_path / "plain.png", reference_image(), "PNG")
    assert probe(with_icc).icc is True and probe(without).icc is False


def test_exif_flag_means_real_exif(tmp_path: Path) -> None:
    # TIFF tags look like EXIF to Pillow; only an EXIF block or orientation tag counts.
    assert probe(save(tmp_path / "plain.tif", reference_image(), "TIFF")).exif is False
    assert probe(save(tmp_path / "plain.jpg", reference_image(), "JPEG")).exif is False
    assert probe(save(tmp_path / "tagged.jpg", reference_image(), "JPEG", exif=exif_bytes(taken="2001:01:01 00:00:00"))).exif is True


# --------------------------------------------------------------------------- resources


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files (Linux)")
def test_no_file_handles_leak(tmp_path: Path) -> None:
    good = save(tmp_path / "ok.tif", reference_image(), "TIFF")
    jpeg = save(tmp_path / "ok.jpg", reference_image(), "JPEG")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(jpeg.read_bytes()[:200])
    text = tmp_path / "text.png"
    text.write_text("hello")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(30):
        for path in (good, jpeg, bad, text):
            try:
                load_rgb(path)
                probe(path)
            except ImageError:
                pass
            sniff(path)
    assert len(os.listdir("/proc/self/fd")) <= before


# --------------------------------------------------------------------------- real photos


def test_real_exif_rotated_photo(faces_dir: Path) -> None:
    path = faces_dir / "edge_cases" / "image_T1.jpeg"
    arr, info = load_rgb(path)
    assert info.orientation == 6 and info.format == "JPEG"
    assert (info.width, info.height) == (480, 640)
    assert arr.shape == (640, 480, 3)
    with Image.open(path) as im:
        stored = np.asarray(im.convert("RGB"))
    assert stored.shape == (480, 640, 3)
    np.testing.assert_array_equal(arr, np.rot90(stored, -1))  # rotated clockwise to stand up


def test_real_png_with_alpha_named_jpg(faces_dir: Path) -> None:
    path = faces_dir / "edge_cases" / "kun.jpg"
    assert sniff(path) == "PNG"
    arr, info = load_rgb(path)
    assert info.format == "PNG" and info.mode == "RGBA"
    assert arr.shape == (402, 325, 3)
    with Image.open(path) as im:
        alpha = np.asarray(im.getchannel("A"))
        rgb = np.asarray(im.convert("RGB"))
    clear = alpha == 0
    opaque = alpha == 255
    if clear.any():
        assert (arr[clear] == 255).all()
    np.testing.assert_array_equal(arr[opaque], rgb[opaque])


def test_real_grayscale_pngs(faces_dir: Path) -> None:
    paths = sorted((faces_dir / "identities" / "amy").glob("amy*.png"))
    assert paths, "no amy*.png in the shared data"
    for path in paths:
        arr, info = load_rgb(path)
        assert info.mode == "L"
        assert arr.shape == (150, 150, 3)
        assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
        with Image.open(path) as im:
            np.testing.assert_array_equal(arr[..., 0], np.asarray(im))


def test_every_shared_photo_loads(faces_dir: Path) -> None:
    photos = [p for p in sorted(faces_dir.rglob("*")) if p.is_file() and p.suffix.lower() in imageio.IMAGE_EXTENSIONS]
    assert len(photos) >= 80
    for path in photos:
        arr, info = load_rgb(path)
        assert arr.shape == (info.height, info.width, 3), path
        assert probe(path) == info, path
