"""The person page's references: a pinned reference's label is shown whole (it was cut to
"pinned ·…ity 0.72") with the full text in its tooltip, and the reasons shown under the
references follow them when they are chosen again (they stayed, stale)."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")
from PySide6.QtCore import Qt  # noqa: E402

from ui_testlib import wait_idle  # noqa: E402

WAIT = 30_000


def _person_page(qtbot, ctx):
    from refldm_desktop.ui.views.people_page import PeoplePage

    page = PeoplePage(ctx)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    person = max(ctx.library.people(), key=lambda p: p.face_count)
    page.open_person(person.id)
    pp = page.person_page
    qtbot.waitUntil(lambda: pp.person is not None and pp.faces_model.rowCount() >= 2, timeout=WAIT)
    wait_idle(qtbot, ctx)
    return pp, person


def _choice(face, score, reasons, pinned=False):
    from refldm_desktop.faces.refselect import Choice

    return Choice(face.id, face.photo_id, str(face.photo), face.box, score, reasons, pinned=pinned)


def test_a_pinned_references_label_is_shown_whole_with_its_tooltip(qtbot, fake_ctx):
    from PySide6.QtWidgets import QStyleOptionViewItem

    pp, person = _person_page(qtbot, fake_ctx)
    face = fake_ctx.library.faces(person.id)[0]
    pp.refs_model.set_references([_choice(face, 0.72, ("pinned by you",), pinned=True)])
    index = pp.refs_model.index(0)
    full = index.data()
    assert full == "pinned · quality 0.72"
    assert full in index.data(Qt.ItemDataRole.ToolTipRole)
    option = QStyleOptionViewItem()
    option.initFrom(pp.refs)
    option.rect = pp.refs.visualRect(index)
    drawn, _flags = pp.refs.itemDelegate().label(option, full)
    assert "…" not in drawn and drawn.split() == full.split()


def test_the_reasons_follow_references_chosen_again(qtbot, fake_ctx):
    pp, person = _person_page(qtbot, fake_ctx)
    a, b = fake_ctx.library.faces(person.id)[:2]
    pp._refs_loaded(([_choice(a, 0.9, ("sharp and frontal",)), _choice(b, 0.8, ("large face",))], ""))
    pp.refs.setCurrentIndex(pp.refs_model.index(0))
    assert "sharp and frontal" in pp.reasons.text()
    # Chosen again: the face shown has other reasons now, then it is no longer chosen.
    pp._refs_loaded(([_choice(a, 0.9, ("well lit",)), _choice(b, 0.8, ("large face",))], ""))
    assert "sharp and frontal" not in pp.reasons.text() and "well lit" in pp.reasons.text()
    pp._refs_loaded(([_choice(b, 0.8, ("large face",))], ""))
    assert "well lit" not in pp.reasons.text()
