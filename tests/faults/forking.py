"""Run a piece of the app in a forked child and kill it (SIGKILL, as a power cut or the OOM
killer would) at its N-th injected point.

The points are every SQL statement and commit the app sends through SQLAlchemy, and every
os.replace, os.link, os.fsync and os.unlink: between them lie all the states a crash can
leave on disk. A first run counts them; later runs die at chosen ones. Forking a process that
has already imported the app costs milliseconds, where starting Python again costs seconds:
that is what lets the suite try hundreds of kills within CI's time.

The parent never holds a database connection while it forks (SQLite forbids carrying one
across a fork): everything that opens the library runs in a child.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

_FILE_CALLS = ("replace", "link", "fsync", "unlink")


@dataclass
class Outcome:
    status: int | None  # exit status, or None when killed by a signal
    signal: int | None
    points: int | None  # points passed (None when killed: the child could not say)
    value: Any  # what the function returned (JSON), when it returned
    stderr: str

    @property
    def killed(self) -> bool:
        return self.signal == signal.SIGKILL


def _install_points(kill_at: int | None, counter: list[int]) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def point(*_a, **_k) -> None:
        counter[0] += 1
        if kill_at is not None and counter[0] >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Engine, "before_cursor_execute", point)
    event.listen(Engine, "commit", point)
    for name in _FILE_CALLS:
        real = getattr(os, name)

        def wrapped(*a, _real=real, **k):
            point()
            return _real(*a, **k)

        setattr(os, name, wrapped)


def preload() -> None:
    """Import in the parent what every child needs, so that each child starts warm."""
    import alembic.command  # noqa: F401
    import PIL.Image  # noqa: F401
    import sqlalchemy.orm  # noqa: F401

    import refldm_desktop.cli
    import refldm_desktop.core.library  # noqa: F401
    import refldm_desktop.core.report  # noqa: F401
    import refldm_desktop.core.restore_job  # noqa: F401
    import refldm_desktop.library.output  # noqa: F401
    import refldm_desktop.restore.photo  # noqa: F401
    from refldm_desktop.core.plugins import Registry
    from refldm_desktop.core.restoring import RESTORERS_GROUP

    refldm_desktop.cli.build_parser()
    Registry(RESTORERS_GROUP).create("passthrough")


def run_forked(fn: Callable[[], Any], *, kill_at: int | None = None, stderr_to: Path | None = None,
               wait: bool = True, before: Callable[[], None] | None = None):
    """Run `fn()` in a forked child, killed at point `kill_at` (1-based) when given. An int
    that `fn` returns is the child's exit status.

    Returns an Outcome (or, with wait=False, a handle for `finish`). The child's stderr goes
    to `stderr_to` (read back into Outcome.stderr); its return value comes back as JSON.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(read_fd)
            if stderr_to is not None:
                fd = os.open(stderr_to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 2)
                os.close(fd)
                sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
            if before is not None:
                before()
            counter = [0]
            _install_points(kill_at, counter)
            value = fn()
            payload = {"points": counter[0], "value": value}
            if isinstance(value, int) and not isinstance(value, bool):
                code = value  # a command's exit status is the child's

        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            payload = {"points": None, "value": None}
        except BaseException:  # noqa: BLE001 - report anything, the parent judges it
            traceback.print_exc()
            code = 99
            payload = {"points": None, "value": None}
        try:
            os.write(write_fd, json.dumps(payload, default=str).encode())
            os.close(write_fd)
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write_fd)
    handle = (pid, read_fd, stderr_to)
    return finish(handle) if wait else handle


def finish(handle) -> Outcome:
    pid, read_fd, stderr_to = handle
    chunks = []
    while True:
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    payload = json.loads(b"".join(chunks) or b'{"points": null, "value": null}')
    err = stderr_to.read_text(errors="replace") if stderr_to is not None and stderr_to.exists() else ""
    if os.WIFSIGNALED(status):
        return Outcome(None, os.WTERMSIG(status), None, None, err)
    return Outcome(os.WEXITSTATUS(status), None, payload["points"], payload["value"], err)


def spread(total: int, n: int) -> list[int]:
    """n kill points spread evenly over 1..total (all of them when there are fewer)."""
    if total <= n:
        return list(range(1, total + 1))
    return sorted({1 + round(i * (total - 1) / (n - 1)) for i in range(n)})
