"""Thumbnails made in a separate process, so that making them never takes the GIL from the
app's GUI thread.

Decoding a photo, reading its row and writing the cached JPEG all run Python code; in the
app's own process that code holds the GIL, and every call the GUI thread makes into
Python (painting a cell, answering a model query) waits for it. One child process, started
on the first request and kept for the life of the app, does all of it instead and hands
back the picture as raw RGB bytes at the size it is shown: turning those into a QImage is
one copy on the GUI thread.

The pipe protocol is one JSON line per request; the answer is one JSON line, then the
pixels (width x height x 3 bytes) unless it carries an error. The parent bounds how many
requests are in flight, so the pipes never fill up and what is asked last is made next.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Callable


@dataclass(frozen=True)
class Request:
    kind: str  # photo | face | version | person
    id: int
    size: int  # the core thumbnail's size (the cached JPEG)
    fit: tuple[int, int] | None = None  # then made to fit this box (device pixels)
    source: str | None = None  # a picture file to use as is, instead of the library's thumbnail
    database: str | None = None  # the library (when no source is given)
    cache: str | None = None  # its thumbnail cache folder


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    rgb: bytes  # width * height * 3 bytes, rows top to bottom


# The picture; or why there is none (one line); or None: the worker stopped before it was
# made (ask again later).
Done = Callable[["Picture | str | None"], None]


# -- the child ---------------------------------------------------------------------------


def render(path: Path | str, size: int, fit: tuple[int, int] | None) -> Picture:
    """The picture at `path` upright, at most size x size, then made to fit `fit`."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        opened.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
        im = ImageOps.exif_transpose(opened)
        im.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        if fit is not None and (im.width > fit[0] or im.height > fit[1]):
            im.thumbnail(fit, Image.Resampling.LANCZOS)
        im = im.convert("RGB")
        return Picture(im.width, im.height, im.tobytes())


class _Libraries:
    """Read-only sessions on each library asked about, opened on first use."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], tuple] = {}

    def thumbnail(self, req: Request) -> Path:
        from refldm_desktop.core.thumbnails import thumbnail_file

        if not req.database or not req.cache:
            raise ValueError(f"no picture for {req.kind} {req.id}: neither a file nor a library was given")
        key = (req.database, req.cache)
        if key not in self._open:
            from sqlalchemy import create_engine, event
            from sqlalchemy.orm import sessionmaker

            from refldm_desktop.core.thumbnails import ThumbnailCache

            engine = create_engine(f"sqlite:///file:{Path(req.database).as_posix()}?mode=ro&uri=true")
            event.listen(engine, "connect", lambda conn, _rec: conn.execute("PRAGMA busy_timeout=10000"))
            self._open[key] = (sessionmaker(engine), ThumbnailCache(Path(req.cache)))
        session_factory, cache = self._open[key]
        return thumbnail_file(session_factory, cache, req.kind, req.id, req.size)


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The child's loop: answer each request line until the parent closes the pipe."""
    libraries = _Libraries()
    for line in requests:
        if not line.strip():
            continue
        msg = json.loads(line)
        number = msg.pop("n")
        req = Request(**{**msg, "fit": tuple(msg["fit"]) if msg.get("fit") else None})
        try:
            path = req.source or libraries.thumbnail(req)
            pic = render(path, req.size, req.fit)
        except Exception as exc:  # noqa: BLE001 - every failure is an answer, never a dead worker
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            answers.write(json.dumps({"n": number, "error": text}).encode() + b"\n")
        else:
            answers.write(json.dumps({"n": number, "w": pic.width, "h": pic.height}).encode() + b"\n")
            answers.write(pic.rgb)
        answers.flush()


def main() -> None:
    serve(sys.stdin.buffer, sys.stdout.buffer)


# -- the parent --------------------------------------------------------------------------


class ThumbnailWorker:
    """The parent's side: submit(request, done) returns at once; done(picture or error)
    is called later on the worker's reader thread. The child starts on the first request;
    if it dies, the requests in flight fail and the next one starts a new child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._waiting: dict[int, tuple[subprocess.Popen, Done]] = {}
        self._numbers = itertools.count(1)
        self._closed = False

    def _start(self) -> subprocess.Popen:
        import refldm_desktop

        env = dict(os.environ)
        # The child runs this very package (a checkout on the path, not only the installed one).
        root = str(Path(refldm_desktop.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "refldm_desktop.core.thumbworker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        threading.Thread(target=self._read, args=(proc,), name="refldm-thumbs-reader", daemon=True).start()
        return proc

    def submit(self, req: Request, done: Done) -> None:
        with self._lock:
            if self._closed:
                done(None)
                return
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            number = next(self._numbers)
            proc = self._proc
            self._waiting[number] = (proc, done)
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"n": number, **asdict(req)}).encode() + b"\n")
                proc.stdin.flush()
            except (OSError, ValueError):  # it died meanwhile: its reader fails what it owed
                pass

    def _read(self, proc: subprocess.Popen) -> None:
        out = proc.stdout
        assert out is not None
        while True:
            header = out.readline()
            if not header:
                break
            msg = json.loads(header)
            result: Picture | str
            if "error" in msg:
                result = msg["error"]
            else:
                w, h = msg["w"], msg["h"]
                rgb = out.read(w * h * 3)
                if len(rgb) < w * h * 3:
                    break
                result = Picture(w, h, rgb)
            with self._lock:
                _proc, done = self._waiting.pop(msg["n"], (None, None))
            if done is not None:
                done(result)
        # The child is gone (closed, killed): what it still owed is given up, so nobody
        # waits forever; asked again, it goes to a new child.
        with self._lock:
            if self._proc is proc:
                self._proc = None
            owed = [n for n, (p, _done) in self._waiting.items() if p is proc]
            dones = [self._waiting.pop(n)[1] for n in owed]
        for done in dones:
            done(None)

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()  # the child's loop ends at the end of its input
            proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()


_shared: ThumbnailWorker | None = None
_shared_lock = threading.Lock()


def shared() -> ThumbnailWorker:
    """The one worker process of this app (made on first use, closed at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            import atexit

            _shared = ThumbnailWorker()
            atexit.register(_shared.close)
        return _shared


if __name__ == "__main__":
    main()
