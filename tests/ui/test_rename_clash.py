"""Renaming a person to a name another person has: the app asks whether to merge them (as
naming a group of unknown faces joins the person of that name), merges when told to, and
Ctrl+Z takes the merge back; Cancel changes nothing. Never two people of one name."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox  # noqa: E402

from ui_testlib import wait_idle  # noqa: E402

WAIT = 30_000


def _two_named(ctx):
    a, b = sorted((p for p in ctx.library.people() if p.face_count >= 2), key=lambda p: p.id)[:2]
    ctx.library.rename_person(a.id, "Ann")
    ctx.library.rename_person(b.id, "Bob")
    return ctx.library.person(a.id), ctx.library.person(b.id)


def _question(qtbot) -> QMessageBox:
    found = []

    def shown():
        # By name: a message box another test left open may still be about.
        found[:] = [w for w in QApplication.topLevelWidgets()
                    if isinstance(w, QMessageBox) and w.isVisible() and w.objectName() == "renameMergeQuestion"]
        return bool(found)

    qtbot.waitUntil(shown, timeout=WAIT)
    return found[0]


def _people_page(qtbot, ctx):
    from refldm_desktop.ui.people_undo import PeopleUndo
    from refldm_desktop.ui.views.people_page import PeoplePage

    page = PeoplePage(ctx)
    qtbot.addWidget(page)
    page.resize(900, 600)
    page.show()
    undo = PeopleUndo(ctx, page)
    qtbot.waitUntil(lambda: page.model.rowCount() >= 2, timeout=WAIT)
    wait_idle(qtbot, ctx)
    return page, undo


def _rename_tile(qtbot, page, person_id, name):
    idx = page.proxy.mapFromSource(page.model.index(page.model.row_of(person_id)))
    page.view.setCurrentIndex(idx)
    page.view.edit(idx)
    editor = page.view.findChild(QLineEdit)
    editor.setText(name)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def _names(ctx):
    return sorted(p.name for p in ctx.library.people() if p.name)


def test_a_tile_renamed_to_a_name_in_use_offers_a_merge_that_can_be_undone(qtbot, fake_ctx):
    ctx = fake_ctx
    a, b = _two_named(ctx)
    page, undo = _people_page(qtbot, ctx)
    _rename_tile(qtbot, page, b.id, "ann")  # the same name, in other letters' case
    box = _question(qtbot)
    assert "“Ann” already exists" in box.text() and "Merge" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: b.id not in {p.id for p in ctx.library.people()}, timeout=WAIT)
    assert ctx.library.person(a.id).face_count == a.face_count + b.face_count
    assert _names(ctx).count("Ann") == 1 and "ann" not in _names(ctx)
    qtbot.waitUntil(lambda: undo.undo_action.isEnabled() and "Merge" in undo.undo_action.text(), timeout=WAIT)
    undo.undo_action.trigger()
    qtbot.waitUntil(lambda: b.id in {p.id for p in ctx.library.people()}, timeout=WAIT)
    assert (ctx.library.person(a.id).name, ctx.library.person(b.id).name) == ("Ann", "Bob")
    assert ctx.library.person(b.id).face_count == b.face_count


def test_cancel_keeps_both_people_and_their_names(qtbot, fake_ctx):
    ctx = fake_ctx
    a, b = _two_named(ctx)
    page, _undo = _people_page(qtbot, ctx)
    _rename_tile(qtbot, page, b.id, "Ann")
    _question(qtbot).button(QMessageBox.StandardButton.Cancel).click()
    wait_idle(qtbot, ctx)
    assert (ctx.library.person(a.id).name, ctx.library.person(b.id).name) == ("Ann", "Bob")
    assert _names(ctx) == ["Ann", "Bob"]


def test_the_person_page_name_offers_the_merge_and_then_shows_the_merged_person(qtbot, fake_ctx):
    ctx = fake_ctx
    a, b = _two_named(ctx)
    page, _undo = _people_page(qtbot, ctx)
    page.open_person(b.id)
    pp = page.person_page
    qtbot.waitUntil(lambda: pp.person is not None and pp.person.id == b.id, timeout=WAIT)
    wait_idle(qtbot, ctx)
    pp.name.setFocus()
    pp.name.setText("Ann")
    qtbot.keyClick(pp.name, Qt.Key.Key_Return)
    box = _question(qtbot)
    assert "“Ann” already exists" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: pp.person is not None and pp.person.id == a.id, timeout=WAIT)
    assert page.stack.currentWidget() is pp
    assert pp.faces_model.rowCount() == a.face_count + b.face_count
    assert _names(ctx) == ["Ann"]
