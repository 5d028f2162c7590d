"""The sidebar's icons stay visible on a selected row: grey lines on the highlight colour
all but vanished, so a selected item's icon is drawn in white."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")


def _mean_lightness(image) -> float:
    """The mean lightness of the drawn (opaque) pixels."""
    from PySide6.QtGui import QColor

    total = weight = 0.0
    for y in range(image.height()):
        for x in range(image.width()):
            c = QColor(image.pixelColor(x, y))
            if c.alpha() > 128:
                total += c.lightnessF()
                weight += 1
    assert weight > 0, "the icon drew nothing"
    return total / weight


def test_a_selected_item_draws_its_icon_in_white(qtbot):
    from PySide6.QtGui import QIcon

    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.resources import icon

    make_qapp()
    for name in ("photos.svg", "people.svg", "folder.svg"):
        made = icon(name)
        for size in (18, 24, 30):  # any size a view asks for, not only the ones drawn
            normal = made.pixmap(size, QIcon.Mode.Normal).toImage()
            selected = made.pixmap(size, QIcon.Mode.Selected).toImage()
            assert _mean_lightness(normal) < 0.5
            assert _mean_lightness(selected) > 0.9, (name, size)
        # HiDPI: a larger pixmap is drawn sharp, not scaled up from 24 px.
        assert made.pixmap(48, QIcon.Mode.Selected).width() == 48


def test_an_unwritable_temp_folder_leaves_the_icon_grey_when_selected(qtbot, tmp_path, monkeypatch):
    import tempfile

    from PySide6.QtGui import QIcon

    from refldm_desktop.ui import resources
    from refldm_desktop.ui.app import make_qapp

    make_qapp()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(blocked))
    monkeypatch.setattr(resources, "_icons", {})
    made = resources.icon("photos.svg")
    assert not made.isNull()
    assert _mean_lightness(made.pixmap(24, QIcon.Mode.Selected).toImage()) < 0.9


def test_the_sidebar_draws_the_selected_page_icon_light_on_its_highlight(qtbot, fake_ctx):
    from PySide6.QtGui import QColor, QImage, QPainter

    from refldm_desktop.ui.mainwindow.sidebar import Sidebar

    bar = Sidebar(fake_ctx)
    qtbot.addWidget(bar)
    bar.resize(220, 300)
    bar.show()
    item = bar.topLevelItem(0)
    bar.setCurrentItem(item)
    qtbot.wait(50)
    rect = bar.visualItemRect(item)
    shot = bar.viewport().grab(rect).toImage()
    # The icon's square at the row's left: its lightest pixels are white lines, not grey.
    h = shot.height()
    lightest = max(QColor(shot.pixelColor(x, y)).lightnessF() for x in range(min(h - 4, shot.width())) for y in range(h))
    assert lightest > 0.9
