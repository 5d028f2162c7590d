"""The photo grid: a list view in icon mode over PhotoListModel, painted by a delegate from
cached pixmaps. Uniform cells keep layout cost flat with 100,000 photos."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QPainter, QPalette, QShortcut
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyledItemDelegate, QStyleOptionViewItem, QWidget
from refldm_desktop.db.models import PhotoState
from refldm_desktop.ui.models.photos import PhotoListModel


CELL = 184
THUMB_BOX = 160
THUMB_SIZE = (THUMB_BOX, THUMB_BOX - 12)  # the picture's box in a cell, logical pixels

# Looked up once: a Qt enum member or colour made in each cell's paint is Python work on the
# GUI thread, 30 cells a frame while scrolling.
_HIGHLIGHT = QPalette.ColorRole.Highlight
_HOVER_ROLE = QPalette.ColorRole.AlternateBase
_PLACEHOLDER = QPalette.ColorRole.Midlight
_TEXT = QPalette.ColorRole.Text
_TEXT_SELECTED = QPalette.ColorRole.HighlightedText
_NOTE = QPalette.ColorRole.PlaceholderText
_KEEP_ASPECT = Qt.AspectRatioMode.KeepAspectRatio
_ELIDE = Qt.TextElideMode.ElideMiddle
_NAME_ALIGN = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
_CENTER = Qt.AlignmentFlag.AlignCenter
_NO_PEN = Qt.PenStyle.NoPen
_BADGE = QColor(0, 0, 0, 150)
_BADGE_TEXT = QColor("white")


_state_flags: tuple = ()


def state_flags() -> tuple:
    """QStyle's Selected and MouseOver flags. Looked up when first needed: PySide makes the
    Python types of all of QStyle's enums when its first one is used (9 ms here), and the
    first paint needs none of them (nothing is selected or under the mouse yet)."""
    global _state_flags
    if not _state_flags:
        from PySide6.QtWidgets import QStyle

        _state_flags = (QStyle.StateFlag.State_Selected, QStyle.StateFlag.State_MouseOver)
    return _state_flags


class PhotoDelegate(QStyledItemDelegate):
    """Paints a cell: the thumbnail (or a placeholder), the file name, a face count."""

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self._view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(CELL, CELL + 8)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        r = option.rect.adjusted(4, 4, -4, -4)
        pal = option.palette
        selected = hover = False
        # A cell can only be selected when something is, or under the mouse when the mouse
        # is over the grid: only then is its state (a QStyle flag) read (see PhotoGrid.paintEvent).
        if getattr(self._view, "cell_states_matter", True):
            is_selected, is_hover = state_flags()
            state = option.state
            selected = bool(state & is_selected)
            hover = not selected and bool(state & is_hover)
        if selected:
            painter.fillRect(r, pal.color(_HIGHLIGHT))
        elif hover:
            painter.fillRect(r, pal.color(_HOVER_ROLE))
        box = QRect(r.x() + (r.width() - THUMB_BOX) // 2, r.y() + 4, THUMB_BOX, THUMB_BOX - 12)
        # One plain Python call for what the cell shows (no round trips through Qt).
        model = index.model()
        assert isinstance(model, PhotoListModel)  # the grid shows nothing else
        row, pm = model.paint_data(index.row())
        pictured = pm is not None and not pm.isNull()
        if pictured:
            # Thumbnails are made at this size: drawn 1:1 unless the box is smaller.
            logical = pm.deviceIndependentSize().toSize()
            size = logical.scaled(box.size(), _KEEP_ASPECT) if (
                logical.width() > box.width() or logical.height() > box.height()) else logical
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(box.center())
            painter.drawPixmap(target, pm)
        else:
            painter.fillRect(box.adjusted(12, 12, -12, -12), pal.color(_PLACEHOLDER))
        text_rect = QRect(r.x() + 4, box.bottom() + 4, r.width() - 8, r.bottom() - box.bottom() - 4)
        painter.setPen(pal.color(_TEXT_SELECTED if selected else _TEXT))
        if row is not None:
            name = option.fontMetrics.elidedText(row.name, _ELIDE, text_rect.width())
            painter.drawText(text_rect, _NAME_ALIGN, name)
            if row.face_count:
                corner = target if pictured else box
                badge = QRect(corner.right() - 26, corner.y() + 3, 24, 18)
                painter.setPen(_NO_PEN)
                painter.setBrush(_BADGE)
                painter.drawRoundedRect(badge, 8, 8)
                painter.setPen(_BADGE_TEXT)
                painter.drawText(badge, _CENTER, str(row.face_count))
            if row.state != PhotoState.OK:
                painter.setPen(pal.color(_NOTE))
                painter.drawText(box, _CENTER, row.state)
        painter.restore()


class PhotoGrid(QListView):
    """Signals carry photo ids; the page decides what opening a photo means."""

    opened = Signal(int)  # double click / Enter on a photo
    menu_requested = Signal(list, object)  # selected photo ids, global position
    painted = Signal()  # once: the first paint after the model's first load

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("photoGrid")
        self._loaded = self._painted = False
        self._layout_width = -1  # the width the view may use, at its last resize
        self.setAccessibleName("Photos")
        self.setAccessibleDescription("Photos of the library; right-click to restore faces")
        # List mode flowing left to right and wrapping looks like icon mode, but with
        # uniform cells its layout asks the model nothing per row; icon mode builds an item
        # per row and calls model.index() (Python) for each of 100,000 rows.
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(True)
        self.setSpacing(2)
        self.setGridSize(QSize(CELL + 4, CELL + 12))
        self.setItemDelegate(PhotoDelegate(self))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.doubleClicked.connect(lambda idx: self.opened.emit(self.model().photo_id(idx.row())))
        menu_key = QShortcut(QKeySequence("Shift+F10"), self, context=Qt.ShortcutContext.WidgetShortcut)
        menu_key.activated.connect(lambda: self._menu(self.visualRect(self.currentIndex()).center()))

    def resizeEvent(self, event) -> None:
        # QListView lays its cells out in a width that already leaves room for the
        # vertical scroll bar, so that the bar showing or going changes nothing in it. Yet
        # the viewport's resize when it does (a folder's rows arriving, or leaving) makes
        # QListView lay out every cell again: 5-13 ms of the GUI thread for 100,000
        # photos, on each switch to a large folder. Only a change of the width the view
        # may use (the window or the sidebar resized) needs a new layout.
        width = self.maximumViewportSize().width()
        if width == self._layout_width:
            QAbstractItemView.resizeEvent(self, event)  # the scroll bars' ranges only
        else:
            self._layout_width = width
            super().resizeEvent(event)

    def dataChanged(self, topLeft, bottomRight, roles=()) -> None:
        # QListView lays every cell out again after any change of data, one thumbnail
        # arriving included: with 100,000 photos that is 5-10 ms of the GUI thread per
        # picture while scrolling (about 100 layouts in 3 s of it). Every cell here has the
        # grid's one size, so changed data never moves a cell: the changed cells are only
        # repainted, as QAbstractItemView does (with its editors and accessibility events).
        QAbstractItemView.dataChanged(self, topLeft, bottomRight, list(roles))

    def paintEvent(self, event) -> None:
        # Once per paint, not per cell. (The grid, not its viewport, is asked about the mouse:
        # PySide's first look at the viewport makes the Python types of every Qt widget
        # class, 10-16 ms.)
        self.cell_states_matter = self.selectionModel().hasSelection() or self.underMouse()
        super().paintEvent(event)
        if self._loaded and not self._painted:
            self._painted = True
            self.painted.emit()

    def setModel(self, model) -> None:
        super().setModel(model)
        self._loaded = self._painted = False
        model.loaded.connect(self._on_loaded)

    def _on_loaded(self) -> None:
        self._loaded = True

    def model(self) -> PhotoListModel:
        model = super().model()
        assert isinstance(model, PhotoListModel)  # set once by the photos page
        return model

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.opened.emit(self.model().photo_id(self.currentIndex().row()))
            return
        super().keyPressEvent(event)

    def selected_ids(self) -> list[int]:
        m = self.model()
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        return [m.photo_id(r) for r in rows]

    def select_photo(self, photo_id: int) -> bool:
        row = self.model().row_of(photo_id)
        if row is None:
            return False
        idx = self.model().index(row)
        self.setCurrentIndex(idx)
        self.scrollTo(idx)
        return True

    def _menu(self, pos) -> None:
        idx = self.indexAt(pos)
        if idx.isValid() and not self.selectionModel().isSelected(idx):
            self.setCurrentIndex(idx)
        ids = self.selected_ids()
        if ids:
            self.menu_requested.emit(ids, self.viewport().mapToGlobal(pos))
