"""Library verbs: index folders, list faces and people, and record the user's decisions."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from refldm_desktop.words import counted

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="scan folders for photos, find faces and group them into people",
        description="Scan folders (recursively) for photos, find their faces and group them into "
        "people. Only new or changed files are read; moved files keep their faces; deleted "
        "files are marked missing. Safe to interrupt with Ctrl-C: the next run continues.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a folder of photos")
    p.add_argument("--backend", help="face backend to use (default: the one this library already uses; for a new library insightface when its models are installed, else dlib)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_index)

    faces = sub.add_parser("faces", help="list faces; confirm or reject a face's person")
    fsub = faces.add_subparsers(dest="faces_verb", metavar="ACTION", required=True)
    p = fsub.add_parser("list", help="list detected faces")
    p.add_argument("--person", type=int, metavar="ID", help="only this person's faces")
    p.add_argument("--unassigned", action="store_true", help="only faces that belong to nobody")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=cmd_faces_list)
    p = fsub.add_parser("confirm", help="confirm that a face shows its person")
    p.add_argument("face_id", type=int, metavar="FACE_ID")
    p.add_argument("--person", type=int, metavar="ID", help="put the face into this person instead")
    p.set_defaults(func=cmd_faces_confirm)
    p = fsub.add_parser("reject", help="say that a face is not its person")
    p.add_argument("face_id", type=int, metavar="FACE_ID")
    p.set_defaults(func=cmd_faces_reject)

    people = sub.add_parser("people", help="list, name, merge, split or hide people")
    psub = people.add_subparsers(dest="people_verb", metavar="ACTION", required=True)
    p = psub.add_parser("list", help="list people")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=cmd_people_list)
    p = psub.add_parser("rename", help="name a person")
    p.add_argument("person_id", type=int, metavar="ID")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_people_rename)
    p = psub.add_parser("merge", help="merge people into the first one given")
    p.add_argument("person_id", type=int, metavar="ID")
    p.add_argument("others", type=int, nargs="+", metavar="ID")
    p.set_defaults(func=cmd_people_merge)
    p = psub.add_parser("split", help="move some of a person's faces into a new person")
    p.add_argument("person_id", type=int, metavar="ID")
    p.add_argument("face_ids", type=int, nargs="+", metavar="FACE_ID")
    p.set_defaults(func=cmd_people_split)
    p = psub.add_parser("hide", help="hide a person (strangers, statues, posters)")
    p.add_argument("person_id", type=int, metavar="ID")
    p.add_argument("--undo", action="store_true", help="show the person again")
    p.set_defaults(func=cmd_people_hide)
    p = psub.add_parser(
        "undo", help="take back the latest people edit (rename, merge, split, hide, confirm, reject, "
        "pin, exclude, reset)"
    )
    p.set_defaults(func=cmd_people_undo)
    p = psub.add_parser("redo", help="make again the people edit undone last")
    p.set_defaults(func=cmd_people_redo)


def open_library(args: argparse.Namespace) -> "Library":
    """The library of the chosen home (a seam tests replace to inject a fake backend)."""
    from refldm_desktop.core.home import resolve_home
    from refldm_desktop.core.library import Library
    from refldm_desktop.core.settings import load_settings

    home = resolve_home(args.home)
    backend = getattr(args, "backend", None) or load_settings(home).face_backend
    return Library.open(home, backend=backend)


def _run(args: argparse.Namespace, verb):
    from refldm_desktop.cli import CliError
    from refldm_desktop.core.changes import LibraryError
    from refldm_desktop.db.engine import DatabaseError

    try:
        lib = open_library(args)
    except (DatabaseError, LibraryError) as exc:  # LibraryError: a damaged settings file
        raise CliError(str(exc)) from exc
    try:
        return verb(lib)
    except LibraryError as exc:
        raise CliError(str(exc)) from exc
    finally:
        lib.close()


def cmd_index(args: argparse.Namespace) -> int:
    def verb(lib):
        if sys.stderr.isatty():
            print("scanning ...", file=sys.stderr)
        from refldm_desktop.cli.progressbar import ProgressBar

        bar = ProgressBar()
        try:
            return lib.index(args.paths, progress=bar)
        finally:
            bar.close()

    try:
        r = _run(args, verb)
    except KeyboardInterrupt:
        print(
            "\nrefldm-desktop: interrupted; the photos finished so far are saved, "
            "run the same command again to continue",
            file=sys.stderr,
        )
        return 130
    # Every file failed: a script must see that as a failure. (A file that failed is
    # counted as new or changed too, and as an error.)
    seen = r.new + r.unchanged + r.changed + r.moved + r.reappeared
    status = 1 if r.errors and seen <= r.errors else 0
    if args.json:
        print(json.dumps(r.to_json(), indent=2))
        return status
    for p in r.problems:
        print(f"error: {p.path}: {p.reason}", file=sys.stderr)
    c = r.clustering
    print(
        f"{r.new} new ({r.duplicates} duplicates), {r.unchanged} unchanged, {r.changed} changed, "
        f"{r.moved} moved, {r.missing} missing, {r.reappeared} back, {counted(r.errors, 'error')}; "
        f"{counted(r.faces_found, 'face')} found; {counted(c.faces_assigned, 'face')} grouped, "
        f"{c.people_created} new {'person' if c.people_created == 1 else 'people'}"
    )
    if r.faces_kept or r.faces_lost:
        print(f"faces of changed photos: {r.faces_kept} kept their people and pins in place, "
              f"{r.faces_lost} not found in place again (name them again)")
    if r.rescoring.faces_rescored:
        print(f"{counted(r.rescoring.faces_rescored, 'face')} scored again by the current quality measures")
    return status


def _table(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def cmd_faces_list(args: argparse.Namespace) -> int:
    faces = _run(args, lambda lib: lib.faces(args.person, unassigned=args.unassigned))
    if args.json:
        print(json.dumps([f.to_json() for f in faces], indent=1))
        return 0
    from refldm_desktop.db.models import PhotoState

    rows = [["FACE", "PERSON", "STATE", "BOX", "PHOTO"]]
    for f in faces:
        person = "-" if f.person_id is None else f"{f.person_id} {f.person_name or ''}".strip()
        box = ",".join(f"{v:.0f}" for v in f.box)
        state = f.assignment or "-"
        if f.photo_state != PhotoState.OK:
            state += f" ({f.photo_state} photo)"
        rows.append([str(f.id), person, state, box, str(f.photo)])
    _table(rows)
    return 0


def cmd_people_list(args: argparse.Namespace) -> int:
    people = _run(args, lambda lib: lib.people())
    if args.json:
        print(json.dumps([p.to_json() for p in people], indent=1))
        return 0
    rows = [["ID", "NAME", "FACES", "CONFIRMED", "HIDDEN"]]
    for p in people:
        rows.append([str(p.id), p.label, str(p.face_count), str(p.confirmed_count), "yes" if p.hidden else ""])
    _table(rows)
    return 0


def cmd_people_rename(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.rename_person(args.person_id, args.name))
    print(f"person {r.person_id} is now {r.new_name!r}")
    return 0


def cmd_people_merge(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.merge_people(args.person_id, args.others))
    extra = f"; {counted(r.faces_unassigned, 'face')} you had rejected from {r.into} left unassigned" if r.faces_unassigned else ""
    print(f"merged {', '.join(map(str, r.merged))} into {r.into}: {counted(r.faces_moved, 'face')} moved{extra}")
    return 0


def cmd_people_split(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.split_person(args.person_id, args.face_ids))
    print(f"{counted(len(r.face_ids), 'face')} moved from person {r.from_person} to new person {r.new_person}")
    return 0


def cmd_people_hide(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.hide_person(args.person_id, not args.undo))
    print(f"person {r.person_id} is {'hidden' if r.hidden else 'shown'}")
    return 0


def cmd_people_undo(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.undo())
    print(f"undone: {r.label}")
    return 0


def cmd_people_redo(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.redo())
    print(f"done again: {r.label}")
    return 0


def cmd_faces_confirm(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.confirm_face(args.face_id, args.person))
    print(f"face {r.face_id} confirmed as person {r.person_id}")
    return 0


def cmd_faces_reject(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.reject_face(args.face_id))
    print(f"face {r.face_id} is not person {r.person_id}; it will not be grouped with them again")
    return 0
