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
from refldm_desktop.errors import CliError, translate

__all__ = ["CliError", "add_verb", "main", "build_parser", "device_arg"]

PROG = "refldm-desktop"
LOGS_KEPT = 20  # crash logs kept in <home>/logs; older ones are removed

# Modules that add verbs; each has register(subparsers).
VERB_MODULES = (
    "refldm_desktop.cli.library_verbs",
    "refldm_desktop.cli.refs_verbs",
    "refldm_desktop.cli.model_verbs",
    "refldm_desktop.cli.job_verbs",
    "refldm_desktop.cli.restore_verbs",
    "refldm_desktop.cli.db_verbs",
    "refldm_desktop.cli.config_verbs",
    "refldm_desktop.cli.gui_verbs",
)


def add_verb(sub: argparse._SubParsersAction, name: str, func, help: str, *args: str,
             json_help: str = "") -> argparse.ArgumentParser:
    """A verb that runs `func(args)`: `args` are its positional arguments by metavar (the
    attribute is the metavar in lower case; "NAME?" may be left out), `json_help` adds --json."""
    p = sub.add_parser(name, help=help)
    for arg in args:
        metavar = arg.rstrip("?")
        p.add_argument(metavar.lower(), metavar=metavar, **({"nargs": "?"} if arg.endswith("?") else {}))
    if json_help:
        p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(func=func)
    return p


def device_arg(value: str) -> str:
    """The type of every --device flag: the devices the device setting takes too."""
    from refldm_desktop.defaults import check_device

    try:
        return check_device(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"unknown device {value!r}: {exc}") from None


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
    args = None
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # surface a closed pipe here, not in the interpreter's exit
        return status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback. Point stdout
        # at devnull so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # the one place where every failure becomes one line
        return report_error(exc, getattr(args, "home", None))


def report_error(exc: BaseException, home: str | None = None) -> int:
    """Print one line for `exc` and return the exit status.

    An error the user can act on says why and what to do (status 2). Anything else is a bug:
    its traceback goes to a log file in the home folder and the line says where (status 70).
    """
    known = translate(exc)
    if known is not None:
        print(f"{PROG}: error: {known}", file=sys.stderr)
        return 2
    where = write_crash_log(exc, home)
    if where is None:
        print(f"{PROG}: internal error ({type(exc).__name__}); the details could not be saved",
              file=sys.stderr)
    else:
        print(f"{PROG}: internal error: this is a bug; the details are in {where}; please "
              "report it with that file", file=sys.stderr)
    return 70


def write_crash_log(exc: BaseException, home: str | None = None):
    """Write `exc`'s traceback to <home>/logs/crash-*.log (or the temp folder when the home
    cannot be written); keep the newest LOGS_KEPT logs. Returns the path, or None."""
    import datetime
    import os
    import tempfile
    import traceback
    from pathlib import Path

    text = "".join(traceback.format_exception(exc))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"crash-{stamp}-{os.getpid()}.log"
    header = f"{PROG} {__version__}\nargv: {sys.argv!r}\n\n"
    candidates = []
    try:
        from refldm_desktop.core.home import resolve_home

        candidates.append(resolve_home(home).logs)
    except Exception:  # noqa: BLE001 (a broken home must not hide the original error)
        pass
    candidates.append(Path(tempfile.gettempdir()) / "refldm-desktop-logs")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(header + text, encoding="utf-8")
        except OSError:
            continue
        _rotate(folder)
        return path
    return None


def _rotate(folder) -> None:
    logs = sorted(folder.glob("crash-*.log"), key=lambda p: p.name)
    for old in logs[:-LOGS_KEPT]:
        try:
            old.unlink()
        except OSError:
            pass
