"""Thumbnails of photos, faces and restored versions, cached on disk under home/cache.

A thumbnail is named by what it shows, never by where the photo lies: the content hash of
its source, the face box (for a face) and the size. A moved photo keeps its thumbnails, a
changed one gets new ones, and copies share theirs. Files are written atomically (a
temporary file, then a rename), so a reader never sees half a thumbnail, and two threads
asking for the same one at once make it once. A cached file that is not a whole JPEG
(truncated, emptied by a crash) is made again.

JPEGs are decoded at 1/2, 1/4 or 1/8 scale when that is still large enough (the decoder's
draft mode), which makes a 12-megapixel photo's thumbnail several times faster.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from refldm_desktop.core.changes import LibraryError
from refldm_desktop.library.atomic import write_atomic

MIN_SIZE, MAX_SIZE = 16, 2048
FACE_MARGIN = 0.35  # context around a face box, as a share of its side
QUALITY = 85
_FORMAT_VERSION = 1  # bump when thumbnails should be made again (new margin, new resampling)


def check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise LibraryError(f"a thumbnail size is a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}, got {size!r}")
    return size


def face_square(
    box: tuple[float, float, float, float], width: int, height: int, margin: float = FACE_MARGIN
) -> tuple[int, int, int, int]:
    """A square around a face box with some context, clipped to a width x height image."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a, b = max(int(cx - side / 2), 0), max(int(cy - side / 2), 0)
    c, d = min(int(cx + side / 2 + 0.999), width), min(int(cy + side / 2 + 0.999), height)
    if c <= a or d <= b:
        raise LibraryError(f"the face box {tuple(round(v) for v in box)} lies outside its {width}x{height} photo")
    return a, b, c, d


def _whole_jpeg(path: Path) -> bool:
    """Starts and ends like a JPEG: what a crash or a full disk would break."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\xff\xd8":
                return False
            f.seek(-2, os.SEEK_END)
            return f.read(2) == b"\xff\xd9"
    except OSError:
        return False


class ThumbnailCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._guard = threading.Lock()
        self._locks: dict[Path, tuple[threading.Lock, int]] = {}

    def path_for(self, key: str) -> Path:
        digest = hashlib.sha256(f"{_FORMAT_VERSION}:{key}".encode()).hexdigest()[:32]
        return self.root / digest[:2] / f"{digest}.jpg"

    def image(
        self,
        source: Path,
        content_key: str,
        size: int,
        *,
        box: tuple[float, float, float, float] | None = None,
        box_space: tuple[int, int] | None = None,
        check: Callable[[], None] | None = None,
    ) -> Path:
        """The cached thumbnail of `source` (whose content `content_key` names), at most
        size x size: the whole picture, or with `box` a square around that face box.
        `box_space` is the upright (width, height) the box is measured in, when the file
        is larger or smaller than that (an upscaled restored version). `check` runs before
        a thumbnail is made (not when it is cached): it raises when the source is stale."""
        size = check_size(size)
        key = f"{content_key}:{size}"
        if box is not None:
            key += ":" + ",".join(f"{v:.1f}" for v in box) + f":{box_space}"
        target = self.path_for(key)
        if _whole_jpeg(target):
            return target
        with self._lock(target):
            if not _whole_jpeg(target):  # made by another thread meanwhile?
                if check is not None:
                    check()
                self._make(source, size, box, box_space, target)
        return target

    @contextmanager
    def _lock(self, target: Path):
        """One lock per thumbnail being made, dropped when nobody waits for it."""
        with self._guard:
            lock, users = self._locks.get(target, (threading.Lock(), 0))
            self._locks[target] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[target]
                if users <= 1:
                    del self._locks[target]
                else:
                    self._locks[target] = (lock, users - 1)

    def _make(self, source: Path, size: int, box, box_space, target: Path) -> None:
        from PIL import Image

        from refldm_desktop.library.imageio import ImageError, load_preview, probe

        try:
            info = probe(source)
            if box is None:
                scale = size / max(info.width, info.height)
                region = None
            else:
                space = box_space or (info.width, info.height)
                sx, sy = info.width / space[0], info.height / space[1]
                x0, y0, x1, y1 = box
                region = face_square((x0 * sx, y0 * sy, x1 * sx, y1 * sy), info.width, info.height)
                scale = size / max(region[2] - region[0], region[3] - region[1])
            image, got = load_preview(source, scale)
        except ImageError as exc:
            raise LibraryError(f"cannot make a thumbnail of {source}: {exc.reason}") from exc
        except OSError as exc:
            raise LibraryError(f"cannot read {source}: {exc.strerror or exc}") from exc
        if region is None:
            image.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        else:
            # Faces are shown at the size asked, small ones enlarged, so a grid of faces
            # lines up.
            a, b, c, d = (round(v * got) for v in region)
            image = image.crop((a, b, max(c, a + 1), max(d, b + 1)))
            f = size / max(image.size)
            image = image.resize((max(1, round(image.width * f)), max(1, round(image.height * f))), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=QUALITY)
        write_atomic(target, buf.getvalue())


def thumbnail_file(session_factory, cache: ThumbnailCache, kind: str, id: int, size: int = 256) -> Path:
    """`Library.thumbnail` over a session factory: also what the app's thumbnail worker
    process calls, over its own read-only connection to the library."""
    from refldm_desktop.core import queries as _q
    from refldm_desktop.db.models import Face, Photo, Version
    from refldm_desktop.errors import NotFound

    size = check_size(size)
    if kind == "person":
        with session_factory() as s:
            face_id = _q.cover_face(s, id)
        if face_id is None:
            raise NotFound(f"person {id} has no faces to show")
        kind, id = "face", face_id
    if kind in ("photo", "face"):
        # A face is its photo's thumbnail, cut to its box.
        with session_factory() as s:
            row = s.get(Photo if kind == "photo" else Face, id)
            if row is None:
                raise NotFound(f"no {kind} with id {id}")
            p, box = (row, None) if isinstance(row, Photo) else (row.photo, row.box)
            record = (Path(p.path), p.content_hash, p.size, p.mtime_ns)
        return _photo_thumbnail(cache, record, size, box)
    if kind == "version":
        with session_factory() as s:
            v = s.get(Version, id)
            if v is None:
                raise NotFound(f"no restored version with id {id}")
            output, sha = Path(v.output_path), v.output_sha256
        return cache.image(output, f"sha256:{sha}", size)
    raise LibraryError(f"unknown kind of thumbnail {kind!r}: use photo, face, version or person")


def _photo_thumbnail(cache: ThumbnailCache, record, size: int, box=None) -> Path:
    path, content_hash, st_size, mtime_ns = record
    if content_hash is None:
        raise LibraryError(f"{path} could not be read when it was indexed; there is no thumbnail")

    def unchanged() -> None:
        try:
            st = path.stat()
        except OSError as exc:
            raise LibraryError(f"cannot read {path}: the photo is missing or unreadable ({exc.strerror})") from exc
        if (st.st_size, st.st_mtime_ns) != (st_size, mtime_ns):
            raise LibraryError(f"{path} changed since it was indexed; run index again first")

    return cache.image(path, f"sha256:{content_hash}", size, box=box, check=unchanged)
