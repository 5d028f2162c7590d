"""The People page: one tile per person (their best face and name), names edited in place,
merge by selecting several or by dropping one tile on another, hide; a person's own page
opens on a double click."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.ui.keys import key_text, undo_words, with_key
from refldm_desktop.ui.models.people import (
    HiddenRole,
    NamedRole,
    PeopleModel,
    PeopleSortFilter,
    PersonIdRole,
)
from refldm_desktop.ui.mainwindow.pages import page
from refldm_desktop.ui.views.heading import heading, page_title
from refldm_desktop.ui.views.buttons import shortcut
from refldm_desktop.ui.views.empty_hint import EmptyHint
from refldm_desktop.ui.views.people_common import (
    EDIT_AREAS,
    TILE,
    FaceDelegate,
    coalesced,
    people_thumbs,
    rename_person,
    run_edit,
    tile_view,
)
from refldm_desktop.ui.views.person_page import PersonPage
from refldm_desktop.ui.views.when_shown import WhenShown

if TYPE_CHECKING:
    from refldm_desktop.core.changes import PersonInfo
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.mainwindow.place import Place


def merge_target(people: list["PersonInfo"]) -> "PersonInfo":
    """Whom several people are merged into: a named one before the unnamed, then the one
    with the most faces (the merge keeps the target's id and name)."""
    return max(people, key=lambda p: (p.name is not None, p.face_count, -p.id))


MERGE_KEY = "Ctrl+M"  # Cmd+M on a Mac, as Qt maps Ctrl there
RENAME_KEY = "F2"


class PeoplePage(QWidget):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("peoplePage")
        self.setAccessibleName("People")
        self.model = PeopleModel(people_thumbs(ctx), TILE, self)
        self.proxy = PeopleSortFilter(self)
        self.proxy.setSourceModel(self.model)
        self.model.renameRequested.connect(self.rename)
        self.model.mergeRequested.connect(self.merge)

        self.search = QLineEdit()
        self.search.setObjectName("peopleSearch")
        self.search.setPlaceholderText("Find a person")
        self.search.setAccessibleName("Find a person by name")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.show_hidden = QCheckBox("Show &hidden")
        self.show_hidden.setAccessibleName("Show hidden people")
        self.show_hidden.toggled.connect(self.proxy.set_show_hidden)
        self.merge_button = QPushButton("&Merge")
        self.merge_button.setObjectName("mergePeopleButton")
        self.merge_button.setAccessibleName("Merge the selected people into one")
        self.merge_button.setToolTip(f"{with_key('Merge the selected people into one', MERGE_KEY)}; {undo_words()}")
        self.merge_button.clicked.connect(self.merge_selected)
        self.hide_button = QPushButton("Hi&de")
        self.hide_button.setObjectName("hidePeopleButton")
        self.hide_button.setAccessibleName("Hide or show the selected people")
        self.hide_button.clicked.connect(self.toggle_hidden_selected)
        self.count = QLabel()
        self.count.setAccessibleName("Number of people")
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.show_hidden)
        bar.addWidget(self.merge_button)
        bar.addWidget(self.hide_button)

        self.view = tile_view("peopleView", "People", self)
        self.view.setModel(self.proxy)
        self.empty = EmptyHint(self.view, "peopleEmpty")
        self.search.textChanged.connect(self._update_empty)
        self.show_hidden.toggled.connect(self._update_empty)
        self.view.setItemDelegate(FaceDelegate(TILE, self.view))
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setDragEnabled(True)
        self.view.setAcceptDrops(True)
        self.view.setDropIndicatorShown(True)
        self.view.activated.connect(lambda idx: self.open_person(idx.data(PersonIdRole)))
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        shortcut(self.view, "Merge", MERGE_KEY, self.merge_selected)
        shortcut(self.view, "Rename", RENAME_KEY, self._edit_current)
        shortcut(self, "Find a person", QKeySequence(QKeySequence.StandardKey.Find).toString(), self.search.setFocus)

        grid = QWidget()
        lay = QVBoxLayout(grid)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(heading(page_title(page("people").title), self.count))
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        self.person_page = PersonPage(ctx, self)
        self.person_page.back.connect(self.show_grid)
        self.stack = QStackedWidget()
        self.stack.addWidget(grid)
        self.stack.addWidget(self.person_page)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)

        self._refresh_soon = coalesced(self, self.refresh)
        # The tiles are read again only while they are on screen (not under a person's page,
        # not on another page); page_shown() reads them whenever the page is opened.
        self._when_shown = WhenShown(grid, self._refresh_soon)
        ctx.changed.connect(self._changed)
        self._update_buttons()
        self.refresh()

    # -- what the window calls -----------------------------------------------------------

    def show_arg(self, person_id) -> None:
        if person_id == "":  # the sidebar's People: everyone, not the last person's page
            self.show_grid()
        else:
            self.open_person(int(person_id))

    def place(self, key: str) -> "Place":
        """Where the user is on this page (MainWindow.place): everyone, or a person's page."""
        from refldm_desktop.ui.mainwindow.place import Place

        pid = self.person_page.person_id if self.stack.currentWidget() is self.person_page else None
        return Place(key, pid if pid is not None else "")

    def page_shown(self) -> None:
        self._when_shown.refreshed()
        self.refresh()

    # -- data ----------------------------------------------------------------------------

    def refresh(self) -> None:
        self.ctx.tasks.run(self.ctx.library.people, self._show_people, label="Listing people")

    def _show_people(self, people) -> None:
        self.model.set_people(people)
        shown = sum(1 for p in people if not p.hidden)
        self.count.setText(f"{shown} {'person' if shown == 1 else 'people'}")
        self._update_buttons()
        self._update_empty()

    def _update_empty(self, *_) -> None:
        find = self.search.text().strip()
        if self.model.rowCount() == 0:
            from refldm_desktop.ui.mainwindow.actions import add_folder_words

            text = ("No people yet.\n\nPeople appear here once faces are found in your photos: add a folder "
                    f"with {add_folder_words()}.")
        elif find:
            text = f"Nobody's name matches “{find}”."
        else:
            text = "Everyone here is hidden: tick Show hidden to see them."
        self.empty.set_text(text)

    def _changed(self, change) -> None:
        if set(EDIT_AREAS) & set(change.areas):
            self._when_shown.changed()

    # -- selection -----------------------------------------------------------------------

    def selected(self) -> list["PersonInfo"]:
        rows = [self.proxy.mapToSource(i).row() for i in self.view.selectionModel().selectedIndexes()]
        return [self.model.person(r) for r in sorted(set(rows))]

    def select_ids(self, ids) -> None:
        sel = self.view.selectionModel()
        sel.clearSelection()
        for pid in ids:
            row = self.model.row_of(pid)
            if row >= 0:
                idx = self.proxy.mapFromSource(self.model.index(row))
                sel.select(idx, QItemSelectionModel.SelectionFlag.Select)

    def _update_buttons(self, *_) -> None:
        people = self.selected()
        self.merge_button.setEnabled(len(people) >= 2)
        self.hide_button.setEnabled(bool(people))
        self.hide_button.setText("Sho&w" if people and all(p.hidden for p in people) else "Hi&de")

    # -- edits ---------------------------------------------------------------------------

    def rename(self, person_id: int, name: str) -> None:
        rename_person(self.ctx, self, person_id, name)

    def merge(self, into: int, others: list[int]) -> None:
        lib = self.ctx.library
        run_edit(
            self.ctx,
            lambda: lib.merge_people(into, others),
            "Merge people",
            lambda r: self.ctx.status.emit(f"Merged {len(r.merged) + 1} people; {undo_words()}"),
        )

    def merge_selected(self) -> None:
        people = self.selected()
        if len(people) < 2:
            return
        into = merge_target(people)
        self.merge(into.id, [p.id for p in people if p.id != into.id])

    def toggle_hidden_selected(self) -> None:
        people = self.selected()
        if not people:
            return
        hide = not all(p.hidden for p in people)
        lib, ids = self.ctx.library, [p.id for p in people]
        run_edit(self.ctx, lambda: lib.hide_people(ids, hide), "Hide" if hide else "Show")

    def _edit_current(self) -> None:
        idx = self.view.currentIndex()
        if idx.isValid():
            self.view.edit(idx)

    def _menu(self, pos) -> None:
        idx = self.view.indexAt(pos)
        if not idx.isValid():
            return
        if not self.view.selectionModel().isSelected(idx):
            self.view.setCurrentIndex(idx)
        people = self.selected()
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per right-click: freed when closed
        menu.addAction("Open", lambda: self.open_person(idx.data(PersonIdRole)))
        menu.addAction(f"Rename\t{key_text(RENAME_KEY)}", lambda: self.view.edit(idx))
        if len(people) >= 2:
            into = menu.addMenu("Merge into")
            for p in sorted(people, key=lambda p: p.label.casefold()):
                into.addAction(p.label, partial(self.merge, p.id, [q.id for q in people if q.id != p.id]))
        hidden = bool(idx.data(HiddenRole))
        menu.addAction("Show" if hidden else "Hide", self.toggle_hidden_selected)
        if not idx.data(NamedRole):
            menu.addAction("Name this person…", lambda: self.view.edit(idx))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    # -- navigation ----------------------------------------------------------------------

    def open_person(self, person_id: int) -> None:
        self.person_page.show_person(person_id)
        self.stack.setCurrentWidget(self.person_page)

    def show_grid(self) -> None:
        self.stack.setCurrentIndex(0)
        self.view.setFocus()
