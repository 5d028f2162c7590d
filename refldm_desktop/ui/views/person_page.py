"""One person's page: every face of theirs (confirm, reject, move to another person, split
off, pin or exclude as a reference) and the references chosen for them with the reasons."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QSplitter,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.ui.keys import undo_words
from refldm_desktop.ui.models.faces import FaceIdRole, FacesModel
from refldm_desktop.ui.models.references import ReasonsRole, ReferencesModel
from refldm_desktop.ui.views.buttons import verb_buttons
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
from refldm_desktop.ui.views.when_shown import WhenShown
from refldm_desktop.words import agree, counted

if TYPE_CHECKING:
    from refldm_desktop.core.changes import PersonInfo
    from refldm_desktop.ui.context import AppContext

REF_TILE = 96


class PersonPage(QWidget):
    back = Signal()

    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("personPage")
        self.setAccessibleName("Person")
        self.person: "PersonInfo | None" = None
        self._person_id: int | None = None  # the person shown, or being loaded
        self._people: list["PersonInfo"] = []
        self._shown_name = ""  # the name last put in the name field
        thumbs = people_thumbs(ctx)

        back = QToolButton()
        back.setText("← People")
        back.setAccessibleName("Back to all people")
        back.setShortcut(QKeySequence("Alt+Left"))
        back.clicked.connect(self.back)
        self.name = QLineEdit()
        self.name.setObjectName("personName")
        self.name.setAccessibleName("Person's name")
        self.name.setPlaceholderText("Who is this? Type a name")
        self.name.editingFinished.connect(self._rename)
        self.summary = QLabel()
        self.summary.setAccessibleName("Faces of this person")
        self.hidden = QCheckBox("Hidden")
        self.hidden.setAccessibleName("Hide this person")
        self.hidden.clicked.connect(self._hide)
        self.photos_button = QPushButton("P&hotos")
        self.photos_button.setObjectName("personPhotosButton")
        self.photos_button.setAccessibleName("Show every photo this person is in")
        self.photos_button.setToolTip("Show every photo this person is in, in the Library")
        self.photos_button.clicked.connect(self.show_photos)
        head = QHBoxLayout()
        head.addWidget(back)
        head.addWidget(self.name, 1)
        head.addWidget(self.summary)
        head.addWidget(self.photos_button)
        head.addWidget(self.hidden)

        self.faces_model = FacesModel(thumbs, TILE, self)
        self.faces = tile_view("personFaces", "Faces of this person", self)
        self.faces.setModel(self.faces_model)
        self.faces.setItemDelegate(FaceDelegate(TILE, self.faces))
        self.faces.setDragEnabled(True)
        self.faces.selectionModel().selectionChanged.connect(self._update_buttons)
        self.faces.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.faces.customContextMenuRequested.connect(self._faces_menu)

        face_bar = QHBoxLayout()
        self.buttons = verb_buttons(self, (
            ("confirm", "&Confirm", "Ctrl+Return", "Yes, these faces are this person", self.confirm_selected),
            ("reject", "&Not this person", "Delete", "These faces are someone else", self.reject_selected),
            ("move", "Mo&ve to…", "Ctrl+Shift+M", "These faces are another person", self._move_menu),
            ("split", "&Split off", "Ctrl+Shift+S", "These faces are one new person", self.split_selected),
            ("pin", "&Pin as reference", "Ctrl+P", "Always restore with these faces", self.pin_selected),
            ("exclude", "E&xclude as reference", "Ctrl+E", "Never restore with these faces", self.exclude_selected),
        ), "FacesButton", face_bar)
        face_bar.addStretch(1)

        self.refs_model = ReferencesModel(thumbs, REF_TILE, self)
        self.refs = tile_view("referencesView", "References chosen for restoring this person", self, REF_TILE)
        self.refs.setModel(self.refs_model)
        # Two lines under each: "pinned · quality 0.72" is wider than a reference tile.
        self.refs.setItemDelegate(FaceDelegate(REF_TILE, self.refs, text_lines=2))
        self.refs.setFlow(QListView.Flow.LeftToRight)
        self.refs.setWrapping(False)
        line = self.refs.fontMetrics().height()
        self.refs.setGridSize(QSize(REF_TILE + 28, REF_TILE + 40 + line))
        self.refs.setFixedHeight(REF_TILE + 52 + line)
        self.refs.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.refs.selectionModel().currentChanged.connect(self._show_reasons)
        self.refs.selectionModel().selectionChanged.connect(self._update_buttons)
        self.reasons = QLabel("Select a reference to see why it was chosen.")
        self.reasons.setObjectName("referenceReasons")
        self.reasons.setAccessibleName("Why this reference was chosen")
        self.reasons.setWordWrap(True)
        self.reasons.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        ref_bar = QHBoxLayout()
        self.buttons.update(verb_buttons(self, (
            ("refPin", "Pin", "", "Keep this reference first, always", self.pin_refs),
            ("refExclude", "Exclude", "", "Never use this face as a reference", self.exclude_refs),
            ("refReset", "Reset choices", "", "Forget this person's pins and exclusions", self.reset_refs),
        ), "Button", ref_bar))
        ref_bar.addStretch(1)
        self.refs_note = QLabel()
        self.refs_note.setAccessibleName("About the references")
        self.refs_note.setWordWrap(True)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(face_bar)
        tl.addWidget(self.faces, 1)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>References</b> — the photos ReF-LDM learns this face from")
        title.setAccessibleName("References")
        bl.addWidget(title)
        bl.addWidget(self.refs)
        bl.addWidget(self.reasons)
        bl.addLayout(ref_bar)
        bl.addWidget(self.refs_note)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(head)
        lay.addWidget(split, 1)

        self._refresh_soon = coalesced(self, self.refresh)
        self._when_shown = WhenShown(self, self._refresh_soon)
        ctx.changed.connect(self._changed)
        self._update_buttons()

    # -- data ----------------------------------------------------------------------------

    @property
    def person_id(self) -> int | None:
        """The person shown, or being loaded."""
        return self._person_id

    def show_person(self, person_id: int) -> None:
        if self.person is None or self.person.id != person_id:
            self.faces_model.set_faces([])
            self.refs_model.set_references([])
            self.person = None
            self._update_buttons()  # Reset choices follows self.person, which no signal reports
        self._person_id = person_id
        self._when_shown.refreshed()
        self.refresh()

    def refresh(self) -> None:
        pid = self._person_id
        if pid is None:
            return
        lib = self.ctx.library

        def load():
            from refldm_desktop.core.changes import NotFound

            try:
                person = lib.person(pid)
            except NotFound:
                return None
            return person, lib.faces(pid), lib.people()

        self.ctx.tasks.run(load, self._loaded, label="Loading a person")

        def refs():
            from refldm_desktop.core.changes import LibraryError

            try:
                return lib.best_shots(pid), ""
            except LibraryError as exc:
                return [], str(exc)

        self.ctx.tasks.run(refs, self._refs_loaded, label="Choosing references")

    def _loaded(self, result) -> None:
        if result is None:  # merged away or undone: back to everyone
            self._person_id = None
            self.person = None
            self.back.emit()
            return
        person, faces, people = result
        if person.id != self._person_id:
            return
        self.person = person
        self._people = people
        # The name follows the person (a rename undone), unless the user is typing another:
        # after Enter the cursor stays in the field, and the field kept the undone name.
        if not self.name.hasFocus() or self.name.text().strip() == self._shown_name:
            self.name.setText(person.name or "")
            self._shown_name = person.name or ""
        self.name.setPlaceholderText(f"{person.label}: who is this? Type a name")
        self.summary.setText(
            f"{person.face_count} face{'s' if person.face_count != 1 else ''}, {person.confirmed_count} confirmed"
        )
        self.hidden.setChecked(person.hidden)
        self.faces_model.set_faces(faces)
        self._update_buttons()

    def show_photos(self) -> None:
        from refldm_desktop.ui.views.photos_page import PersonPhotos

        if self.person is not None:
            self.ctx.navigate.emit("photos", PersonPhotos(self.person.id, self.person.label))

    def _refs_loaded(self, result) -> None:
        refs, why = result
        self.refs_model.set_references(refs)
        # Rows kept, dropped or changed in place say nothing to currentChanged: the reasons
        # shown would be those of the references before.
        self._show_reasons(self.refs.currentIndex(), None)
        self.refs_note.setText(why or ("" if refs else "No face of this person is good enough to serve as a reference yet."))
        self._update_buttons()

    def _changed(self, change) -> None:
        if set(EDIT_AREAS) & set(change.areas):
            self._when_shown.changed()

    # -- selection -----------------------------------------------------------------------

    def selected_faces(self) -> list[int]:
        return sorted({i.data(FaceIdRole) for i in self.faces.selectionModel().selectedIndexes()})

    def selected_refs(self) -> list[int]:
        return sorted({i.data(FaceIdRole) for i in self.refs.selectionModel().selectedIndexes()})

    def _update_buttons(self, *_) -> None:
        n = len(self.selected_faces())
        total = self.faces_model.rowCount()
        for key in ("confirm", "reject", "move", "pin", "exclude"):
            self.buttons[key].setEnabled(n > 0)
        self.buttons["split"].setEnabled(0 < n < total)
        # They act on the selected references: enabled with none, they did nothing when pressed.
        refs = bool(self.refs.selectionModel().selectedIndexes())
        self.buttons["refPin"].setEnabled(refs)
        self.buttons["refExclude"].setEnabled(refs)
        self.buttons["refReset"].setEnabled(self.person is not None)

    def _show_reasons(self, current, _previous) -> None:
        reasons = current.data(ReasonsRole) if current.isValid() else None
        self.reasons.setText("; ".join(reasons) if reasons else "Select a reference to see why it was chosen.")

    # -- edits ---------------------------------------------------------------------------

    def _many(self, label: str, verb, ids: list[int]) -> None:
        """One edit over several faces: one Ctrl+Z takes it all back."""
        if ids:
            run_edit(self.ctx, lambda: verb(ids), label)

    def _rename(self) -> None:
        name = self.name.text().strip()
        if self.person is None or not name or name == self.person.name:
            return
        self._shown_name = name  # given: no longer being typed
        # Merged into the person of that name: their page is shown instead.
        rename_person(self.ctx, self, self.person.id, name, on_merged=self.show_person)

    def _hide(self, hidden: bool) -> None:
        if self.person is not None:
            lib, pid = self.ctx.library, self.person.id
            run_edit(self.ctx, lambda: lib.hide_person(pid, hidden), "Hide" if hidden else "Show")

    def confirm_selected(self) -> None:
        self._many("Confirm faces", self.ctx.library.confirm_faces, self.selected_faces())

    def reject_selected(self) -> None:
        self._many("Reject faces", self.ctx.library.reject_faces, self.selected_faces())

    def move_selected(self, person_id: int) -> None:
        lib = self.ctx.library
        self._many("Move faces", lambda ids: lib.confirm_faces(ids, person_id), self.selected_faces())

    def split_selected(self) -> None:
        ids = self.selected_faces()
        if self.person is None or not ids or len(ids) >= self.faces_model.rowCount():
            return
        lib, pid = self.ctx.library, self.person.id
        run_edit(
            self.ctx,
            lambda: lib.split_person(pid, ids),
            "Split",
            lambda r: self.ctx.status.emit(f"{counted(len(r.face_ids), 'face')} {agree(len(r.face_ids), 'is', 'are')} now "
                                           f"Person {r.new_person}; {undo_words()}"),
        )

    def pin_selected(self) -> None:
        self._many("Pin references", self.ctx.library.pin_references, self.selected_faces())

    def exclude_selected(self) -> None:
        self._many("Exclude references", self.ctx.library.exclude_references, self.selected_faces())

    def pin_refs(self) -> None:
        self._many("Pin references", self.ctx.library.pin_references, self.selected_refs())

    def exclude_refs(self) -> None:
        self._many("Exclude references", self.ctx.library.exclude_references, self.selected_refs())

    def reset_refs(self) -> None:
        if self.person is not None:
            lib, pid = self.ctx.library, self.person.id
            run_edit(self.ctx, lambda: lib.reset_references(pid), "Reset references")

    # -- menus ---------------------------------------------------------------------------

    def _move_menu(self) -> None:
        menu = self._people_menu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per click: freed when closed
        menu.exec(self.buttons["move"].mapToGlobal(self.buttons["move"].rect().bottomLeft()))

    def _people_menu(self, parent: QWidget) -> QMenu:
        menu = QMenu("Move to", parent)
        menu.setAccessibleName("Move the selected faces to")
        others = [p for p in self._people if self.person is None or p.id != self.person.id]
        for p in sorted(others, key=lambda p: (p.name is None, p.label.casefold())):
            menu.addAction(p.label, partial(self.move_selected, p.id))
        return menu

    def _faces_menu(self, pos) -> None:
        idx = self.faces.indexAt(pos)
        if not idx.isValid():
            return
        if not self.faces.selectionModel().isSelected(idx):
            self.faces.setCurrentIndex(idx)
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per right-click: freed when closed
        menu.addAction("Confirm", self.confirm_selected)
        menu.addAction("Not this person", self.reject_selected)
        menu.addMenu(self._people_menu(menu))  # freed with it
        if len(self.selected_faces()) < self.faces_model.rowCount():
            menu.addAction("Split off as a new person", self.split_selected)
        menu.addSeparator()
        menu.addAction("Pin as reference", self.pin_selected)
        menu.addAction("Exclude as reference", self.exclude_selected)
        lib = self.ctx.library
        menu.addAction(
            "Forget pin or exclusion",
            lambda: self._many("Reset references", lib.reset_face_references, self.selected_faces()),
        )
        menu.exec(self.faces.viewport().mapToGlobal(pos))
