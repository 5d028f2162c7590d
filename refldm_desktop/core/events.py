"""Change events: what a Library verb (or another process) changed, for views to refresh.

A verb that changes something emits one frozen Change after its transaction committed.
Subscribers are plain callables; they may be called on any thread (the verb's, the job
runner's, or the watcher's), so a GUI turns them into queued signals. A subscriber that
raises is logged and skipped: it never breaks the verb that emitted.

Changes made by another process (a restore queued from the command line) are noticed by a
watcher thread that polls SQLite's `PRAGMA data_version` on its own connection. That value
moves whenever any *other* connection commits, including this process's own pooled ones,
so the library's own commits are "absorbed": the engine hooks below read the value right
before and right after each local write commits. What the watcher still sees moving is
someone else's work, reported as one Change with `external=True` naming the areas whose
cheap summaries moved (no ids: another process's rows are not known one by one).
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # another process's change shows within this (the goal is 2 s)

class Area(enum.StrEnum):
    PHOTOS = "photos"
    FACES = "faces"
    PEOPLE = "people"
    REFERENCES = "references"
    JOBS = "jobs"
    VERSIONS = "versions"


# One cheap summary per area, compared before and after another process's commit, so that
# (say) a job's progress written by the command line refreshes the jobs view, not the grid.
# Each reads an index or a small table; the photos one scans a covering index.
_STAMPS = {
    Area.PHOTOS: "SELECT count(*), max(id), max(indexed_at), total(version_count), total(face_count), "
                 "total(state = 'missing') FROM photos",
    Area.FACES: "SELECT (SELECT count(*) || ':' || ifnull(max(id), 0) FROM faces), "
                "(SELECT count(*) || ':' || ifnull(max(updated_at), '') FROM face_assignments)",
    Area.PEOPLE: "SELECT count(*), max(id), total(face_count), total(confirmed_count), total(hidden), "
                 "group_concat(ifnull(name, ''), char(31)) FROM people",
    Area.REFERENCES: "SELECT count(*), max(decided_at), total(decision = 'pinned') FROM face_ref_decisions",
    Area.JOBS: "SELECT count(*), max(id), max(updated_at) FROM jobs",
    Area.VERSIONS: "SELECT count(*), max(id), count(discarded_at) FROM versions",
}


@dataclass(frozen=True, eq=True)
class Change:
    """Areas that changed, and for some of them which ids.

    An area in `areas` without an entry in `ids` changed in ways not listed (refresh it
    all); with an entry, only those rows changed (ids of deleted rows included)."""

    areas: frozenset[Area]
    ids: Mapping[Area, frozenset[int]] = field(default_factory=lambda: MappingProxyType({}))
    external: bool = False  # made by another process (or connection); ids are never known

    __hash__ = None  # type: ignore[assignment]  # ids is a mapping

    @classmethod
    def of(cls, *areas: Area, external: bool = False, **ids: Iterable[int | None]) -> "Change":
        """Change.of(Area.PEOPLE, people=[3]); areas named in ids are added."""
        by_area: dict[Area, frozenset[int]] = {}
        for name, values in ids.items():
            by_area[Area(name)] = frozenset(int(v) for v in values if v is not None)
        return cls(frozenset(areas) | frozenset(by_area), MappingProxyType(by_area), external)

    @classmethod
    def everything(cls, external: bool = False) -> "Change":
        return cls(frozenset(Area), MappingProxyType({}), external)

    def touches(self, area: Area) -> bool:
        return area in self.areas

    def ids_of(self, area: Area) -> frozenset[int] | None:
        """The ids that changed in `area`; None when unknown (any row may have changed)."""
        return self.ids.get(area) if area in self.areas else frozenset()


Callback = Callable[[Change], None]


class ChangeHub:
    """Subscribers of one Library, and the watcher of other processes' changes."""

    def __init__(self, engine: Engine, database: Path, poll_seconds: float = POLL_SECONDS) -> None:
        self._database = database
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._subscribers: dict[int, Callback] = {}
        self._next = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._conn_lock = threading.Lock()
        self._seen: int | None = None  # data_version last read on the watcher's connection
        self._stamps: dict[Area, tuple] | None = None
        self._external = False  # another process committed; the watcher reports it
        self._closed = False
        self._hook(engine)

    # -- subscribers --------------------------------------------------------------------

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(change)` after every change; returns a function that stops it."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the library is closed")
            key = self._next
            self._next += 1
            self._subscribers[key] = callback
            if self._thread is None:
                self._start()

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)
                idle = not self._subscribers
            if idle:
                self._halt()

        return unsubscribe

    def emit(self, change: Change) -> None:
        with self._lock:
            callbacks = list(self._subscribers.values())
        for cb in callbacks:
            try:
                cb(change)
            except Exception:  # noqa: BLE001 - a broken view must not break the verb
                log.exception("a change subscriber failed")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._subscribers.clear()
        self._halt()

    # -- the watcher ----------------------------------------------------------------------

    def _start(self) -> None:
        conn = sqlite3.connect(self._database, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=2000")
        with self._conn_lock:
            self._conn = conn
            self._seen = self._read()
            self._stamps = None  # read by the watcher: a scan of the tables, too slow for a GUI thread
            self._external = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, args=(self._stop,), name="refldm-change-watcher", daemon=True
        )
        self._thread.start()

    def _halt(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if self._subscribers and not self._closed:
                return  # someone subscribed again meanwhile
        if thread is None:
            return
        self._stop.set()
        if thread is not threading.current_thread():
            thread.join(5)
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _read(self) -> int | None:
        """data_version on the watcher's connection; call with _conn_lock held."""
        if self._conn is None:
            return None
        try:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            log.debug("cannot read data_version", exc_info=True)
            return self._seen

    def _read_stamps(self) -> dict[Area, tuple] | None:
        """Each area's summary (see _STAMPS), read in one snapshot; None if unreadable."""
        if self._conn is None:
            return None
        try:
            self._conn.execute("BEGIN")
            try:
                return {area: tuple(self._conn.execute(sql).fetchone()) for area, sql in _STAMPS.items()}
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.Error:
            log.debug("cannot read the change stamps", exc_info=True)
            return None

    def _watch(self, stop: threading.Event) -> None:
        with self._conn_lock:
            if self._stamps is None:
                self._stamps = self._read_stamps()
        while not stop.wait(self._poll_seconds):
            with self._conn_lock:
                now = self._read()
                changed = self._external or (now is not None and now != self._seen)
                self._seen, self._external = now, False
                if not changed:
                    continue
                before, after = self._stamps, self._read_stamps()
                self._stamps = after
            if before is None or after is None:
                self.emit(Change.everything(external=True))
                continue
            areas = frozenset(a for a in Area if before.get(a) != after.get(a))
            if areas:
                self.emit(Change(areas, MappingProxyType({}), external=True))

    # -- telling our own commits from other processes' ---------------------------------

    def _before_local_commit(self) -> None:
        # Our write transaction holds SQLite's write lock, so every commit counted here
        # was made by someone else before ours.
        with self._conn_lock:
            if self._conn is None:
                return
            now = self._read()
            if now != self._seen:
                self._external = True
                self._seen = now

    def _after_local_commit(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                self._seen = self._read()

    def _hook(self, engine: Engine) -> None:
        # total_changes counts rows written by a connection: a transaction that wrote
        # nothing leaves data_version alone and must not swallow another's commit.
        def begin(conn) -> None:
            conn.info["refldm_changes"] = conn.connection.dbapi_connection.total_changes

        def commit(conn) -> None:
            wrote = conn.connection.dbapi_connection.total_changes != conn.info.get("refldm_changes")
            conn.info["refldm_wrote"] = wrote
            if wrote:
                self._before_local_commit()

        def rollback(conn) -> None:
            conn.info["refldm_wrote"] = False

        def checkin(dbapi_connection, record) -> None:
            # After the commit: the pool gets the connection back.
            if record is not None and record.info.pop("refldm_wrote", False):
                self._after_local_commit()

        event.listen(engine, "begin", begin)
        event.listen(engine, "commit", commit)
        event.listen(engine, "rollback", rollback)
        event.listen(engine.pool, "checkin", checkin)
