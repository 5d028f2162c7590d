"""Migration 0006 (restoration need beside the quality): a library with scored faces and
people keeps them, and its faces are left to be rated (need_version NULL)."""

from __future__ import annotations

import sqlite3

from alembic import command

from refldm_desktop.db.engine import alembic_config, make_engine, open_database
from test_migration_quality import _rows


def _library_before_need(path):
    engine = make_engine(path)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
    engine.dispose()
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO photos (id, path, size, mtime_ns, state, indexed_at) "
            "VALUES (1, '/p/a.jpg', 10, 1, 'ok', '2024-01-01')"
        )
        raw.execute(
            "INSERT INTO faces (id, photo_id, x0, y0, x1, y1, score, landmarks, backend, model_id, "
            "needs_clustering, created_at, quality_version, quality_score) "
            "VALUES (1, 1, 0, 0, 9, 9, 1.0, x'00', 'dlib', 'm', 0, '2024-01-01', 1, 0.7)"
        )
        raw.execute("INSERT INTO people (id, name, hidden, created_at) VALUES (1, 'Ada', 0, '2024-01-01')")
        raw.execute(
            "INSERT INTO face_assignments (face_id, person_id, state, updated_at) "
            "VALUES (1, 1, 'confirmed', '2024-01-01')"
        )


def test_upgrading_keeps_faces_and_scores_and_leaves_the_need_to_be_rated(tmp_path):
    path = tmp_path / "db.sqlite3"
    _library_before_need(path)
    open_database(path)[0].dispose()  # upgrades to head
    assert _rows(path, "SELECT face_id, person_id, state FROM face_assignments") == [(1, 1, "confirmed")]
    assert _rows(path, "SELECT quality_score, need_version, need_score FROM faces") == [(0.7, None, None)]


def test_downgrading_below_0006_keeps_faces_and_people(tmp_path):
    path = tmp_path / "db.sqlite3"
    _library_before_need(path)
    engine, _ = open_database(path)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE faces SET need_version = 1, need_score = 0.9, need_reasons = '[\"blurry\"]'")
        command.downgrade(alembic_config(conn), "0005")
    engine.dispose()
    cols = {r[1] for r in _rows(path, "PRAGMA table_info(faces)")}
    assert "need_score" not in cols and "quality_score" in cols
    assert _rows(path, "SELECT face_id, person_id FROM face_assignments") == [(1, 1)]
    open_database(path)[0].dispose()  # and up again
    assert _rows(path, "SELECT count(*), max(need_version) FROM faces") == [(1, None)]
