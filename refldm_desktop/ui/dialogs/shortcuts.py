"""Help > Keyboard Shortcuts: every key of the app, read from the actions and buttons
themselves (menus, each page, the photo and compare views), so the list cannot drift from
what the keys do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractButton, QDialog, QHeaderView, QMenu, QTableWidget, QTableWidgetItem, QWidget

from refldm_desktop.ui.dialogs.forms import stack
from refldm_desktop.ui.keys import key_text

if TYPE_CHECKING:
    from refldm_desktop.ui.mainwindow.window import MainWindow

Row = tuple[str, str, str]  # where, what, keys


def _keys(sequences: Iterable[QKeySequence]) -> str:
    return ", ".join(key_text(s) for s in sequences if not s.isEmpty())


def _menu_rows(menu: QMenu, where: str) -> list[Row]:
    rows: list[Row] = []
    for a in menu.actions():
        sub = a.menu()
        if isinstance(sub, QMenu):
            rows += _menu_rows(sub, f"{where} › {a.text().replace('&', '')}")
        elif keys := _keys(a.shortcuts()):
            rows.append((where, a.text().replace("&", "").split("\t")[0], keys))
    return rows


def _widget_rows(widget: QWidget, where: str) -> list[Row]:
    rows: list[Row] = []
    for a in widget.findChildren(QAction):
        if (keys := _keys(a.shortcuts())) and not isinstance(a.parent(), QMenu):
            rows.append((where, a.text().replace("&", ""), keys))
    for b in widget.findChildren(QAbstractButton):
        if b.shortcut() == QKeySequence.mnemonic(b.text()):
            continue  # Alt and the underlined letter: shown on the button itself
        if keys := _keys([b.shortcut()]):
            rows.append((where, b.accessibleName() or b.text().replace("&", ""), keys))
    return rows


def shortcut_rows(window: "MainWindow") -> list[Row]:
    """Where, what and which keys, in menu order, then page by page."""
    from refldm_desktop.ui.mainwindow.pages import PAGES
    from refldm_desktop.ui.views.compare import CompareView
    from refldm_desktop.ui.views.photo_view import PhotoView

    rows: list[Row] = []
    for menu in window.menus.values():
        rows += _menu_rows(menu, menu.title().replace("&", ""))
    for spec in PAGES:
        rows += _widget_rows(window.page_widget(spec.key), spec.title)
    # The photo and compare views are made when first opened: read a spare of each.
    for view, where in ((PhotoView(window.ctx), "A photo's faces"), (CompareView(window.ctx), "Compare")):
        rows += _widget_rows(view, where)
        view.deleteLater()
    return list(dict.fromkeys(rows))  # a key met twice (a page's child) once


class ShortcutsDialog(QDialog):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard Shortcuts")
        self.setAccessibleName("Keyboard shortcuts")
        self.rows = shortcut_rows(window)
        self.table = QTableWidget(len(self.rows), 3)
        self.table.setObjectName("shortcutsTable")
        self.table.setAccessibleName("Keyboard shortcuts: where, what, keys")
        self.table.setHorizontalHeaderLabels(["Where", "What", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for r, row in enumerate(self.rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnToContents(0)
        self.table.resizeColumnToContents(2)
        stack(self, self.table)
        self.resize(640, 560)
