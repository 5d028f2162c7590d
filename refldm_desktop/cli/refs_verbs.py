"""Reference verbs: show a person's best reference faces (or those for restoring one face),
and let the user pin or exclude faces."""

from __future__ import annotations

import argparse
import json

from refldm_desktop.cli.library_verbs import _run
from refldm_desktop.defaults import DEFAULT_REFERENCES
from refldm_desktop.words import counted


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    refs = sub.add_parser(
        "refs",
        help="show, pin or exclude a person's reference faces",
        description="Reference faces are the good photos of a person that the restorer learns "
        "the face from. They are chosen automatically (sharp, large, well lit, different from "
        "each other); pins and exclusions are yours and always win.",
    )
    rsub = refs.add_subparsers(dest="refs_verb", metavar="ACTION", required=True)

    p = rsub.add_parser("show", help="show a person's reference faces, best first, with the reasons")
    p.add_argument("person_id", type=int, metavar="PERSON_ID")
    p.add_argument(
        "--for-face", type=int, metavar="FACE_ID", dest="for_face",
        help="the references for restoring this face of the person (not from its own photo, "
        "similar pose and date preferred)",
    )
    p.add_argument("--k", type=_positive, default=DEFAULT_REFERENCES, metavar="N",
                   help=f"how many (default {DEFAULT_REFERENCES}; pins may add more)")
    p.add_argument("--json", action="store_true", help="print one JSON array, best first")
    p.add_argument("--backend", help="face backend whose faces to use (default: dlib)")
    p.set_defaults(func=cmd_refs_show)

    p = rsub.add_parser("pin", help="always use this face as a reference for its person")
    p.add_argument("face_id", type=int, metavar="FACE_ID")
    p.set_defaults(func=cmd_refs_pin)

    p = rsub.add_parser("exclude", help="never use this face as a reference")
    p.add_argument("face_id", type=int, metavar="FACE_ID")
    p.set_defaults(func=cmd_refs_exclude)

    p = rsub.add_parser("reset", help="forget pins and exclusions of a person, or of one face")
    p.add_argument("person_id", type=int, nargs="?", metavar="PERSON_ID")
    p.add_argument("--face", type=int, metavar="FACE_ID", help="reset only this face")
    p.set_defaults(func=cmd_refs_reset)


def cmd_refs_show(args: argparse.Namespace) -> int:
    def verb(lib):
        label = lib.person(args.person_id).label
        if args.for_face is None:
            return label, lib.best_shots(args.person_id, k=args.k)
        return label, lib.references_for_face(args.for_face, k=args.k, person_id=args.person_id)

    label, choices = _run(args, verb)
    if args.json:
        # One reference per line: the 68 landmarks would fill a screen per face indented.
        print("[" + ",".join("\n " + json.dumps(c.to_json()) for c in choices) + ("\n]" if choices else "]"))
        return 0
    what = f"for restoring face {args.for_face}" if args.for_face is not None else "best shots"
    if not choices:
        print(f"{label}: no face is good enough to serve as a reference ({what})")
        return 0
    print(f"{label}: {counted(len(choices), 'reference face')}, {what}, best first")
    width = max(len(str(c.face_id)) for c in choices)
    for rank, c in enumerate(choices, 1):
        pin = "  pinned" if c.pinned else ""
        need = "" if c.need is None else f"  need {c.need:.2f}"
        print(f"{rank:2d}. face {c.face_id:<{width}}  score {c.score:.2f}{need}{pin}  {c.photo_path}")
        if c.reasons:
            print(f"    as a reference: {'; '.join(c.reasons)}")
        if c.need is not None:
            print(f"    needs restoring: {'; '.join(c.need_reasons) or 'no (sharp, clean)'}")
    return 0


def cmd_refs_pin(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.pin_reference(args.face_id))
    state = "pinned" if r.changed else "was already pinned"
    print(f"face {r.face_id} {state}: it is always among person {r.person_id}'s references")
    return 0


def cmd_refs_exclude(args: argparse.Namespace) -> int:
    r = _run(args, lambda lib: lib.exclude_reference(args.face_id))
    state = "excluded" if r.changed else "was already excluded"
    print(f"face {r.face_id} {state}: it is never one of person {r.person_id}'s references")
    return 0


def cmd_refs_reset(args: argparse.Namespace) -> int:
    from refldm_desktop.cli import CliError

    if (args.person_id is None) == (args.face is None):
        raise CliError("give either a PERSON_ID or --face FACE_ID to reset")
    r = _run(args, lambda lib: lib.reset_references(args.person_id, face_id=args.face))
    whose = f"person {r.person_id}" if r.person_id is not None else f"face {args.face}"
    if not (r.pins_removed or r.exclusions_removed):
        print(f"{whose}: no pins or exclusions to reset")
    else:
        print(
            f"{whose}: {counted(len(r.pins_removed), 'pin')} and {counted(len(r.exclusions_removed), 'exclusion')} removed; "
            "references are chosen automatically again"
        )
    return 0
