"""Every control of the people pages, the jobs panel and the dialogs has a name a screen
reader can say (its own text counts, as Qt reads it out)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
)

from fakes import draw_photo, open_test_library  # noqa: E402

CONTROLS = (QAbstractButton, QAbstractItemView, QAbstractSlider, QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit)


@pytest.fixture
def ctx(qtbot, tmp_path):
    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.context import AppContext

    make_qapp()
    root = tmp_path / "Pictures"
    for i in range(3):
        draw_photo(root / f"p{i}.png", [(1, i, 10, 10), (2, i, 100, 10)])
    draw_photo(root / "alone.png", [(5, 1, 40, 40)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    c = AppContext(lib, start_jobs=False)
    yield c
    c.close()


def inside_compound(w) -> bool:
    p = w.parent()
    while p is not None:
        if isinstance(p, (QComboBox, QAbstractSpinBox, QLineEdit)):
            return True
        p = p.parent()
    return False


def unnamed(widget) -> list[str]:
    out = []
    from PySide6.QtWidgets import QWidget

    for w in widget.findChildren(QWidget):
        if not isinstance(w, CONTROLS) or isinstance(w, (QScrollBar, QHeaderView)) or w.objectName().startswith("qt_"):
            continue  # not a control, or Qt's own parts of a view (it names them itself)
        if inside_compound(w):
            continue  # a compound control's own part (a clear button, a popup): named through it
        text = w.text() if isinstance(w, QAbstractButton) else ""
        if not (w.accessibleName() or text.replace("&", "").strip()):
            out.append(f"{type(w).__name__} {w.objectName()!r}")
    return out


def test_people_pages_jobs_panel_and_batch_dialog_name_every_control(qtbot, ctx):
    from refldm_desktop.ui.dialogs.batch import BatchDialog
    from refldm_desktop.ui.views.jobs_panel import JobsPanel
    from refldm_desktop.ui.views.people_page import PeoplePage
    from refldm_desktop.ui.views.unknown_faces import UnknownFacesPage

    people = PeoplePage(ctx)
    unknown = UnknownFacesPage(ctx)
    widgets = [people, unknown, JobsPanel(ctx), BatchDialog(ctx)]
    for w in widgets:
        qtbot.addWidget(w)
    qtbot.waitUntil(lambda: people.model.rowCount() > 0 and bool(unknown.rows), timeout=30_000)
    people.open_person(people.model.person(0).id)
    qtbot.waitUntil(lambda: people.person_page.faces_model.rowCount() > 0, timeout=30_000)
    for w in widgets:
        missing = unnamed(w)
        assert missing == [], f"{type(w).__name__}: {missing}"
