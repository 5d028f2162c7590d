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


def unnamed(widget, extra=()) -> list[str]:
    out = []
    from PySide6.QtWidgets import QWidget

    for w in widget.findChildren(QWidget):
        if not isinstance(w, CONTROLS + tuple(extra)) or isinstance(w, (QScrollBar, QHeaderView)) or w.objectName().startswith("qt_"):
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


def test_every_page_view_and_dialog_of_the_window_names_every_control(qtbot, tmp_path, open_app):
    """Walk the whole app as a screen-reader user meets it: every page of the sidebar (pages
    are made when first shown), a photo with its faces, the compare view, a person's page,
    and every dialog the menus open; each interactive control, hidden ones too, must have an
    accessible name or a text of its own."""
    from PySide6.QtWidgets import QTextEdit

    from fakes import draw_photo, open_test_library
    from refldm_desktop.ui.dialogs.batch import BatchDialog
    from refldm_desktop.ui.dialogs.errors import show_error
    from refldm_desktop.ui.dialogs.first_run import FirstRunDialog
    from refldm_desktop.ui.dialogs.models import ModelsDialog
    from refldm_desktop.ui.dialogs.restore_options import RestoreOptionsDialog
    from refldm_desktop.ui.dialogs.settings import SettingsDialog
    from refldm_desktop.ui.mainwindow.pages import PAGES

    photos = tmp_path / "photos"
    for i in range(3):
        draw_photo(photos / f"p{i}.png", [(1, i, 10, 10), (2, i, 100, 10)])
    lib = open_test_library(tmp_path / "home")
    ctx, window = open_app(lib)
    window.open_paths([photos])
    qtbot.waitUntil(lambda: not ctx.tasks.busy() and len(lib.photos()) == 3, timeout=30_000)
    for spec in PAGES:
        window.show_page(spec.key)
        qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=30_000)
    pid = lib.photos()[0].id
    library = window.show_page("photos")
    library.open_photo_view(pid)
    library._compare()
    people = window.show_page("people")
    qtbot.waitUntil(lambda: people.model.rowCount() > 0, timeout=30_000)
    people.open_person(people.model.person(0).id)
    qtbot.waitUntil(lambda: people.person_page.faces_model.rowCount() > 0, timeout=30_000)

    from refldm_desktop.ui.dialogs.shortcuts import ShortcutsDialog

    dialogs = [FirstRunDialog(ctx, window), RestoreOptionsDialog(ctx, [pid], window), BatchDialog(ctx, window),
               ModelsDialog(ctx, window), SettingsDialog(ctx, window), ShortcutsDialog(window)]
    box = show_error(window, "the photo is gone", "Traceback: details")
    dialogs.append(box)
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=30_000)
    for top in (window, *dialogs):
        missing = unnamed(top, extra=(QTextEdit,))
        assert missing == [], f"{type(top).__name__}: {missing}"
    for d in dialogs:
        d.close()


def test_an_error_can_be_selected_and_copied_without_closing_it(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QPushButton, QWidget

    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.dialogs.errors import show_error

    make_qapp()
    parent = QWidget()
    qtbot.addWidget(parent)
    box = show_error(parent, "cannot read /p/a.jpg: the file is damaged", "Traceback (most recent call last): ...")
    assert box.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    QGuiApplication.clipboard().clear()
    box.findChild(QPushButton, "copyErrorButton").click()
    qtbot.wait(50)
    assert box.isVisible()
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith("cannot read /p/a.jpg: the file is damaged") and "Traceback (most recent" in copied
    box.close()
