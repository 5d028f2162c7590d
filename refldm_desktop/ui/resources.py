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
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon

    if name not in _icons:
        path = resource("icons", name) if name else None
        if path is None or not path.is_file():
            _icons[name] = QIcon()
        else:
            # Qt renders an SVG only at the size a view asks for, so nothing is drawn here.
            made = QIcon(str(path))
            if path.suffix == ".svg" and ICON_STROKE in (svg := path.read_text(encoding="utf-8")):
                white = _white_copy(svg.replace(ICON_STROKE, SELECTED_STROKE))
                if white is not None:
                    made.addFile(str(white), QSize(), QIcon.Mode.Selected)
            _icons[name] = made
    return _icons[name]


def _white_copy(svg: str) -> Path | None:
    """The selected icon's SVG as a file (QIcon renders a file's SVG only when drawn), written
    once per user and text; None when it cannot be written, and the icon stays grey."""
    import hashlib
    import os
    import tempfile

    from refldm_desktop.library.atomic import write_atomic

    data = svg.encode("utf-8")
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    path = Path(tempfile.gettempdir()) / f"refldm-desktop-icons-{user}" / f"{hashlib.sha256(data).hexdigest()[:16]}.svg"
    try:
        # Private to this user: another's folder of that name could hold other pictures.
        path.parent.mkdir(mode=0o700, exist_ok=True)
        if hasattr(os, "getuid") and path.parent.stat().st_uid != os.getuid():
            return None
        if not path.is_file():
            write_atomic(path, data)
    except OSError:
        return None
    return path


def style_sheet() -> str:
    return resource("style.qss").read_text(encoding="utf-8")
