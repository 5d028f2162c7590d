"""Reading photos safely: format by content, upright pixels, and a reason for every failure.

Why this module exists: a family photo library is full of files that lie about themselves
(PNGs named .jpg, phone pictures stored sideways with an EXIF rotation tag, CMYK scans,
16-bit exports, half-copied JPEGs, files that are not images at all). Everything after the
scan (face detection, boxes in upright coordinates, restoration) needs one thing: an upright
8-bit RGB array, or a short sentence saying why there is none. So:

- The format is decided from the first bytes (``sniff``), never from the extension, and Pillow
  is only allowed to use the matching decoder (no surprise plugins such as EPS).
- Image size is checked from the header before any pixel is decoded, so a decompression bomb
  costs nothing but an ``ImageError``.
- Truncated files are errors. We never set ``ImageFile.LOAD_TRUNCATED_IMAGES``: a silently
  grey-filled half photo would be indexed and "restored" as if it were real.
- Files are opened in ``with`` blocks so that scanning 100,000 photos never leaks handles.
"""

from __future__ import annotations

import errno
import os
import re
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any, Iterator

import numpy as np
from PIL import Image

from refldm_desktop.errors import ImageError  # noqa: F401 (also exported here)

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "describe_content",
    "ImageError",
    "ImageInfo",
    "load_preview",
    "load_rgb",
    "os_error_reason",
    "parse_exif_datetime",
    "probe",
    "sniff",
    "sniff_bytes",
]

# Extensions (lower case, with the dot, like Path.suffix) of files that are meant to be
# images we read. A file with one of these is always reported, even when its content is
# not an image, so that the user learns about it.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif",
        ".png",
        ".webp",
        ".tif", ".tiff",
        ".bmp", ".dib",
        ".heic", ".heif", ".hif",
        ".avif",
    }
)

# Pillow refuses images above 2 * Image.MAX_IMAGE_PIXELS (89,478,485) by default; we use that
# same hard limit (about 179 megapixels, 0.5 GB as RGB) as our own, independent of whatever
# another part of the process does to Pillow's global. Real panoramas stay well below it.
MAX_PIXELS = 178_956_970

# We enforce MAX_PIXELS ourselves, so Pillow's warning between its soft and hard limit is
# noise. This is a process-wide filter for that one warning class only.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Broken EXIF blocks are common (editors, old cameras) and we treat them as absent; Pillow's
# per-file "Corrupt EXIF data" warnings would bury the indexer's own output.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")

# Enough bytes for every magic number we check, including an ISO-BMFF "ftyp" box with a
# long list of compatible brands (HEIF, AVIF, MP4).
_HEAD_BYTES = 512

_EXIF_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004
_SUBSEC_ORIGINAL = 0x9291
_SUBSEC_DIGITIZED = 0x9292

# How to turn stored pixels upright for each EXIF orientation value (the tag says where the
# stored first row and column belong).
_TRANSPOSE: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ImageInfo:
    """What the header says. ``width``/``height`` are UPRIGHT (after EXIF orientation)."""

    format: str  # "JPEG", "PNG", "WEBP", "TIFF", "BMP", "HEIF", "AVIF"
    width: int
    height: int
    # EXIF orientation 1..8 that load_rgb applies (1 when absent or invalid). HEIF decoders
    # turn the pixels themselves and report 1.
    orientation: int
    taken_at: datetime | None  # EXIF DateTimeOriginal, naive local camera time
    mode: str  # Pillow mode of the stored pixels, e.g. "RGB", "CMYK", "I;16", "P"
    icc: bool  # an ICC colour profile is embedded
    exif: bool  # an EXIF block is present


# --------------------------------------------------------------------------- sniffing

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_VIDEO_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"qt  ", b"M4V ", b"M4A ",
     b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"dash", b"crx "}
)
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _ftyp_brands(head: bytes) -> list[bytes] | None:
    """Brands of an ISO base media file ("ftyp" box first), or None when it is not one."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    box_size = struct.unpack(">I", head[:4])[0]
    end = min(box_size if box_size >= 16 else 16, len(head))
    brands = [head[8:12]]
    brands.extend(head[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def sniff_bytes(head: bytes) -> str | None:
    """Format name from a file's first bytes, or None when it is not a format we read.

    HEIF is named even when pillow-heif is missing, so that the user is told to install it
    rather than having their iPhone photos silently ignored.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head.startswith(b"BM") and len(head) >= 18:
        if struct.unpack("<I", head[14:18])[0] in _BMP_DIB_SIZES:
            return "BMP"
        return None
    brands = _ftyp_brands(head)
    if brands:
        if brands[0] in _AVIF_BRANDS:
            return "AVIF"
        if any(b in _HEIF_BRANDS for b in brands):
            # "mif1" files that only list AVIF as a real codec are AVIF.
            if not any(b in _HEIF_BRANDS - {b"mif1", b"msf1"} for b in brands) and any(
                b in _AVIF_BRANDS for b in brands
            ):
                return "AVIF"
            return "HEIF"
        if any(b in _AVIF_BRANDS for b in brands):
            return "AVIF"
    return None


def sniff(path: str | os.PathLike[str]) -> str | None:
    """Format of the file at ``path`` from its magic bytes; None when it is not an image we
    read or cannot be read at all (``probe``/``load_rgb`` give the reason)."""
    try:
        with open(path, "rb") as f:
            return sniff_bytes(f.read(_HEAD_BYTES))
    except OSError:
        return None


def describe_content(head: bytes) -> str:
    """Why content (a file's first bytes) is not an image we read, as one sentence."""
    if not head:
        return "empty file (0 bytes)"
    unsupported = {
        b"GIF87a": "GIF",
        b"GIF89a": "GIF",
        b"8BPS": "Photoshop PSD",
        b"\x00\x00\x01\x00": "Windows icon",
        b"\xff\x0a": "JPEG XL",
        b"\x00\x00\x00\x0cJXL ": "JPEG XL",
        b"\x00\x00\x00\x0cjP  ": "JPEG 2000",
        b"\xff\x4f\xff\x51": "JPEG 2000",
    }
    for magic, name in unsupported.items():
        if head.startswith(magic):
            return f"unsupported image format ({name})"
    kinds = {
        b"PK\x03\x04": "a ZIP archive",
        b"PK\x05\x06": "a ZIP archive",
        b"%PDF": "a PDF document",
        b"\x1f\x8b": "a gzip archive",
        b"Rar!": "a RAR archive",
        b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
        b"\x7fELF": "a program (ELF)",
        b"MZ": "a Windows program",
        b"\x1aE\xdf\xa3": "a Matroska/WebM video",
        b"ID3": "an MP3 audio file",
        b"SQLite format 3\x00": "an SQLite database",
    }
    for magic, name in kinds.items():
        if head.startswith(magic):
            return f"not an image (content is {name})"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "not an image (content is an AVI video)"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "not an image (content is a WAV audio file)"
    if _ftyp_brands(head) is not None:
        return "not an image (content is an MP4/QuickTime video)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "not an image (content is an HTML page)"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "unsupported image format (SVG drawing)"
    if text.startswith(b"<?xml"):
        return "not an image (content is an XML document)"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is still text.
            if exc.start < len(head) - 4:
                return f"not an image (unrecognised content starting with {head[:4].hex(' ')})"
        return "not an image (content is text)"
    return f"not an image (unrecognised content starting with {head[:4].hex(' ')})"


# --------------------------------------------------------------------------- errors

def os_error_reason(exc: OSError) -> str:
    """A short sentence for a file system error (used by the scanner too)."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file not found (moved or deleted during the scan?)"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.EIO:
        return "input/output error while reading (failing disk or network drive?)"
    return f"cannot read file: {exc.strerror or exc}"


def _bomb_reason(pixels: int) -> str:
    return f"decompression bomb: {pixels} pixels exceeds the {MAX_PIXELS} limit"


def _decode_reason(fmt: str, exc: BaseException, file_size: int, head: bytes) -> str:
    """Turn whatever Pillow raised into one sentence."""
    if isinstance(exc, Image.DecompressionBombError):
        found = re.search(r"\((\d+) pixels\)", str(exc))
        if found:
            pixels = int(found.group(1))
            if pixels > MAX_PIXELS:
                return _bomb_reason(pixels)
            # Someone lowered Pillow's global limit below ours; name the limit that applied.
            limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            return f"decompression bomb: {pixels} pixels exceeds Pillow's {limit} limit"
        return f"decompression bomb: more than the {MAX_PIXELS} pixel limit"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    if fmt == "WEBP" and len(head) >= 8:
        riff_end = struct.unpack("<I", head[4:8])[0] + 8
        if riff_end > file_size:
            return "truncated WEBP data"
    message = str(exc)
    if isinstance(exc, EOFError) or "truncated" in message.lower():
        return f"truncated {fmt} data"
    detail = message.splitlines()[0][:120] if message else type(exc).__name__
    return f"corrupt {fmt} data ({detail})"


# Everything a Pillow decoder is known to raise on bad data. Pillow raises SyntaxError for
# broken PNG chunks, struct.error / IndexError for short headers, zlib.error for bad
# deflate streams; OSError covers truncation and decoder failures.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    EOFError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
    MemoryError,
    Image.DecompressionBombError,
)


# --------------------------------------------------------------------------- HEIF

_heif_lock = threading.Lock()
_heif_state: bool | None = None  # None: not tried yet


def _ensure_heif() -> None:
    """Register pillow-heif's opener the first time a HEIF file is met (it is optional)."""
    global _heif_state
    with _heif_lock:
        if _heif_state is None:
            try:
                import pillow_heif
            except ImportError:
                _heif_state = False
            else:
                pillow_heif.register_heif_opener()
                _heif_state = True
    if not _heif_state:
        raise ImageError("HEIF/HEIC photo, but pillow-heif is not installed (pip install pillow-heif)")


def _pillow_formats(fmt: str) -> list[str]:
    if fmt == "HEIF":
        _ensure_heif()
    if fmt == "AVIF":
        Image.init()
        if "AVIF" not in Image.OPEN:
            raise ImageError("AVIF photo, but this Pillow was built without AVIF support")
    return [fmt]


# --------------------------------------------------------------------------- EXIF

_EXIF_DATE = re.compile(
    r"^\s*(\d{4})[:\-/. ](\d{1,2})[:\-/. ](\d{1,2})"
    r"(?:[ T]+(\d{1,2})[:.](\d{1,2})(?:[:.](\d{1,2}))?)?"
)


def parse_exif_datetime(value: Any, subsec: Any = None) -> datetime | None:
    """Parse an EXIF date ("2019:07:04 18:30:05"), tolerating the garbage cameras write.

    Returns None for blanks ("    :  :     "), zeros ("0000:00:00 00:00:00"), impossible
    dates and anything that is not text. The result is naive: EXIF time is the camera's
    local clock and most files carry no offset.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str):
        return None
    found = _EXIF_DATE.match(value.replace("\x00", " "))
    if not found:
        return None
    year, month, day = (int(found.group(i)) for i in (1, 2, 3))
    hour, minute, second = (int(found.group(i) or 0) for i in (4, 5, 6))
    if year < 1800:
        return None
    micro = 0
    if isinstance(subsec, bytes):
        subsec = subsec.decode("ascii", errors="replace")
    if isinstance(subsec, str):
        digits = re.match(r"\s*(\d{1,6})", subsec)
        if digits:
            micro = int(digits.group(1).ljust(6, "0"))
    try:
        return datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return None


def _read_exif(im: Image.Image) -> tuple[bool, int, datetime | None]:
    """(has EXIF, orientation 1..8, taken_at). Metadata is advisory: a broken EXIF block
    must never cost us the photo, so any parsing failure just means "no value"."""
    try:
        exif = im.getexif()
    except Exception:  # noqa: BLE001 - malformed EXIF raises many kinds; we only lose metadata
        return (bool(im.info.get("exif")), 1, None)
    # A TIFF's own tags also show up in getexif(); only real EXIF content counts.
    has_exif = bool(im.info.get("exif")) or _EXIF_IFD in exif or _EXIF_ORIENTATION in exif
    orientation = 1
    try:
        value = exif.get(_EXIF_ORIENTATION)
        if isinstance(value, (tuple, list)) and value:
            value = value[0]
        if isinstance(value, int) and 1 <= value <= 8:
            orientation = value
    except Exception:  # noqa: BLE001 - see above
        orientation = 1
    taken_at = None
    try:
        ifd = exif.get_ifd(_EXIF_IFD)
        taken_at = parse_exif_datetime(ifd.get(_DATETIME_ORIGINAL), ifd.get(_SUBSEC_ORIGINAL))
        if taken_at is None:
            taken_at = parse_exif_datetime(ifd.get(_DATETIME_DIGITIZED), ifd.get(_SUBSEC_DIGITIZED))
    except Exception:  # noqa: BLE001 - see above
        taken_at = None
    return has_exif, orientation, taken_at


def png_chunks(f: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """The type and data length of each chunk of the PNG in `f`, up to IEND, from the 8-byte
    chunk headers alone: Pillow sees the chunks after the image data only by decoding it.

    At each chunk `f` stands at the start of its data, which the caller may read, all or in
    part; the next step seeks to the next header whatever was read. A file cut short just
    ends early (ending is no proof of an IEND). Raises ValueError when `f` is not a PNG.
    """
    f.seek(0)
    if f.read(8) != PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    position = 8
    while len(header := f.read(8)) == 8:
        length, kind = struct.unpack(">I4s", header)
        yield kind, length
        if kind == b"IEND":
            return
        position += 12 + length  # header, data, CRC
        f.seek(position)


def _png_trailing_exif(f: IO[bytes]) -> bytes | None:
    """The eXIf chunk's data of a PNG that stores it after the image data (Pillow has read
    any before it), keeping ``probe`` to a few small reads; None when there is none whole."""
    for kind, length in png_chunks(f):
        if kind == b"eXIf":
            data = f.read(length)
            return data if len(data) == length else None
    return None


def _stored_size(im: Image.Image, fmt: str) -> tuple[int, int]:
    """Width and height of the pixels as stored, before any orientation.

    Pillow's TIFF reader reports the size already turned upright and rotates on load; the
    TIFF tags still hold the stored size, so we read that and stay independent of it.
    """
    if fmt == "TIFF":
        tags = getattr(im, "tag_v2", None)
        if tags is not None:
            width, height = tags.get(256), tags.get(257)
            if isinstance(width, int) and isinstance(height, int):
                return width, height
    return im.size


def _header_info(im: Image.Image, f: IO[bytes], fmt: str) -> ImageInfo:
    """Everything ImageInfo holds, from the header alone (nothing is decoded)."""
    if fmt == "PNG" and "exif" not in im.info:
        # PngImageFile.getexif() would decode the whole image to look for an eXIf chunk
        # after the pixel data; hop over the chunk headers ourselves instead.
        position = f.tell()
        trailing = _png_trailing_exif(f)
        f.seek(position)
        if trailing:
            im.info["exif"] = trailing
    if fmt == "PNG" and "exif" not in im.info:
        has_exif, orientation, taken_at = False, 1, None
    else:
        has_exif, orientation, taken_at = _read_exif(im)
    width, height = _stored_size(im, fmt)
    if orientation >= 5:
        width, height = height, width
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        orientation=orientation,
        taken_at=taken_at,
        mode=im.mode,
        icc=bool(im.info.get("icc_profile")),
        exif=has_exif,
    )


def _orientation_after_load(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # noqa: BLE001 - metadata is advisory, see _read_exif
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# --------------------------------------------------------------------------- opening

def _open_file(path: str | os.PathLike[str]) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ImageError(os_error_reason(exc)) from exc


def _sniff_open(f: IO[bytes]) -> tuple[str, bytes, int]:
    """(format, head bytes, file size) of an open file, or ImageError for non-images."""
    try:
        head = f.read(_HEAD_BYTES)
        size = os.fstat(f.fileno()).st_size
        f.seek(0)
    except OSError as exc:
        raise ImageError(os_error_reason(exc)) from exc
    fmt = sniff_bytes(head)
    if fmt is None:
        raise ImageError(describe_content(head))
    return fmt, head, size


def _open_image(f: IO[bytes], fmt: str, formats: list[str], size: int, head: bytes) -> Image.Image:
    """Parse the header with the one decoder the magic bytes named. Failing here means the
    header itself is unreadable, which we say rather than guessing about the pixel data."""
    try:
        return Image.open(f, formats=formats)
    except (Image.DecompressionBombError, MemoryError) as exc:
        raise ImageError(_decode_reason(fmt, exc, size, head)) from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"corrupt or truncated {fmt} header") from exc


def _check_size(im: Image.Image) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageError(f"image has no pixels ({width}x{height})")
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise ImageError(_bomb_reason(pixels))


def probe(path: str | os.PathLike[str]) -> ImageInfo:
    """Read the header only (no pixel decoding): format, upright size, orientation, date.

    Raises ImageError with a reason for anything that is not a readable image header,
    including decompression bombs.
    """
    with _open_file(path) as f:
        fmt, head, size = _sniff_open(f)
        formats = _pillow_formats(fmt)
        with _open_image(f, fmt, formats, size, head) as im:
            try:
                _check_size(im)
                return _header_info(im, f, fmt)
            except ImageError:
                raise
            except _DECODE_ERRORS as exc:
                raise ImageError(_decode_reason(fmt, exc, size, head)) from exc


# --------------------------------------------------------------------------- pixels

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})


def _over_white(im: Image.Image) -> Image.Image:
    """Composite an image with transparency over white (what a photo viewer shows)."""
    rgba = im.convert("RGBA")
    out = Image.new("RGB", rgba.size, (255, 255, 255))
    out.paste(rgba.convert("RGB"), (0, 0), rgba.getchannel("A"))
    return out


def _to_uint8(arr: np.ndarray, full_scale: float | None) -> np.ndarray:
    """Scale a one-channel numeric array to 0..255. ``full_scale`` is the value meaning
    white; None means "guess from the data" (for int32/float images of unknown range)."""
    data = arr.astype(np.float64, copy=False)
    if full_scale is None:
        finite = data[np.isfinite(data)]
        if finite.size == 0:
            return np.zeros(arr.shape, np.uint8)
        lo, hi = float(finite.min()), float(finite.max())
        if lo >= 0 and hi <= 1.0 and arr.dtype.kind == "f":
            lo, full_scale = 0.0, 1.0
        elif lo >= 0 and hi <= 255:
            lo, full_scale = 0.0, 255.0
        elif lo >= 0 and hi <= 65535:
            lo, full_scale = 0.0, 65535.0
        else:
            full_scale = hi if hi > lo else lo + 1.0
        data = data - lo
        full_scale -= lo
    scaled = np.nan_to_num(data * (255.0 / full_scale), nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_rgb(im: Image.Image, fmt: str) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, keeping the full tonal range of 16-bit and float data."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode in _ALPHA_MODES or ("transparency" in im.info and mode in ("P", "L", "RGB")):
        return _over_white(im)
    if mode.startswith("I;16") or mode in ("I", "F"):
        # Pillow's own I;16 -> L conversion clips at 255 instead of scaling; do it here.
        arr = np.asarray(im)
        full = 65535.0 if mode.startswith("I;16") else None
        return Image.fromarray(_to_uint8(arr, full), "L").convert("RGB")
    try:
        return im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageError(f"unsupported colour mode {mode} in {fmt} file") from exc


def _load_upright(path: str | os.PathLike[str], draft: tuple[int, int] | None, finish) -> tuple[Any, ImageInfo]:
    """finish(the decoded upright RGB image) and the header info; `finish` runs while the
    file is open (the image is not usable after). With `draft` (stored, not upright, width
    and height wanted), a JPEG is decoded at the smallest 1/2, 1/4 or 1/8 scale that is
    still at least that large: much faster for previews."""
    with _open_file(path) as f:
        fmt, head, size = _sniff_open(f)
        formats = _pillow_formats(fmt)
        with _open_image(f, fmt, formats, size, head) as im:
            try:
                _check_size(im)
                info = _header_info(im, f, fmt)
                if draft is not None and fmt == "JPEG":
                    im.draft("RGB", draft)
                im.load()
                op = _TRANSPOSE[info.orientation]
                if op is not None and _orientation_after_load(im) != info.orientation:
                    # The decoder consumed the tag and turned the pixels itself (Pillow
                    # does this for TIFF); turning them again would undo it.
                    op = None
                rgb = _to_rgb(im, fmt)
                if op is not None:
                    rgb = rgb.transpose(op)
                out = finish(rgb)
            except ImageError:
                raise
            except _DECODE_ERRORS as exc:
                raise ImageError(_decode_reason(fmt, exc, size, head)) from exc
    return out, info


def load_rgb(path: str | os.PathLike[str]) -> tuple[np.ndarray, ImageInfo]:
    """Decode a photo to an upright RGB uint8 array of shape (H, W, 3), C-contiguous.

    EXIF orientation is applied; CMYK, 16-bit, grayscale, palette and alpha (composited
    over white) are converted. Raises ImageError with a reason on any failure; the file is
    closed before returning either way.
    """
    arr, info = _load_upright(path, None, lambda rgb: np.array(rgb, dtype=np.uint8))
    fmt = info.format
    if arr.ndim != 3 or arr.shape[2] != 3:  # defensive: never hand on a surprise shape
        raise ImageError(f"unexpected decoded shape {arr.shape} in {fmt} file")
    if arr.shape[:2] != (info.height, info.width):
        # The header and the decoder disagree (a decoder quirk we do not know yet). The
        # pixels are the truth that face boxes will refer to.
        info = replace(info, width=arr.shape[1], height=arr.shape[0])
    return np.ascontiguousarray(arr), info


def load_preview(path: str | os.PathLike[str], scale: float) -> tuple[Image.Image, float]:
    """An upright RGB image of a photo at about `scale` (0 < scale <= 1) of its full size,
    never smaller, and the scale it really has (upright pixels per full upright pixel).
    JPEGs are decoded at a reduced size directly (draft mode); other formats in full."""
    scale = min(max(scale, 1e-6), 1.0)
    info = probe(path)
    stored = (info.height, info.width) if info.orientation >= 5 else (info.width, info.height)
    want = (max(1, int(stored[0] * scale + 0.999)), max(1, int(stored[1] * scale + 0.999)))
    rgb, info = _load_upright(path, want if scale < 1.0 else None, lambda im: im.copy())
    return rgb, rgb.width / info.width
