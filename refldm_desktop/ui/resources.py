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


def icon(name: str):
    """A QIcon from resources/icons (an empty icon when there is none by that name)."""
    from PySide6.QtGui import QIcon

    if name not in _icons:
        path = resource("icons", name) if name else None
        _icons[name] = QIcon(str(path)) if path is not None and path.is_file() else QIcon()
    return _icons[name]


def style_sheet() -> str:
    return resource("style.qss").read_text(encoding="utf-8")
