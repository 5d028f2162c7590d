"""What the people pages share: their thumbnail cache, running an edit in the background,
and the face tile delegate with its confirmed / pinned / excluded badges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from refldm_desktop.ui.models.faces import ConfirmedRole, ReferenceRole
from refldm_desktop.ui.models import Index
from refldm_desktop.ui.models.people import HiddenRole

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext

TILE = 128
EDIT_AREAS = ("people", "faces", "references")


def people_thumbs(ctx: "AppContext"):
    """One cache of face pictures for all people pages (made once per window)."""
    cache = ctx.people_thumbs
    if cache is None:
        from refldm_desktop.ui.thumbnails import ThumbnailCache

        cache = ctx.people_thumbs = ThumbnailCache(ctx.library, ctx)
        ctx.on_close(cache.close)
    return cache


def coalesced(owner: QWidget, fn: Callable[[], None], ms: int = 300) -> Callable[[], None]:
    """A call of `fn` that waits `ms` for more: indexing announces every photo it commits,
    and a page needs one refresh for a burst of them, not one each."""
    from PySide6.QtCore import QTimer

    timer = QTimer(owner)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(fn)
    return timer.start


def run_edit(
    ctx: "AppContext",
    fn: Callable[[], Any],
    label: str,
    on_done: Callable[[Any], None] | None = None,
) -> None:
    """A people edit on the worker; then the pages refresh (from the core's change event,
    or from notify() where the core has none yet) and the Undo action learns about it."""

    def ok(result: Any) -> None:
        ctx.notify(*EDIT_AREAS)
        if on_done is not None:
            on_done(result)

    ctx.tasks.run(fn, ok, label=label)


def rename_person(
    ctx: "AppContext",
    parent: QWidget,
    person_id: int,
    name: str,
    on_merged: Callable[[int], None] | None = None,
) -> None:
    """Rename a person. When another (shown) person already has that name, case aside, the
    user is asked whether to merge the two instead, as naming a group of unknown faces or a
    face in a photo joins the person of that name: two people of one name is never what was
    meant. The merge keeps the other person (and their name) and is undone with Ctrl+Z;
    Cancel changes nothing. `on_merged(kept_id)` runs after a merge."""
    lib = ctx.library

    def same_name() -> Any:
        key = name.casefold()
        return next((p for p in lib.people(include_hidden=False)
                     if p.id != person_id and p.name and p.name.casefold() == key), None)

    def decide(other: Any) -> None:
        if other is None:
            run_edit(ctx, lambda: lib.rename_person(person_id, name), "Rename")
            return
        from PySide6.QtWidgets import QMessageBox

        from refldm_desktop.ui.keys import undo_words

        box = QMessageBox(QMessageBox.Icon.Question, "Merge people",
                          f"“{other.name}” already exists. Merge these people?", parent=parent)
        box.setObjectName("renameMergeQuestion")
        box.setAccessibleName("Merge people of the same name")
        box.setInformativeText(f"This person's faces become {other.name}'s ({undo_words()}). "
                               "Cancel leaves both as they were.")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.button(QMessageBox.StandardButton.Yes).setText("&Merge")
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button) -> None:
            if box.standardButton(button) != QMessageBox.StandardButton.Yes:
                ctx.notify("people")  # the tile's editor showed the new name: show the old again
                return
            done = (lambda _r: on_merged(other.id)) if on_merged is not None else None
            run_edit(ctx, lambda: lib.merge_people(other.id, [person_id]), "Merge people", done)

        box.buttonClicked.connect(answered)
        box.open()

    ctx.tasks.run(same_name, decide, label="Rename")


def tile_view(name: str, accessible: str, parent: QWidget | None = None, tile: int = TILE) -> QListView:
    """A list view of picture tiles that flow and wrap like a file manager's icons."""
    view = QListView(parent)
    view.setObjectName(name)
    view.setAccessibleName(accessible)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)
    view.setIconSize(QSize(tile, tile))
    view.setGridSize(QSize(tile + 28, tile + 44))
    view.setSpacing(4)
    view.setWordWrap(True)
    view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
    return view


def _draw_mark(painter: QPainter, mark: str, badge: QRect) -> None:
    """A badge's white mark, drawn as lines: characters such as a pin emoji come out as a
    missing-glyph box where no font has them."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QPainterPath, QPen

    x, y, s = badge.x(), badge.y(), badge.width() / 20  # drawn on a 20 x 20 grid
    pen = QPen(QColor("white"), 2.2 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)

    def at(px: float, py: float) -> QPointF:
        return QPointF(x + px * s, y + py * s)

    if mark == "tick":
        path = QPainterPath(at(5.5, 10.5))
        path.lineTo(at(8.7, 13.7))
        path.lineTo(at(14.5, 6.8))
        painter.drawPath(path)
    elif mark == "cross":
        painter.drawLine(at(6.5, 6.5), at(13.5, 13.5))
        painter.drawLine(at(13.5, 6.5), at(6.5, 13.5))
    elif mark == "pin":  # a push pin: a round head over a needle, leaning
        painter.drawLine(at(10.5, 9.5), at(6, 14.5))
        painter.setBrush(QColor("white"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(at(12, 8), 3.6 * s, 3.6 * s)


class FaceDelegate(QStyledItemDelegate):
    """A face tile with small badges: a tick when the user confirmed it, a pin or a cross
    for its reference decision."""

    def __init__(self, tile: int = TILE, parent=None, text_lines: int = 1) -> None:
        super().__init__(parent)
        self._tile = tile
        self._lines = text_lines  # room for this many lines of text under the picture

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        extra = (self._lines - 1) * option.fontMetrics.height()
        return QSize(self._tile + 20, self._tile + 36 + extra)

    def _text_rect(self, option: QStyleOptionViewItem) -> QRect:
        r = option.rect.adjusted(2, 2, -2, -2)
        return QRect(r.x() + 2, r.y() + self._tile + 8, r.width() - 4, option.fontMetrics.height() + 6)

    def label(self, option: QStyleOptionViewItem, text: str) -> tuple[str, Qt.AlignmentFlag]:
        """The tile's text as drawn, and how: on one line when it fits, else wrapped onto
        the lines there is room for (a narrow reference tile's "pinned · quality 0.72"),
        else cut in the middle; the full text is in the tile's tooltip."""
        r = option.rect.adjusted(2, 2, -2, -2)
        box_bottom = r.y() + 4 + self._tile - 1
        rect = QRect(r.x() + 2, box_bottom + 4, r.width() - 4, r.bottom() - box_bottom - 4)
        top = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
        fm = option.fontMetrics
        if fm.horizontalAdvance(text) <= rect.width():
            return text, top
        wrapped = top | Qt.TextFlag.TextWordWrap
        if fm.boundingRect(rect, wrapped, text).height() <= rect.height():
            return text, wrapped
        return fm.elidedText(text, Qt.TextElideMode.ElideMiddle, rect.width()), top

    def updateEditorGeometry(self, editor, option: QStyleOptionViewItem, index: Index) -> None:
        """A name is edited in place, under the picture."""
        editor.setGeometry(self._text_rect(option))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        painter.save()
        r = option.rect.adjusted(2, 2, -2, -2)
        pal = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(r, pal.color(QPalette.ColorRole.Highlight))
        box = QRect(r.x() + (r.width() - self._tile) // 2, r.y() + 4, self._tile, self._tile)
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        if pm is not None and not pm.isNull():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawPixmap(box, pm)
        else:
            painter.fillRect(box, pal.color(QPalette.ColorRole.Midlight))
        reference = index.data(ReferenceRole)
        if reference == "excluded" or index.data(HiddenRole):
            painter.fillRect(box, QColor(0, 0, 0, 110))
        badges = []
        if index.data(ConfirmedRole):
            badges.append(("tick", QColor(40, 140, 60)))
        if reference == "pinned":
            badges.append(("pin", QColor(200, 140, 20)))
        elif reference == "excluded":
            badges.append(("cross", QColor(170, 40, 40)))
        x = box.right() - 22
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for mark, colour in badges:
            badge = QRect(x, box.y() + 4, 20, 20)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawEllipse(badge)
            _draw_mark(painter, mark, badge)
            x -= 24
        text_rect = QRect(r.x() + 2, box.bottom() + 4, r.width() - 4, r.bottom() - box.bottom() - 4)
        if option.state & QStyle.StateFlag.State_Editing:
            painter.restore()
            return
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(pal.color(role))
        text, flags = self.label(option, str(index.data() or ""))
        painter.drawText(text_rect, flags, text)
        painter.restore()
