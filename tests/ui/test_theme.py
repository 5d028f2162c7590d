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
