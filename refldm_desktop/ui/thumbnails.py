"""Thumbnails made off the GUI thread, kept as pixmaps in a bounded cache.

The pictures are made in the core's thumbnail worker process (core.thumbworker): from the
library's own thumbnails (`Library.thumbnail`, resolved in the child) or from a file a
`source` function names. The child hands back pixels at the size they are shown; the GUI
thread sends the requests, reads the answers off the pipe and copies them into pixmaps.
No other thread of the app's process works for thumbnails: each would take the GIL from
the GUI thread, and on a busy machine a thread holding the GIL while it waits for a core
freezes the window.

The newest requests go first: what is on screen now matters more than what scrolled past.
At most `max_pending` wait; older ones are dropped, and `ready(key)` tells the views about
them too, so a tile still shown asks again (and, being the newest, goes first).
"""

from __future__ import annotations

import atexit
import sys
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, QSocketNotifier, Qt, QTimer, Signal
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


class _Link(QObject):
    """The app's one thumbnail worker process. On POSIX its answers are read on the GUI
    thread (a socket notifier on the pipe, a few kilobytes a picture), so no other thread
    of the app takes the GIL for thumbnails; elsewhere a reader thread reads them."""

    _instance: "_Link | None" = None

    def __init__(self) -> None:
        super().__init__()
        from refldm_desktop.core.thumbworker import ThumbnailWorker

        self.worker = ThumbnailWorker(watch=None if sys.platform == "win32" else self._watch)
        atexit.register(self.worker.close)

    @classmethod
    def get(cls) -> "_Link":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    @classmethod
    def started(cls) -> "_Link | None":
        """The link if get() has made it, without making it (that imports the worker)."""
        return cls._instance

    def _watch(self, proc) -> None:
        notifier = QSocketNotifier(proc.stdout.fileno(), QSocketNotifier.Type.Read, self)

        def readable() -> None:
            if not self.worker.read_answers(proc):
                notifier.setEnabled(False)
                notifier.deleteLater()

        notifier.activated.connect(readable)


def stop_thumbnail_worker() -> None:
    """End the worker process (a new one starts on the next request), if it was started:
    before the library's database is replaced, so that nothing keeps the old file open."""
    link = _Link.started()
    if link is not None:
        link.worker.stop_child()


class ThumbnailCache(QObject):
    # The key's picture is made, failed, or its request was dropped: views show it again,
    # and ask again for it when it is still in view.
    ready = Signal(object)

    _made = Signal(object, object)  # key, Picture; None (failed); "retry" (not made)

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
        """`source(key)` names a picture file for a key (run on the GUI thread: a lookup,
        never slow work); without it the worker makes the library's own thumbnails.
        `workers`: requests in flight at once (what is asked for meanwhile goes first)."""
        super().__init__(parent)
        self._library = library
        self._source = source
        self._pixmaps: OrderedDict[Key, QPixmap] = OrderedDict()
        self._failed: set[Key] = set()
        self._capacity = capacity
        self._max_pending = max_pending
        self._pending: OrderedDict[Key, None] = OrderedDict()  # oldest first
        self._asked: set[Key] = set()  # pending or in flight
        self._dropped: set[Key] = set()
        self._closed = False
        # Hinted paths, newest last: a hint is needed only until its picture is asked of
        # the worker, and the grid hints every row it paints (100,000 when scrolled through).
        self._paths: OrderedDict[Key, Path | str] = OrderedDict()
        self._max_paths = max_pending + capacity
        # Made at the size they are shown (in device pixels), so painting is a plain copy.
        self._fit = None if display is None else (round(display[0] * device_pixel_ratio), round(display[1] * device_pixel_ratio))
        self._dpr = device_pixel_ratio
        self._display = display
        self._window = workers or 2
        self._in_flight = 0
        self._starting = False
        self._made.connect(self._store, Qt.ConnectionType.QueuedConnection)
        self._drop_timer = QTimer(self)
        self._drop_timer.setSingleShot(True)
        self._drop_timer.setInterval(50)
        self._drop_timer.timeout.connect(self._announce_dropped)

    def source_size(self, base: int) -> int:
        """The core thumbnail size to ask for: `base` doubled until it covers the display
        box in device pixels, so a 2x screen gets sharp pictures while a 1x one keeps using
        the `base` thumbnails already cached (a few fixed sizes, never one per scale)."""
        size = base
        if self._fit is not None:
            while size < max(self._fit) and size < 2048:
                size *= 2
        return size

    def hint_path(self, key: Key, path: Path | str) -> None:
        """The original's path for a key, for a library that cannot make thumbnails."""
        self._paths[key] = path
        self._paths.move_to_end(key)
        if len(self._paths) > self._max_paths:
            self._paths.popitem(last=False)

    def cached(self, key: Key) -> QPixmap | None:
        """The pixmap if made, without asking for it."""
        return self._pixmaps.get(key)

    def get(self, key: Key) -> QPixmap | None:
        """The pixmap if made; else None, and it is made in the background (ready(key))."""
        pm = self._pixmaps.get(key)
        if pm is not None:
            self._pixmaps.move_to_end(key)
            return pm
        if key in self._failed or self._closed:
            return None
        if key in self._pending:
            self._pending.move_to_end(key)  # asked again: it is in view, it goes first
        elif key not in self._asked:
            self._asked.add(key)
            self._pending[key] = None
            while len(self._pending) > self._max_pending:
                old, _ = self._pending.popitem(last=False)
                self._asked.discard(old)
                self._dropped.add(old)
            if self._dropped and not self._drop_timer.isActive():
                self._drop_timer.start()
            self._send()
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
        self._closed = True
        self._pending.clear()

    def _announce_dropped(self) -> None:
        dropped, self._dropped = self._dropped, set()
        for key in dropped:
            if key not in self._asked:  # not asked again meanwhile
                self.ready.emit(key)

    # -- the worker process ----------------------------------------------------------------

    def _send(self) -> None:
        """Hand the newest requests to the worker, up to `workers` in flight."""
        # Not made inside the first paint: the worker's module and process come after it.
        link = _Link.started()
        if link is None or not link.worker.running():
            # Started after this paint, not inside it (once; it then stays).
            if not self._starting:
                self._starting = True
                QTimer.singleShot(0, self, self._start_worker)
            return
        while self._pending and self._in_flight < self._window and not self._closed:
            key, _ = self._pending.popitem(last=True)  # newest first
            self._in_flight += 1
            try:
                req = self._request(key)
            except Exception:  # noqa: BLE001 - no picture: shown as a placeholder
                self._made.emit(key, None)
                continue
            link.worker.submit(req, partial(self._answer, key))

    def start(self) -> None:
        """Start the worker process now, before the first picture is asked for."""
        _Link.get().worker.start()

    def _start_worker(self) -> None:
        self._starting = False
        self.start()
        self._send()

    def _request(self, key: Key):
        from refldm_desktop.core.thumbworker import Request

        kind, ident, size = key
        if self._source is not None:
            return Request(kind, ident, size, self._fit, source=str(self._source(key)))
        home = getattr(self._library, "home", None)
        if home is not None and callable(getattr(self._library, "thumbnail", None)):
            cache = self._library.thumbnails.root
            return Request(kind, ident, size, self._fit, database=str(home.database), cache=str(cache))
        return Request(kind, ident, size, self._fit, source=str(self._path_for(key)))

    def _path_for(self, key: Key) -> Path:
        """The picture of a key, for a library whose thumbnails the worker cannot make."""
        kind, ident, size = key
        thumb = getattr(self._library, "thumbnail", None)
        if callable(thumb):
            return Path(thumb(kind, ident, size))
        if key in self._paths:
            return Path(self._paths[key])
        if kind == "person":  # their best face, by the core's one rule (its thumbnails' too)
            face_id = self._library.cover_face(ident)
            if face_id is None:
                raise LookupError(f"person {ident} has no faces")
            return self._library.face_crop(face_id)
        if kind == "face":
            return self._library.face_crop(ident)
        if kind == "version":
            return next(v.output for v in self._library.jobs.versions() if v.id == ident)
        raise LookupError(f"no picture for {kind} {ident}")

    def _answer(self, key: Key, result) -> None:
        """On the GUI thread, or on the worker's reader thread where it has one."""
        try:
            self._made.emit(key, "retry" if result is None else (None if isinstance(result, str) else result))
        except RuntimeError:  # the cache was deleted with its page
            pass

    def _ratio(self, width: int, height: int) -> float:
        """The pixmap's device pixel ratio, chosen so that it covers as many logical pixels
        as at scale 1: a picture made to fit the box fills it at any scale, and one smaller
        than the box (a small photo) is drawn as big as at scale 1, not at 1/dpr of it."""
        if self._display is None:
            return self._dpr
        return max(1.0, width / self._display[0], height / self._display[1])

    def _store(self, key: Key, made) -> None:
        self._in_flight -= 1
        self._asked.discard(key)
        if self._closed:
            return
        if isinstance(made, str):  # the worker stopped first: asked again when shown
            self.ready.emit(key)
        elif made is None:
            self._failed.add(key)
            self.ready.emit(key)
        else:
            image = QImage(made.rgb, made.width, made.height, 3 * made.width, QImage.Format.Format_RGB888).copy()
            if image.isNull():
                self._failed.add(key)
            else:
                pm = QPixmap.fromImage(image)
                pm.setDevicePixelRatio(self._ratio(image.width(), image.height()))
                self._pixmaps[key] = pm
                while len(self._pixmaps) > self._capacity:
                    self._pixmaps.popitem(last=False)
            self.ready.emit(key)
        self._send()
