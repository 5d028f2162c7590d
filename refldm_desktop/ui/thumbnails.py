"""Thumbnails made off the GUI thread, kept as pixmaps in a bounded cache.

Images come from the core's thumbnail cache (`Library.thumbnail`) when it has one, else
straight from the file with Pillow. Workers make QImages (safe off the GUI thread); the GUI
thread turns them into pixmaps. The newest requests go first: what is on screen now
matters more than what scrolled past.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library

Key = tuple[str, int, int]  # kind, id, size


def load_qimage(path: Path, size: int) -> QImage:
    """A QImage of the picture at most `size` pixels wide and high, upright."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        opened.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
        im = ImageOps.exif_transpose(opened)
        im.thumbnail((size, size))
        im = im.convert("RGB")
        data = im.tobytes()
        qimg = QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888)
        return qimg.copy()  # own the pixels; `data` goes away


class ThumbnailCache(QObject):
    ready = Signal(object)  # key

    _made = Signal(object, object)  # key, QImage or None

    def __init__(
        self,
        library: "Library",
        parent: QObject | None = None,
        *,
        workers: int | None = None,
        capacity: int = 1500,
        max_pending: int = 400,
        source: Callable[[Key], Path] | None = None,
        display: tuple[int, int] | None = None,
        device_pixel_ratio: float = 1.0,
    ) -> None:
        super().__init__(parent)
        self._library = library
        self._source = source or self._path_for
        self._pixmaps: OrderedDict[Key, QPixmap] = OrderedDict()
        self._failed: set[Key] = set()
        self._capacity = capacity
        self._max_pending = max_pending
        self._pending: deque[Key] = deque()
        self._queued: set[Key] = set()
        self._cv = threading.Condition()
        self._closed = False
        self._paths: dict[Key, Path] = {}
        # Made at the size they are shown (in device pixels), so painting is a plain copy.
        self._display = display
        self._dpr = device_pixel_ratio
        self._made.connect(self._store, Qt.ConnectionType.QueuedConnection)
        if workers is None:
            # One core stays for the GUI thread: on two cores a second decoder is a second
            # thread taking the GIL from it.
            workers = max(1, min(2, (os.cpu_count() or 2) - 1))
        self._threads = [
            threading.Thread(target=self._work, name=f"refldm-thumbs-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def hint_path(self, key: Key, path: Path) -> None:
        """The original's path for a key, so the fallback need not ask the database."""
        self._paths[key] = path

    def get(self, key: Key) -> QPixmap | None:
        """The pixmap if made; else None, and it is made in the background (ready(key))."""
        pm = self._pixmaps.get(key)
        if pm is not None:
            self._pixmaps.move_to_end(key)
            return pm
        if key in self._failed:
            return None
        with self._cv:
            if key not in self._queued:
                self._queued.add(key)
                self._pending.append(key)
                while len(self._pending) > self._max_pending:
                    self._queued.discard(self._pending.popleft())
                self._cv.notify()
        return None

    def forget(self, keys: list[Key] | None = None) -> None:
        if keys is None:
            self._pixmaps.clear()
            self._failed.clear()
            return
        for k in keys:
            self._pixmaps.pop(k, None)
            self._failed.discard(k)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._pending.clear()
            self._cv.notify_all()
        for t in self._threads:
            t.join(5)

    # -- workers ---------------------------------------------------------------------------

    def _path_for(self, key: Key) -> Path:
        kind, ident, size = key
        thumb = getattr(self._library, "thumbnail", None)
        if callable(thumb):
            return Path(thumb(kind, ident, size))
        if key in self._paths:
            return self._paths[key]
        if kind == "face":
            return self._library.face_crop(ident)
        if kind == "version":
            return next(v.output for v in self._library.jobs.versions() if v.id == ident)
        raise LookupError(f"no picture for {kind} {ident}")

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                key = self._pending.pop()  # newest first
            try:
                image = load_qimage(self._source(key), key[2])
                if self._display is not None:
                    w, h = (round(v * self._dpr) for v in self._display)
                    if image.width() > w or image.height() > h:
                        image = image.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            except Exception:  # noqa: BLE001 - an unreadable picture shows as a placeholder
                image = None
            with self._cv:
                if self._closed:
                    return
                try:
                    self._made.emit(key, image)
                except RuntimeError:  # the cache was deleted with its page
                    return

    def _store(self, key: Key, image: QImage | None) -> None:
        with self._cv:
            self._queued.discard(key)
        if image is None or image.isNull():
            self._failed.add(key)
        else:
            pm = QPixmap.fromImage(image)
            pm.setDevicePixelRatio(self._dpr)
            self._pixmaps[key] = pm
            while len(self._pixmaps) > self._capacity:
                self._pixmaps.popitem(last=False)
        self.ready.emit(key)
