"""The Photo menu's keys call right-click verbs looked up by name when the key is first
pressed (so that their module loads after the first paint): a misspelt or renamed verb
would fail only then, in front of the user."""

from __future__ import annotations

import inspect

import pytest

from refldm_desktop.ui.mainwindow.actions import PHOTO_VERBS


@pytest.mark.parametrize("text,verb,single,shortcut,name", PHOTO_VERBS, ids=[v[1] for v in PHOTO_VERBS])
def test_every_photo_menu_key_calls_a_verb_that_exists(text, verb, single, shortcut, name):
    from refldm_desktop.ui.views import photo_menu

    fn = getattr(photo_menu, verb, None)
    assert callable(fn), f"{name} ({shortcut}) calls photo_menu.{verb}, which does not exist"
    # Called as the key calls it: the page, then one photo id or the list of them.
    inspect.signature(fn).bind(object(), 1 if single else [1, 2])


def test_the_photo_menu_keys_are_distinct():
    assert len({v[3] for v in PHOTO_VERBS}) == len({v[4] for v in PHOTO_VERBS}) == len(PHOTO_VERBS)
