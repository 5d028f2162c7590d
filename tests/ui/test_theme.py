"""Settings > Theme: system, light or dark reaches every widget already on screen, the
app's style sheet notwithstanding."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def test_a_theme_reaches_widgets_already_shown_under_the_style_sheet(qtbot):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QLabel, QListView, QVBoxLayout, QWidget

    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.theme import apply_theme

    app = make_qapp()
    assert app.styleSheet()
    page = QWidget()
    qtbot.addWidget(page)
    title, grid = QLabel("All photos"), QListView()
    title.setObjectName("pageTitle")
    lay = QVBoxLayout(page)
    lay.addWidget(title)
    lay.addWidget(grid)
    page.show()
    qtbot.waitExposed(page)

    def lightness(widget, role):
        return widget.palette().color(role).lightness()

    try:
        apply_theme("dark")
        assert lightness(title, QPalette.ColorRole.WindowText) > 180 and lightness(grid, QPalette.ColorRole.Base) < 80
        apply_theme("light")
        assert lightness(title, QPalette.ColorRole.WindowText) < 80 and lightness(grid, QPalette.ColorRole.Base) > 180
    finally:
        apply_theme("system")
    assert grid.palette().color(QPalette.ColorRole.Base) == app.palette().color(QPalette.ColorRole.Base)


def _indicator_contrast(widget, rect, ground_role=None) -> int:
    """The largest lightness step between the ground's colour (the window's unless told) and
    a pixel of `rect` (the indicator) in the widget as drawn."""
    from PySide6.QtGui import QColor, QPalette

    image = widget.grab().toImage()
    ground = widget.palette().color(ground_role or QPalette.ColorRole.Window).lightness()
    return max(abs(QColor(image.pixel(x, y)).lightness() - ground)
               for x in range(rect.left(), rect.right() + 1) for y in range(rect.top(), rect.bottom() + 1))


def test_an_unchecked_box_a_radio_button_and_a_list_check_show_in_both_themes(qtbot):
    """Fusion outlines an empty check box a shade darker than the window: on the dark theme it
    was all but invisible. Each indicator must stand out from its ground in both themes."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QCheckBox, QListWidget, QListWidgetItem, QRadioButton, QStyle, QStyleOptionButton

    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.theme import apply_theme

    make_qapp()
    try:
        for theme in ("dark", "light"):
            apply_theme(theme)
            for kind, element in ((QCheckBox, QStyle.SubElement.SE_CheckBoxIndicator),
                                  (QRadioButton, QStyle.SubElement.SE_RadioButtonIndicator)):
                box = kind("Also restore faces that have no references")
                qtbot.addWidget(box)
                box.show()
                option = QStyleOptionButton()
                box.initStyleOption(option)
                rect = box.style().subElementRect(element, option, box)
                assert _indicator_contrast(box, rect) >= 70, (theme, kind.__name__)
            listed = QListWidget()
            qtbot.addWidget(listed)
            item = QListWidgetItem("a face")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            listed.addItem(item)
            listed.show()
            row = listed.visualItemRect(item)
            check = row.adjusted(0, 0, row.height() - row.width(), 0)  # the square at the row's start
            assert _indicator_contrast(listed.viewport(), check, QPalette.ColorRole.Base) >= 70, (theme, "list check")
    finally:
        apply_theme("system")
