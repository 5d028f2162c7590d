"""Opening the database: SQLite in WAL mode, foreign keys on, schema brought up to date by
the packaged Alembic migrations."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from refldm_desktop.errors import Cancelled, DatabaseError  # noqa: F401 (DatabaseError also exported here)

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
    # URL.create, not "sqlite:///path": a `?` in the path began the URL's query, and the
    # database went to a file named by the part before it.
    engine = create_engine(URL.create("sqlite", database=os.fspath(path)), connect_args={"check_same_thread": False})
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

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # only a broken install ships no migrations
        raise RuntimeError(f"no database migrations found in {MIGRATIONS}")
    return head


def _head_from_files() -> str | None:
    """The newest migration's revision, read from the migration files' text: what Alembic
    finds, without importing it (Alembic's import and its reading of the scripts took 130-200
    ms of CPU, a sixth of the app's start-up). None when the files are not in the one-line
    form Alembic writes them in: then Alembic decides."""
    import re

    line = re.compile(r"^(down_revision|revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)
    revisions: set[str] = set()
    parents: set[str] = set()
    for file in (MIGRATIONS / "versions").glob("*.py"):
        found = {m.group(1): m.group(2) for m in line.finditer(file.read_text(encoding="utf-8"))}
        if "revision" not in found:
            continue  # not a migration (the package's __init__)
        rev = re.fullmatch(r"""(["'])([^"']+)\1""", found["revision"])
        down = found.get("down_revision", "None")
        if rev is None:
            return None
        revisions.add(rev.group(2))
        if down != "None":
            names = re.findall(r"""["']([^"']+)["']""", down)  # one parent, or a merge's tuple
            if not names:
                return None
            parents.update(names)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database is at the newest migration: the common case at every start,
    answered with one query and no Alembic. False when unsure (a new file, no version table,
    a damaged file): then upgrade() asks Alembic, which also says what is wrong."""
    head = _head_from_files()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except Exception:
        return False
    return [r[0] for r in rows] == [head]


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, *, backups: Path | None = None) -> Path | None:
    """Create or upgrade the schema to the newest migration, all or nothing.

    Every migration runs in one SQLite transaction (DDL included), so a kill or a full disk
    leaves the schema as it was; a lock file keeps two processes from upgrading at once;
    an existing database is copied into `backups` first. Returns that backup's path.
    """
    if _at_head(engine):
        return None  # up to date: Alembic is not even imported
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    known = {rev.revision for rev in script.walk_revisions()}

    def check(current: str | None) -> bool:
        if current is not None and current not in known:
            raise DatabaseError(
                f"the library database is at schema revision {current}, which this version of "
                "the app does not know: it was made by a newer version; install that version"
            )
        return current != head

    if not check(_revision_or_error(engine)):
        return None  # the common case: no lock, no write
    path = Path(engine.url.database or "")
    with upgrade_lock(path):
        current = _revision_or_error(engine)  # another process may have done it meanwhile
        if not check(current):
            return None
        backup = None
        if current is not None and backups is not None and _has_tables(engine):
            backup = backup_database(engine, backups, f"before-{head}-from-{current}")
        ddl = _transactional_engine(path)
        try:
            with ddl.begin() as conn:
                command.upgrade(alembic_config(conn), "head")
        finally:
            ddl.dispose()
        return backup


def _revision_or_error(engine: Engine) -> str | None:
    try:
        return current_revision(engine)
    except Exception as exc:
        from refldm_desktop.errors import database_error_message

        message = database_error_message(exc)
        if message is None:
            raise
        raise DatabaseError(message) from exc


def _has_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type='table'").scalar())


def _transactional_engine(path: Path) -> Engine:
    """An engine whose transactions are real SQLite transactions, DDL included.

    Python's sqlite3 (in its default mode) commits before CREATE/ALTER statements, so a
    migration killed halfway would leave half a schema. Here the driver is told to stay out
    of transactions and each one starts with BEGIN IMMEDIATE: the write lock from the start.
    """
    engine = make_engine(path)

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def upgrade_lock(db_path: Path):
    """Hold an OS lock beside the database while it is created or upgraded; a second
    process waits here, then finds the work done. The OS drops it when a process dies."""
    lock = db_path.with_name(db_path.name + ".upgrade-lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if sys.platform == "win32":  # pragma: no cover
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


BACKUPS_KEPT = 5


def backup_database(
    engine: Engine, folder: Path, label: str, *, spare: Sequence[Path] = (), cancelled: Callable[[], bool] | None = None
) -> Path:
    """A consistent copy of the database in `folder` (SQLite's online backup, so writers in
    other processes are not disturbed), written under a temporary name and then renamed;
    the newest BACKUPS_KEPT copies are kept, and those in `spare` (the one being gone back
    to). The caller holds `upgrade_lock`. When `cancelled()` says True while copying, the
    copy is deleted and Cancelled raised: no backup is taken, none is pruned."""
    import datetime
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".library-*.part"):  # left by a process killed while copying
        stale.unlink(missing_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    final = folder / f"library-{stamp}-{label}.sqlite3"
    tmp = folder / f".{final.name}.part"
    try:
        src = sqlite3.connect(engine.url.database or "")
        try:
            dst = sqlite3.connect(tmp)
            try:
                if cancelled is None:
                    src.backup(dst)
                else:
                    def step(_status: int, _remaining: int, _total: int) -> None:
                        if cancelled():  # raised here, it aborts the copy
                            raise Cancelled("stopped: no backup was taken")

                    # A write by another connection between steps would restart a stepped
                    # copy from the first page, so with indexing or a job writing it never
                    # ends. A read transaction held across the copy pins one snapshot (WAL:
                    # writers go on), and the backup reads that snapshot to the end.
                    src.execute("BEGIN")
                    try:
                        src.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # takes the snapshot
                        src.backup(dst, pages=1024, progress=step)  # 1024 pages a step: 4 MiB
                    finally:
                        src.rollback()  # only read: nothing to keep
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    keep = {Path(p).resolve() for p in spare}
    for old in list_backups(folder)[:-BACKUPS_KEPT]:
        if old.resolve() not in keep:
            old.unlink(missing_ok=True)
    return final


def list_backups(folder: Path) -> list[Path]:
    """Backups in `folder`, oldest first."""
    return sorted(folder.glob("library-*.sqlite3")) if folder.is_dir() else []


def open_database(
    path: str | os.PathLike[str], *, backups: Path | None = None
) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on `path` with the schema up to date, and its session factory. An
    existing database is backed up into `backups` before an upgrade."""
    path = Path(path)
    if path.parent.exists() and not path.parent.is_dir():
        raise DatabaseError(f"the home folder {path.parent} is a file, not a folder: choose another with --home")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise DatabaseError(f"the library database {path} is a folder: move it away or choose another --home")
    engine = make_engine(path)
    try:
        upgrade(engine, backups=backups)
    except Exception:
        engine.dispose()
        raise
    return engine, sessionmaker(engine, expire_on_commit=False)


def connect_readonly(path: str | os.PathLike[str], *, check_same_thread: bool = True):
    """A read-only sqlite3 connection to the database at `path` (`mode=ro`: nothing done
    through it can write the library), waiting up to 10 s for a writer's lock. The path is
    made a file URI, so names with `?`, `#` or `%` open the right file."""
    import sqlite3

    uri = Path(path).absolute().as_uri()
    return sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=10, check_same_thread=check_same_thread)


def check_database(path: str | os.PathLike[str], cancelled: Callable[[], bool] | None = None) -> list[str]:
    """What is wrong with the database file at `path` (empty when it is whole), read-only.

    `cancelled()` is asked while SQLite reads (a big file takes seconds); when it says True
    the check stops within a moment and raises Cancelled."""
    import sqlite3

    path = Path(path)
    if cancelled is not None and cancelled():
        raise Cancelled("the check was stopped")
    if not path.is_file():
        return [f"{path} does not exist"]
    try:
        db = connect_readonly(path)
        try:
            if cancelled is not None:
                # SQLite calls this every few thousand steps, inside integrity_check too;
                # a true answer makes the running statement fail with "interrupted".
                db.set_progress_handler(lambda: 1 if cancelled() else 0, 10_000)
            problems = [r[0] for r in db.execute("PRAGMA integrity_check") if r[0] != "ok"]
            problems += [f"a row of {r[0]} points at a missing row of {r[2]}" for r in db.execute("PRAGMA foreign_key_check")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if cancelled is not None and cancelled():  # stopped, not damaged
            raise Cancelled("the check was stopped") from exc
        return [f"SQLite cannot read it ({exc})"]
    return problems


def restore_backup(
    path: str | os.PathLike[str],
    backup: str | os.PathLike[str],
    *,
    aside_as: str = "damaged",
    prepare: Callable[[Path], object] | None = None,
) -> Path:
    """Put `backup` in place of the database at `path`. The current file (with its WAL) is
    kept beside it, renamed `NAME.{aside_as}-STAMP`, never deleted; returns that name. The
    caller makes sure no other process has the library open.

    At no moment is `path` missing (an open would then make an empty library there): the
    current file is first kept aside by a hard link (or a copy), then the new one takes its
    place by one rename. A failure on the way undoes what was done. `prepare(copy)` may
    change the backup's copy before it takes the database's place (all or nothing)."""
    import datetime
    import shutil
    import sqlite3

    path, backup = Path(path), Path(backup)
    problems = check_database(backup)
    if problems:
        raise DatabaseError(f"the backup {backup} is damaged too ({problems[0]}): choose another one")
    # To the microsecond: going back twice in a second must not put one kept file over another.
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    aside = path.with_name(f"{path.name}.{aside_as}-{stamp}")
    tmp = path.with_name(f".{path.name}.restoring")
    moved: list[tuple[Path, Path]] = []  # (from, to), to undo
    swapped = False
    try:
        shutil.copyfile(backup, tmp)
        if prepare is not None:
            prepare(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        with upgrade_lock(path):
            if path.exists():
                if aside_as != "damaged":  # a damaged file is kept exactly as it is, WAL and all
                    try:  # the WAL's commits into the file: the file kept aside is whole by itself
                        db = sqlite3.connect(path)
                        try:
                            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                        finally:
                            db.close()
                    except sqlite3.DatabaseError:
                        pass
                try:
                    os.link(path, aside)
                except OSError:  # no hard links here (some file systems): a copy
                    shutil.copy2(path, aside)
            # A WAL left beside the new file would be replayed into it: moved aside first.
            for suffix in ("-wal", "-shm"):
                current = Path(f"{path}{suffix}")
                if current.exists():
                    os.replace(current, Path(f"{aside}{suffix}"))
                    moved.append((current, Path(f"{aside}{suffix}")))
            os.replace(tmp, path)
            swapped = True
    except BaseException:
        if not swapped:  # `path` is still the current file: put back what was moved from it
            for src, dst in reversed(moved):
                try:
                    os.replace(dst, src)
                except OSError:  # left under its kept name: still not lost
                    pass
            aside.unlink(missing_ok=True)  # only a second name (or copy) of `path`; a fresh name
            tmp.unlink(missing_ok=True)
        raise
    return aside
