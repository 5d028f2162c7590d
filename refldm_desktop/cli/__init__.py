"""The command line: the headless face of core, with the same verbs as the UI.

Each area of the app registers its verbs from its own module, so that `--help` stays fast
(heavy imports happen inside the verbs) and areas do not step on each other.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from refldm_desktop import __version__

# Modules that add verbs; each has register(subparsers).
VERB_MODULES = (
    "refldm_desktop.cli.library_verbs",
    "refldm_desktop.cli.refs_verbs",
    "refldm_desktop.cli.model_verbs",
    "refldm_desktop.cli.job_verbs",
    "refldm_desktop.cli.restore_verbs",
    "refldm_desktop.cli.config_verbs",
    "refldm_desktop.cli.gui_verbs",
)


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refldm-desktop",
        description="Restore faces in old photos using good photos of the same person.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="folder for the database, caches and models "
        "(default: $REFLDM_DESKTOP_HOME, else the platform's user data folder)",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # surface a closed pipe here, not in the interpreter's exit
        return status
    except CliError as exc:
        print(f"refldm-desktop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("refldm-desktop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback. Point stdout
        # at devnull so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
