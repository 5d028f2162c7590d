"""The Photo menu's keys call right-click verbs looked up by name when the key is first
pressed (so that their module loads after the first paint): a misspelt or renamed verb
would fail only then, in front of the user. The grid's right-click menu is made from the
same table, so the two cannot drift apart."""

from __future__ import annotations

import inspect

import pytest

from musthave import require_module
from refldm_desktop.ui.mainwindow.actions import PHOTO_VERBS


@pytest.mark.parametrize("v", PHOTO_VERBS, ids=[v.verb for v in PHOTO_VERBS])
def test_every_photo_menu_key_calls_a_verb_that_exists(v):
    from refldm_desktop.ui.views import photo_menu

    fn = getattr(photo_menu, v.verb, None)
    assert callable(fn), f"{v.menu_name} ({v.shortcut}) calls photo_menu.{v.verb}, which does not exist"
    # Called as the key calls it: the page, then one photo id or the list of them.
    inspect.signature(fn).bind(object(), 1 if v.single else [1, 2])


def test_the_photo_menu_keys_are_distinct():
    for field in ("shortcut", "menu_name", "popup_name", "verb"):
        assert len({getattr(v, field) for v in PHOTO_VERBS}) == len(PHOTO_VERBS), field


def test_the_right_click_menu_and_the_photo_menu_offer_the_same_verbs_and_keys(qtbot, tmp_path, open_app):
    require_module("pytestqt")
    from PySide6.QtGui import QAction

    from fakes import open_test_library
    from refldm_desktop.ui.views.photo_menu import photo_menu

    ctx, window = open_app(open_test_library(tmp_path / "home"))
    page = window.show_page("photos")
    popup = photo_menu(page, [1, 2])
    menu_bar = [a for a in window.menus["photo"].actions() if not a.isSeparator()]
    right_click = [a for a in popup.actions() if not a.isSeparator()]
    assert [a.objectName() for a in menu_bar] == [v.menu_name for v in PHOTO_VERBS]
    assert [a.objectName() for a in right_click] == [v.popup_name for v in PHOTO_VERBS]
    for bar, pop in zip(menu_bar, right_click, strict=True):
        assert bar.shortcut() == pop.shortcut() and not bar.shortcut().isEmpty()
    assert [a.isSeparator() for a in popup.actions()] == [a.isSeparator() for a in window.menus["photo"].actions()]
    assert popup.findChild(QAction, "restoreAction").text() == "&Restore Faces of 2 Photos"
    assert not popup.findChild(QAction, "showFacesAction").isEnabled()  # one photo's faces at a time
