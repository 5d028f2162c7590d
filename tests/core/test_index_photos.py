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
