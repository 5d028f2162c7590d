"""The library's way back, without Qt: check, back up, go back to a backup (the current
database kept twice: as a listed backup when whole, and renamed beside the new one), refused
while someone works on the library. Fast: fake backend, fake photos."""

from __future__ import annotations

import sqlite3

import pytest
from fakes import draw_photo, open_test_library

from refldm_desktop.core.backups import (
    BEFORE_GOING_BACK,
    MANUAL,
    back_up,
    check_library,
    go_back,
    newest_whole_backup,
)
from refldm_desktop.core.home import Home
from refldm_desktop.db.engine import BACKUPS_KEPT
from refldm_desktop.errors import DatabaseError, LibraryBusy
from refldm_desktop.jobs.lock import RunnerLock


@pytest.fixture
def home(tmp_path) -> Home:
    pics = tmp_path / "Pictures"
    for i in range(4):
        draw_photo(pics / f"p{i}.png", [(1 + i % 2, i, 20, 30)])
    with open_test_library(tmp_path / "home") as lib:
        lib.index([pics])
    return Home(tmp_path / "home")


def _names(home: Home) -> list[str]:
    with open_test_library(home.root) as lib:
        return sorted(p.name or "" for p in lib.people())


def _rename_all(home: Home, prefix: str) -> None:
    with open_test_library(home.root) as lib:
        for i, p in enumerate(lib.people()):
            lib.rename_person(p.id, f"{prefix}{i}")


def _damage(db) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    data[:100] = b"\0" * 100  # the header: SQLite no longer sees a database
    db.write_bytes(bytes(data))


def test_a_whole_library_checks_whole_and_lists_its_backups(home):
    check = check_library(home)
    assert check.whole and check.backups == () and "whole" in check.summary()
    taken = back_up(home)
    check = check_library(home)
    assert [b.path for b in check.backups] == [taken.path]
    b = check.backups[0]
    assert b.whole and b.size == taken.path.stat().st_size > 0 and b.label == MANUAL and "by hand" in b.reason
    assert newest_whole_backup(home) == taken.path


def test_going_back_keeps_the_whole_database_as_a_backup_and_can_be_undone(home):
    _rename_all(home, "Before")
    first = back_up(home)
    _rename_all(home, "After")
    after = _names(home)

    went = go_back(home, first.path)
    assert _names(home) == sorted(f"Before{i}" for i in range(len(after)))
    assert went.kept is not None and went.kept.label == BEFORE_GOING_BACK and went.kept.whole
    assert went.replaced is not None and went.replaced.is_file() and ".replaced-" in went.replaced.name
    listed = [b.path for b in check_library(home).backups]
    assert listed[0] == went.kept.path and first.path in listed

    go_back(home, went.kept.path)  # going back is itself undone from the list
    assert _names(home) == after


def test_a_damaged_database_is_seen_refused_as_a_backup_and_replaced_by_the_newest_whole_one(home):
    _rename_all(home, "Kept")
    names = _names(home)
    older = back_up(home)
    newer = back_up(home)
    _damage(home.database)

    check = check_library(home)
    assert not check.whole and check.problems
    assert check.newest_whole is not None and check.newest_whole.path == newer.path
    assert "damaged" in check.summary() and "backup" in check.summary()
    with pytest.raises(DatabaseError, match="damaged"):
        back_up(home)

    went = go_back(home, check.newest_whole.path)
    assert went.kept is None  # a damaged file is no way back, so it is not listed as one...
    assert went.replaced is not None and ".damaged-" in went.replaced.name
    assert went.replaced.read_bytes()[:100] == b"\0" * 100  # ...but it is kept, untouched
    assert check_library(home).whole and _names(home) == names
    assert {b.path for b in check_library(home).backups} == {older.path, newer.path}


def test_a_damaged_backup_is_listed_as_such_and_not_gone_back_to(home):
    b = back_up(home)
    _damage(b.path)
    check = check_library(home)
    assert not check.backups[0].whole and check.newest_whole is None
    assert check.whole  # a damaged backup says nothing of the database itself
    before = home.database.read_bytes()
    with pytest.raises(DatabaseError, match="damaged too"):
        go_back(home, b.path)
    assert home.database.read_bytes() == before


@pytest.mark.parametrize("lock", ["runner.lock", "index.lock"])
def test_going_back_is_refused_while_the_library_is_in_use(home, lock):
    b = back_up(home)
    _rename_all(home, "Now")
    names = _names(home)
    held = RunnerLock(home.root / lock)
    assert held.acquire()
    try:
        with pytest.raises(LibraryBusy, match="let it finish"):
            go_back(home, b.path)
    finally:
        held.release()
    assert _names(home) == names and not list(home.root.glob("library.sqlite3.*ed-*"))


def test_the_backup_gone_back_to_is_not_pruned_by_the_one_taken_before(home):
    backups = [back_up(home) for _ in range(BACKUPS_KEPT)]
    oldest = backups[0].path
    went = go_back(home, oldest)
    listed = [b.path for b in check_library(home).backups]
    assert oldest in listed and went.kept is not None and went.kept.path in listed
    back_up(home)  # the next backup prunes as usual
    assert len(check_library(home).backups) == BACKUPS_KEPT


def test_going_back_to_a_middle_backup_deletes_no_other_backup(home):
    backups = [back_up(home) for _ in range(BACKUPS_KEPT)]
    middle = backups[-2].path  # the second newest: the oldest was pruned for the copy taken before
    went = go_back(home, middle)
    listed = {b.path for b in check_library(home).backups}
    assert {b.path for b in backups} <= listed
    assert went.kept is not None and went.kept.path in listed


def test_after_going_back_the_thumbnail_worker_reads_the_restored_database(home, tmp_path):
    from test_reader_and_thumbworker import _ask

    from refldm_desktop.core.queries import PhotoQuery
    from refldm_desktop.core.thumbworker import Picture, Request, ThumbnailWorker

    first = back_up(home)
    draw_photo(tmp_path / "More" / "new.png", [(3, 0, 20, 30)])
    with open_test_library(home.root) as lib:
        before = set(lib.photo_ids(PhotoQuery()))
        lib.index([tmp_path / "More"])
        (added,) = set(lib.photo_ids(PhotoQuery())) - before
        where = dict(database=str(home.database), cache=str(lib.thumbnails.root))
    worker = ThumbnailWorker()
    try:
        # The worker opens the database (and keeps it open) for this thumbnail...
        assert isinstance(_ask(worker, Request("photo", added, 64, **where)), Picture)
        go_back(home, first.path)
        # ...and after going back reads the restored one, where that photo is not yet.
        assert "no photo with id" in _ask(worker, Request("photo", added, 64, **where))
    finally:
        worker.close()


def test_jobs_waiting_in_the_backup_are_cancelled_with_a_note_not_run_again(home):
    from refldm_desktop.core.queries import PhotoQuery
    from refldm_desktop.db.models import JobState

    with open_test_library(home.root) as lib:
        a, b, c = lib.photo_ids(PhotoQuery())[:3]
        ids = lib.jobs.queue.enqueue("restore_photo", [(a, {}), (b, {}), (c, {})]).queued
        running = lib.jobs.queue.claim_next()
        assert running is not None and running.id == ids[0]
        lib.jobs.queue.fail(ids[2], "it broke")
    taken = back_up(home)  # one queued, one running (as if the app was killed), one failed
    went = go_back(home, taken.path)
    assert sorted(went.cancelled_jobs) == sorted(ids[:2])
    with open_test_library(home.root) as lib:  # opening queues killed jobs again: not these
        jobs = {j.id: j for j in lib.jobs.queue.jobs(None)}
        for i in ids[:2]:
            assert jobs[i].state == JobState.CANCELLED and "went back to a backup" in (jobs[i].note or "")
        assert jobs[ids[2]].state == JobState.FAILED and jobs[ids[2]].error == "it broke"
        assert lib.jobs.queue.claim_next() is None  # nothing runs by itself


def test_a_swap_failing_midway_loses_nothing_and_leaves_the_library_in_place(home, monkeypatch):
    import errno
    import os

    _rename_all(home, "Before")
    taken = back_up(home)
    _rename_all(home, "Now")
    now = _names(home)
    real = os.replace

    def in_use(src, dst, *args, **kwargs):  # the last step, the new file over the old, fails
        if os.fspath(dst) == os.fspath(home.database):
            raise OSError(errno.EACCES, "the file is in use")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", in_use)
    with pytest.raises(OSError, match="in use"):
        go_back(home, taken.path)
    monkeypatch.undo()
    assert home.database.is_file() and check_library(home).whole
    assert _names(home) == now  # not an empty library made in its place
    assert not [p for p in home.root.iterdir() if "restoring" in p.name or ".replaced-" in p.name]
    assert taken.path.is_file()
    go_back(home, taken.path)  # and going back works once the file is free
    assert _names(home) == sorted(f"Before{i}" for i in range(len(now)))


def _big_backup(home: Home) -> None:
    """A backup file big enough that SQLite asks whether to stop many times while checking it."""
    home.backups.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(home.backups / "library-20200101-000000-manual.sqlite3")
    with db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, words TEXT)")
        db.execute("CREATE INDEX t_words ON t (words)")
        db.executemany("INSERT INTO t (words) VALUES (?)", ((f"row {i} " * 8,) for i in range(20_000)))
    db.close()


def test_a_check_stops_inside_a_file_when_cancelled_and_a_cancelled_check_stops_at_once(home):
    from refldm_desktop.core.progress import Cancelled, CancelToken

    _big_backup(home)
    said: list[tuple[int, int]] = []
    asked_after_first_file = 0

    def cancel() -> bool:
        # False until the library's own file is checked; then the first ask (before the
        # backup's check begins) says go on, and any later one, from inside SQLite's read
        # of the backup, says stop.
        nonlocal asked_after_first_file
        if said:
            asked_after_first_file += 1
        return asked_after_first_file > 1

    with pytest.raises(Cancelled):
        check_library(home, lambda done, total: said.append((done, total)), cancel)
    assert said == [(1, 2)]  # the backup's check was stopped in its middle, not finished

    token = CancelToken()
    token.cancel()
    said.clear()
    with pytest.raises(Cancelled):
        check_library(home, lambda done, total: said.append((done, total)), token)
    assert said == []  # nothing was read
    assert check_library(home).whole  # a stopped check changed nothing


def test_a_backup_stopped_while_copying_leaves_no_file_and_takes_no_backup(home):
    from refldm_desktop.core.progress import Cancelled
    from refldm_desktop.db.engine import check_database

    asks = 0

    def count() -> bool:
        nonlocal asks
        asks += 1
        return False

    assert check_database(home.database, count) == []
    checking = asks  # the asks of the check that comes before the copy
    asks = 0

    def stop_in_the_copy() -> bool:
        nonlocal asks
        asks += 1
        return asks > checking

    with pytest.raises(Cancelled):
        back_up(home, cancel=stop_in_the_copy)
    assert asks == checking + 1  # stopped at the copy's first step
    assert not any(home.backups.iterdir())  # neither a backup nor a half-written copy
    assert check_library(home).whole and back_up(home).whole  # the next backup works as before
