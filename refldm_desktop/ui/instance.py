"""One window per library home.

File-manager plugins run `refldm-desktop gui PATH` for each right-click. When the app is
already open on the same home, that second start hands its paths to the running window over a
local socket (QLocalServer: a Unix socket, a named pipe on Windows) and ends; the window comes
to the front and opens them as if it had been started with them.

The socket's name is a short hash of the user and the resolved home folder: two homes are two
apps. On Unix the socket and its lock file live in a folder only this user can open: the
runtime folder ($XDG_RUNTIME_DIR), else one of our own in the temp folder made with mode 0700.
Never the shared temp folder itself: another local user could take the name first, answer
"ok" to every start (no window would ever open) and learn the paths handed over. A folder that
is not ours, or that others can open, is not used; with none, the one-window check is off (a
second start opens a second window) and a warning says so. The whole path stays below the Unix
socket path limit (about 100 bytes). Before connecting, the path must be a socket of this user
(not a link, nor a file left by someone else). A crashed app leaves its socket file behind;
nothing answers there, so the next start removes it and listens itself. On Windows the name is
a named pipe, which UserAccessOption limits to this user.

The protocol is one line each way. The new start sends a JSON object
`{"refldm-desktop": 1, "open": ["/abs/path", ...]}` and a newline; the running app answers
`ok` once it has taken the paths, or `bad` for anything else (and drops the connection).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from PySide6.QtCore import QDir, QLockFile, QObject, QStandardPaths, QTimer, Signal
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
# A Unix socket's path must fit in about 104 bytes (macOS; 108 on Linux), its end byte included.
MAX_SOCKET_PATH = 100


def server_name(home: "Home") -> str:
    """The socket's name for `home`: the same for every start on that resolved folder."""
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    digest = hashlib.sha256(f"{user}\0{home.root}".encode("utf-8", "surrogateescape")).hexdigest()
    return f"refldm-desktop-{digest[:20]}"


def _private(folder: str) -> bool:
    """Whether only this user can open `folder`: a real folder (not a link), ours, closed to
    the group and others."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _runtime_folder() -> str:
    """The user's runtime folder, or "" (Linux without $XDG_RUNTIME_DIR: Qt would only warn
    and make one in the temp folder, as we do below)."""
    if sys.platform.startswith("linux") and not os.environ.get("XDG_RUNTIME_DIR"):
        return ""
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.RuntimeLocation)


def _own_folder() -> str:
    """Our own folder for the socket in the temp folder, made user-only when missing."""
    folder = os.path.join(QDir.tempPath(), f"refldm-desktop-{os.getuid()}")
    try:
        os.mkdir(folder, 0o700)
    except OSError:
        pass  # there already (checked by the caller), or not possible
    return folder


def socket_path(home: "Home") -> str | None:
    """Where the app open on `home` listens: a path in a folder only this user can open (a
    pipe name on Windows), or None when no such folder is found."""
    name = server_name(home)
    if sys.platform == "win32":
        return name
    for find in (_runtime_folder, _own_folder):
        folder = find()
        if folder and _private(folder):
            path = os.path.join(folder, name)
            if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
                return path
    return None


def _ours(path: str) -> bool:
    """Whether `path` is a socket this user made (not a link, nor anything else)."""
    if sys.platform == "win32":
        return True  # a pipe name; UserAccessOption keeps others out
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid()


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


def hand_over(where: str, paths: Sequence[Path], answer_ms: int | None = None) -> Outcome:
    """Give `paths` to the app listening at `where` (a socket_path), when one is. Blocks up
    to `answer_ms`."""
    if not _ours(where):
        return Outcome.NONE_RUNNING  # nothing there, or nothing to trust: listening replaces it
    sock = QLocalSocket()
    try:
        sock.connectToServer(where)
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

    def __init__(self, where: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = where  # a socket_path
        self._server = QLocalServer(self)
        # Only this user may connect (the socket file is made user-only; on Windows, the pipe).
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
    where = socket_path(home)
    if where is None:
        print("refldm-desktop: warning: no folder only you can open was found for the one-window socket "
              f"(tried $XDG_RUNTIME_DIR and {os.path.join(QDir.tempPath(), f'refldm-desktop-{os.getuid()}')}): "
              "a second start on this library will open a second window", file=sys.stderr)
        return Outcome.NONE_RUNNING, None
    # On Windows the lock goes to the user's own temp folder; on Unix beside the socket.
    lock = QLockFile((os.path.join(QDir.tempPath(), where) if sys.platform == "win32" else where) + ".lock")
    locked = lock.tryLock(CONNECT_MS + (ANSWER_MS if answer_ms is None else answer_ms))
    try:
        outcome = hand_over(where, paths, answer_ms)
        if outcome is not Outcome.NONE_RUNNING:
            return outcome, None
        server = InstanceServer(where)
        if not server.listen():
            # Another window for this home could open later; this one works all the same.
            print(f"refldm-desktop: warning: cannot listen on {server.name}: a second start on this "
                  "library will open a second window", file=sys.stderr)
        return outcome, server
    finally:
        if locked:
            lock.unlock()
