"""Every control of the people pages, the jobs panel and the dialogs has a name a screen
reader can say (its own text counts, as Qt reads it out)."""

from __future__ import annotations

import pytest

from musthave import require_module  # noqa: E402

require_module("PySide6")
require_module("pytestqt")
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


CONTROLS = (QAbstractButton, QAbstractItemView, QAbstractSlider, QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit)


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


def test_people_pages_jobs_panel_and_dialogs_name_every_control(qtbot, fake_ctx):
    ctx = fake_ctx
    from refldm_desktop.ui.dialogs.batch import BatchDialog
    from refldm_desktop.ui.dialogs.models import ModelsDialog
    from refldm_desktop.ui.dialogs.settings import SettingsDialog
    from refldm_desktop.ui.views.jobs_panel import JobsPanel
    from refldm_desktop.ui.views.people_page import PeoplePage
    from refldm_desktop.ui.views.unknown_faces import UnknownFacesPage

    people = PeoplePage(ctx)
    unknown = UnknownFacesPage(ctx)
    widgets = [people, unknown, JobsPanel(ctx), BatchDialog(ctx), ModelsDialog(ctx), SettingsDialog(ctx)]
    for w in widgets:
        qtbot.addWidget(w)
    qtbot.waitUntil(lambda: people.model.rowCount() > 0 and bool(unknown.rows), timeout=30_000)
    people.open_person(people.model.person(0).id)
    qtbot.waitUntil(lambda: people.person_page.faces_model.rowCount() > 0, timeout=30_000)
    for w in widgets:
        missing = unnamed(w)
        assert missing == [], f"{type(w).__name__}: {missing}"
