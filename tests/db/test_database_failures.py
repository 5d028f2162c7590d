"""Database failures in use are one line with the way out, never a traceback: a damaged or
truncated file (and `db check|backup|restore-backup`), a home that is a file, two index runs
at once. Fast: fake backend, fake photos."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from fakes import FakeBackend, draw_photo, open_test_library

from refldm_desktop.cli import library_verbs, main


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setattr(library_verbs, "open_library", lambda args: open_test_library(home, FakeBackend()))
    pics = tmp_path / "Pictures"
    for i in range(12):
        draw_photo(pics / f"p{i}.png", [(1 + i % 3, i, 20, 30)])
    assert main(["--home", str(home), "index", str(pics)]) == 0
    return home


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err and "(sqlite3." not in err and "SELECT" not in err, err
    return lines[0]


def _checkpoint(db):
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "flipped-page"])
def test_a_damaged_database_is_one_line_with_the_way_back(home, capsys, damage):
    assert main(["--home", str(home), "db", "backup"]) == 0
    capsys.readouterr()
    db = home / "library.sqlite3"
    _checkpoint(db)
    data = bytearray(db.read_bytes())
    page = 4096
    if damage == "truncated":
        data = data[: len(data) // 2 + 100]
    elif damage == "garbage":
        data[:] = os.urandom(len(data))
    else:  # every page after the first, scrambled in its middle
        for start in range(page, len(data), page):
            data[start + 100 : start + 400] = os.urandom(300)
    db.write_bytes(bytes(data))

    assert main(["--home", str(home), "people", "list"]) == 2
    line = _one_line(capsys)
    assert "damaged" in line and "db restore-backup" in line

    assert main(["--home", str(home), "db", "check"]) == 1
    assert "DAMAGED" in capsys.readouterr().out
    assert main(["--home", str(home), "db", "restore-backup"]) == 0
    out = capsys.readouterr().out
    assert "kept as" in out
    assert list(home.glob("library.sqlite3.damaged-*"))  # the damaged file is kept, not deleted
    assert main(["--home", str(home), "db", "check"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "people", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3  # the people are back


def test_restore_backup_without_a_backup_says_how_to_rebuild(tmp_path, capsys):
    assert main(["--home", str(tmp_path / "empty"), "db", "restore-backup"]) == 2
    assert "run `index` again" in _one_line(capsys)


def test_a_home_that_is_a_file_is_one_line(tmp_path, capsys):
    home = tmp_path / "home"
    home.write_text("I am a file")
    assert main(["--home", str(home), "people", "list"]) == 2
    line = _one_line(capsys)
    assert str(home) in line and ("not a folder" in line or "Not a directory" in line)
    assert home.read_text() == "I am a file"


def test_a_read_only_home_is_one_line(home, capsys):
    db = home / "library.sqlite3"
    _checkpoint(db)
    (home / "library.sqlite3-wal").unlink(missing_ok=True)
    (home / "library.sqlite3-shm").unlink(missing_ok=True)
    # Root ignores permission bits, so open the database read-only as a read-only disk would.
    real_connect = sqlite3.connect

    def read_only(database, *a, **k):
        if str(database).endswith("library.sqlite3"):
            return real_connect(f"file:{database}?mode=ro", *a, **{**k, "uri": True})
        return real_connect(database, *a, **k)

    import unittest.mock

    with unittest.mock.patch.object(sqlite3.dbapi2, "connect", read_only):
        rc = main(["--home", str(home), "people", "rename", "1", "Ada"])
    assert rc == 2
    line = _one_line(capsys)
    assert "writable" in line or "cannot be written" in line


def test_a_second_index_says_another_one_is_running(home, tmp_path, capsys):
    from refldm_desktop.jobs.lock import RunnerLock

    other = RunnerLock(home / "index.lock")  # what a running index holds
    assert other.acquire()
    try:
        assert main(["--home", str(home), "index", str(tmp_path / "Pictures")]) == 2
    finally:
        other.release()
    assert "already indexing this library" in _one_line(capsys)
