"""What the window shows follows an undo, also where the user's cursor still is."""

from __future__ import annotations

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

WAIT = 30_000


def test_a_persons_name_field_follows_the_undo_of_its_rename(qtbot, tmp_path, open_app):
    """Renamed on the person's page with Enter, the cursor stays in the name field; Undo
    (Edit menu) took the rename back, but the field kept showing the new name."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction

    from fakes import draw_photo, open_test_library

    root = tmp_path / "Pictures"
    for i in range(2):
        draw_photo(root / f"p{i}.png", [(1, i, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    (owner,) = lib.people()
    lib.rename_person(owner.id, "Alice")
    ctx, window = open_app(lib)
    people = window.show_page("people")
    people.open_person(owner.id)
    page = people.person_page
    qtbot.waitUntil(lambda: page.person is not None and page.name.text() == "Alice", timeout=WAIT)
    page.name.setFocus()
    qtbot.waitUntil(page.name.hasFocus, timeout=WAIT)
    page.name.selectAll()
    qtbot.keyClicks(page.name, "Alicia")
    qtbot.keyClick(page.name, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: lib.person(owner.id).name == "Alicia", timeout=WAIT)
    undo = window.findChild(QAction, "undoPeopleAction")
    qtbot.waitUntil(lambda: undo.isEnabled() and "Alicia" in undo.text(), timeout=WAIT)
    undo.trigger()
    qtbot.waitUntil(lambda: lib.person(owner.id).name == "Alice", timeout=WAIT)
    qtbot.waitUntil(lambda: page.name.text() == "Alice", timeout=WAIT)
    assert page.name.hasFocus()
    # A name being typed is not overwritten by a refresh.
    page.name.setFocus()
    page.name.selectAll()
    qtbot.keyClicks(page.name, "Ali")
    ctx.library.hide_person(owner.id, False)  # a change to this person: the page reads them again
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=WAIT)
    assert page.name.text() == "Ali"


def test_a_comparisons_face_names_follow_a_rename_and_its_undo(qtbot, tmp_path, open_app):
    """The compare view named each face as it was when it opened: a face named (or its
    person renamed) while it was on screen kept its old name there."""
    from ui_testlib import restored_library

    lib, photo, version = restored_library(tmp_path)
    (face,) = lib.faces()
    lib.rename_person(face.person_id, "Alice")
    ctx, window = open_app(lib)
    page = window.show_page("photos")
    page.open_compare(version.id)
    compare = page.compare_view
    qtbot.waitUntil(lambda: compare.loaded is not None, timeout=WAIT)
    choice = compare.face_choice
    assert choice.itemText(1) == f"Alice (face {face.id})"
    compare.canvas.set_zoom(2.5)  # the user looks closely: a name changing keeps that

    lib.rename_person(face.person_id, "Alicia")
    qtbot.waitUntil(lambda: choice.itemText(1) == f"Alicia (face {face.id})", timeout=WAIT)
    assert "Alicia" in compare.identity.text()
    lib.undo()
    qtbot.waitUntil(lambda: choice.itemText(1) == f"Alice (face {face.id})", timeout=WAIT)
    assert choice.currentIndex() == 1  # the face shown stays chosen
    assert compare.canvas.zoom == pytest.approx(2.5, abs=1e-9)


def test_a_comparison_whose_copy_is_discarded_elsewhere_offers_nothing_to_keep(qtbot, tmp_path, open_app):
    """The same result open on the Library and the Restored pages, or discarded from the
    command line: the other view still offered Keep and Discard of a file that was gone."""
    from ui_testlib import restored_library

    lib, photo, version = restored_library(tmp_path)
    ctx, window = open_app(lib)
    page = window.show_page("photos")
    page.open_compare(version.id)
    compare = page.compare_view
    qtbot.waitUntil(lambda: compare.loaded is not None and compare.discard.isEnabled(), timeout=WAIT)
    lib.jobs.keep_version(version.id)  # a change to this version that leaves it there
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=WAIT)
    assert compare.keep.isEnabled() and compare.discard.isEnabled()
    lib.jobs.discard_version(version.id)
    qtbot.waitUntil(lambda: not compare.discard.isEnabled(), timeout=WAIT)
    assert not compare.keep.isEnabled() and "discarded" in compare.title.text()
