"""One window per library home.

File-manager plugins run `refldm-desktop gui PATH` for each right-click. When the app is
already open on the same home, that second start hands its paths to the running window over a
local socket (QLocalServer: a Unix socket in the temp folder, a named pipe on Windows) and
ends; the window comes to the front and opens them as if it had been started with them.

The socket's name is a short hash of the user and the resolved home folder: two homes are two
apps, and the name stays far below the Unix socket path limit (about 100 bytes) whatever the
home's path. A crashed app leaves its socket file behind; nothing answers there, so the next
start removes it and listens itself.

The protocol is one line each way. The new start sends a JSON object
`{"refldm-desktop": 1, "open": ["/abs/path", ...]}` and a newline; the running app answers
`ok` once it has taken the paths, or `bad` for anything else (and drops the connection).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from PySide6.QtCore import QDir, QLockFile, QObject, QTimer, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

if TYPE_CHECKING:
    from refldm_desktop.core.home import Home

PROTOCOL = 1
MAX_MESSAGE = 1 << 20  # bytes: far more than any file manager's selection needs
MAX_PATHS = 10_000
MAX_PATH_CHARS = 4096
# How long a new start waits for the running app's answer. Its GUI thread answers between
# events; opening a big library (an upgrade, say) can hold it a few seconds.
ANSWER_MS = 10_000
CONNECT_MS = 1_000
# A connection that has not sent its line by then is dropped (never one that hangs on).
READ_MS = 5_000


def server_name(home: "Home") -> str:
    """The socket's name for `home`: the same for every start on that resolved folder."""
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    digest = hashlib.sha256(f"{user}\0{home.root}".encode("utf-8", "surrogateescape")).hexdigest()
    return f"refldm-desktop-{digest[:20]}"


def encode(paths: Sequence[Path]) -> bytes:
    return json.dumps({"refldm-desktop": PROTOCOL, "open": [str(p) for p in paths]}).encode() + b"\n"


def decode(line: bytes) -> list[Path] | None:
    """The paths of a message, or None when it is not one (wrong shape, relative paths...)."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or message.get("refldm-desktop") != PROTOCOL:
        return None
    paths = message.get("open")
    if not isinstance(paths, list) or len(paths) > MAX_PATHS:
        return None
    if not all(isinstance(p, str) and 0 < len(p) <= MAX_PATH_CHARS and "\0" not in p for p in paths):
        return None
    out = [Path(p) for p in paths]
    return out if all(p.is_absolute() for p in out) else None


class Outcome(enum.Enum):
    HANDED = "handed"  # the running app took the paths: this start is done
    NONE_RUNNING = "none"  # no app is open on this home (or only a dead one's socket file)
    NO_ANSWER = "no answer"  # an app holds the socket but did not answer in time
    REFUSED = "refused"  # it answered, but not with a yes (another version of the app, say)


def hand_over(home: "Home", paths: Sequence[Path], answer_ms: int | None = None) -> Outcome:
    """Give `paths` to the app open on `home`, when one is. Blocks up to `answer_ms`."""
    sock = QLocalSocket()
    try:
        sock.connectToServer(server_name(home))
        if not sock.waitForConnected(CONNECT_MS):
            if sock.error() in (QLocalSocket.LocalSocketError.ServerNotFoundError,
                                QLocalSocket.LocalSocketError.ConnectionRefusedError):
                return Outcome.NONE_RUNNING  # no socket, or a crashed app's file
            return Outcome.NO_ANSWER
        sock.write(encode(paths))
        sock.waitForBytesWritten(CONNECT_MS)
        answer = b""
        left = ANSWER_MS if answer_ms is None else answer_ms
        deadline = time.monotonic() + left / 1000
        while True:
            answer += bytes(sock.readAll().data())  # first: the answer may be in, the peer gone
            ms = int((deadline - time.monotonic()) * 1000)
            if b"\n" in answer or len(answer) >= 64 or ms <= 0:
                break
            if not sock.waitForReadyRead(ms):
                answer += bytes(sock.readAll().data())
                break
        if b"\n" not in answer:
            return Outcome.NO_ANSWER
        return Outcome.HANDED if answer.split(b"\n", 1)[0] == b"ok" else Outcome.REFUSED
    finally:
        sock.abort()


class InstanceServer(QObject):
    """Listens on the home's socket; `received` carries the paths of each valid message."""

    received = Signal(list)  # list[Path]

    def __init__(self, home: "Home", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(home)
        self._server = QLocalServer(self)
        # Only this user may connect (the socket file is made user-only).
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        """Listen, removing a dead app's socket file first when there is one. The caller has
        made sure no live app answers there (`claim`)."""
        if self._server.listen(self.name):  # (Qt may put its socket over a dead one by itself)
            return True
        if self._server.serverError() == QAbstractSocket.SocketError.AddressInUseError:
            QLocalServer.removeServer(self.name)
            return self._server.listen(self.name)
        return False

    def is_listening(self) -> bool:
        return self._server.isListening()

    def close(self) -> None:
        self._server.close()  # removes the socket file on Unix

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            if sock is None:
                return
            buffer = bytearray()
            sock.readyRead.connect(lambda s=sock, b=buffer: self._read(s, b))
            sock.disconnected.connect(sock.deleteLater)
            QTimer.singleShot(READ_MS, sock, sock.abort)  # a silent client is dropped
            if sock.bytesAvailable():
                self._read(sock, buffer)

    def _read(self, sock: QLocalSocket, buffer: bytearray) -> None:
        buffer += bytes(sock.readAll().data())
        if b"\n" not in buffer:
            if len(buffer) > MAX_MESSAGE:
                sock.abort()
            return
        paths = decode(bytes(buffer).split(b"\n", 1)[0])
        buffer.clear()
        sock.readyRead.disconnect()  # one message a connection
        sock.write(b"ok\n" if paths is not None else b"bad\n")
        sock.flush()
        sock.disconnectFromServer()
        if paths is not None:
            self.received.emit(paths)


def claim(home: "Home", paths: Sequence[Path], answer_ms: int | None = None) -> tuple[Outcome, InstanceServer | None]:
    """Hand `paths` to the app open on `home`, or become that app: (HANDED, None),
    (NO_ANSWER or REFUSED, None), or (NONE_RUNNING, a listening server). Two starts at the same moment
    take turns (a lock file beside the socket), so exactly one of them listens."""
    lock = QLockFile(os.path.join(QDir.tempPath(), server_name(home) + ".lock"))
    locked = lock.tryLock(CONNECT_MS + (ANSWER_MS if answer_ms is None else answer_ms))
    try:
        outcome = hand_over(home, paths, answer_ms)
        if outcome is not Outcome.NONE_RUNNING:
            return outcome, None
        server = InstanceServer(home)
        if not server.listen():
            # Another window for this home could open later; this one works all the same.
            import sys

            print(f"refldm-desktop: warning: cannot listen on {server.name}: a second start on this "
                  "library will open a second window", file=sys.stderr)
        return outcome, server
    finally:
        if locked:
            lock.unlock()
