"""Creating and upgrading the schema is all or nothing, backed up first, and race-free.

A process killed in the middle of a migration must leave the database as it was, so that
the next open simply runs the migration again.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

from alembic import command

from refldm_desktop.db.engine import alembic_config, head_revision, list_backups, make_engine, open_database

# Kill the process at the N-th call of an Alembic operation, as a power cut would.
_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from alembic import op
    from refldm_desktop.db.engine import open_database
    from pathlib import Path

    name, n, db = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    real = getattr(op, name)
    calls = 0

    def dying(*a, **k):
        global calls
        calls += 1
        if calls == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*a, **k)

    setattr(op, name, dying)
    open_database(db, backups=db.parent / "backups")
    """
)


def _kill_during(db, op_name, n):
    proc = subprocess.run([sys.executable, "-c", _KILLER, op_name, str(n), str(db)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr


def _tables(db):
    with sqlite3.connect(db) as raw:
        return {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _columns(db, table):
    with sqlite3.connect(db) as raw:
        return {r[1] for r in raw.execute(f"PRAGMA table_info({table})")}


def _revision(db):
    with sqlite3.connect(db) as raw:
        try:
            return raw.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        except sqlite3.OperationalError:
            return None


def _reopen(db):
    engine, _ = open_database(db, backups=db.parent / "backups")
    engine.dispose()
    assert _revision(db) == head_revision()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_first_open_killed_halfway_leaves_no_half_schema(tmp_path):
    db = tmp_path / "library.sqlite3"
    _kill_during(db, "create_table", 3)  # in the middle of the first migration
    assert _tables(db) <= {"alembic_version"} and _revision(db) is None
    _reopen(db)


def test_an_upgrade_killed_halfway_is_undone_and_redone(tmp_path):
    db = tmp_path / "library.sqlite3"
    engine = make_engine(db)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
    engine.dispose()
    # 0003 adds seven columns to faces, then a table: die after three columns.
    _kill_during(db, "add_column", 4)
    assert _revision(db) == "0002"
    assert "quality" not in _columns(db, "faces")
    _reopen(db)
    assert "quality" in _columns(db, "faces")


def test_an_upgrade_is_preceded_by_a_backup(tmp_path):
    db = tmp_path / "library.sqlite3"
    engine = make_engine(db)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.exec_driver_sql(
            "INSERT INTO photos (id, path, size, mtime_ns, state, indexed_at) VALUES (1, '/p/a.jpg', 1, 1, 'ok', '2024-01-01')"
        )
    engine.dispose()
    _reopen(db)
    (backup,) = list_backups(tmp_path / "backups")
    assert _revision(backup) == "0002"
    with sqlite3.connect(backup) as raw:
        assert raw.execute("SELECT path FROM photos").fetchall() == [("/p/a.jpg",)]
    _reopen(db)  # nothing to upgrade: no new backup
    assert len(list_backups(tmp_path / "backups")) == 1


def test_processes_opening_a_new_home_at_once_do_not_race(tmp_path):
    db = tmp_path / "library.sqlite3"
    code = "import sys; from refldm_desktop.db.engine import open_database; open_database(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(db)], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    _reopen(db)
