"""Icons and the style sheet, from the top-level resources/ folder.

The folder ships inside the package as refldm_desktop/ui_resources (see pyproject); in a
source checkout it is read where it lies.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "ui_resources", here.parents[2] / "resources"):
        if (candidate / "style.qss").is_file():
            return candidate
    raise FileNotFoundError("the app's resources folder is missing; reinstall refldm-desktop")


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


_icons: dict = {}


ICON_STROKE = "#5a6b7c"  # the line colour the icons are drawn in
SELECTED_STROKE = "#ffffff"  # on a selected row's highlight, where grey lines all but vanished


def icon(name: str):
    """A QIcon from resources/icons (an empty icon when there is none by that name); drawn
    in white when its item is selected."""
    from PySide6.QtGui import QIcon

    if name not in _icons:
        path = resource("icons", name) if name else None
        if path is None or not path.is_file():
            _icons[name] = QIcon()
        elif path.suffix == ".svg" and ICON_STROKE in (svg := path.read_text(encoding="utf-8")):
            _icons[name] = _two_colour(svg)
        else:
            _icons[name] = QIcon(str(path))
    return _icons[name]


def _two_colour(svg: str):
    """The icon as pixmaps in its own colour and, for the Selected mode, in white. (Pixmaps
    added to an SVG icon are used only at exactly their size, and the sidebar's is not one
    of them: all pixmaps, and Qt scales the nearest.)"""
    from PySide6.QtGui import QIcon, QPixmap

    made = QIcon()
    for mode, text in ((QIcon.Mode.Normal, svg), (QIcon.Mode.Selected, svg.replace(ICON_STROKE, SELECTED_STROKE))):
        for size in (16, 20, 24, 32, 40, 48, 64, 96):  # sharp on HiDPI screens too
            sized = text.replace('width="24" height="24"', f'width="{size}" height="{size}"', 1)
            pixmap = QPixmap()
            if pixmap.loadFromData(sized.encode("utf-8"), "SVG"):
                made.addPixmap(pixmap, mode)
    return made


def style_sheet() -> str:
    return resource("style.qss").read_text(encoding="utf-8")
