"""The People engineer's menu entries: Undo/Redo of people edits in Edit; batch cleanup,
models and settings in Tools. Added to the window by mainwindow.actions.CONTRIBUTORS."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        from refldm_desktop.ui.dialogs.models import ModelsDialog

        ModelsDialog(ctx, window).open()

    menus["tools"].addAction(action(window, "&Clean Up an Album…", batch, "Ctrl+B", "batchCleanupAction"))
    menus["tools"].addAction(action(window, "&Models…", models, "", "modelsAction"))
