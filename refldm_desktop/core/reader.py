"""A read-only path to the photo rows a view shows, over a plain sqlite3 cursor.

The paged queries in `queries` go through SQLAlchemy, whose row handling is pure Python:
on a worker thread of the app it holds the GIL for tens of milliseconds per page, and the
GUI thread feels every one of them. Here the same queries (built by `queries`, so the
filters and orders are written once) run on sqlite3 directly, read in small batches with
a pause between them, so another thread gets the GIL every few hundred rows. The
connection is read-only (`mode=ro`): nothing here can write to the library.
"""

from __future__ import annotations

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


class PhotoReader:
    """Counts, ordered ids and grid rows of the photos a PhotoQuery selects. Safe to use
    from several threads: each gets its own connection."""

    def __init__(self, database: Path | str, *, batch: int = BATCH) -> None:
        self.database = Path(database)
        self.batch = batch
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            if not self.database.is_file():
                raise LibraryError(f"no library database at {self.database}")
            db = connect_readonly(self.database, check_same_thread=False)
            self._local.db = db
        return db

    def _rows(self, sql: str, params: Sequence, batch: int | None = None) -> Iterator[tuple]:
        cur = self._db().execute(sql, list(params))
        try:
            while True:
                part = cur.fetchmany(batch or self.batch)
                if not part:
                    return
                yield from part
                time.sleep(0)  # hand the GIL over: the GUI thread may be waiting for it
        finally:
            cur.close()

    def photo_count(self, q: _q.PhotoQuery = _q.PhotoQuery()) -> int:
        sql, params = _sql(_q._filtered(q, select(func.count()).select_from(Photo)))
        return int(self._db().execute(sql, params).fetchone()[0])

    def photo_ids(self, q: _q.PhotoQuery = _q.PhotoQuery(), offset: int = 0, limit: int | None = None) -> list[int]:
        """The ids at positions offset..offset+limit of the query's order (as
        `Library.photo_ids`)."""
        stmt = _q._page(_q._ordered(q, _q._filtered(q, select(Photo.id))), offset, limit)
        sql, params = _sql(stmt)
        return [r[0] for r in self._rows(sql, params, self.batch * 8)]  # one int a row: read more at once

    def summaries(self, ids: Sequence[int]) -> list[PhotoSummary]:
        """These photos' grid rows in the order given; ids no longer there are left out."""
        ids = [int(i) for i in ids]
        found: dict[int, PhotoSummary] = {}
        for i in range(0, len(ids), _q.CHUNK):
            part = ids[i : i + _q.CHUNK]
            sql = _SUMMARY_SQL.format(marks=",".join("?" * len(part)))
            for pid, path, state, width, height, faces in self._rows(sql, part):
                found[pid] = PhotoSummary(pid, path, state, width, height, faces or 0)
        return [found[i] for i in ids if i in found]

    def close(self) -> None:
        """Closes this thread's connection (the others close with their threads)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
