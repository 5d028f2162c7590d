"""The Qt user interface: the only package that imports PySide6.

`main()` opens the window; it says in one line what is missing when PySide6 or a display is
not there, instead of a traceback.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Sequence


def _display_problem() -> str | None:
    """Why Qt cannot show a window here, or None when it can (as far as we can tell)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None  # the user chose a platform (offscreen, xcb, wayland...): trust it
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display: run it in a desktop session (or set DISPLAY / use xvfb-run)"
    return None


def main(
    argv: Sequence[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    paths: Sequence[str | os.PathLike[str]] = (),
) -> int:
    """Open the app window (at `paths` when given) and run until it closes.

    Called by `refldm-desktop gui` and the `refldm-desktop-gui` script; with `argv`, it
    parses `[--home DIR] [PATH...]` itself. A PATH that does not exist is said in the window.
    """
    # Starting makes hundreds of thousands of objects that live as long as the app (modules,
    # classes, Qt's types) and nothing to collect: the cyclic garbage collector ran about 190
    # times over them before the first paint, 65-75 ms of a cold start. run_app turns it back
    # on once the window has painted, with what exists by then frozen (see ui.context).
    gc.disable()
    try:
        return _main(argv, home, paths)
    finally:
        gc.enable()  # on every way out; run_app has done it already when a window opened


def _main(argv, home, paths) -> int:
    if argv is not None:
        import argparse

        parser = argparse.ArgumentParser(prog="refldm-desktop-gui", description="Open the ReF-LDM Desktop window.")
        parser.add_argument("--home", metavar="DIR", help="folder for the database, caches and models")
        parser.add_argument("paths", nargs="*", metavar="PATH", help="a photo or folder to open")
        args = parser.parse_args(list(argv))
        home, paths = args.home, args.paths
    try:
        import PySide6  # noqa: F401
    except ImportError:
        print(
            "refldm-desktop: error: the desktop app needs PySide6: python3 -m pip install PySide6-Essentials",
            file=sys.stderr,
        )
        return 2
    why = _display_problem()
    if why:
        print(f"refldm-desktop: error: {why}", file=sys.stderr)
        return 2
    # A PATH that is not there (the README's ~/Pictures on a machine without one, a file
    # manager's stale path) still opens the window: it says so there and offers to pick a folder.
    from refldm_desktop.ui.app import run_app

    return run_app(home=home, paths=[Path(p).expanduser().absolute() for p in paths])


def gui_script() -> int:
    """Entry point of the `refldm-desktop-gui` script."""
    return main(sys.argv[1:])
