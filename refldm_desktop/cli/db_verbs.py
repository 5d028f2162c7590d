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
        description="The current database is kept beside it, renamed, never deleted; a whole one is "
        "also backed up first, so that this can be undone. Close the app first (or use its Tools › "
        "Check Library…). Photos indexed after the backup are found again by the next `index`.",
    )
    p.add_argument("backup", nargs="?", type=Path, metavar="FILE", help="a backup file (default: the newest whole one)")
    p.set_defaults(func=cmd_restore_backup)


def cmd_check(args: argparse.Namespace) -> int:
    from refldm_desktop.core.backups import check_library

    home = resolve_home(args.home)
    check = check_library(home)
    if check.whole:
        print(f"{home.database}: ok")
    else:
        print(f"{home.database}: {'DAMAGED' if check.exists else 'MISSING'}")
        for p in check.problems[:20]:
            print(f"  {p}")
        newest = check.newest_whole
        if newest is not None:
            print(f"the way back: `refldm-desktop db restore-backup` (newest whole backup: {newest.path.name})")
        else:
            print("there is no whole backup; move the file away and run `index` again to rebuild the library")
    for b in check.backups:
        state = "whole" if b.whole else f"DAMAGED ({b.problems[0]})"
        print(f"backup: {b.path} ({b.size / 2**20:.1f} MiB, {state})")
    return 0 if check.whole else 1


def cmd_backup(args: argparse.Namespace) -> int:
    from refldm_desktop.core.backups import back_up

    home = resolve_home(args.home)
    if not home.database.is_file():
        raise CliError(f"there is no library database at {home.database} to back up")
    print(f"backed up to {back_up(home).path}")
    return 0


def cmd_restore_backup(args: argparse.Namespace) -> int:
    from refldm_desktop.core.backups import go_back, newest_whole_backup

    home = resolve_home(args.home)
    backup = args.backup if args.backup is not None else newest_whole_backup(home)
    if backup is None:
        raise CliError(f"there is no whole backup in {home.backups}; move {home.database} away and run "
                       "`index` again to rebuild the library")
    went = go_back(home, backup)
    print(f"restored {went.backup.name}")
    if went.kept is not None:
        print(f"the database it replaced was whole: backed up as {went.kept.path.name} (restore that to undo this)")
    if went.replaced is not None:
        print(f"the previous database is kept as {went.replaced}")
    if went.cancelled_jobs:
        print(f"{len(went.cancelled_jobs)} job(s) waiting in the backup were cancelled, since they may have been "
              "done since: `refldm-desktop jobs resume ID` queues one again")
    print("run `refldm-desktop index` on your folders to pick up photos added since that backup")
    return 0
