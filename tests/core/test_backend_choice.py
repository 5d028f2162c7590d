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


class _LaterBackend(FakeBackend):
    """Another model: the library's faces after the user switched backends."""

    name = "later"


def test_a_library_reopened_after_going_back_takes_the_backend_of_the_backup(tmp_path):
    """Going back to a backup from before the library switched backends: the reopened library
    compares faces in the space the backup's faces were embedded in, not the replaced file's."""
    from refldm_desktop.core.backups import back_up, go_back

    home = Home(tmp_path / "home")
    draw_photo(tmp_path / "first" / "a.png", [(1, 0, 10, 10)])
    with Library.open(home, backend=FakeBackend()) as lib:
        lib.index([tmp_path / "first"])
    taken = back_up(home)
    for i in range(3):
        draw_photo(tmp_path / "later" / f"b{i}.png", [(2, i, 10, 10)])
    with Library.open(home, backend=_LaterBackend()) as lib:
        lib.index([tmp_path / "later"])
    lib = Library.open(home)  # no choice: the backend most of its faces came from
    assert lib.backend_name == "later"
    lib.close()
    go_back(home, taken.path)
    with lib.reopened() as again:
        assert again.backend_name == FakeBackend.name

    chosen = _LaterBackend()  # a choice the caller made is kept
    with Library.open(home, backend=chosen) as lib:
        pass
    with lib.reopened() as again:
        assert again.backend() is chosen
