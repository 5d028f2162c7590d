"""The schema is made only by migrations, matches the models, and the database runs in WAL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import inspect

REPO = Path(__file__).resolve().parents[2]
from refldm_desktop.db import DatabaseError, open_database
from refldm_desktop.db.engine import alembic_config, current_revision, head_revision
from refldm_desktop.db.models import Base

TABLES = {"library_folders", "photos", "faces", "people", "face_assignments", "jobs", "versions"}


def test_migrations_create_every_table_from_an_empty_file(tmp_path):
    engine, _ = open_database(tmp_path / "new.sqlite3")
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_models_and_migrations_agree(tmp_path):
    """Autogenerate finds nothing to do: nobody changed a model without a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine, _ = open_database(tmp_path / "db.sqlite3")
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def test_migration_chain_is_linear_and_starts_from_nothing():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, "two migrations claim the same parent; renumber one"
    revs = list(script.walk_revisions())  # newest first
    assert revs[-1].down_revision is None
    for newer, older in zip(revs, revs[1:]):
        assert newer.down_revision == older.revision


def test_wal_and_foreign_keys_are_on_for_every_connection(tmp_path):
    engine, Session = open_database(tmp_path / "db.sqlite3")
    try:
        with Session() as s:
            conn = s.connection()
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    with sqlite3.connect(tmp_path / "db.sqlite3") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path):
    from refldm_desktop.db import Person

    engine, Session = open_database(tmp_path / "db.sqlite3")
    with Session.begin() as s:
        s.add(Person(name="Ada"))
    engine.dispose()
    engine, Session = open_database(tmp_path / "db.sqlite3")
    try:
        with Session() as s:
            assert [p.name for p in s.query(Person)] == ["Ada"]
    finally:
        engine.dispose()


def test_an_up_to_date_database_opens_without_alembic(tmp_path):
    """Every start opens the library: when its schema is current, the app must not pay for
    importing Alembic and reading its scripts (a sixth of the start-up time). The newest
    revision read from the migration files is Alembic's own."""
    from refldm_desktop.db.engine import _head_from_files

    assert _head_from_files() == head_revision()
    path = tmp_path / "db.sqlite3"
    open_database(path)[0].dispose()
    probe = textwrap.dedent(
        f"""
        import sys
        from refldm_desktop.db import open_database
        engine, _ = open_database({str(path)!r})
        engine.dispose()
        print(sorted(m for m in sys.modules if m.split(".")[0] == "alembic"))
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_database_one_migration_behind_is_still_upgraded(tmp_path):
    """The quick check at opening sees an old schema and hands it to Alembic."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from refldm_desktop.db.engine import make_engine

    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision()).down_revision
    path = tmp_path / "db.sqlite3"
    old = make_engine(path)
    with old.begin() as conn:
        command.upgrade(alembic_config(conn), previous)
    assert current_revision(old) == previous
    old.dispose()
    engine, _ = open_database(path)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_database_from_a_newer_version_is_refused_clearly(tmp_path):
    path = tmp_path / "db.sqlite3"
    engine, _ = open_database(path)
    engine.dispose()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(DatabaseError, match="newer version"):
        open_database(path)


def test_an_installed_non_editable_copy_finds_its_migrations(tmp_path):
    """Lay the package out as a wheel would (setuptools build_py honours package-data) and
    open a database from that copy alone."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src / "pyproject.toml")
    shutil.copy(REPO / "README.md", src / "README.md")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "refldm_desktop", src / "refldm_desktop", ignore=ignore)
    if (REPO / "plugins").is_dir():
        shutil.copytree(REPO / "plugins", src / "plugins", ignore=ignore)
    lib = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
         "--build-lib", str(lib)],
        cwd=src, check=True, capture_output=True,
    )
    probe = textwrap.dedent(
        f"""
        import refldm_desktop, sqlite3
        assert refldm_desktop.__file__.startswith({str(lib)!r}), refldm_desktop.__file__
        from refldm_desktop.db import open_database
        engine, _ = open_database({str(tmp_path / "installed.sqlite3")!r})
        engine.dispose()
        print(sqlite3.connect({str(tmp_path / "installed.sqlite3")!r})
              .execute("select count(*) from sqlite_master where name='faces'").fetchone()[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
