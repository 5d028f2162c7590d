"""Every people edit can be undone and redone, a merge above all (the mistake users of
other photo apps cannot take back)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fakes import draw_photo, open_test_library
from refldm_desktop.core.changes import LibraryError
from refldm_desktop.db.models import FaceAssignment

ALICE, BOB, CAROL, DAN = 1, 2, 3, 4


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "Pictures"
    draw_photo(root / "a1.png", [(ALICE, 0, 10, 10), (BOB, 0, 100, 10)])
    draw_photo(root / "a2.png", [(ALICE, 4, 10, 10)])
    draw_photo(root / "a3.png", [(ALICE, 8, 50, 50)])
    draw_photo(root / "b1.png", [(BOB, 6, 30, 30)])
    draw_photo(root / "c1.png", [(CAROL, 2, 30, 30)])
    draw_photo(root / "c2.png", [(CAROL, 3, 30, 30)])
    library = open_test_library(tmp_path / "home")
    library.index([root])
    library.root = root
    yield library
    library.close()


def everything(lib) -> dict:
    """All a user can see or decide about people: names, visibility, each face's person,
    confirmation and reference decision, and whom each face was said not to be."""
    with lib._Session() as s:
        rejected = sorted(
            s.execute(
                select(FaceAssignment.face_id, FaceAssignment.person_id).where(FaceAssignment.state == "rejected")
            ).all()
        )
    return {
        "people": {p.id: (p.name, p.hidden, p.face_count, p.confirmed_count) for p in lib.people()},
        "faces": {f.id: (f.person_id, f.assignment, f.reference) for f in lib.faces()},
        "rejected": rejected,
    }


def person_of(lib, photo: str, x: int | None = None) -> int:
    return face_of(lib, photo, x).person_id


def face_of(lib, photo: str, x: int | None = None):
    (face,) = [f for f in lib.faces() if f.photo.name == photo and (x is None or f.box[0] == x)]
    return face


def test_a_wrong_merge_comes_back_whole(lib):
    """Both people return with their ids, names, faces, confirmations, rejections and
    reference decisions; redo merges them again."""
    alice, bob = person_of(lib, "a2.png"), person_of(lib, "b1.png")
    lib.rename_person(alice, "Alice")
    lib.rename_person(bob, "Bob")
    lib.confirm_face(face_of(lib, "a3.png").id)
    lib.pin_reference(face_of(lib, "a2.png").id)
    lib.exclude_reference(face_of(lib, "b1.png").id)
    stranger = face_of(lib, "c1.png").id
    lib.confirm_face(stranger, alice)
    lib.reject_face(stranger)  # "not Alice": a rejection row the merge moves
    before = everything(lib)

    lib.merge_people(alice, [bob])
    merged = everything(lib)
    assert bob not in merged["people"] and merged["people"][alice][0] == "Alice"
    assert lib.undo_state().undo == "Merge 2 people into Alice"

    r = lib.undo()
    assert not r.redo and r.label == "Merge 2 people into Alice" and {alice, bob} <= set(r.person_ids)
    assert everything(lib) == before
    assert lib.undo_state().redo == "Merge 2 people into Alice"

    lib.redo()
    assert everything(lib) == merged
    lib.undo()
    assert everything(lib) == before


@pytest.mark.parametrize(
    "edit",
    [
        "rename", "hide", "split", "confirm", "reject", "move", "pin", "exclude", "reset_person",
        "reset_face",
    ],
)
def test_each_people_edit_undoes_and_redoes(lib, edit):
    alice, carol = person_of(lib, "a2.png"), person_of(lib, "c1.png")
    a3 = face_of(lib, "a3.png").id
    lib.pin_reference(face_of(lib, "a2.png").id)
    lib.exclude_reference(a3)
    lib.rename_person(carol, "Carol")
    do = {
        "rename": lambda: lib.rename_person(alice, "Alice"),
        "hide": lambda: lib.hide_person(alice),
        "split": lambda: lib.split_person(alice, [a3]),
        "confirm": lambda: lib.confirm_face(a3),
        "reject": lambda: lib.reject_face(a3),
        "move": lambda: lib.confirm_face(a3, carol),
        "pin": lambda: lib.pin_reference(face_of(lib, "a1.png", 10).id),
        "exclude": lambda: lib.exclude_reference(face_of(lib, "a1.png", 10).id),
        "reset_person": lambda: lib.reset_references(alice),
        "reset_face": lambda: lib.reset_references(face_id=a3),
    }[edit]
    before = everything(lib)
    do()
    after = everything(lib)
    assert after != before
    lib.undo()
    assert everything(lib) == before
    lib.redo()
    assert everything(lib) == after


def test_undo_goes_back_one_edit_at_a_time_and_a_new_edit_ends_redo(lib):
    alice = person_of(lib, "a2.png")
    states = [everything(lib)]
    for name in ("A", "Al", "Alice"):
        lib.rename_person(alice, name)
        states.append(everything(lib))
    assert lib.undo_state().undo == "Rename Al to Alice"
    for expected in reversed(states[:-1]):
        lib.undo()
        assert everything(lib) == expected
    with pytest.raises(LibraryError, match="no people edit to undo"):
        lib.undo()
    lib.redo()
    assert lib.person(alice).name == "A"
    lib.hide_person(alice)  # a new edit: "Al" and "Alice" can no longer be redone
    assert lib.undo_state().redo is None
    with pytest.raises(LibraryError, match="no undone people edit"):
        lib.redo()


def test_an_edit_that_changes_nothing_is_not_an_undo_step(lib):
    f = face_of(lib, "a2.png").id
    lib.pin_reference(f)
    lib.pin_reference(f)  # pinned already
    lib.undo()
    assert lib.face(f).reference is None
    assert lib.undo_state().undo is None


def test_undo_a_merge_after_new_photos_were_indexed(lib):
    """Clustering gave the merged person new faces meanwhile: undo brings both people back
    and those faces are not lost (they keep a person, or wait for clustering)."""
    alice, bob = person_of(lib, "a2.png"), person_of(lib, "b1.png")
    lib.rename_person(bob, "Bob")
    before = everything(lib)
    lib.merge_people(alice, [bob])
    draw_photo(lib.root / "new-a.png", [(ALICE, 2, 20, 20)])
    draw_photo(lib.root / "new-b.png", [(BOB, 5, 20, 20)])
    lib.index([lib.root])
    new_faces = {face_of(lib, "new-a.png").id, face_of(lib, "new-b.png").id}
    lib.undo()
    now = everything(lib)
    assert {k: v for k, v in now["people"].items() if k in before["people"]}.keys() == before["people"].keys()
    assert now["people"][bob][0] == "Bob"
    for fid, state in before["faces"].items():
        assert now["faces"][fid] == state
    lib.index([lib.root])  # faces sent back to clustering find a person again
    assert all(lib.face(f).person_id is not None for f in new_faces)


def test_a_person_comes_back_under_a_new_id_when_theirs_was_taken(lib):
    alice = person_of(lib, "a2.png")
    last = max(p.id for p in lib.people())
    lib.rename_person(alice, "Alice")
    lib.rename_person(last, "Zed")
    lib.merge_people(alice, [last])
    # SQLite gives the highest free id again: a new person takes the merged one's id.
    draw_photo(lib.root / "d1.png", [(DAN, 1, 30, 30)])
    draw_photo(lib.root / "d2.png", [(DAN, 2, 30, 30)])
    lib.index([lib.root])
    dan = person_of(lib, "d1.png")
    assert dan == last
    r = lib.undo()
    zed = [p for p in lib.people() if p.name == "Zed"]
    assert len(zed) == 1 and zed[0].id not in (alice, dan) and zed[0].id in r.person_ids
    assert person_of(lib, "d1.png") == dan and lib.person(dan).name is None
    lib.redo()
    assert all(p.name != "Zed" for p in lib.people()) and person_of(lib, "d1.png") == dan
    lib.undo()
    assert [p.name for p in lib.people() if p.id == zed[0].id] == ["Zed"]


def test_the_undo_log_outlives_the_library_object(lib, tmp_path):
    """An edit made from the command line can be undone in the app and the other way round."""
    alice = person_of(lib, "a2.png")
    lib.rename_person(alice, "Alice")
    lib.close()
    again = open_test_library(tmp_path / "home")
    try:
        assert again.undo_state().undo == f"Rename Person {alice} to Alice"
        again.undo()
        assert again.person(alice).name is None
    finally:
        again.close()


def test_several_faces_at_once_are_one_undo_step(lib):
    alice, carol = person_of(lib, "a2.png"), person_of(lib, "c1.png")
    ids = [f.id for f in lib.faces(alice)][:2]
    before = everything(lib)
    lib.confirm_faces(ids, carol)
    assert all(lib.face(f).person_id == carol for f in ids)
    assert lib.undo_state().undo == f"Move 2 faces to Person {carol}"
    lib.pin_references(ids)
    lib.hide_people([alice, carol])
    lib.undo()
    lib.undo()
    lib.undo()
    assert everything(lib) == before


def test_naming_a_group_of_faces(lib):
    """Unknown faces named at once: into the person of that name, or a new one."""
    alice, carol = person_of(lib, "a2.png"), person_of(lib, "c1.png")
    lib.rename_person(alice, "Alice")
    before = everything(lib)
    r = lib.name_faces([f.id for f in lib.faces(carol)], "  alice ")
    assert r.person_id == alice and not r.created and lib.person(alice).face_count == 5
    lib.undo()
    assert everything(lib) == before
    r = lib.name_faces([f.id for f in lib.faces(carol)], "Carol")
    assert r.created and r.name == "Carol" and lib.person(r.person_id).confirmed_count == 2
    lib.undo()
    assert everything(lib) == before and r.person_id not in {p.id for p in lib.people()}


def test_unknown_faces_are_grouped_with_a_guess(lib):
    alice, bob, carol = person_of(lib, "a2.png"), person_of(lib, "b1.png"), person_of(lib, "c1.png")
    lib.rename_person(alice, "Alice")
    groups = lib.unknown_faces()
    assert {g.person_id for g in groups} == {bob, carol}  # named people are known
    assert sorted(len(g.face_ids) for g in groups) == [2, 2]
    # Carol's two faces leave her person: they are grouped together as nobody's faces.
    lib.reject_faces([f.id for f in lib.faces(carol)])
    lib.hide_person(bob)
    groups = lib.unknown_faces()
    free = [g for g in groups if g.person_id is None]
    assert len(free) == 1 and len(free[0].face_ids) == 2
    assert all(g.person_id != bob for g in groups)  # hidden people are not asked about


def test_a_face_close_to_a_named_person_is_guessed_to_be_them(lib):
    alice = person_of(lib, "a2.png")
    lib.rename_person(alice, "Alice")
    a3 = face_of(lib, "a3.png").id
    lib.reject_face(a3)
    (group,) = [g for g in lib.unknown_faces() if a3 in g.face_ids]
    assert group.person_id is None and (group.guess_id, group.guess_name) == (alice, "Alice")
    assert all(g.guess_id is None for g in lib.unknown_faces() if a3 not in g.face_ids)
