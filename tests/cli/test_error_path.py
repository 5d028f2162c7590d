"""The CLI's one error path: an error the user can act on is one line; a bug leaves a log."""

from __future__ import annotations

import errno
import sqlite3

import pytest
import sqlalchemy.exc

import refldm_desktop.cli.library_verbs as library_verbs
from refldm_desktop import errors
from refldm_desktop.cli import LOGS_KEPT, main


def _fail_open(monkeypatch, exc):
    def boom(_args):
        raise exc

    monkeypatch.setattr(library_verbs, "open_library", boom)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_every_old_error_class_has_the_one_root():
    from refldm_desktop.core.changes import LibraryError
    from refldm_desktop.core.plugins import PluginError
    from refldm_desktop.db.engine import DatabaseError
    from refldm_desktop.jobs.lock import RunnerBusy
    from refldm_desktop.jobs.queue import JobError
    from refldm_desktop.library.imageio import ImageError
    from refldm_desktop.library.output import OutputError
    from refldm_desktop.restore.protocol import RestoreError
    from refldm_desktop.restore.refldm.convert import CheckpointError
    from refldm_desktop.restore.refldm.download import DownloadError
    from refldm_desktop.restore.refldm.store import ModelStoreError

    for cls in (LibraryError, PluginError, DatabaseError, RunnerBusy, JobError, ImageError,
                OutputError, RestoreError, CheckpointError, DownloadError, ModelStoreError):
        assert issubclass(cls, errors.RefldmError), cls
    # Reading and writing an image fail in one family, with the same `reason`.
    assert issubclass(ImageError, errors.ImageFileError)
    assert issubclass(OutputError, errors.ImageFileError)
    assert OutputError("x.png: the disk is full").reason == "x.png: the disk is full"


def test_an_error_the_user_can_act_on_is_one_line(tmp_path, monkeypatch, capsys):
    _fail_open(monkeypatch, errors.LibraryError("no photos there:\n add a folder first"))
    assert main(["--home", str(tmp_path), "people", "list"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == "refldm-desktop: error: no photos there: add a folder first"


def test_a_bug_writes_its_traceback_to_a_log_in_the_home(tmp_path, monkeypatch, capsys):
    _fail_open(monkeypatch, ZeroDivisionError("secret internals"))
    assert main(["--home", str(tmp_path), "people", "list"]) == 70
    line = _one_line(capsys.readouterr().err)
    assert "secret internals" not in line and "ZeroDivisionError" not in line
    logs = list((tmp_path / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    text = logs[0].read_text()
    assert "Traceback" in text and "ZeroDivisionError: secret internals" in text


def test_crash_logs_are_rotated(tmp_path, monkeypatch, capsys):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(LOGS_KEPT + 5):
        (logs / f"crash-20000101-0000{i:02d}-1.log").write_text("old")
    _fail_open(monkeypatch, KeyError("x"))
    assert main(["--home", str(tmp_path), "people", "list"]) == 70
    kept = sorted(p.name for p in logs.glob("crash-*.log"))
    assert len(kept) == LOGS_KEPT
    assert not kept[-1].startswith("crash-2000")  # the new one is kept


def test_a_home_that_cannot_hold_logs_still_gets_one_line(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home-is-a-file"
    home.write_text("not a folder")
    _fail_open(monkeypatch, KeyError("x"))
    assert main(["--home", str(home), "people", "list"]) == 70
    line = _one_line(capsys.readouterr().err)
    assert "crash-" in line


@pytest.mark.parametrize(
    "message, expected",
    [
        ("database is locked", "another refldm-desktop command is writing"),
        ("database or disk is full", "disk holding the library is full"),
        ("database disk image is malformed", "refldm-desktop db restore-backup"),
        ("attempt to write a readonly database", "cannot be written"),
    ],
)
def test_database_failures_never_show_sql(tmp_path, monkeypatch, capsys, message, expected):
    wrapped = sqlalchemy.exc.OperationalError(
        "INSERT INTO photos (path) VALUES (?)", ("/secret/path.jpg",), sqlite3.OperationalError(message)
    )
    _fail_open(monkeypatch, wrapped)
    assert main(["--home", str(tmp_path), "people", "list"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert expected in line
    assert "INSERT" not in line and "secret" not in line and "sqlite3" not in line


def test_a_full_disk_is_said_as_such(tmp_path, monkeypatch, capsys):
    _fail_open(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "/x/out.png"))
    assert main(["--home", str(tmp_path), "people", "list"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == "refldm-desktop: error: /x/out.png: the disk is full: free some space and run the command again"
