"""Migration 0002 upgrades a database made by 0001 in place, keeping its data."""

from __future__ import annotations

import sqlite3

from alembic import command
from sqlalchemy import inspect

from refldm_desktop.db import open_database
from refldm_desktop.db.engine import alembic_config, current_revision, head_revision, make_engine


def test_a_0001_database_gains_jobs_and_versions_and_keeps_its_photos(tmp_path):
    path = tmp_path / "old.sqlite3"
    engine = make_engine(path)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    engine.dispose()
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO photos (path, size, mtime_ns, state, indexed_at) "
            "VALUES ('/p/a.jpg', 1, 2, 'ok', '2024-01-01 00:00:00')"
        )

    engine, Session = open_database(path)
    try:
        assert current_revision(engine) == head_revision()
        assert {"jobs", "versions"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT path FROM photos").scalars().all() == ["/p/a.jpg"]
    finally:
        engine.dispose()
