"""The library database's way back: check it, list its backups, back it up now, go back to
a backup. Shared by `refldm-desktop db ...` and the app's Check Library dialog.

Nothing here opens the Library (which would try to upgrade a damaged file); it works on the
files in the home. Going back never deletes anything: a whole database is first backed up
like any other (so going back can itself be undone), and the replaced file is kept beside
the new one, renamed. Jobs waiting in the backup are cancelled with a note, not run again.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from refldm_desktop.core.home import Home
from refldm_desktop.core.progress import Cancel, is_cancelled
from refldm_desktop.db import engine as _db
from refldm_desktop.errors import DatabaseError, LibraryBusy, LibraryError

# The label of the backup taken of a whole database before going back to another one.
BEFORE_GOING_BACK = "before-going-back"
MANUAL = "manual"

_NAME = re.compile(r"library-(\d{8}-\d{6})(?:-\d+)?-(.+)\.sqlite3$")
# The files that say a library is being worked on; going back waits for none of them.
_BUSY_LOCKS = (("runner.lock", "running jobs"), ("index.lock", "indexing"))


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    taken: datetime.datetime  # local time, from the file's name (its mtime if renamed)
    size: int  # bytes
    label: str  # why it was taken: "manual", "before-going-back", "before-REV-from-REV"
    problems: tuple[str, ...] = ()  # empty when the copy is whole

    @property
    def whole(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        """Why it was taken, in plain words."""
        if self.label == MANUAL:
            return "taken by hand"
        if self.label == BEFORE_GOING_BACK:
            return "taken before going back to another backup"
        if self.label.startswith("before-"):
            return "taken before the library was upgraded"
        return self.label


@dataclass(frozen=True)
class LibraryCheck:
    database: Path
    exists: bool
    problems: tuple[str, ...]  # empty when the database is whole
    backups: tuple[BackupInfo, ...]  # newest first

    @property
    def whole(self) -> bool:
        return self.exists and not self.problems

    @property
    def newest_whole(self) -> BackupInfo | None:
        return next((b for b in self.backups if b.whole), None)

    def summary(self) -> str:
        """One plain sentence: is the library whole, and if not, what to do."""
        if self.whole:
            return "Your library is whole: nothing is wrong with its database."
        what = "there is no library database yet" if not self.exists else f"its database is damaged; {self.problems[0]}"
        if self.newest_whole is not None:
            return f"Your library cannot be used: {what}. Go back to the newest whole backup to use it again."
        return (f"Your library cannot be used: {what}, and there is no whole backup. Move {self.database} "
                "away and add your folders again to rebuild the library.")


@dataclass(frozen=True)
class WentBack:
    backup: Path  # the backup now in use
    replaced: Path | None  # the database that was replaced, kept renamed beside it (None: there was none)
    kept: BackupInfo | None  # the backup taken of the replaced database, when it was whole
    cancelled_jobs: tuple[int, ...] = ()  # jobs waiting in the backup, cancelled (see JOBS_NOTE)


# Jobs waiting or running in a backup may have been done since it was taken: going back
# cancels them rather than run them twice, and says so on each (the Jobs panel shows it).
JOBS_NOTE = ("cancelled when the library went back to a backup: this job was waiting in the backup and "
             "may have been done since; retry it if you still want it")


def backup_info(path: Path, *, check: bool = True, cancel: Cancel | None = None) -> BackupInfo:
    m = _NAME.match(path.name)
    st = path.stat()
    if m:
        taken = datetime.datetime.strptime(m.group(1), "%Y%m%d-%H%M%S")
        label = m.group(2)
    else:
        taken, label = datetime.datetime.fromtimestamp(st.st_mtime), path.stem
    problems = tuple(_db.check_database(path, _asker(cancel))) if check else ()
    return BackupInfo(path, taken, st.st_size, label, problems)


def _asker(cancel: Cancel | None) -> Callable[[], bool] | None:
    """The db layer's plain `cancelled()` for a token or callable."""
    return None if cancel is None else (lambda: is_cancelled(cancel))


def list_backups(home: Home, *, check: bool = True) -> list[BackupInfo]:
    """The backups in the home, newest first; each checked when `check` (a full read of it)."""
    return [backup_info(p, check=check) for p in reversed(_db.list_backups(home.backups))]


def check_library(
    home: Home, progress: Callable[[int, int], None] | None = None, cancel: Cancel | None = None
) -> LibraryCheck:
    """Whether the database is whole, and its backups (each checked too). Reads only, so a
    stopped check leaves nothing behind. `progress(done, total)` is called after each file
    checked; when `cancel` is set (a token, or a callable saying True) the check stops within
    a moment, in the middle of a file too, and raises Cancelled."""
    asked = _asker(cancel)
    paths = list(reversed(_db.list_backups(home.backups)))
    total = 1 + len(paths)
    exists = home.database.is_file()
    problems = tuple(_db.check_database(home.database, asked)) if exists else ()
    if progress is not None:
        progress(1, total)
    backups = []
    for i, p in enumerate(paths, start=2):
        try:
            backups.append(backup_info(p, cancel=cancel))
        except FileNotFoundError:  # pruned meanwhile by another process's backup
            pass
        if progress is not None:
            progress(i, total)
    return LibraryCheck(home.database, exists, problems, tuple(backups))


def back_up(home: Home, label: str = MANUAL, *, spare: Sequence[Path] = (), cancel: Cancel | None = None) -> BackupInfo:
    """A backup of the database now, with the library open or not. A damaged database is
    refused: its copy would be no way back. `spare`: backups not to prune for this one.
    Cancelled (raised when `cancel` is set on the way) means no backup was taken."""
    problems = _db.check_database(home.database, _asker(cancel))
    if problems:
        raise DatabaseError(f"the library database is damaged ({problems[0]}): a backup of it would not help; "
                            "go back to a whole backup instead")
    engine = _db.make_engine(home.database)
    try:
        with _db.upgrade_lock(home.database):
            path = _db.backup_database(engine, home.backups, label, spare=spare, cancelled=_asker(cancel))
    finally:
        engine.dispose()
    return backup_info(path, check=False)


def go_back(home: Home, backup: Path) -> WentBack:
    """Put `backup` in place of the database. A whole database is first backed up (so this
    can be undone from the list of backups); the replaced file is kept renamed beside it.

    Nobody may be using the library: indexing and job runs (of any process) are refused
    with LibraryBusy, and the caller closes its own Library first (its connections would
    go on reading the replaced file)."""
    from refldm_desktop.jobs.lock import RunnerLock

    backup = Path(backup)
    if not backup.is_file():
        raise LibraryError(f"no such backup: {backup}")
    problems = _db.check_database(backup)
    if problems:
        raise DatabaseError(f"the backup {backup.name} is damaged too ({problems[0]}): choose another one")
    locks = []
    try:
        for name, doing in _BUSY_LOCKS:
            lock = RunnerLock(home.root / name)
            if not lock.acquire():
                raise LibraryBusy(f"{lock.holder()} is {doing} in this library: let it finish (or stop it), "
                                  "then go back to the backup")
            locks.append(lock)
        exists = home.database.is_file()
        whole = exists and not _db.check_database(home.database)
        # Every backup there is is spared: going back must not cost the user another way
        # back (the pre-upgrade one, say); the next ordinary backup prunes as usual.
        kept = back_up(home, BEFORE_GOING_BACK, spare=_db.list_backups(home.backups)) if whole else None
        cancelled: list[int] = []
        aside = _db.restore_backup(home.database, backup, aside_as="replaced" if whole else "damaged",
                                   prepare=lambda copy: cancelled.extend(_cancel_waiting_jobs(copy)))
    finally:
        for lock in locks:
            lock.release()
    return WentBack(backup, aside if exists else None, kept, tuple(cancelled))


def _cancel_waiting_jobs(database: Path) -> tuple[int, ...]:
    """Cancel the jobs queued or running in a backup's copy about to be put in place, with JOBS_NOTE.
    Plain SQL: a backup may be from before an upgrade (the library upgrades it on opening),
    so only what every schema with jobs has is relied on."""
    import sqlite3

    db = sqlite3.connect(database)
    try:
        columns = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
        if not columns:
            return ()
        with db:
            ids = tuple(r[0] for r in db.execute(
                "SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY id"))
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")  # as the models store it
            sets = {"state": "'cancelled'", "cancel_requested": "0", "message": "NULL",
                    "note": "CASE WHEN note IS NULL OR note = '' THEN :note ELSE note || char(10) || :note END",
                    "finished_at": ":now", "updated_at": ":now"}
            assignments = ", ".join(f"{c} = {v}" for c, v in sets.items() if c in columns)
            db.execute(f"UPDATE jobs SET {assignments} WHERE state IN ('queued', 'running')",
                       {"note": JOBS_NOTE, "now": now})
        return ids
    finally:
        db.close()


def newest_whole_backup(home: Home) -> Path | None:
    """The newest backup that checks whole, checking no more of them than needed."""
    for p in reversed(_db.list_backups(home.backups)):
        if not _db.check_database(p):
            return p
    return None
