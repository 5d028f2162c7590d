"""Right-click menus are freed once closed: twenty right-clicks left twenty menus (and all
their actions) alive for the window's life."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMenu  # noqa: E402

from ui_testlib import wait_idle  # noqa: E402

WAIT = 30_000
CLICKS = 20


def _close_popups_soon():
    """Closes the menu a right-click opened (exec() waits for it)."""
    def close():
        popup = QApplication.activePopupWidget()
        if popup is None:
            QTimer.singleShot(20, close)
            return
        while popup is not None:  # a submenu, then its menu
            popup.close()
            popup = QApplication.activePopupWidget()

    QTimer.singleShot(20, close)


def _menus(widget) -> int:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return len(widget.findChildren(QMenu))


def _right_clicks(qtbot, widget, click):
    before = _menus(widget)
    for _ in range(CLICKS):
        _close_popups_soon()
        click()
        qtbot.waitUntil(lambda: QApplication.activePopupWidget() is None, timeout=WAIT)
    assert _menus(widget) <= before + 1


def _shown(qtbot, ctx, page, ready):
    """`page` on screen with its rows read and the library idle."""
    qtbot.addWidget(page)
    page.resize(900, 600)
    page.show()
    qtbot.waitUntil(lambda: ready(page), timeout=WAIT)
    wait_idle(qtbot, ctx)
    return page


def test_people_and_person_page_menus_are_freed(qtbot, fake_ctx):
    from refldm_desktop.ui.views.people_page import PeoplePage

    ctx = fake_ctx
    page = _shown(qtbot, ctx, PeoplePage(ctx), lambda p: p.model.rowCount() >= 2)
    tile = page.view.visualRect(page.proxy.index(0, 0)).center()
    _right_clicks(qtbot, page, lambda: page.view.customContextMenuRequested.emit(tile))

    person = max(ctx.library.people(), key=lambda p: p.face_count)
    page.open_person(person.id)
    pp = page.person_page
    qtbot.waitUntil(lambda: pp.person is not None and pp.faces_model.rowCount() > 0, timeout=WAIT)
    wait_idle(qtbot, ctx)
    face = pp.faces.visualRect(pp.faces_model.index(0)).center()
    _right_clicks(qtbot, page, lambda: pp.faces.customContextMenuRequested.emit(face))
    pp.faces.selectionModel().select(pp.faces_model.index(0), pp.faces.selectionModel().SelectionFlag.Select)
    assert pp.buttons["move"].isEnabled()
    _right_clicks(qtbot, page, pp.buttons["move"].click)


def test_photo_grid_menus_are_freed(qtbot, fake_ctx):
    from refldm_desktop.ui.views.photos_page import PhotosPage

    ctx = fake_ctx
    page = _shown(qtbot, ctx, PhotosPage(ctx), lambda p: p.model.rowCount() > 0)
    ids = [page.model.photo_id(0)]
    _right_clicks(qtbot, page, lambda: page.grid.menu_requested.emit(ids, page.mapToGlobal(QPoint(50, 50))))
