"""Database verbs: `db check`, `db backup` and `db restore-backup`, the way back from a
damaged library database. They work on the file itself, without opening the library (which
would try to upgrade it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from refldm_desktop.cli import CliError
from refldm_desktop.core.home import resolve_home


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser(
        "db",
        help="check the library database, back it up, or go back to a backup",
        description="A backup is taken before every upgrade of the database's layout, and by "
        "`db backup`; the newest five are kept in the home's backups folder.",
    )
    dsub = db.add_subparsers(dest="db_verb", metavar="ACTION", required=True)
    p = dsub.add_parser("check", help="check that the database is whole; list the backups")
    p.set_defaults(func=cmd_check)
    p = dsub.add_parser("backup", help="copy the database into the backups folder now")
    p.set_defaults(func=cmd_backup)
    p = dsub.add_parser(
        "restore-backup",
        help="replace the database with a backup (the newest whole one by default)",
        description="The current database is kept beside it, renamed, never deleted. Close "
        "the app first. Photos indexed after the backup are found again by the next `index`.",
    )
    p.add_argument("backup", nargs="?", type=Path, metavar="FILE", help="a backup file (default: the newest whole one)")
    p.set_defaults(func=cmd_restore_backup)


def cmd_check(args: argparse.Namespace) -> int:
    from refldm_desktop.db.engine import check_database, list_backups

    home = resolve_home(args.home)
    problems = check_database(home.database)
    backups = list_backups(home.backups)
    if problems:
        print(f"{home.database}: DAMAGED")
        for p in problems[:20]:
            print(f"  {p}")
        if backups:
            print(f"the way back: `refldm-desktop db restore-backup` (newest backup: {backups[-1].name})")
        else:
            print("there is no backup; move the file away and run `index` again to rebuild the library")
    else:
        print(f"{home.database}: ok")
    for b in reversed(backups):
        print(f"backup: {b}")
    return 1 if problems else 0


def cmd_backup(args: argparse.Namespace) -> int:
    from refldm_desktop.db.engine import backup_database, check_database, make_engine, upgrade_lock

    home = resolve_home(args.home)
    problems = check_database(home.database)
    if problems:
        raise CliError(f"{home.database} is damaged ({problems[0]}); a backup of it would not help: "
                       "see `refldm-desktop db check`")
    engine = make_engine(home.database)
    try:
        with upgrade_lock(home.database):
            path = backup_database(engine, home.backups, "manual")
    finally:
        engine.dispose()
    print(f"backed up to {path}")
    return 0


def cmd_restore_backup(args: argparse.Namespace) -> int:
    from refldm_desktop.db.engine import check_database, list_backups, restore_backup
    from refldm_desktop.jobs.lock import RunnerLock

    home = resolve_home(args.home)
    if args.backup is not None:
        backup = args.backup
        if not backup.is_file():
            raise CliError(f"no such backup: {backup}")
    else:
        whole = [b for b in reversed(list_backups(home.backups)) if not check_database(b)]
        if not whole:
            raise CliError(f"there is no whole backup in {home.backups}; move {home.database} away and run "
                           "`index` again to rebuild the library")
        backup = whole[0]
    locks = [RunnerLock(home.root / name) for name in ("runner.lock", "index.lock")]
    try:
        for lock in locks:
            if not lock.acquire():
                raise CliError(f"{lock.holder()} is using the library: let it finish (or stop it), then run this again")
        aside = restore_backup(home.database, backup)
    finally:
        for lock in locks:
            lock.release()
    print(f"restored {backup.name}; the previous database is kept as {aside}")
    print("run `refldm-desktop index` on your folders to pick up photos added since that backup")
    return 0
