"""Before and after of one picture in one canvas, so zoom and pan are always the same
for both: a split with a draggable divider, a lens that magnifies the restored picture
under the pointer, or the two side by side."""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


class Mode(str, Enum):
    SPLIT = "split"
    LENS = "lens"
    SIDE = "side"


LENS_RADIUS = 110
LENS_ZOOM = 2.5
LENS_LABEL = f"After, in the lens ({LENS_ZOOM:g}×): point at the photo"


def _keep_inside(center: float, span: float, size: float) -> float:
    if span >= size:
        return size / 2
    return min(max(center, span / 2), size - span / 2)


class CompareCanvas(QWidget):
    """Shows `before` and `after` (same aspect) over `region` (image pixels of `after`)."""

    view_changed = Signal()
    mode_changed = Signal(object)  # Mode

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("compareCanvas")
        self.setAccessibleName("Before and after")
        self.setAccessibleDescription("Drag the divider to compare; scroll to zoom; drag to pan")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 240)
        self.before: QImage | None = None
        self.after: QImage | None = None
        self.mode = Mode.SPLIT
        self.split = 0.5  # divider position, 0..1 of the shown width
        self.zoom = 1.0  # 1 = the region fits the widget
        self.center = QPointF(0.5, 0.5)  # of the region, in 0..1
        self.region = QRectF()  # what "fit" shows, in `after` pixels
        self._lens_at: QPointF | None = None
        self._drag: str | None = None
        self._last = QPointF()

    # -- content and view ----------------------------------------------------------------

    def set_images(self, before: QImage, after: QImage) -> None:
        self.before, self.after = before, after
        self.show_region(QRectF(0, 0, after.width(), after.height()))

    def show_region(self, region: QRectF) -> None:
        """Fit this part of the picture (a face, or the whole photo)."""
        self.region = QRectF(region)
        self.zoom, self.center = 1.0, QPointF(0.5, 0.5)
        self.update()
        self.view_changed.emit()

    def set_mode(self, mode: Mode) -> None:
        """The one way the mode changes (buttons, keys, tools): mode_changed follows it."""
        self.mode = Mode(mode)
        self.update()
        self.mode_changed.emit(self.mode)

    def set_zoom(self, zoom: float) -> None:
        self.zoom = min(32.0, max(1.0, zoom))
        self.update()
        self.view_changed.emit()

    def _panes(self) -> list[QRectF]:
        r = QRectF(self.rect())
        if self.mode is Mode.SIDE:
            half = r.width() / 2
            return [QRectF(r.x(), r.y(), half - 2, r.height()), QRectF(r.x() + half + 2, r.y(), half - 2, r.height())]
        return [r]

    def _source(self, pane: QRectF) -> QRectF:
        """The part of `after` (in its pixels) shown in `pane` at the current zoom and pan."""
        reg = self.region
        if reg.isEmpty() or self.after is None:
            return QRectF()
        scale = min(pane.width() / reg.width(), pane.height() / reg.height()) * self.zoom
        w, h = pane.width() / scale, pane.height() / scale
        cx = reg.x() + self.center.x() * reg.width()
        cy = reg.y() + self.center.y() * reg.height()
        # Stay on the picture where it is large enough: a narrow pane shows more of the
        # photo around a face, not the empty space beyond its edge.
        cx = _keep_inside(cx, w, self.after.width())
        cy = _keep_inside(cy, h, self.after.height())
        return QRectF(cx - w / 2, cy - h / 2, w, h)

    def _draw(self, p: QPainter, image: QImage, target: QRectF, source: QRectF) -> None:
        """Draw `source` (in `after` pixels) of an image that may be a different size."""
        after = self.after or image
        sx = image.width() / max(1, after.width())
        sy = image.height() / max(1, after.height())
        p.drawImage(target, image, QRectF(source.x() * sx, source.y() * sy, source.width() * sx, source.height() * sy))

    # -- painting ------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(115))
        before, after = self.before, self.after
        if before is None or after is None:
            p.end()
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 4)
        panes = self._panes()
        if self.mode is Mode.SIDE:
            for pane, image, label in ((panes[0], before, "Before"), (panes[1], after, "After")):
                self._draw(p, image, pane, self._source(pane))
                self._label(p, pane, label, Qt.AlignmentFlag.AlignLeft)
        else:
            pane = panes[0]
            src = self._source(pane)
            self._draw(p, before, pane, src)
            if self.mode is Mode.SPLIT:
                x = pane.x() + pane.width() * self.split
                right = QRectF(x, pane.y(), pane.right() - x, pane.height())
                p.save()
                p.setClipRect(right)
                self._draw(p, after, pane, src)
                p.restore()
                pen = QPen(QColor("white"), 2)
                p.setPen(pen)
                p.drawLine(QPointF(x, pane.top()), QPointF(x, pane.bottom()))
                p.setBrush(QColor("white"))
                p.drawEllipse(QPointF(x, pane.center().y()), 9, 9)
                self._label(p, pane, "Before", Qt.AlignmentFlag.AlignLeft)
                self._label(p, pane, "After", Qt.AlignmentFlag.AlignRight)
            else:
                # Which picture is which: without labels the lens read as a plain zoom.
                self._label(p, pane, "Before", Qt.AlignmentFlag.AlignLeft)
                self._label(p, pane, LENS_LABEL, Qt.AlignmentFlag.AlignRight)
                if self._lens_at is not None:
                    self._lens(p, pane, src, self._lens_at, after)
        p.end()

    def _lens(self, p: QPainter, pane: QRectF, src: QRectF, at: QPointF, after: QImage) -> None:
        # The restored picture under the pointer, LENS_ZOOM times larger than around it.
        per_px = src.width() / pane.width()
        ix = src.x() + (at.x() - pane.x()) * per_px
        iy = src.y() + (at.y() - pane.y()) * per_px
        half = LENS_RADIUS * per_px / LENS_ZOOM
        circle = QRectF(at.x() - LENS_RADIUS, at.y() - LENS_RADIUS, 2 * LENS_RADIUS, 2 * LENS_RADIUS)
        path = QPainterPath()
        path.addEllipse(circle)
        p.save()
        p.setClipPath(path)
        self._draw(p, after, circle, QRectF(ix - half, iy - half, 2 * half, 2 * half))
        p.restore()
        p.setPen(QPen(QColor("white"), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(circle)

    def _label(self, p: QPainter, pane: QRectF, text: str, align) -> None:
        box = pane.adjusted(10, 10, -10, -10)
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 14, fm.height() + 6
        x = box.x() if align == Qt.AlignmentFlag.AlignLeft else box.right() - w
        r = QRectF(x, box.y(), w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(r, 6, 6)
        p.setPen(QColor("white"))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)

    # -- the pointer -----------------------------------------------------------------------

    def _near_divider(self, pos: QPointF) -> bool:
        pane = self._panes()[0]
        return self.mode is Mode.SPLIT and abs(pos.x() - (pane.x() + pane.width() * self.split)) < 12

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = "divider" if self._near_divider(event.position()) else "pan"
            self._last = event.position()

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._drag == "divider":
            pane = self._panes()[0]
            self.split = min(1.0, max(0.0, (pos.x() - pane.x()) / max(1.0, pane.width())))
            self.update()
        elif self._drag == "pan":
            pane = self._panes()[0]
            src = self._source(pane)
            d = pos - self._last
            self._last = pos
            per_px = src.width() / pane.width()
            self.center = QPointF(
                self.center.x() - d.x() * per_px / max(1.0, self.region.width()),
                self.center.y() - d.y() * per_px / max(1.0, self.region.height()),
            )
            self.update()
        if self.mode is Mode.LENS:
            self._lens_at = pos
            self.update()
        self.setCursor(Qt.CursorShape.SplitHCursor if self._near_divider(pos) else Qt.CursorShape.OpenHandCursor)

    def mouseReleaseEvent(self, event) -> None:
        self._drag = None
        self.view_changed.emit()

    def leaveEvent(self, event) -> None:
        self._lens_at = None
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        self.set_zoom(self.zoom * (1.25 ** steps))

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.set_zoom(self.zoom * 1.25)
        elif key == Qt.Key.Key_Minus:
            self.set_zoom(self.zoom / 1.25)
        elif key == Qt.Key.Key_0:
            self.set_zoom(1.0)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and self.mode is Mode.SPLIT:
            self.split = min(1.0, max(0.0, self.split + (0.05 if key == Qt.Key.Key_Right else -0.05)))
            self.update()
        else:
            super().keyPressEvent(event)
