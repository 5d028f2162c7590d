"""Migration 0003 (quality scores, photo fingerprints, reference pins) on a library that
already holds people: nothing the user had is lost, either way."""

from __future__ import annotations

import sqlite3

from alembic import command

from refldm_desktop.db.engine import alembic_config, make_engine, open_database


def _rows(path, sql):
    with sqlite3.connect(path) as raw:
        return raw.execute(sql).fetchall()


def _library_at_0001(path):
    engine = make_engine(path)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    engine.dispose()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute(
            "INSERT INTO photos (id, path, size, mtime_ns, state, indexed_at) "
            "VALUES (1, '/p/a.jpg', 10, 1, 'ok', '2024-01-01')"
        )
        raw.execute(
            "INSERT INTO faces (id, photo_id, x0, y0, x1, y1, score, landmarks, backend, model_id, "
            "needs_clustering, created_at) VALUES (1, 1, 0, 0, 9, 9, 1.0, x'00', 'dlib', 'm', 0, '2024-01-01')"
        )
        raw.execute("INSERT INTO people (id, name, hidden, created_at) VALUES (1, 'Ada', 0, '2024-01-01')")
        raw.execute(
            "INSERT INTO face_assignments (face_id, person_id, state, updated_at) "
            "VALUES (1, 1, 'confirmed', '2024-01-01')"
        )


def test_upgrading_keeps_faces_and_people_and_leaves_faces_to_be_scored(tmp_path):
    path = tmp_path / "db.sqlite3"
    _library_at_0001(path)
    engine, _ = open_database(path)  # upgrades to head
    engine.dispose()
    assert _rows(path, "SELECT face_id, person_id, state FROM face_assignments") == [(1, 1, "confirmed")]
    # Not scored yet: quality_version NULL marks it for the next rescoring.
    assert _rows(path, "SELECT id, quality, quality_version FROM faces") == [(1, None, None)]
    assert _rows(path, "SELECT count(*) FROM face_ref_decisions") == [(0,)]


def test_downgrading_below_0003_keeps_faces_and_people(tmp_path):
    path = tmp_path / "db.sqlite3"
    _library_at_0001(path)
    engine, _ = open_database(path)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO face_ref_decisions (face_id, decision, decided_at) VALUES (1, 'pinned', '2024-01-02')"
        )
        command.downgrade(alembic_config(conn), "0002")
    engine.dispose()
    assert _rows(path, "SELECT face_id, person_id, state FROM face_assignments") == [(1, 1, "confirmed")]
    cols = {r[1] for r in _rows(path, "PRAGMA table_info(faces)")}
    assert "quality" not in cols and "x0" in cols
    engine, _ = open_database(path)  # and up again
    engine.dispose()
    assert _rows(path, "SELECT count(*) FROM faces") == [(1,)]


def test_a_face_cannot_be_pinned_and_excluded_at_once(tmp_path):
    path = tmp_path / "db.sqlite3"
    _library_at_0001(path)
    open_database(path)[0].dispose()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO face_ref_decisions VALUES (1, 'pinned', '2024-01-02')")
        for sql in (
            "INSERT INTO face_ref_decisions VALUES (1, 'excluded', '2024-01-02')",
            "UPDATE face_ref_decisions SET decision = 'maybe'",
        ):
            try:
                raw.execute(sql)
            except sqlite3.IntegrityError:
                continue
            raise AssertionError(f"accepted: {sql}")
        # The decision goes with its face (the pragma works only outside a transaction).
        raw.commit()
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("DELETE FROM faces WHERE id = 1")
        assert raw.execute("SELECT count(*) FROM face_ref_decisions").fetchone() == (0,)
