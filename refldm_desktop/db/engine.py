"""Opening the database: SQLite in WAL mode, foreign keys on, schema brought up to date by
the packaged Alembic migrations."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from refldm_desktop.errors import DatabaseError  # noqa: F401 (also exported here)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _on_connect(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    try:
        # WAL lets readers (the UI) go on while one writer indexes; NORMAL sync is safe in WAL
        # (a power cut may lose the last commits, never corrupt the file).
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
    finally:
        cur.close()


def make_engine(path: str | os.PathLike[str]) -> Engine:
    engine = create_engine(f"sqlite:///{os.fspath(path)}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _on_connect)
    return engine


def alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    current = current_revision(engine)
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseError(
            f"the database is at schema revision {current!r}, which this version of the app "
            "does not know; it was probably made by a newer version"
        )
    if current == script.get_current_head():
        return
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")


def open_database(path: str | os.PathLike[str]) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on `path` with the schema up to date, and its session factory."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(path)
    try:
        upgrade(engine)
    except Exception:
        engine.dispose()
        raise
    return engine, sessionmaker(engine, expire_on_commit=False)
