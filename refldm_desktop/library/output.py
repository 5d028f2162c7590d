"""Write a restored photo as a new file next to nothing it could harm.

The new file keeps the original's format and quality class (a JPEG reuses the original's
quantisation tables and chroma subsampling, a PNG stays lossless with its bit depth, a
lossless WebP stays lossless), its EXIF, ICC profile and XMP. The pixels we write are upright,
so the EXIF and XMP orientation become 1. Writing is atomic and never overwrites: the data is
encoded in memory, written to a temporary file in the destination folder, flushed to disk and
then linked under a name that did not exist ("photo (restored).jpg", "photo (restored 2).jpg").
On any error, Ctrl-C included, no partial file remains.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, PngImagePlugin

from refldm_desktop.errors import OutputError  # noqa: F401 (also exported here)
from refldm_desktop.library.imageio import png_chunks

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
PIXEL_X_DIMENSION = 0xA002
PIXEL_Y_DIMENSION = 0xA003
XMP_TAG = 700

# Tags of a TIFF's first IFD that describe the photo rather than how its pixels are stored;
# only these travel from a TIFF original (the writer sets the storage tags itself).
_TIFF_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 33432, EXIF_IFD, 0x8825)

_EXTENSIONS = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "PNG": (".png",),
    "WEBP": (".webp",),
    "TIFF": (".tif", ".tiff"),
    "BMP": (".bmp", ".dib"),
    "HEIF": (".heic", ".heif"),
}


@dataclass(frozen=True)
class OutputPlan:
    """How a restored version of one original will be encoded."""

    format: str  # Pillow format name of the new file
    mode: str  # Pillow mode written
    extension: str
    params: dict[str, Any] = field(default_factory=dict)  # Pillow save() keywords
    alpha: bool = False  # carry the original's alpha channel over


# ---------------------------------------------------------------------------------------------
# Metadata


def _normalised_exif(raw: bytes, size: tuple[int, int], tiff: bool) -> Image.Exif | None:
    """The original's EXIF with orientation 1 and the new pixel dimensions.

    Pillow leaves the thumbnail IFD out when it writes EXIF back, which is right here: the
    thumbnail shows the unrestored photo in its old orientation.
    """
    exif = Image.Exif()
    try:
        exif.load(raw)
    except (SyntaxError, ValueError, OSError, KeyError, TypeError, IndexError):
        return None  # unreadable EXIF: better none than a broken copy
    if tiff:
        for tag in list(exif.keys()):
            if tag not in _TIFF_DESCRIPTIVE_TAGS and tag != ORIENTATION:
                del exif[tag]
    if ORIENTATION in exif or tiff:
        exif[ORIENTATION] = 1
    if EXIF_IFD in exif:
        sub = exif.get_ifd(EXIF_IFD)
        if PIXEL_X_DIMENSION in sub:
            sub[PIXEL_X_DIMENSION] = size[0]
        if PIXEL_Y_DIMENSION in sub:
            sub[PIXEL_Y_DIMENSION] = size[1]
    return exif


_XMP_ORIENTATION = re.compile(rb'(tiff:Orientation\s*=\s*["\'])\d(["\'])|(<tiff:Orientation>)\s*\d\s*(</tiff:Orientation>)')


def _normalised_xmp(xmp: bytes | str | None) -> bytes | None:
    if not xmp:
        return None
    data = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)

    def one(m: re.Match[bytes]) -> bytes:
        if m.group(1) is not None:
            return m.group(1) + b"1" + m.group(2)
        return m.group(3) + b"1" + m.group(4)

    return _XMP_ORIENTATION.sub(one, data)


def _icc_colour_space(icc: bytes | None) -> str | None:
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("latin-1").strip().upper()


def upright_size_of(img: Image.Image) -> tuple[int, int]:
    """(width, height) of an opened image once its EXIF orientation is applied."""
    w, h = img.size
    if _orientation(img) in (5, 6, 7, 8):
        # Pillow reports a TIFF's size already turned (it turns TIFFs while loading); other
        # formats report the stored size. The stored width and height tell which is the case.
        stored = None
        if img.format == "TIFF":
            ex = img.getexif()
            stored = (ex.get(256), ex.get(257))
        if stored is None or stored == (w, h):
            w, h = h, w
    return w, h


def _orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(ORIENTATION, 1))
    except (SyntaxError, ValueError, OSError, TypeError):
        return 1
    return value if 1 <= value <= 8 else 1


@functools.lru_cache(maxsize=1)
def _reference_luma_tables() -> tuple[tuple[int, ...], ...]:
    """Pillow's own luminance table for each IJG quality 1..100 (same order as .quantization)."""
    tables = []
    tiny = Image.new("L", (8, 8))
    for q in range(1, 101):
        buf = io.BytesIO()
        tiny.save(buf, "JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as saved:
            assert isinstance(saved, JpegImagePlugin.JpegImageFile)
            tables.append(tuple(saved.quantization[0]))
    return tuple(tables)


def estimate_jpeg_quality(quantization: dict[int, Any] | None) -> int | None:
    """The IJG quality (1..100) whose luminance table is closest to a JPEG's, or None."""
    if not quantization or 0 not in quantization:
        return None
    table = np.asarray(list(quantization[0]), dtype=np.float64)
    if table.size != 64:
        return None
    refs = np.asarray(_reference_luma_tables(), dtype=np.float64)
    err = np.abs(np.log(refs) - np.log(np.maximum(table, 1.0))).sum(axis=1)
    return int(np.argmin(err)) + 1


def _png_header(path: Path) -> list[str] | None:
    """The keywords of a PNG file's text chunks when all its metadata (text and EXIF) comes
    before its image data; None when some follows it (Pillow finds that only by decoding
    the whole image) or the file does not parse. Reads the chunk headers only."""
    keys: list[str] = []
    seen_idat = False
    try:
        with open(path, "rb") as f:
            for kind, length in png_chunks(f):
                if kind == b"IDAT":
                    seen_idat = True
                elif kind in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
                    if seen_idat:
                        return None
                    if kind != b"eXIf":
                        start = f.read(min(length, 80))  # a keyword has at most 79 bytes
                        keys.append(start.split(b"\0", 1)[0].decode("latin-1"))
    except (OSError, ValueError):  # unreadable, or not a PNG after all
        return None
    return keys


def _open(path: Path) -> tuple[Image.Image, list[str] | None]:
    """Image.open for reading metadata, and a PNG's text keywords (see _png_text). When a
    PNG has no metadata after its pixels, an empty "exif" says it has none there: Pillow's
    getexif() would otherwise decode the whole image to look."""
    img = Image.open(path)
    keys = None
    if img.format == "PNG":
        keys = _png_header(path)
        if keys is not None:
            img.info.setdefault("exif", b"")
    return img, keys


def _png_text(img: Image.Image, keys: list[str] | None) -> dict[str, Any]:
    """The text chunks of a PNG: those named by `keys` (all of them come before the pixels,
    where Pillow has already read them into info), or else all Pillow finds by decoding."""
    if keys is None:
        return dict(getattr(img, "text", {}) or {})
    return {k: img.info[k] for k in keys if k in img.info}


def _webp_is_lossless(path: Path) -> bool:
    """True when a WebP's image data is a VP8L (lossless) bitstream."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
                return False
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return False
                tag, size = chunk[:4], int.from_bytes(chunk[4:], "little")
                if tag == b"VP8L":
                    return True
                if tag == b"VP8 ":
                    return False
                f.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Planning the encoding


def plan_output(original: Path, upright_size: tuple[int, int], out_size: tuple[int, int]) -> OutputPlan:
    """Decide format, mode and encoder settings of the restored version of `original`.

    `upright_size` is the original's (width, height) after EXIF orientation, `out_size` that
    of the pixels we write (larger when the photo was upscaled before restoration).
    """
    opened, text_keys = _open(original)
    with opened as img:
        fmt = (img.format or "").upper()
        mode = img.mode
        # First what may load a PNG whose metadata follows its pixels, then the info it fills.
        png_text = _png_text(img, text_keys) if fmt == "PNG" else {}
        orientation = _orientation(img)
        info = dict(img.info)
        exif_raw = info.get("exif")
        if not exif_raw and fmt == "TIFF":
            try:
                exif_raw = img.getexif().tobytes()
            except (ValueError, OSError, TypeError, KeyError):
                exif_raw = None
        quantization = getattr(img, "quantization", None) if fmt == "JPEG" else None
        sampling = JpegImagePlugin.get_sampling(img) if fmt == "JPEG" else -1
        xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in info)
    grey = mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")
    sixteen = mode in ("I", "I;16", "I;16B", "I;16L")
    scale = out_size[0] / max(upright_size[0], 1)

    params: dict[str, Any] = {}
    dpi = info.get("dpi")
    if dpi:
        dx, dy = float(dpi[0]), float(dpi[1])
        if orientation in (5, 6, 7, 8):
            dx, dy = dy, dx
        # The print size stays the same: more pixels per inch after an upscale.
        params["dpi"] = (round(dx * scale, 3), round(dy * scale, 3))

    if fmt not in _EXTENSIONS or (fmt == "HEIF" and not _heif_writable()):
        # Formats we do not write (GIF, ...) become PNG, which loses nothing; HEIF without
        # pillow-heif becomes a high-quality JPEG.
        fmt = "JPEG" if fmt == "HEIF" else "PNG"
        quantization, sampling = None, -1
        if fmt == "JPEG":
            params["quality"] = 92
    out_mode = "L" if grey else "RGB"
    alpha = has_alpha and fmt in ("PNG", "WEBP", "TIFF")
    if alpha:
        out_mode = "LA" if grey else "RGBA"
    if fmt == "PNG" and sixteen and not alpha:
        out_mode = "I;16"

    icc = info.get("icc_profile")
    space = _icc_colour_space(icc)
    if icc and space == ("GRAY" if out_mode in ("L", "LA", "I;16") else "RGB"):
        params["icc_profile"] = icc

    exif = _normalised_exif(exif_raw, out_size, fmt == "TIFF") if exif_raw else None
    xmp_out = _normalised_xmp(xmp)

    if fmt == "JPEG":
        if quantization:
            params["qtables"] = {k: list(v) for k, v in quantization.items()}
            if out_mode == "L":
                params["qtables"] = {0: list(quantization[0])}
        elif "quality" not in params:
            params["quality"] = 92
        if sampling != -1 and out_mode == "RGB":
            params["subsampling"] = sampling
        if info.get("progressive") or info.get("progression"):
            params["progressive"] = True
        params["optimize"] = True
        if exif is not None:
            params["exif"] = exif.tobytes()
        if xmp_out:
            params["xmp"] = xmp_out
    elif fmt == "PNG":
        pnginfo = PngImagePlugin.PngInfo()
        for key, value in png_text.items():
            if key == "XML:com.adobe.xmp" or not isinstance(value, str):
                continue
            try:
                value.encode("latin-1")
                pnginfo.add_text(key, value)
            except UnicodeEncodeError:
                pnginfo.add_itxt(key, value)
        if xmp_out:
            pnginfo.add_itxt("XML:com.adobe.xmp", xmp_out.decode("utf-8", "replace"))
        if "icc_profile" not in params:
            # sRGB and gamma chunks describe the colours when there is no ICC profile.
            if "srgb" in info:
                pnginfo.add(b"sRGB", bytes([int(info["srgb"]) & 3]))
            if "gamma" in info:
                pnginfo.add(b"gAMA", int(round(float(info["gamma"]) * 100000)).to_bytes(4, "big"))
        params["pnginfo"] = pnginfo
        # Lossless at any level. On the photos of ../shared, level 1 encodes 1.5-2.6x faster
        # than 4 (and 3-4x faster than zlib's default 6) for files 0-15% larger than 4's.
        params["compress_level"] = 1
        if exif is not None:
            params["exif"] = exif.tobytes()
    elif fmt == "WEBP":
        if _webp_is_lossless(original):
            params["lossless"] = True
        else:
            params["quality"] = 90
        params["method"] = 4
        if exif is not None:
            params["exif"] = exif.tobytes()
        if xmp_out:
            params["xmp"] = xmp_out
    elif fmt == "TIFF":
        compression = info.get("compression") or "raw"
        if compression not in ("raw", "tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits"):
            # JPEG-in-TIFF and the bilevel fax codecs cannot hold our pixels well: use a
            # lossless codec instead.
            compression = "tiff_adobe_deflate"
        params["compression"] = compression
        if exif is None:
            exif = Image.Exif()
            exif[ORIENTATION] = 1
        if xmp_out:
            exif[XMP_TAG] = xmp_out
        params["exif"] = exif
    elif fmt == "HEIF":
        params["quality"] = 90
        if exif is not None:
            params["exif"] = exif.tobytes()
        if xmp_out:
            params["xmp"] = xmp_out
    # BMP carries no metadata.

    ext = original.suffix if original.suffix.lower() in _EXTENSIONS[fmt] else _EXTENSIONS[fmt][0]
    return OutputPlan(format=fmt, mode=out_mode, extension=ext, params=params, alpha=alpha)


def _heif_writable() -> bool:
    try:
        import pillow_heif  # noqa: F401  (optional extra)
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _upright_alpha(original: Path, size: tuple[int, int]) -> Image.Image:
    with Image.open(original) as img:
        upright = ImageOps.exif_transpose(img)
        if upright.mode in ("RGBA", "LA", "PA"):
            alpha = upright.getchannel("A")
        else:
            alpha = upright.convert("RGBA").getchannel("A")
    if alpha.size != size:
        alpha = alpha.resize(size, Image.Resampling.LANCZOS)
    return alpha


def encode(original: Path, pixels: np.ndarray, upright_size: tuple[int, int]) -> tuple[bytes, OutputPlan]:
    """Encode upright RGB `pixels` like `original`; returns the file's bytes and the plan."""
    h, w = pixels.shape[:2]
    plan = plan_output(original, upright_size, (w, h))
    img = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    if plan.mode in ("L", "LA", "I;16"):
        img = img.convert("L")
    if plan.mode == "I;16":
        img = Image.fromarray(np.asarray(img, dtype=np.uint16) * np.uint16(257))  # 2-D uint16: I;16
    if plan.alpha:
        img.putalpha(_upright_alpha(original, (w, h)))
    buf = io.BytesIO()
    img.save(buf, plan.format, **plan.params)
    return buf.getvalue(), plan


# ---------------------------------------------------------------------------------------------
# Where the file goes


def mirrored_dir(original: Path, library_root: Path, output_root: Path) -> Path:
    """The folder under `output_root` that mirrors `original`'s folder in the library."""
    try:
        rel = Path(os.path.abspath(original)).parent.relative_to(os.path.abspath(library_root))
    except ValueError:
        raise OutputError(f"{original} is not inside the library folder {library_root}") from None
    return Path(output_root) / rel


def _inside(path: Path, root: Path) -> bool:
    p, r = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return p == r or r in p.parents


def check_destination(out_dir: Path, library_roots: Iterable[Path], allow_inside_library: bool) -> None:
    """Refuse to write into a library folder unless the user chose to."""
    if allow_inside_library:
        return
    for root in library_roots:
        if _inside(out_dir, root):
            raise OutputError(
                f"the output folder {out_dir} is inside the library folder {root}; "
                "choose an output folder outside the library (or ask explicitly to write inside it)"
            )


def candidate_names(stem: str, extension: str, label: str = "restored", limit: int = 10000):
    yield f"{stem} ({label}){extension}"
    for i in range(2, limit):
        yield f"{stem} ({label} {i}){extension}"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        return "a file is in the way where a folder should be"
    return exc.strerror or str(exc)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not possible on every platform; the file itself is already synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_new_file(out_dir: Path, names: Iterable[str], data: bytes, *, replace: bool = False) -> Path:
    """Write `data` under the first of `names` that does not exist in `out_dir`, atomically
    (or, with `replace`, under the first name whatever is there: the user asked for it).

    The bytes go to a hidden temporary file in `out_dir`, are flushed to disk, and are then
    hard-linked under the new name; a link fails rather than replace an existing file, so
    nothing is ever overwritten, even by a racing writer. On file systems without hard links
    the name is claimed with O_EXCL first and the temporary file renamed over that claim.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out_dir}: {_os_reason(exc)}") from exc
    if not out_dir.is_dir():
        raise OutputError(f"the output folder {out_dir} is not a folder")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=".refldm-", suffix=".part", dir=out_dir)
    except OSError as exc:
        raise OutputError(f"cannot write into {out_dir}: {_os_reason(exc)}") from exc
    tmp = Path(tmp_name)
    claimed: Path | None = None
    final: Path | None = None
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp made it private (0600); a photo is not
                os.fchmod(f.fileno(), 0o644)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        for name in names:
            target = out_dir / name
            if replace:
                os.replace(tmp, target)
                final = target
                break
            try:
                os.link(tmp, target)
                final = target
                break
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
            # No hard links here: claim the name exclusively, then rename over the claim.
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue
            claimed = target
            os.replace(tmp, target)
            claimed = None
            final = target
            break
        if final is None:
            raise OutputError(f"no free file name left in {out_dir}")
        _fsync_dir(out_dir)
        return final
    except OSError as exc:
        raise OutputError(f"cannot write into {out_dir}: {_os_reason(exc)}") from exc
    except BaseException:
        # A half-done link would be a complete file, but the caller never learned its name.
        if final is not None:
            _unlink_quietly(final)
        raise
    finally:
        if claimed is not None:
            _unlink_quietly(claimed)
        _unlink_quietly(tmp)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass  # best effort: the original error matters more


def write_restored(
    original: Path,
    pixels: np.ndarray,
    out_dir: Path,
    *,
    upright_size: tuple[int, int] | None = None,
    label: str = "restored",
    library_roots: Iterable[Path] = (),
    allow_inside_library: bool = False,
) -> Path:
    """Write upright RGB `pixels` (H, W, 3) uint8 as a new version of `original` in `out_dir`.

    `upright_size` is the original's (width, height) after EXIF orientation (read from the
    file when not given); `pixels` must have that size or an integer multiple of it (an
    upscaled restoration). Returns the path written. Raises OutputError with a reason.
    """
    original = Path(original)
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise OutputError(f"pixels must be an (H, W, 3) uint8 RGB array, got {pixels.shape} {pixels.dtype}")
    check_destination(out_dir, library_roots, allow_inside_library)
    try:
        if upright_size is None:
            with _open(original)[0] as img:
                size = upright_size_of(img)
        else:
            size = upright_size
    except OSError as exc:
        raise OutputError(f"cannot read the original {original}: {_os_reason(exc)}") from exc
    ow, oh = size
    h, w = pixels.shape[:2]
    if w % ow or h % oh or w // ow != h // oh:
        raise OutputError(
            f"the restored pixels are {w}x{h} but the upright original is {ow}x{oh} "
            "(expected the same size or an integer multiple)"
        )
    try:
        data, plan = encode(original, pixels, size)
    except OSError as exc:
        raise OutputError(f"cannot encode the restored {original.name}: {exc}") from exc
    out = write_new_file(out_dir, candidate_names(original.stem, plan.extension, label), data)
    if os.path.realpath(out) == os.path.realpath(original):  # cannot happen: link never replaces
        raise OutputError("refusing to write over the original")
    return out
