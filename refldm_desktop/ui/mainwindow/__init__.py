"""The main window and its actions, kept apart (menus and shortcuts in actions.py)."""

from refldm_desktop.ui.mainwindow.window import MainWindow

__all__ = ["MainWindow"]
