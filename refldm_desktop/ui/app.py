"""The application: owns the QApplication, the Library, the context and the main window,
and closes them in order (window, background work, database)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication


def make_qapp(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (the existing one in tests), with the app's names and style."""
    existing = QApplication.instance()
    if existing is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv or sys.argv[:1]))
    elif isinstance(existing, QApplication):
        app = existing
    else:
        raise RuntimeError("a Qt application without widgets is running already; the window needs a QApplication")
    app.setApplicationName("ReF-LDM Desktop")
    app.setOrganizationName("refldm-desktop")
    app.setDesktopFileName("refldm-desktop")
    from refldm_desktop.ui.resources import icon, style_sheet

    app.setWindowIcon(icon("app.svg"))
    app.setStyleSheet(style_sheet())
    return app


def open_window(home: str | os.PathLike[str] | None = None, paths: Sequence[Path] = (), *, library=None, start_jobs: bool = True):
    """Open the library and show the main window; returns (context, window)."""
    from refldm_desktop.core.home import resolve_home
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.mainwindow import MainWindow

    make_qapp()
    if library is None:
        from refldm_desktop.core.library import Library

        library = Library.open(resolve_home(home))
    ctx = AppContext(library, start_jobs=start_jobs)
    window = MainWindow(ctx)
    window.destroyed.connect(lambda *_: None)
    window.show()
    if paths:
        window.open_paths(list(paths))
    else:
        window.first_run_if_needed()
    return ctx, window


def run_app(home: str | os.PathLike[str] | None = None, paths: Sequence[Path] = ()) -> int:
    from refldm_desktop.core.changes import LibraryError

    app = make_qapp()
    try:
        ctx, window = open_window(home, paths)
    except LibraryError as exc:
        print(f"refldm-desktop: error: {exc}", file=sys.stderr)
        return 2
    try:
        return app.exec()
    finally:
        window.deleteLater()
        ctx.close()
