"""TEMPORARY: minimal stand-ins for refldm_desktop.library.scan and .imageio (helper "scan"
owns the real ones), registered only while those modules are absent from this branch.
Delete this file once the scan branch is merged."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import types
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

EXTS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic"}


class ImageError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    orientation: int
    taken_at: datetime | None
    mode: str
    icc: bool
    exif: bool


@dataclass(frozen=True)
class FileEntry:
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScanProblem:
    path: Path
    reason: str


def load_rgb(path):
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            fmt = im.format
            orientation = im.getexif().get(0x0112, 1)
            im = ImageOps.exif_transpose(im).convert("RGB")
            arr = np.ascontiguousarray(np.asarray(im))
    except PermissionError as exc:
        raise ImageError("permission denied") from exc
    except Exception as exc:
        raise ImageError(f"cannot decode: {exc}") from exc
    return arr, ImageInfo(fmt, arr.shape[1], arr.shape[0], orientation, None, "RGB", False, False)


def walk(roots):
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if p.suffix.lower() not in EXTS:
                    continue
                st = p.stat()
                yield FileEntry(p, st.st_size, st.st_mtime_ns)


def content_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def install_if_missing() -> None:
    for name, attrs in (
        ("refldm_desktop.library.imageio", dict(ImageError=ImageError, ImageInfo=ImageInfo, load_rgb=load_rgb,
                                                IMAGE_EXTENSIONS=EXTS)),
        ("refldm_desktop.library.scan", dict(FileEntry=FileEntry, ScanProblem=ScanProblem, walk=walk,
                                             content_hash=content_hash)),
    ):
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            continue
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        sys.modules[name] = mod
