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

NICE = 5  # the child's priority a little below the app's (10 starved it on a busy machine)


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
    """Read-only sessions on each library asked about, opened on first use. Each is tied
    to the database file it opened: when another file has taken that path (the library
    went back to a backup), its connections are closed and the new file is opened, so no
    thumbnail is read from the replaced database."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], tuple] = {}  # (database, cache) -> (file id, engine, sessions, cache)

    def thumbnail(self, req: Request) -> Path:
        from refldm_desktop.core.thumbnails import thumbnail_file

        if not req.database or not req.cache:
            raise ValueError(f"no picture for {req.kind} {req.id}: neither a file nor a library was given")
        key = (req.database, req.cache)
        st = os.stat(req.database)
        identity = (st.st_dev, st.st_ino)
        opened = self._open.get(key)
        if opened is not None and opened[0] != identity:
            opened[1].dispose()
            opened = None
        if opened is None:
            from sqlalchemy import URL, create_engine
            from sqlalchemy.orm import sessionmaker

            from refldm_desktop.core.thumbnails import ThumbnailCache
            from refldm_desktop.db.engine import connect_readonly

            database = req.database
            # The URL only tells SQLAlchemy it is a file (pooled as one); connections are
            # read-only ones.
            engine = create_engine(URL.create("sqlite", database=database), creator=lambda: connect_readonly(database))
            opened = self._open[key] = (identity, engine, sessionmaker(engine), ThumbnailCache(Path(req.cache)))
        _identity, _engine, session_factory, cache = opened
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
    if hasattr(os, "nice"):
        # Background work: on a busy machine the app's GUI thread gets the core first.
        os.nice(NICE)
    # What the first request needs, imported before it comes (seconds on a busy machine):
    # the app starts this process as soon as its window has painted.
    import PIL.Image  # noqa: F401

    import refldm_desktop.core.queries  # noqa: F401
    import refldm_desktop.core.thumbnails  # noqa: F401

    serve(sys.stdin.buffer, sys.stdout.buffer)


# -- the parent --------------------------------------------------------------------------


class Answers:
    """The child's answers parsed as their bytes arrive, in pieces of any size."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: dict | None = None

    def feed(self, data: bytes) -> list[tuple[int, "Picture | str"]]:
        self._buf += data
        done: list[tuple[int, Picture | str]] = []
        while True:
            if self._head is None:
                end = self._buf.find(b"\n")
                if end < 0:
                    return done
                self._head = json.loads(self._buf[:end])
                del self._buf[: end + 1]
            head = self._head
            if "error" in head:
                done.append((head["n"], head["error"]))
            else:
                size = head["w"] * head["h"] * 3
                if len(self._buf) < size:
                    return done
                done.append((head["n"], Picture(head["w"], head["h"], bytes(self._buf[:size]))))
                del self._buf[:size]
            self._head = None


class ThumbnailWorker:
    """The parent's side: submit(request, done) returns at once; done(picture, error or
    None) is called later by whoever reads the answers. The child starts on the first
    request; if it dies, what it owed comes back as None and the next request starts a
    new child.

    By default a reader thread of its own reads the answers. An app with an event loop
    passes `watch` instead: it is called with each new child, whose answer pipe
    (`proc.stdout`, non-blocking) it watches, calling read_answers(proc) when that is
    readable: the answers are read on the app's own thread, and no other thread of its
    process takes the GIL for them."""

    def __init__(self, watch: Callable[[subprocess.Popen], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._watch = watch
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
        proc.answers = Answers()  # type: ignore[attr-defined]  # each child's own stream
        assert proc.stdout is not None
        if self._watch is None:
            threading.Thread(target=self._read_all, args=(proc,), name="refldm-thumbs-reader", daemon=True).start()
        else:
            os.set_blocking(proc.stdout.fileno(), False)
            self._watch(proc)
        return proc

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the child now (else the first request does)."""
        with self._lock:
            if not self._closed and not self.running():
                self._proc = self._start()

    def submit(self, req: Request, done: Done) -> None:
        with self._lock:
            if self._closed:
                done(None)
                return
            proc = self._proc
            if proc is None or proc.poll() is not None:
                proc = self._proc = self._start()
            number = next(self._numbers)
            self._waiting[number] = (proc, done)
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"n": number, **asdict(req)}).encode() + b"\n")
                proc.stdin.flush()
            except (OSError, ValueError):  # it died meanwhile: its reader gives up what it owed
                pass

    def read_answers(self, proc: subprocess.Popen | None = None) -> bool:
        """Read what the child has answered so far and call their `done`; False once the
        child is gone (what it still owed is given up)."""
        proc = proc or self._proc
        if proc is None or proc.stdout is None:
            return False
        try:
            data = os.read(proc.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self._gone(proc)
            return False
        for number, result in proc.answers.feed(data):  # type: ignore[attr-defined]
            with self._lock:
                _proc, done = self._waiting.pop(number, (None, None))
            if done is not None:
                done(result)
        return True

    def _read_all(self, proc: subprocess.Popen) -> None:
        while self.read_answers(proc):
            pass

    def _gone(self, proc: subprocess.Popen) -> None:
        # The child is gone (closed, killed): nobody waits forever for what it owed; asked
        # again, it goes to a new child.
        with self._lock:
            if self._proc is proc:
                self._proc = None
            owed = [n for n, (p, _done) in self._waiting.items() if p is proc]
            dones = [self._waiting.pop(n)[1] for n in owed]
        for done in dones:
            done(None)

    def stop_child(self) -> None:
        """End the child now (it only reads, so killing it loses nothing); the next request
        starts a new one. Before a library's database is replaced: the child's connections
        would keep the old file open (on Windows the replacing rename then fails)."""
        with self._lock:
            proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:  # its pipe broke with it
                pass
        self._gone(proc)

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            proc = self._proc
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()  # the child's loop ends at the end of its input
            proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        self._gone(proc)


if __name__ == "__main__":
    main()
