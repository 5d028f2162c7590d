"""People as tiles: a cover face, the name (edited in place), drag one person onto another
to merge them."""

from __future__ import annotations

import json
from typing import Sequence

from PySide6.QtCore import QAbstractListModel, QByteArray, QMimeData, QModelIndex, QSortFilterProxyModel, Qt, Signal

from refldm_desktop.core.changes import PersonInfo
from refldm_desktop.ui.models import Index
from refldm_desktop.ui.models.rows import sync_rows

PERSON_MIME = "application/x-refldm-person-ids"

# Apart from the face roles: people and faces share the tile delegate.
PersonIdRole = Qt.ItemDataRole.UserRole + 21
FaceCountRole = Qt.ItemDataRole.UserRole + 22
HiddenRole = Qt.ItemDataRole.UserRole + 23
NamedRole = Qt.ItemDataRole.UserRole + 24


def encode_ids(mime: str, ids: Sequence[int]) -> QMimeData:
    data = QMimeData()
    data.setData(mime, QByteArray(json.dumps(list(ids)).encode()))
    return data


def decode_ids(mime: str, data: QMimeData) -> list[int]:
    if not data.hasFormat(mime):
        return []
    try:
        ids = json.loads(bytes(data.data(mime).data()).decode())
    except ValueError:
        return []
    return [i for i in ids if isinstance(i, int)]


class PeopleModel(QAbstractListModel):
    """One row per person, in the core's order. Edits are not made here: the model asks
    for them with signals, and the view runs them off the GUI thread."""

    renameRequested = Signal(int, str)  # person id, new name
    mergeRequested = Signal(int, list)  # into, others

    def __init__(self, thumbs, size: int = 128, parent=None) -> None:
        """`thumbs`: a ui.thumbnails.ThumbnailCache (get(key), ready(key)); covers are its
        ("person", id, size) pictures."""
        super().__init__(parent)
        self._people: list[PersonInfo] = []
        self._thumbs = thumbs
        self._size = size
        thumbs.ready.connect(self._pixmap_ready)

    # -- content --------------------------------------------------------------------------

    def set_people(self, people: Sequence[PersonInfo]) -> None:
        old = {p.id: p for p in self._people}
        for p in people:
            if p.id in old and old[p.id].face_count != p.face_count:
                self._thumbs.forget([("person", p.id, self._size)])  # their best face may have changed
        sync_rows(self, self._people, list(people), key=lambda p: p.id)

    def person(self, row: int) -> PersonInfo:
        return self._people[row]

    def row_of(self, person_id: int) -> int:
        for row, p in enumerate(self._people):
            if p.id == person_id:
                return row
        return -1

    # -- Qt -------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._people)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._people):
            return None
        p = self._people[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return p.label
        if role == Qt.ItemDataRole.EditRole:
            return p.name or ""
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbs.get(("person", p.id, self._size))
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole):
            faces = f"{p.face_count} face{'s' if p.face_count != 1 else ''}"
            extra = f", {p.confirmed_count} confirmed" if p.confirmed_count else ""
            return f"{p.label}: {faces}{extra}{' (hidden)' if p.hidden else ''}"
        if role == PersonIdRole:
            return p.id
        if role == FaceCountRole:
            return p.face_count
        if role == HiddenRole:
            return p.hidden
        if role == NamedRole:
            return p.name is not None
        return None

    def setData(self, index: Index, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        name = str(value).strip()
        p = self._people[index.row()]
        if not name or name == p.name:
            return False
        self.renameRequested.emit(p.id, name)
        return True

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if not index.isValid():
            return base
        return base | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsDragEnabled | Qt.ItemFlag.ItemIsDropEnabled

    def mimeTypes(self) -> list[str]:
        return [PERSON_MIME]

    def mimeData(self, indexes) -> QMimeData:
        ids = list(dict.fromkeys(self._people[i.row()].id for i in indexes if i.isValid()))
        return encode_ids(PERSON_MIME, ids)

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def canDropMimeData(self, data, action, row, column, parent) -> bool:
        return parent.isValid() and bool(decode_ids(PERSON_MIME, data))

    def dropMimeData(self, data, action, row, column, parent) -> bool:
        """Dropping people onto a person merges them into it."""
        if not parent.isValid():
            return False
        into = self._people[parent.row()].id
        others = [i for i in decode_ids(PERSON_MIME, data) if i != into]
        if not others:
            return False
        self.mergeRequested.emit(into, others)
        return False  # the rows go when the core says so, not by Qt's move

    def _pixmap_ready(self, key) -> None:
        if key[0] == "person" and key[2] == self._size:
            row = self.row_of(key[1])
            if row >= 0:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


class PeopleSortFilter(QSortFilterProxyModel):
    """Named people first (by name), then the rest by how many faces they have; hidden
    people only when asked for; a text filter on the label."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._show_hidden = False
        self._named_only: bool | None = None  # True: named only; False: unnamed only
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(True)
        self.sort(0)

    def set_show_hidden(self, show: bool) -> None:
        self.beginFilterChange()
        self._show_hidden = show
        self.endFilterChange()

    def set_named_only(self, named: bool | None) -> None:
        self.beginFilterChange()
        self._named_only = named
        self.endFilterChange()

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        idx = self.sourceModel().index(row, 0, parent)
        if not self._show_hidden and idx.data(HiddenRole):
            return False
        if self._named_only is not None and bool(idx.data(NamedRole)) != self._named_only:
            return False
        return super().filterAcceptsRow(row, parent)

    def lessThan(self, left: Index, right: Index) -> bool:
        def key(i: Index):
            named = bool(i.data(NamedRole))
            pid = int(i.data(PersonIdRole))
            if named:
                return (0, i.data(Qt.ItemDataRole.DisplayRole).casefold(), 0, pid)
            return (1, "", -int(i.data(FaceCountRole)), pid)

        return key(left) < key(right)
