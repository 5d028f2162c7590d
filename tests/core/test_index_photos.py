"""Library.index_photos: single photos are indexed without the rest of their folder."""

from __future__ import annotations

import pytest
from fakes import FakeBackend, draw_photo, open_test_library

from refldm_desktop.core.changes import LibraryError


def test_only_the_given_photos_are_indexed_and_they_join_known_people(tmp_path):
    pics = tmp_path / "Pictures"
    draw_photo(pics / "a.png", [(1, 0, 20, 20)])
    draw_photo(pics / "b.png", [(1, 1, 40, 20)])
    loose = tmp_path / "Downloads"
    draw_photo(loose / "scan.png", [(1, 2, 30, 30)])
    draw_photo(loose / "other.png", [(2, 0, 30, 30)])
    draw_photo(pics / "new" / "c.png", [(1, 3, 10, 10)])
    draw_photo(pics / "new" / "d.png", [(1, 4, 10, 10)])
    with open_test_library(tmp_path / "home", FakeBackend()) as lib:
        lib.index_photos([pics / "a.png", pics / "b.png"])
        assert lib.folders() == [pics.resolve()]  # their own folder became the library folder
        r = lib.index_photos([loose / "scan.png", pics / "new" / "c.png"])
        assert r.new == 2
        names = sorted(p.path.name for p in lib.photos())
        assert names == ["a.png", "b.png", "c.png", "scan.png"]  # not other.png, not d.png
        # c.png lies in a library folder: no new folder for it; scan.png's folder is new.
        assert lib.folders() == sorted([pics.resolve(), loose.resolve()])
        people = {f.person_id for f in lib.faces()}
        assert len(people) == 1 and None not in people  # all of person 1, grouped together
        with pytest.raises(LibraryError, match="no such photo"):
            lib.index_photos([loose / "missing.png"])


def test_a_file_that_is_not_a_photo_is_reported_and_adds_no_folder(tmp_path):
    pics = tmp_path / "Pictures"
    draw_photo(pics / "a.png", [(1, 0, 20, 20)])
    notes = tmp_path / "Documents" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("shopping list\n")
    with open_test_library(tmp_path / "home", FakeBackend()) as lib:
        r = lib.index_photos([notes])
        assert (r.new, r.errors) == (0, 1)
        assert [(p.path, p.reason) for p in r.problems] == [(notes.resolve(), "not an image (content is text)")]
        assert lib.folders() == [] and lib.photos() == []
        # Named with a photo: the photo is indexed, the text file reported, its folder not added.
        r = lib.index_photos([pics / "a.png", notes])
        assert (r.new, r.errors) == (1, 1) and lib.folders() == [pics.resolve()]
