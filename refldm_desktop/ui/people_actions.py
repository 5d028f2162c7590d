"""The People engineer's menu entries: Undo/Redo of people edits in Edit; batch cleanup,
models and settings in Tools. Added to the window by mainwindow.actions.CONTRIBUTORS."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from refldm_desktop.ui.mainwindow import actions
from refldm_desktop.ui.mainwindow.actions import action

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.mainwindow.actions import Menus
    from refldm_desktop.ui.mainwindow.window import MainWindow


def contribute(window: "MainWindow", ctx: "AppContext", menus: "Menus") -> None:
    from refldm_desktop.ui.people_undo import PeopleUndo

    undo = PeopleUndo(ctx, window)
    window.people_undo = undo
    menus["edit"].addAction(undo.undo_action)
    menus["edit"].addAction(undo.redo_action)
    window.addAction(undo.undo_action)
    window.addAction(undo.redo_action)

    def batch() -> None:
        from refldm_desktop.ui.dialogs.batch import BatchDialog

        BatchDialog(ctx, window).open()

    def models() -> None:
        # One dialog for the window's life: closed during a download and opened again, it
        # still shows that download (progress, Cancel) instead of offering a second one.
        if window.models_dialog is None:
            from refldm_desktop.ui.dialogs.models import ModelsDialog

            window.models_dialog = ModelsDialog(ctx, window)
        else:
            window.models_dialog.refresh()
        window.models_dialog.open()

    def settings() -> None:
        from refldm_desktop.ui.dialogs.settings import SettingsDialog

        SettingsDialog(ctx, window).open()

    menus["tools"].addAction(action(window, "&Clean Up an Album…", batch, actions.BATCH_SHORTCUT, "batchCleanupAction"))
    menus["tools"].addAction(action(window, "&Models…", models, "", "modelsAction"))
    menus["tools"].addAction(action(window, "&Settings…", settings, "Ctrl+,", "settingsAction"))
    _apply_saved_theme(ctx)


def _apply_saved_theme(ctx: "AppContext") -> None:
    """The theme the user chose last time (read off the GUI thread; a damaged settings
    file keeps the system look, and the Settings dialog says what is wrong). The settings
    module is imported on the worker, and the theme module only for a theme other than the
    system's: neither is needed for the first paint (10 ms of the GUI thread's CPU)."""
    home = ctx.library.home

    def saved() -> str:
        from refldm_desktop.core.settings import load_settings

        return load_settings(home).theme

    def apply(name: str) -> None:
        # The system look is there unless a theme replaced it, which loaded the module.
        if name != "system" or "refldm_desktop.ui.theme" in sys.modules:
            from refldm_desktop.ui.theme import apply_theme

            apply_theme(name)

    ctx.tasks.run(saved, apply, lambda exc, details: None, label="Theme")
