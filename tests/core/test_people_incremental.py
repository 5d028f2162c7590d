"""Indexing new photos into a library clusters incrementally with the real clusterer: only
the new faces look for their nearest faces, and they still find people and lone faces."""

from __future__ import annotations

from fakes import draw_photo, open_test_library
from refldm_desktop.faces.cluster import cluster

ALICE, BOB, CAROL = 1, 2, 3


class Spy:
    """The real clusterer, remembering how many faces it was asked to search each time."""

    def __init__(self) -> None:
        self.searched: list[int | None] = []

    def __call__(self, *args, search=None):
        self.searched.append(None if search is None else sum(search))
        return cluster(*args, search=search)


def test_new_photos_join_people_and_lone_faces_searching_only_themselves(tmp_path):
    root = tmp_path / "Pictures"
    draw_photo(root / "a1.png", [(ALICE, 0, 10, 10), (BOB, 0, 100, 10)])
    draw_photo(root / "a2.png", [(ALICE, 4, 10, 10)])
    draw_photo(root / "b1.png", [(BOB, 6, 30, 30)])
    draw_photo(root / "c1.png", [(CAROL, 2, 30, 30)])  # seen once: nobody yet
    spy = Spy()
    lib = open_test_library(tmp_path / "home", cluster=spy)
    try:
        lib.index([root])
        assert spy.searched == [5]
        by_photo = {f.photo.name: f for f in lib.faces()}
        alice, bob = by_photo["a2.png"].person_id, by_photo["b1.png"].person_id
        assert alice is not None and bob is not None and alice != bob
        assert by_photo["c1.png"].person_id is None

        draw_photo(root / "new-a.png", [(ALICE, 2, 20, 20)])
        draw_photo(root / "new-c.png", [(CAROL, 5, 20, 20)])
        result = lib.index([root])
        assert spy.searched == [5, 2]  # the two new faces, not the library's seven
        assert result.clustering.faces_considered == 7
        by_photo = {f.photo.name: f for f in lib.faces()}
        assert by_photo["new-a.png"].person_id == alice
        carol = by_photo["new-c.png"].person_id
        assert carol is not None and by_photo["c1.png"].person_id == carol  # found the lone face
        assert len(lib.people()) == 3

        lib.recluster()  # asked for by the user: every unassigned face looks again
        assert spy.searched[-1] is None
    finally:
        lib.close()
