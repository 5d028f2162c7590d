"""Unknown faces: faces nobody has named, grouped by likely person; type a name (or take
the guess) and the whole group is named at once."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCompleter,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.ui.keys import undo_words
from refldm_desktop.ui.mainwindow.pages import page
from refldm_desktop.ui.views.heading import heading, page_title
from refldm_desktop.ui.views.people_common import (
    EDIT_AREAS,
    coalesced,
    people_thumbs,
    run_edit,
)
from refldm_desktop.ui.views.when_shown import WhenShown
from refldm_desktop.words import agree, counted

if TYPE_CHECKING:
    from refldm_desktop.core.changes import PersonInfo
    from refldm_desktop.core.unknown import FaceGroup
    from refldm_desktop.ui.context import AppContext

FACE = 64
SHOWN_FACES = 8  # per group; the rest are counted
SHOWN_GROUPS = 60  # the biggest groups; naming them brings up the next ones


class FaceTile(QLabel):
    """A face's picture, asked for when the tile is painted: a page of many groups asks
    only for what is in view, and a request the cache dropped is asked again when the tile
    is shown again."""

    def __init__(self, thumbs, key) -> None:
        super().__init__()
        self.thumbs, self.key = thumbs, key
        self._shown = False

    def show_picture(self) -> bool:
        pm = self.thumbs.cached(self.key)
        if pm is not None and not self._shown:
            self.setPixmap(pm)
            self._shown = True
        return self._shown

    def paintEvent(self, event) -> None:
        if not self.show_picture():
            self.thumbs.get(self.key)
        super().paintEvent(event)


class GroupRow(QFrame):
    def __init__(self, page: "UnknownFacesPage", group: "FaceGroup", names: list[str]) -> None:
        super().__init__()
        self.page = page
        self.group = group
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("unknownGroup")
        n = len(group.face_ids)
        self.setAccessibleName(f"Group of {n} unknown face{'s' if n != 1 else ''}")
        self.faces: dict[int, FaceTile] = {}
        strip = QHBoxLayout()
        strip.setSpacing(4)
        for fid in group.face_ids[:SHOWN_FACES]:
            label = FaceTile(page.thumbs, ("face", fid, FACE * 2))
            label.setFixedSize(FACE, FACE)
            label.setScaledContents(True)
            label.setAccessibleName(f"Face {fid}")
            label.setStyleSheet("background: palette(midlight);")
            self.faces[fid] = label
            strip.addWidget(label)
        if n > SHOWN_FACES:
            more = QLabel(f"+{n - SHOWN_FACES}")
            more.setAccessibleName(f"{n - SHOWN_FACES} more faces")
            strip.addWidget(more)
        strip.addStretch(1)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Who is this?")
        self.name.setAccessibleName("Name for this group of faces")
        completer = QCompleter(names, self.name)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.name.setCompleter(completer)
        self.name.returnPressed.connect(self._name)
        ok = QPushButton("Name")
        ok.setAccessibleName("Give this name to every face of the group")
        ok.clicked.connect(self._name)
        form = QHBoxLayout()
        form.addWidget(QLabel(f"{n} face{'s' if n != 1 else ''}:"))
        form.addWidget(self.name, 1)
        form.addWidget(ok)
        self.name.setMinimumWidth(180)
        if group.guess_name:
            guess = QPushButton(f"It's {group.guess_name}")
            guess.setObjectName("guessButton")
            guess.setAccessibleName(f"These faces are {group.guess_name}")
            guess.clicked.connect(lambda: self.page.name_group(self.group, group.guess_name))
            form.addWidget(guess)
        side = QVBoxLayout()
        side.addStretch(1)
        side.addLayout(form)
        side.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addLayout(strip, 3)
        lay.addLayout(side, 2)

    def _name(self) -> None:
        name = self.name.text().strip()
        if name:
            self.page.name_group(self.group, name)


class UnknownFacesPage(QWidget):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("unknownFacesPage")
        self.setAccessibleName("Unknown faces")
        self.thumbs = people_thumbs(ctx)
        self.thumbs.ready.connect(self._pixmap_ready)
        self.people: list["PersonInfo"] = []
        self.rows: list[GroupRow] = []
        self.summary = QLabel("Looking for unknown faces…")
        self.summary.setObjectName("unknownSummary")
        self.summary.setAccessibleName("Unknown faces")
        self.summary.setWordWrap(True)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("unknownFacesView")
        scroll.setAccessibleName("Groups of unknown faces")
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(heading(page_title(page("unknown").title)))
        lay.addWidget(self.summary)
        lay.addWidget(scroll, 1)
        self._refresh_soon = coalesced(self, self.refresh, 500)
        # Grouping compares every unknown face with every other: only for a page in view.
        self._when_shown = WhenShown(self, self._refresh_soon)
        ctx.changed.connect(self._changed)
        self.refresh()

    def page_shown(self) -> None:
        self._when_shown.refreshed()
        self.refresh()

    def refresh(self) -> None:
        lib = self.ctx.library
        self.ctx.tasks.run(lambda: (lib.unknown_faces(), lib.people()), self._show, label="Grouping unknown faces")

    def _show(self, result) -> None:
        groups, people = result
        self.people = people
        for row in self.rows:
            row.deleteLater()
        self.rows = []
        names = sorted({p.name for p in people if p.name}, key=str.casefold)
        for group in groups[:SHOWN_GROUPS]:
            row = GroupRow(self, group, names)
            self.body_layout.insertWidget(self.body_layout.count() - 1, row)
            self.rows.append(row)
        faces = sum(len(g.face_ids) for g in groups)
        if not groups and not people:  # not "every face has a name": there are none yet
            from refldm_desktop.ui.mainwindow.actions import add_folder_words

            self.summary.setText("No faces found yet. They appear here as your photos are indexed: add a folder "
                                 f"with {add_folder_words()}.")
        elif not groups:
            self.summary.setText("Every face has a name. New photos bring new faces here.")
        else:
            self.summary.setText(
                f"{counted(faces, 'face')} in {counted(len(groups), 'group')} {agree(faces, 'has', 'have')} no name yet. Name a group and every face in it "
                f"is that person ({undo_words()})."
            )

    def name_group(self, group: "FaceGroup", name: str) -> None:
        lib = self.ctx.library
        same = next((p for p in self.people if p.name and p.name.casefold() == name.casefold() and not p.hidden), None)
        pid = group.person_id
        fn: Callable[[], object]
        if pid is not None and same is not None and same.id != pid:
            fn = partial(lib.merge_people, same.id, [pid])
        elif pid is not None:
            fn = partial(lib.rename_person, pid, name)
        else:
            fn = partial(lib.name_faces, group.face_ids, name)
        run_edit(self.ctx, fn, f"Name {name}", lambda r: self.ctx.status.emit(f"Named {name}; {undo_words()}"))

    def _pixmap_ready(self, key) -> None:
        if key[0] == "face":
            for row in self.rows:
                tile = row.faces.get(key[1])
                if tile is not None and not tile.show_picture():
                    tile.update()  # not made: painted (and asked for again) only if in view

    def _changed(self, change) -> None:
        if set(EDIT_AREAS) & set(change.areas):
            self._when_shown.changed()
