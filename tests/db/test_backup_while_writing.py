"""A stepped (cancellable) backup finishes while another connection keeps writing, and
copies the database as it was when the copy began."""

from __future__ import annotations

import os
import sqlite3

import pytest

from refldm_desktop.core.progress import Cancelled
from refldm_desktop.db.engine import backup_database, make_engine


def _rows(db) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT count(*) FROM t").fetchone()[0]


def test_a_stepped_backup_ends_while_another_connection_writes_between_steps(tmp_path):
    db = tmp_path / "library.sqlite3"
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA journal_mode=WAL")  # as the library is
        con.execute("CREATE TABLE t (x BLOB)")
        con.executemany("INSERT INTO t VALUES (?)", ((os.urandom(3000),) for _ in range(4000)))
    before = _rows(db)  # about 12 MiB: several 4 MiB steps
    writer = sqlite3.connect(db)
    asks = 0

    def write_then_ask() -> bool:
        nonlocal asks
        asks += 1
        writer.execute("INSERT INTO t VALUES (?)", (os.urandom(3000),))
        writer.commit()
        return asks > 50  # a copy restarted by every write would never get this far

    engine = make_engine(db)
    try:
        copy = backup_database(engine, tmp_path / "backups", "manual", cancelled=write_then_ask)
    finally:
        engine.dispose()
        writer.close()
    assert asks < 10
    assert _rows(copy) == before  # the snapshot taken when the copy began
    assert _rows(db) == before + asks  # the writes went on meanwhile and were kept


def test_a_stepped_backup_cancelled_midway_leaves_nothing(tmp_path):
    db = tmp_path / "library.sqlite3"
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE t (x BLOB)")
        con.executemany("INSERT INTO t VALUES (?)", ((os.urandom(3000),) for _ in range(4000)))
    engine = make_engine(db)
    try:
        with pytest.raises(Cancelled):
            backup_database(engine, tmp_path / "backups", "manual", cancelled=lambda: True)
        with sqlite3.connect(db) as con:  # no read transaction left open: a checkpoint runs whole
            busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
    finally:
        engine.dispose()
    assert not any((tmp_path / "backups").iterdir())
