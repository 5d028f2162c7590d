"""The photo grid's model: a list of photo ids, with rows fetched in pages by id.

Only ids are held for the whole filter (100,000 ints is under a megabyte), listed on the
worker. The rows of a page are read when a cell of it is first painted, on the GUI thread
itself: a read-only lookup of a few hundred rows by primary key, under a millisecond, that
gives up at once if the database is locked (then the worker reads them). A worker reading
them instead held the GIL while the grid painted, and on a busy machine held it while it
waited for a core: the window froze for tens of milliseconds per page while scrolling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractItemModel, QByteArray, QModelIndex, QObject, QStringListModel, Qt, QTimer, Signal

from refldm_desktop.ui.models import Index
from refldm_desktop.ui.models.photo_source import PhotoFilter, PhotoRow, first_screen, photo_ids, photos_by_id, photos_now
from refldm_desktop.db.models import PhotoState

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.thumbnails import ThumbnailCache

PAGE = 256
FIRST = 2 * PAGE  # ids read before the first paint: more than a screen
STALE_PAGES = 2  # a page this far from the last one painted is no longer wanted
RELOAD_MS = 300
THUMB = 256  # the core thumbnail's size at scale 1 (bigger on a HiDPI screen)
ID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # PhotoRow, or None while it is being fetched
PIXMAP_ROLE = Qt.ItemDataRole.UserRole + 3
# Made once: flags() is asked for each cell painted, and each "|" of Qt's flags is Python work.
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
_NO_FLAGS = Qt.ItemFlag.NoItemFlags


def _listed(ids: list[int]) -> tuple[list[int], dict[int, int]]:
    """The ids and each one's row, made on the worker (100,000 of them cost the GUI thread
    milliseconds)."""
    return ids, {pid: r for r, pid in enumerate(ids)}


class PhotoListModel(QStringListModel):
    """Based on QStringListModel (its strings are all empty and unused) only so that
    rowCount() and index() are C++: a list view's layout asks the model for an index per
    row, and 100,000 calls into Python on the GUI thread, each taking the GIL from the
    thumbnail threads, froze the window for whole seconds."""

    loaded = Signal()  # the ids of a new filter are in

    def __init__(self, ctx: "AppContext", thumbs: "ThumbnailCache", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.thumbs = thumbs
        self._thumb = thumbs.source_size(THUMB)
        self.filter = PhotoFilter()
        self._ids: list[int] = []
        self._row_of: dict[int, int] = {}
        self._rows: dict[int, PhotoRow] = {}
        self._fresh_pages: set[int] = set()  # pages fetched since the last change
        self._last_page = 0  # the page painted last
        self._generation = 0
        self._shown_filter: PhotoFilter | None = None  # the filter whose ids are shown
        self._partial = False  # only the first screen's ids are known yet
        self.thumbs.ready.connect(self._thumb_ready)
        # Changes come in bursts (a batch finishing photo after photo): one reload for each
        # burst, at most every RELOAD_MS.
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(RELOAD_MS)
        self._reload_timer.timeout.connect(self.reload)

    # -- loading -------------------------------------------------------------------------

    def set_filter(self, f: PhotoFilter) -> None:
        self.filter = f
        self.reload()

    def schedule_reload(self) -> None:
        if not self._reload_timer.isActive():
            self._reload_timer.start()

    def concerned(self, change) -> bool:
        """Whether `change` may alter what the grid lists."""
        return bool({"photos", "faces"} & set(change.areas) or (self.filter.restored and "versions" in change.areas))

    def on_change(self, change) -> None:
        """Refresh after a change. When it names its photos, they are all shown, and the
        filter is one a photo's update cannot move it in or out of (everything, a folder),
        only their rows are read again: a batch announcing every finished photo must not
        make the grid list 100,000 ids each time. Anything else lists the ids again, once
        per burst."""
        if not self.concerned(change):
            return
        areas, f = change.areas, self.filter
        ids = change.ids.get("photos") if "photos" in areas and not change.external else None
        fixed = not f.restored and f.person_id is None
        if ids is not None and fixed and ids and all(i in self._row_of for i in ids):
            self._refresh_rows(ids)
        else:
            self.schedule_reload()

    def _refresh_rows(self, ids) -> None:
        gen, lib, ids = self._generation, self.ctx.library, list(ids)

        def got(rows: dict[int, PhotoRow]) -> None:
            if len(rows) < len(ids):
                self.schedule_reload()  # some were deleted
            self._got_rows(gen, rows)

        self.ctx.tasks.run(lambda: photos_by_id(lib, ids), got, label="Reading photos")

    def reload(self) -> None:
        """Fetch the ids again (after a change); rows already known stay until refetched.
        A new filter first gets its count and first screen of ids, so the grid paints
        before the whole list (100,000 ids) is read."""
        self._generation += 1
        gen, f, lib = self._generation, self.filter, self.ctx.library
        if f != self._shown_filter:

            self.ctx.tasks.run(lambda: first_screen(lib, f, FIRST), lambda got: self._set_first(gen, f, *got),
                               label="Listing photos")
        self.ctx.tasks.run(lambda: _listed(photo_ids(lib, f)), lambda got: self._set_ids(gen, *got), label="Listing photos")

    def _set_first(self, gen: int, f: PhotoFilter, count: int, first: list[int], rows: dict[int, PhotoRow]) -> None:
        """The count and the first screen, with their rows: what the first paint shows."""
        if gen != self._generation:
            return
        self._shown_filter = f
        # Rows past the first screen have no id yet (0: no photo has it) until the whole
        # list comes, a moment later.
        self._ids = first + [0] * max(0, count - len(first))
        self._row_of = {pid: r for r, pid in enumerate(first)}
        self._rows = dict(rows)
        self._fresh_pages = set(range((len(first) + PAGE - 1) // PAGE))
        self._partial = True
        self._new_rows(len(self._ids))
        self.loaded.emit()

    def _set_ids(self, gen: int, ids: list[int], row_of: dict[int, int]) -> None:
        if gen != self._generation:
            return  # a newer filter was asked for meanwhile
        self._shown_filter = self.filter
        partial, self._partial = self._partial, False
        if len(ids) == len(self._ids) and (partial or ids == self._ids):
            # The same photos (or the rest of the first screen's list): keep showing what is
            # known (a reset would lay out every cell again and lose the selection). After a
            # change, rows are read again as they are painted.
            if not partial:
                self._fresh_pages.clear()
            self._ids, self._row_of = ids, row_of
            if ids:
                self.dataChanged.emit(self.index(0), self.index(len(ids) - 1), [ROW_ROLE])
        else:
            self._ids, self._row_of = ids, row_of
            self._fresh_pages.clear()
            self._rows.clear()
            self._new_rows(len(ids))
        self.loaded.emit()

    def _new_rows(self, n: int) -> None:
        """Rows for a new list of ids, none of the old ones kept. From none (the first
        paint, or switching from an empty folder), the rows are inserted, not reset: Qt then
        makes the 100,000 empty strings itself, where a Python list of them took the GUI
        thread 6 ms, 2 this way."""
        if self.rowCount() == 0 and n:
            QStringListModel.insertRows(self, 0, n)  # ours refuses everyone else
        else:
            self.setStringList([""] * n)  # resets the model

    def _fetch_page(self, page: int, *, painting: bool = False) -> None:
        if page in self._fresh_pages or (self._partial and (page + 1) * PAGE > FIRST):
            return  # fetched already, or its ids are not known yet
        self._fresh_pages.add(page)
        gen, lib = self._generation, self.ctx.library
        ids = self._ids[page * PAGE : (page + 1) * PAGE]
        if painting:
            # Read here and now: a quick lookup by id, where a worker reading it would hold
            # the GIL while the GUI thread paints (and, on a busy machine, hold it while it
            # waits for a core). Each cell painted after this one finds its row.
            rows = photos_now(lib, ids)
            if rows is not None:
                self._rows.update(rows)
                return

        def fetch() -> dict[int, PhotoRow] | None:
            # Scrolling fast queues pages the view has already left: skip those (the GIL
            # their rows would take is felt by the GUI thread), and read them if painted again.
            if painting and abs(page - self._last_page) > STALE_PAGES:
                return None
            return photos_by_id(lib, ids)

        def got(rows: dict[int, PhotoRow] | None) -> None:
            if rows is None:
                self._fresh_pages.discard(page)
            else:
                self._got_rows(gen, rows)

        self.ctx.tasks.run(fetch, got, label="Reading photos")

    def _got_rows(self, gen: int, rows: dict[int, PhotoRow]) -> None:
        if gen != self._generation:
            return
        self._rows.update(rows)
        changed = sorted(self._row_of[i] for i in rows if i in self._row_of)
        if len(changed) <= 8:
            for r in changed:
                self.dataChanged.emit(self.index(r), self.index(r))
        else:
            self.dataChanged.emit(self.index(changed[0]), self.index(changed[-1]))

    def _thumb_ready(self, key) -> None:
        kind, pid, _size = key
        if kind == "photo" and pid in self._row_of:
            idx = self.index(self._row_of[pid])
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole, PIXMAP_ROLE])

    # -- the model API -------------------------------------------------------------------

    def photo_id(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, photo_id: int) -> int | None:
        return self._row_of.get(photo_id)

    def photo_row(self, row: int) -> PhotoRow | None:
        return self._rows.get(self._ids[row])

    def paint_data(self, row: int) -> tuple[PhotoRow | None, Any]:
        """What a cell shows: the row (None while it is fetched) and its pixmap (or None)."""
        pid = self._ids[row]
        self._last_page = row // PAGE
        if row // PAGE not in self._fresh_pages:
            self._fetch_page(row // PAGE, painting=True)
        r = self._rows.get(pid)
        return (None, None) if r is None else (r, self._pixmap(pid, r))

    def _pixmap(self, pid: int, row: PhotoRow) -> Any:
        """The photo's thumbnail if made; else None, and it is asked for."""
        key = ("photo", pid, self._thumb)
        self.thumbs.hint_path(key, row.location)
        return self.thumbs.get(key)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        pid = self._ids[index.row()]
        if role == ID_ROLE:
            return pid
        row = self._rows.get(pid)
        if index.row() // PAGE not in self._fresh_pages:
            self._fetch_page(index.row() // PAGE)
        if role == ROW_ROLE:
            return row
        if row is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return row.name
        if role == Qt.ItemDataRole.ToolTipRole:
            faces = f"{row.face_count} face{'s' if row.face_count != 1 else ''}"
            note = "" if row.state == PhotoState.OK else f" ({row.state})"
            return f"{row.path}\n{faces}{note}"
        if role in (Qt.ItemDataRole.DecorationRole, PIXMAP_ROLE):
            return self._pixmap(pid, row)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _FLAGS if index.isValid() else _NO_FLAGS

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names.update({ID_ROLE: QByteArray(b"photoId"), ROW_ROLE: QByteArray(b"photoRow")})
        return names

    # Read-only: the string list underneath is a row counter, never data.
    def itemData(self, index: Index) -> dict[int, Any]:
        return QAbstractItemModel.itemData(self, index)

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        return False

    def insertRows(self, row: int, count: int, parent: Index = QModelIndex()) -> bool:
        return False

    def removeRows(self, row: int, count: int, parent: Index = QModelIndex()) -> bool:
        return False

    def moveRows(self, *args: Any) -> bool:
        return False
