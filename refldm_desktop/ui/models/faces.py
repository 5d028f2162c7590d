"""A person's faces (or any list of faces) as tiles: the aligned crop, whether the user
confirmed it, and whether it is pinned or excluded as a reference."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, Qt

from refldm_desktop.core.changes import FaceInfo
from refldm_desktop.ui.models import Index
from refldm_desktop.ui.models.people import encode_ids
from refldm_desktop.ui.models.rows import sync_rows
from refldm_desktop.db.models import PhotoState

FACE_MIME = "application/x-refldm-face-ids"

FaceIdRole = Qt.ItemDataRole.UserRole + 1
ConfirmedRole = Qt.ItemDataRole.UserRole + 2
ReferenceRole = Qt.ItemDataRole.UserRole + 3  # "pinned", "excluded" or None
QualityRole = Qt.ItemDataRole.UserRole + 4


def face_text(f: FaceInfo) -> str:
    parts = [f.photo.name]
    if f.assignment == "confirmed":
        parts.append("confirmed")
    if f.reference:
        parts.append(f"{f.reference} as a reference")
    if f.photo_state != PhotoState.OK:
        parts.append(f"photo {f.photo_state}")
    return " · ".join(parts)


class FacesModel(QAbstractListModel):
    def __init__(self, thumbs, size: int = 128, parent=None) -> None:
        super().__init__(parent)
        self._faces: list[FaceInfo] = []
        self._thumbs = thumbs  # ui.thumbnails.ThumbnailCache: ("face", id, size) pictures
        self._size = size
        thumbs.ready.connect(self._pixmap_ready)

    def set_faces(self, faces: Sequence[FaceInfo]) -> None:
        sync_rows(self, self._faces, list(faces), key=lambda f: f.id)

    def face(self, row: int) -> FaceInfo:
        return self._faces[row]

    def faces(self) -> list[FaceInfo]:
        return list(self._faces)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._faces)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._faces):
            return None
        f = self._faces[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f.photo.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbs.get(("face", f.id, self._size))
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole):
            q = f" · quality {f.quality_score:.2f}" if f.quality_score is not None else ""
            return f"Face {f.id} in {f.photo}{q}\n{face_text(f)}"
        if role == FaceIdRole:
            return f.id
        if role == ConfirmedRole:
            return f.assignment == "confirmed"
        if role == ReferenceRole:
            return f.reference
        if role == QualityRole:
            return f.quality_score
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return [FACE_MIME]

    def mimeData(self, indexes) -> QMimeData:
        return encode_ids(FACE_MIME, list(dict.fromkeys(self._faces[i.row()].id for i in indexes if i.isValid())))

    def _pixmap_ready(self, key) -> None:
        if key[0] == "face" and key[2] == self._size:
            for row, f in enumerate(self._faces):
                if f.id == key[1]:
                    idx = self.index(row)
                    self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
