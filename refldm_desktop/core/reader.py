"""A read-only path to the photo rows a view shows, over a plain sqlite3 cursor.

The paged queries in `queries` go through SQLAlchemy, whose row handling is pure Python:
on a worker thread of the app it holds the GIL for tens of milliseconds per page, and the
GUI thread feels every one of them. Here the same queries (built by `queries`, so the
filters and orders are written once) run on sqlite3 directly, read in small batches with
a pause between them, so another thread gets the GIL every few hundred rows. The
connection is read-only (`mode=ro`): nothing here can write to the library.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.dialects import sqlite as _sqlite

from refldm_desktop.core import queries as _q
from refldm_desktop.core.changes import LibraryError
from refldm_desktop.db.engine import connect_readonly
from refldm_desktop.db.models import Photo

BATCH = 64  # rows read between two pauses: a fraction of a millisecond of GIL each
QUICK_WAIT_S = 0.02  # how long a quick read waits for a lock before it gives up
# Page cache of a listing connection, KiB (SQLite's default is 2,000). A folder's count and
# its ids walk the path index: 100,000 photos' paths are about 6 MB of it, which the
# default cache cannot keep, so each count read it all from the OS again (9-11 ms where a
# cached walk takes 4-5). Pages are only held once read: a small library uses little.
LIST_CACHE_KIB = 16384


class PhotoSummary(NamedTuple):
    """What a grid cell shows of a photo. The path stays the string stored: a Path object
    per row was most of the Python a page of rows cost."""

    id: int
    location: str
    state: str
    width: int | None
    height: int | None
    face_count: int

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def name(self) -> str:
        return self.location.rpartition(os.sep)[2]


_SUMMARY_SQL = "SELECT id, path, state, width, height, face_count FROM photos WHERE id IN ({marks})"
_DIALECT = _sqlite.dialect(paramstyle="qmark")


def _sql(stmt: Select) -> tuple[str, list]:
    """SQLAlchemy's SQL for `stmt`, with its parameters in order, for a plain cursor."""
    compiled = stmt.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    return str(compiled), params


def _make_sql(kind: str, q: _q.PhotoQuery, offset: int = 0, limit: int | None = None) -> tuple[str, tuple]:
    if kind == "count":
        stmt = _q._filtered(q, select(func.count()).select_from(Photo))
    else:
        stmt = _q._page(_q._ordered(q, _q._filtered(q, select(Photo.id))), offset, limit)
    sql, params = _sql(stmt)
    return sql, tuple(params)


# Made once per query: SQLAlchemy takes about 0.4 ms of Python to make each, twice on the way
# to a folder's first screen.
_cached_sql = functools.lru_cache(maxsize=64)(_make_sql)


def _query_sql(kind: str, q: _q.PhotoQuery, offset: int = 0, limit: int | None = None) -> tuple[str, tuple]:
    """The SQL of a count ("count") or of a page of ids ("ids") and its parameters."""
    # A relative or "~" folder is resolved when the SQL is made: not the same SQL later.
    fixed = q.folder is None or Path(q.folder).is_absolute()
    return (_cached_sql if fixed else _make_sql)(kind, q, offset, limit)


class PhotoReader:
    """Counts, ordered ids and grid rows of the photos a PhotoQuery selects. Safe to use
    from several threads: each gets its own connection."""

    def __init__(self, database: Path | str, *, batch: int = BATCH) -> None:
        self.database = Path(database)
        self.batch = batch
        self._local = threading.local()

    def _db(self, quick: bool = False) -> sqlite3.Connection:
        name = "quick" if quick else "db"
        db = getattr(self._local, name, None)
        if db is None:
            if not self.database.is_file():
                raise LibraryError(f"no library database at {self.database}")
            db = connect_readonly(self.database, check_same_thread=False)
            if quick:
                db.execute(f"PRAGMA busy_timeout = {int(QUICK_WAIT_S * 1000)}")
            else:
                db.execute(f"PRAGMA cache_size = -{LIST_CACHE_KIB}")
            setattr(self._local, name, db)
        return db

    def _rows(self, sql: str, params: Sequence, batch: int | None = None, quick: bool = False,
              pause: bool = True) -> Iterator[tuple]:
        cur = self._db(quick).execute(sql, list(params))
        try:
            if quick or not pause:
                yield from cur.fetchall()
                return
            while True:
                part = cur.fetchmany(batch or self.batch)
                if not part:
                    return
                yield from part
                time.sleep(0)  # hand the GIL over: the GUI thread may be waiting for it
        finally:
            cur.close()

    def photo_count(self, q: _q.PhotoQuery = _q.PhotoQuery()) -> int:
        sql, params = _query_sql("count", q)
        return int(self._db().execute(sql, params).fetchone()[0])

    def photo_ids(self, q: _q.PhotoQuery = _q.PhotoQuery(), offset: int = 0, limit: int | None = None, *,
                  pause: bool = True) -> list[int]:
        """The ids at positions offset..offset+limit of the query's order (as
        `Library.photo_ids`). `pause`: as in `summaries`."""
        sql, params = _query_sql("ids", q, offset, limit)
        return [r[0] for r in self._rows(sql, params, self.batch * 8, pause=pause)]  # one int a row: read more at once

    def summaries(self, ids: Sequence[int], *, quick: bool = False, pause: bool = True) -> list[PhotoSummary]:
        """These photos' grid rows in the order given; ids no longer there are left out.

        `quick`: for a few hundred rows wanted at once by the thread that asks (a GUI
        thread painting them): read in one go, and give up (sqlite3.OperationalError)
        rather than wait more than QUICK_WAIT_S for a lock. `pause=False`: read in one go
        too, waiting for a lock as usual: a few hundred rows that the GUI thread is idle
        waiting for (a folder's first screen), where each pause only delays them."""
        ids = [int(i) for i in ids]
        found: dict[int, PhotoSummary] = {}
        for i in range(0, len(ids), _q.CHUNK):
            part = ids[i : i + _q.CHUNK]
            sql = _SUMMARY_SQL.format(marks=",".join("?" * len(part)))
            for pid, path, state, width, height, faces in self._rows(sql, part, quick=quick, pause=pause):
                found[pid] = PhotoSummary(pid, path, state, width, height, faces or 0)
        return [found[i] for i in ids if i in found]

    def close(self) -> None:
        """Closes this thread's connection (the others close with their threads)."""
        for name in ("db", "quick"):
            db = getattr(self._local, name, None)
            if db is not None:
                db.close()
                setattr(self._local, name, None)
