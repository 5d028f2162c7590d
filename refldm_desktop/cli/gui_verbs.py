"""The `gui` verb: open the desktop app (at a photo or folder when given)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gui",
        help="open the desktop app",
        description="Open the desktop app; a photo or folder given opens there (and is added "
        "to the library when it is not in it yet).",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="a photo or folder to open")
    p.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    from refldm_desktop.ui import main

    return main(home=args.home, paths=args.paths)
