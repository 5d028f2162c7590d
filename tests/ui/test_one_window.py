"""One window per library home: a second `refldm-desktop gui PATH` on the same home hands its
path to the open window and ends; a dead app's socket does not block a start; another home
gets its own window; a running app that does not answer is said plainly. And start-up
failures are said in a message box, not only on stderr. Real windows (offscreen), fake photos."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

REPO = Path(__file__).resolve().parents[2]
unix_only = pytest.mark.skipif(not hasattr(socket, "AF_UNIX") or sys.platform == "win32",
                               reason="the socket file is a Unix matter (Windows has named pipes)")


def _photos(folder: Path, n: int = 2) -> Path:
    from fakes import draw_photo

    for i in range(n):
        draw_photo(folder / f"p{i}.png", [(1 + i, 0, 20, 30)])
    return folder


def _socket_path(home: Path) -> str:
    from refldm_desktop.core.home import resolve_home
    from refldm_desktop.ui.instance import socket_path

    where = socket_path(resolve_home(home))
    assert where is not None
    return where


@pytest.fixture
def started(qtbot):
    """start_app as `gui` runs it; every app it opened is closed after the test."""
    from refldm_desktop.ui.app import OpenApp, start_app

    apps: list[OpenApp] = []

    def _start(home: Path, paths=()):
        app = start_app(home, [Path(p) for p in paths])
        if isinstance(app, OpenApp):
            apps.append(app)
            if app.window is not None:  # None while Check Library is shown instead
                qtbot.addWidget(app.window)
        return app

    yield _start
    for app in apps:
        app.close()  # stops what still runs (indexing's face detection)


def _known_device(home: Path) -> Path:
    """The device already looked up in `home`, as after a first start: the status bar's probe
    (a child process importing torch) does not run in these tests."""
    from refldm_desktop.ui.device import _torch_version

    (home / "cache").mkdir(parents=True, exist_ok=True)
    (home / "cache" / "device.json").write_text(json.dumps({"torch": _torch_version(), "kind": "cpu", "name": "CPU"}))
    return home


def _library_photos(app) -> set[str]:
    return {p.path.name for p in app.ctx.library.photos()}


def _say(qtbot, where: str, data: bytes) -> bytes:
    """Send `data` to the app listening at `where` as another program could; its answer."""
    client = socket.socket(socket.AF_UNIX)
    client.connect(where)
    client.sendall(data)
    client.setblocking(False)
    got = bytearray()

    def answered() -> bool:
        try:
            chunk = client.recv(64)
        except BlockingIOError:
            return False
        got.extend(chunk)
        return not chunk or b"\n" in got

    try:
        qtbot.waitUntil(answered, timeout=10_000)  # the app answers from its event loop meanwhile
    finally:
        client.close()
    return bytes(got)


def _answer_box(seen: list, *, copy: bool = False) -> None:
    """When a start-up error box shows (it blocks in its own event loop), note what it says
    and close it, as a user would."""
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

    def look() -> None:
        boxes = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, QMessageBox) and w.objectName() == "startupErrorBox" and w.isVisible()]
        if not boxes:
            QTimer.singleShot(20, look)
            return
        box = boxes[0]
        clip = ""
        if copy:
            box.findChild(QPushButton, "copyErrorButton").click()
            clip = QGuiApplication.clipboard().text()
        seen.append({"title": box.windowTitle(), "text": box.text(), "more": box.informativeText(),
                     "details": box.detailedText(), "clipboard": clip, "name": box.accessibleName()})
        box.accept()

    QTimer.singleShot(0, look)


def test_a_second_gui_start_on_the_same_home_hands_its_folder_to_the_open_window(qtbot, tmp_path, started):
    from refldm_desktop.ui.app import OpenApp

    home = _known_device(tmp_path / "home")
    first = started(home)
    assert isinstance(first, OpenApp) and first.window.isVisible() and first.server.is_listening()
    assert _library_photos(first) == set()
    pictures = _photos(tmp_path / "Pictures")

    # What a file manager's "Restore faces with ReF-LDM" does: the CLI, in its own process.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "plugins")]), QT_QPA_PLATFORM="offscreen")
    env.pop("REFLDM_DESKTOP_HOME", None)
    second = subprocess.Popen([sys.executable, "-m", "refldm_desktop", "--home", str(home), "gui", str(pictures)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=60_000)  # the window answers meanwhile
    finally:
        if second.poll() is None:
            second.kill()
    out, err = second.communicate()
    assert second.returncode == 0, err
    assert "error" not in err
    # The open window added the folder, as if it had been started with it; no second window.
    qtbot.waitUntil(lambda: _library_photos(first) == {"p0.png", "p1.png"}, timeout=60_000)
    assert first.window.isVisible()


@unix_only
def test_a_dead_apps_socket_does_not_block_a_start_bad_messages_are_ignored_and_homes_are_apart(
        qtbot, tmp_path, started):
    from refldm_desktop.ui.app import OpenApp

    home_a, home_b = _known_device(tmp_path / "a"), _known_device(tmp_path / "b")
    where = _socket_path(home_a)
    if os.path.exists(where):
        os.unlink(where)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(where)  # what a crashed app leaves: the file, nobody listening
    dead.close()
    assert os.path.exists(where)

    a = started(home_a)
    assert isinstance(a, OpenApp) and a.window.isVisible() and a.server.is_listening()
    pictures = _photos(tmp_path / "Pictures")

    def say(data: bytes) -> bytes:
        return _say(qtbot, where, data)

    message = {"refldm-desktop": 1, "open": [str(pictures)]}
    for bad in (b"hello\n", b"\xff\xfe\n", b"[1, 2]\n", b"{\"refldm-desktop\": 2, \"open\": []}\n",
                json.dumps({**message, "open": ["Pictures"]}).encode() + b"\n",  # not absolute
                json.dumps({**message, "open": [7]}).encode() + b"\n"):
        assert say(bad) == b"bad\n", bad
    assert a.window.isVisible() and _library_photos(a) == set()  # nothing opened, nothing broken

    # Another home: its own window, and the first one is not asked.
    b = started(home_b, [pictures])
    assert isinstance(b, OpenApp) and b.window is not a.window and b.server.name != a.server.name
    qtbot.waitUntil(lambda: _library_photos(b) == {"p0.png", "p1.png"}, timeout=60_000)
    assert _library_photos(a) == set()

    # After all that, a good message still opens in A.
    assert say(json.dumps(message).encode() + b"\n") == b"ok\n"
    qtbot.waitUntil(lambda: _library_photos(a) == {"p0.png", "p1.png"}, timeout=60_000)
    a.close()
    assert not os.path.exists(where)  # a clean exit leaves no socket behind


@unix_only
def test_a_folder_handed_over_while_check_library_is_shown_opens_once_the_window_does(qtbot, tmp_path, started):
    import sqlite3

    from PySide6.QtWidgets import QMessageBox, QPushButton

    from fakes import open_test_library
    from refldm_desktop.core.backups import back_up

    home = _known_device(tmp_path / "home")
    with open_test_library(home) as lib:
        back_up(lib.home)
    with sqlite3.connect(home / "library.sqlite3") as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray((home / "library.sqlite3").read_bytes())
    data[:100] = b"\xff" * 100  # the header: SQLite no longer sees a database
    (home / "library.sqlite3").write_bytes(bytes(data))

    app = started(home)
    assert app.window is None and app.dialog is not None and app.dialog.isVisible()  # the way back is offered
    pictures = _photos(tmp_path / "Pictures")
    assert _say(qtbot, _socket_path(home), json.dumps({"refldm-desktop": 1, "open": [str(pictures)]}).encode()
                + b"\n") == b"ok\n"
    assert app.window is None and app.dialog.isVisible()

    dialog = app.dialog
    qtbot.waitUntil(lambda: dialog.check is not None and dialog.task is None, timeout=30_000)
    dialog.buttons["goBack"].click()
    qtbot.waitUntil(lambda: dialog.confirm is not None and dialog.confirm.isVisible(), timeout=10_000)
    assert isinstance(dialog.confirm, QMessageBox)
    dialog.confirm.findChild(QPushButton, "goBackYes").click()
    qtbot.waitUntil(lambda: app.window is not None, timeout=60_000)
    qtbot.addWidget(app.window)
    qtbot.waitUntil(lambda: _library_photos(app) == {"p0.png", "p1.png"}, timeout=60_000)  # opened as if given


@unix_only
def test_an_open_app_that_does_not_answer_is_said_plainly(qtbot, tmp_path, capsys, monkeypatch):
    from refldm_desktop.ui import instance
    from refldm_desktop.ui.app import run_app

    home = tmp_path / "home"
    where = _socket_path(home)
    if os.path.exists(where):
        os.unlink(where)
    stuck = socket.socket(socket.AF_UNIX)
    stuck.bind(where)
    stuck.listen(4)  # a live app whose event loop is stuck: it never accepts nor answers
    monkeypatch.setattr(instance, "ANSWER_MS", 300)  # not the real 10 s, to keep the test fast
    seen: list = []
    try:
        _answer_box(seen)
        code = run_app(home, [])
    finally:
        stuck.close()
        os.unlink(where)
    assert code == 1
    (box,) = seen
    assert box["text"] == "ReF-LDM Desktop is already open on this library, but it does not answer."
    assert "try again" in box["more"] and "close it" in box["more"] and str(home) in box["details"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not answer" in err
    assert not (home / "library.sqlite3").exists()  # no second app opened the library meanwhile


@unix_only
def test_an_open_app_that_refuses_the_request_is_said_plainly(qtbot, tmp_path, capsys):
    import time

    from refldm_desktop.ui.app import run_app

    home = tmp_path / "home"
    where = _socket_path(home)
    if os.path.exists(where):
        os.unlink(where)
    # Another version of the app, in its own process (a thread of this one would wait for
    # the GIL that the blocking Qt call holds): it reads the line, notes it, and says no.
    heard = tmp_path / "heard"
    script = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)\n"
        "c, _ = s.accept()\n"
        "line = c.makefile('rb').readline()\n"
        "open(sys.argv[2], 'wb').write(line)\n"
        "c.sendall(b'bad\\n'); c.close()\n"
    )
    other = subprocess.Popen([sys.executable, "-c", script, where, str(heard)])
    seen: list = []
    try:
        end = time.monotonic() + 30
        while not os.path.exists(where) and time.monotonic() < end:
            time.sleep(0.02)
        _answer_box(seen)
        code = run_app(home, [tmp_path])
    finally:
        other.wait(30)
        if os.path.exists(where):
            os.unlink(where)
    assert code == 1 and json.loads(heard.read_bytes()) == {"refldm-desktop": 1, "open": [str(tmp_path)]}
    (box,) = seen
    assert "did not take" in box["text"] and "another version" in box["more"]
    assert "refused" in capsys.readouterr().err


def test_a_home_that_cannot_be_made_is_said_in_a_box_on_stderr_and_in_the_exit_status(qtbot, tmp_path, capsys):
    from refldm_desktop.ui.app import run_app

    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    seen: list = []
    _answer_box(seen, copy=True)
    assert run_app(blocker / "home", []) == 2
    (box,) = seen
    assert box["title"] == "ReF-LDM Desktop could not start" and box["name"]
    assert box["text"] == "ReF-LDM Desktop could not open your library."
    assert box["more"].startswith("The home folder cannot be used") and box["more"].endswith(".")
    assert str(blocker / "home") in box["details"]
    assert box["text"] in box["clipboard"] and box["more"] in box["clipboard"]  # copyable as a whole
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refldm-desktop: error: the home folder cannot be used")
    assert "Traceback" not in err


def test_a_bug_at_start_up_is_said_with_its_crash_log(qtbot, tmp_path, capsys, monkeypatch):
    from refldm_desktop.core.library import Library
    from refldm_desktop.ui.app import run_app

    def broken(*_args, **_kw):
        raise RuntimeError("a bug while opening")  # not one of ours: a bug's error

    monkeypatch.setattr(Library, "open", broken)
    seen: list = []
    _answer_box(seen)
    home = tmp_path / "home"
    assert run_app(home, []) == 70
    (box,) = seen
    assert box["text"] == "ReF-LDM Desktop could not start because of an unexpected error."
    logs = list((home / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in box["more"] and "report" in box["more"]
    assert "RuntimeError: a bug while opening" in box["details"] and "Traceback" in box["details"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(logs[0]) in err and "Traceback" not in err
    assert not os.path.exists(_socket_path(home))  # a later start is not sent to this failed one


def test_a_photo_that_is_not_there_opens_the_window_which_says_so(tmp_path, monkeypatch):
    """Not a start-up failure: the window opens and says so there (tests/ui/test_path_not_found.py),
    so that the README's `gui ~/Pictures` works where that folder does not exist."""
    from refldm_desktop.ui import app, main

    opened: list = []
    monkeypatch.setattr(app, "run_app", lambda home=None, paths=(): opened.append(list(paths)) or 0)
    assert main(home=tmp_path / "home", paths=[tmp_path / "gone.jpg"]) == 0
    assert opened == [[tmp_path / "gone.jpg"]]

def _answerer(where: str, heard: Path) -> subprocess.Popen:
    """Another user's program listening at `where`: it notes what it hears and says ok."""
    import time

    script = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); s.settimeout(20)\n"
        "c, _ = s.accept()\n"
        "open(sys.argv[2], 'wb').write(c.makefile('rb').readline())\n"
        "c.sendall(b'ok\\n'); c.close()\n"
    )
    other = subprocess.Popen([sys.executable, "-c", script, where, str(heard)])
    end = time.monotonic() + 30
    while not os.path.exists(where) and time.monotonic() < end:
        time.sleep(0.02)
    return other


@unix_only
def test_the_socket_lives_in_a_folder_only_this_user_can_open(tmp_path):
    """Not in the shared temp folder, where another local user could take the name first."""
    import stat

    from PySide6.QtCore import QDir

    where = _socket_path(tmp_path / "home")
    folder = os.path.dirname(where)
    st = os.lstat(folder)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077
    assert os.path.realpath(folder) != os.path.realpath(QDir.tempPath())
    assert len(os.fsencode(where)) <= 100


@unix_only
def test_a_link_at_the_socket_path_is_not_trusted(qtbot, tmp_path, started):
    """Something at the socket path that is not this user's socket (here a link to someone
    else's listener that would answer ok) is not spoken to: this start opens its own window."""
    import tempfile

    from refldm_desktop.ui.app import OpenApp

    home = _known_device(tmp_path / "home")
    where = _socket_path(home)
    if os.path.lexists(where):
        os.unlink(where)
    elsewhere = tempfile.mkdtemp(prefix="rd-")
    foreign = os.path.join(elsewhere, "s")
    heard = tmp_path / "heard"
    other = _answerer(foreign, heard)
    os.symlink(foreign, where)
    try:
        app = started(home, [tmp_path])
        assert isinstance(app, OpenApp) and app.window.isVisible() and app.server.is_listening()
        assert not os.path.islink(where)  # its own socket took the place of the link
    finally:
        other.kill()
        other.wait(30)
        if os.path.lexists(foreign):
            os.unlink(foreign)
        os.rmdir(elsewhere)
    assert not heard.exists()  # the paths were not told to the other program


@unix_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="$XDG_RUNTIME_DIR is the Linux way")
def test_a_socket_folder_others_can_open_is_not_used(qtbot, tmp_path, started, monkeypatch, capfd):
    """No runtime folder, and our own folder in the temp folder was made by someone else (or
    left open to others): no socket there, no hand-over to whoever listens in it; the app
    still opens, and says that a second start will open a second window."""
    import tempfile

    from refldm_desktop.ui.app import OpenApp

    home = _known_device(tmp_path / "home")
    short = tempfile.mkdtemp(prefix="rd-")  # short: the socket path limit
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", short)
    folder = os.path.join(short, f"refldm-desktop-{os.getuid()}")
    os.mkdir(folder)
    os.chmod(folder, 0o777)  # what another user could have made first
    from refldm_desktop.core.home import resolve_home
    from refldm_desktop.ui.instance import server_name

    heard = tmp_path / "heard"
    other = _answerer(os.path.join(folder, server_name(resolve_home(home))), heard)
    try:
        app = started(home, [tmp_path])
        assert isinstance(app, OpenApp) and app.window.isVisible() and app.server is None
    finally:
        other.kill()
        other.wait(30)
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)
    assert not heard.exists()
    assert "second window" in capfd.readouterr().err

    # A fresh temp folder: our own folder is made user-only and used.
    monkeypatch.setenv("TMPDIR", short)
    second = started(_known_device(tmp_path / "home2"))
    assert isinstance(second, OpenApp) and second.server.is_listening()
    assert os.path.dirname(second.server.name) == folder and not os.stat(folder).st_mode & 0o077
    second.close()
    os.rmdir(folder)
    os.rmdir(short)
