"""Which face backend a library uses when the user does not say."""

from __future__ import annotations

from fakes import FakeBackend, draw_photo

from refldm_desktop.core import library as library_module
from refldm_desktop.core.home import Home
from refldm_desktop.core.library import Library


def test_a_new_library_takes_the_best_installed_backend(tmp_path, monkeypatch):
    monkeypatch.setattr(library_module, "PREFERRED_BACKENDS", ("no-such-backend", "dlib"))
    with Library.open(Home(tmp_path / "home")) as lib:
        assert lib.backend_name == "dlib"


def test_a_library_keeps_the_backend_its_faces_came_from(tmp_path):
    photos = tmp_path / "photos"
    draw_photo(photos / "a.png", [(1, 0, 10, 10)])
    draw_photo(photos / "b.png", [(1, 3, 40, 20)])
    fake = FakeBackend()
    with Library.open(Home(tmp_path / "home"), backend=fake) as lib:
        lib.index([photos])
        assert lib.faces(), "the fake backend should have found faces"
    # Reopened without a choice (as `people list` or `refs show` do), the library must keep
    # comparing faces in the space they were embedded in.
    with Library.open(Home(tmp_path / "home")) as lib:
        assert lib.backend_name == fake.name
