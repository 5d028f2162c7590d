"""A person's chosen reference faces, best first, each with the reasons it was chosen."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from refldm_desktop.ui.models.faces import FaceIdRole, ReferenceRole
from refldm_desktop.ui.models import Index
from refldm_desktop.ui.models.rows import sync_rows

if TYPE_CHECKING:
    from refldm_desktop.faces.refselect import Choice

PinnedRole = Qt.ItemDataRole.UserRole + 10
ReasonsRole = Qt.ItemDataRole.UserRole + 11
ScoreRole = Qt.ItemDataRole.UserRole + 12


class ReferencesModel(QAbstractListModel):
    def __init__(self, thumbs, size: int = 128, parent=None) -> None:
        super().__init__(parent)
        self._refs: list[Choice] = []
        self._thumbs = thumbs  # ui.thumbnails.ThumbnailCache: ("face", id, size) pictures
        self._size = size
        thumbs.ready.connect(self._pixmap_ready)

    def set_references(self, refs: Sequence["Choice"]) -> None:
        sync_rows(self, self._refs, list(refs), key=lambda c: c.face_id)

    def choice(self, row: int) -> "Choice":
        return self._refs[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._refs)

    @staticmethod
    def _label(c: "Choice") -> str:
        return f"{'pinned · ' if c.pinned else ''}quality {c.score:.2f}"

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._refs):
            return None
        c = self._refs[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._label(c)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbs.get(("face", c.face_id, self._size))
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole):
            why = "\n".join(f"• {r}" for r in c.reasons)
            # The label first, whole: a narrow tile may not show all of it.
            return f"{self._label(c)}\nFace {c.face_id} in {Path(c.photo_path).name}\n{why}"
        if role == FaceIdRole:
            return c.face_id
        if role == PinnedRole:
            return c.pinned
        if role == ReferenceRole:
            return "pinned" if c.pinned else None
        if role == ReasonsRole:
            return list(c.reasons)
        if role == ScoreRole:
            return c.score
        return None

    def _pixmap_ready(self, key) -> None:
        if key[0] == "face" and key[2] == self._size:
            for row, c in enumerate(self._refs):
                if c.face_id == key[1]:
                    idx = self.index(row)
                    self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
