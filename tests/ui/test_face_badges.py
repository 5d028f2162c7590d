"""The badges on face tiles (confirmed, pinned, excluded) are drawn as shapes, not as
characters: with no emoji font a pin drawn as "📌" came out as a missing-glyph box. So a
badge looks the same whatever font the tile is painted with."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def _tile(qtbot, *, reference=None, confirmed=False, point_size=10, dark=False):
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette, QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QListView, QStyleOptionViewItem

    from refldm_desktop.ui.models.faces import ConfirmedRole, ReferenceRole
    from refldm_desktop.ui.views.people_common import TILE, FaceDelegate

    model = QStandardItemModel()
    item = QStandardItem("face 1")
    item.setData(reference, ReferenceRole)
    item.setData(confirmed, ConfirmedRole)
    model.appendRow(item)
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    delegate = FaceDelegate(parent=view)
    option = QStyleOptionViewItem()
    font = QFont(view.font())
    font.setPointSize(point_size)
    option.font = font
    option.fontMetrics = __import__("PySide6.QtGui", fromlist=["QFontMetrics"]).QFontMetrics(font)
    pal = QPalette(view.palette())
    if dark:
        pal.setColor(QPalette.ColorRole.Base, QColor(30, 30, 30))
        pal.setColor(QPalette.ColorRole.Text, QColor(230, 230, 230))
        pal.setColor(QPalette.ColorRole.Midlight, QColor(60, 60, 60))
    option.palette = pal
    size = delegate.sizeHint(option, model.index(0, 0))
    option.rect = QRect(0, 0, size.width(), size.height())
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(pal.color(QPalette.ColorRole.Base))
    painter = QPainter(image)
    painter.setFont(font)
    delegate.paint(painter, option, model.index(0, 0))
    painter.end()
    # The badges' corner of the picture: top right.
    left = (size.width() - 4 - TILE) // 2 + 2
    return image.copy(QRect(left + TILE - 80, 6, 80, 24))


def _white(image) -> int:
    return sum(1 for x in range(image.width()) for y in range(image.height())
               if min(image.pixelColor(x, y).getRgb()[:3]) > 220)


def test_badges_are_shapes_that_do_not_depend_on_the_font(qtbot):
    for reference, confirmed in (("pinned", False), ("excluded", False), (None, True), ("pinned", True)):
        small = _tile(qtbot, reference=reference, confirmed=confirmed, point_size=6)
        big = _tile(qtbot, reference=reference, confirmed=confirmed, point_size=22)
        assert small == big, (reference, confirmed)
        assert _white(small) > 8, (reference, confirmed)  # the mark is drawn on its disc


def test_each_badge_looks_different_and_shows_on_a_dark_theme(qtbot):
    pinned, excluded, confirmed, plain = (_tile(qtbot, reference="pinned"), _tile(qtbot, reference="excluded"),
                                          _tile(qtbot, confirmed=True), _tile(qtbot))
    shown = [pinned, excluded, confirmed, plain]
    assert all(a != b for i, a in enumerate(shown) for b in shown[i + 1:])
    assert _tile(qtbot, reference="pinned", dark=True) != _tile(qtbot, dark=True)
