"""The user's decisions about people, and that later clustering never undoes them.

Each test runs twice: with the app's real clusterer (faces.cluster.cluster, through its
public function only) and with the small stand-in of tests/fakes.py, so a decision that
only survived the stand-in's simpler rules would show."""

from __future__ import annotations

import pytest

from fakes import draw_photo, nearest_cluster, open_test_library
from refldm_desktop.core.changes import LibraryError, NotFound
from refldm_desktop.faces import cluster as faces_cluster

ALICE, BOB, CAROL = 1, 2, 3


def real_cluster(*args, **kwargs):
    # Looked up at call time: the module may be rewritten, its public function stays.
    return faces_cluster.cluster(*args, **kwargs)


@pytest.fixture(params=[real_cluster, nearest_cluster], ids=["faces.cluster", "stand-in"])
def lib(tmp_path, request):
    root = tmp_path / "Pictures"
    draw_photo(root / "a1.png", [(ALICE, 0, 10, 10), (BOB, 0, 100, 10)])
    draw_photo(root / "a2.png", [(ALICE, 4, 10, 10)])
    draw_photo(root / "a3.png", [(ALICE, 8, 50, 50)])
    draw_photo(root / "b1.png", [(BOB, 6, 30, 30)])
    draw_photo(root / "c1.png", [(CAROL, 2, 30, 30)])
    # Two of Carol: the real clusterer founds a person from two faces, never from one.
    draw_photo(root / "c2.png", [(CAROL, 7, 40, 40)])
    library = open_test_library(tmp_path / "home", cluster=request.param)
    library.index([root])
    library.root = root
    yield library
    library.close()


def person_of(lib, photo: str, identity_x: int | None = None) -> int | None:
    faces = [f for f in lib.faces() if f.photo.name == photo]
    if identity_x is not None:
        faces = [f for f in faces if f.box[0] == identity_x]
    (face,) = faces
    return face.person_id


def face_of(lib, photo: str, x: int | None = None):
    faces = [f for f in lib.faces() if f.photo.name == photo and (x is None or f.box[0] == x)]
    (face,) = faces
    return face


def add_photos_and_reindex(lib, n=0):
    """New photos of everyone, then an index run (which re-clusters)."""
    draw_photo(lib.root / f"new{n}-a.png", [(ALICE, 2, 20, 20)])
    draw_photo(lib.root / f"new{n}-b.png", [(BOB, 3, 20, 20)])
    draw_photo(lib.root / f"new{n}-c.png", [(CAROL, 5, 20, 20)])
    r = lib.index([lib.root])
    assert r.new == 3 and r.clustering.faces_considered > 0
    return r


def test_a_new_face_joins_the_nearest_person(lib):
    alice = person_of(lib, "a2.png")
    n_people = len(lib.people())
    add_photos_and_reindex(lib)
    assert person_of(lib, "new0-a.png") == alice
    assert len(lib.people()) == n_people


def test_rename_and_hide_survive_reclustering(lib):
    alice, bob = person_of(lib, "a2.png"), person_of(lib, "b1.png")
    assert lib.rename_person(alice, "  Alice ").new_name == "Alice"
    assert lib.hide_person(bob).hidden
    add_photos_and_reindex(lib)
    people = {p.id: p for p in lib.people()}
    assert people[alice].name == "Alice" and people[alice].label == "Alice"
    assert people[bob].hidden and people[bob].face_count == 3  # hidden people still gather faces
    assert [p.id for p in lib.people(include_hidden=False)].count(bob) == 0
    assert person_of(lib, "new0-a.png") == alice
    assert face_of(lib, "new0-a.png").person_name == "Alice"


def test_confirm_marks_the_face_and_can_move_it(lib):
    f = face_of(lib, "a3.png")
    r = lib.confirm_face(f.id)
    assert (r.person_id, r.previous_person_id) == (f.person_id, f.person_id)
    assert lib.face(f.id).assignment == "confirmed"
    assert lib.person(f.person_id).confirmed_count == 1

    carol = person_of(lib, "c1.png")
    r = lib.confirm_face(f.id, carol)  # the user drags the face onto Carol
    assert (r.person_id, r.previous_person_id) == (carol, f.person_id)
    add_photos_and_reindex(lib)
    assert lib.face(f.id).person_id == carol and lib.face(f.id).assignment == "confirmed"


def test_reject_keeps_the_face_out_of_that_person_for_good(lib):
    f = face_of(lib, "a3.png")
    alice = f.person_id
    r = lib.reject_face(f.id)
    assert (r.face_id, r.person_id) == (f.id, alice)
    assert lib.face(f.id).person_id is None
    for n in range(2):
        add_photos_and_reindex(lib, n)
        lib.recluster()
        assert lib.face(f.id).person_id != alice
    assert person_of(lib, "new0-a.png") == alice  # the others still group as before
    # Taking the rejection back by confirming it into Alice works.
    lib.confirm_face(f.id, alice)
    assert lib.face(f.id).person_id == alice


def test_merge_moves_every_face_and_keeps_them_merged(lib):
    alice, bob, carol = person_of(lib, "a2.png"), person_of(lib, "b1.png"), person_of(lib, "c1.png")
    lib.rename_person(bob, "Bob")
    lib.rename_person(carol, "Carol")
    r = lib.merge_people(alice, [bob])
    assert (r.into, r.merged, r.faces_moved) == (alice, (bob,), 2)
    ids = {p.id: p for p in lib.people()}
    assert bob not in ids and ids[alice].name == "Bob" and ids[alice].face_count == 5
    lib.rename_person(alice, "Alice")
    add_photos_and_reindex(lib)
    assert person_of(lib, "b1.png") == alice
    assert person_of(lib, "new0-b.png") == alice  # new faces of "Bob" join the merged person
    assert lib.person(alice).name == "Alice" and lib.person(carol).name == "Carol"


def test_merge_respects_an_earlier_rejection_of_a_suggestion(lib):
    alice, bob = person_of(lib, "a2.png"), person_of(lib, "b1.png")
    f_b1 = face_of(lib, "b1.png")
    lib.confirm_face(f_b1.id, alice)
    lib.reject_face(f_b1.id)  # "not Alice"
    lib.confirm_face(f_b1.id, bob)  # confirmed as Bob: a firm yes
    f_a1_bob = face_of(lib, "a1.png", 100)
    lib.confirm_face(f_a1_bob.id, alice)
    lib.reject_face(f_a1_bob.id)
    lib.confirm_face(f_a1_bob.id, bob)
    lib.confirm_face(f_a1_bob.id, bob)
    # Put a *suggested* face in Bob that the user had rejected from Alice.
    draw_photo(lib.root / "b2.png", [(BOB, 9, 60, 60)])
    lib.index([lib.root])
    f_b2 = face_of(lib, "b2.png")
    assert f_b2.person_id == bob and f_b2.assignment == "suggested"
    lib.confirm_face(f_b2.id, alice)
    lib.reject_face(f_b2.id)
    lib.recluster()
    assert lib.face(f_b2.id).person_id == bob and lib.face(f_b2.id).assignment == "suggested"

    r = lib.merge_people(alice, [bob])
    assert r.faces_unassigned == 1
    assert lib.face(f_b1.id).person_id == alice  # the confirmation wins over the old no
    assert lib.face(f_b2.id).person_id is None  # the suggestion loses to the user's no
    lib.recluster()
    assert lib.face(f_b2.id).person_id != alice


def test_split_makes_a_confirmed_new_person_that_stays_apart(lib):
    alice = person_of(lib, "a2.png")
    f2, f3 = face_of(lib, "a2.png"), face_of(lib, "a3.png")
    r = lib.split_person(alice, [f2.id, f3.id])
    assert r.from_person == alice and set(r.face_ids) == {f2.id, f3.id}
    new = r.new_person
    assert {lib.face(f2.id).person_id, lib.face(f3.id).person_id} == {new}
    assert lib.face(f2.id).assignment == "confirmed"
    assert lib.person(alice).face_count == 1 and lib.person(new).face_count == 2
    add_photos_and_reindex(lib)
    lib.recluster()
    assert {lib.face(f2.id).person_id, lib.face(f3.id).person_id} == {new}
    assert lib.person(alice).face_count >= 1
    # A split-off face rejected from its new person still never returns to the old one.
    lib.reject_face(f3.id)
    lib.recluster()
    assert lib.face(f3.id).person_id not in (alice, new)


def test_unknown_ids_and_bad_requests_are_refused_clearly(lib):
    alice = person_of(lib, "a2.png")
    f = face_of(lib, "a2.png")
    with pytest.raises(NotFound, match="no person with id 999"):
        lib.rename_person(999, "x")
    with pytest.raises(NotFound, match="no face with id 999"):
        lib.confirm_face(999)
    with pytest.raises(NotFound):
        lib.reject_face(999)
    with pytest.raises(NotFound):
        lib.merge_people(alice, [999])
    with pytest.raises(NotFound):
        lib.split_person(999, [f.id])
    with pytest.raises(NotFound):
        lib.hide_person(999)
    with pytest.raises(LibraryError, match="empty"):
        lib.rename_person(alice, "   ")
    with pytest.raises(LibraryError, match="itself"):
        lib.merge_people(alice, [alice])
    with pytest.raises(LibraryError, match="not one of person"):
        lib.split_person(person_of(lib, "c1.png"), [f.id])
    lib.reject_face(f.id)
    with pytest.raises(LibraryError, match="nobody"):
        lib.reject_face(f.id)
    with pytest.raises(LibraryError, match="nobody"):
        lib.confirm_face(f.id)
    # Nothing changed by the refused requests.
    assert lib.person(alice).name is None
