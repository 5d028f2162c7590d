"""Fixtures for the job tests: a library in tmp_path with a few indexed photos.

Not a conftest.py: a second module named conftest would shadow tests/conftest.py for the
other test folders that import from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeBackend, draw_photo, open_test_library


def make_photos(root: Path, n: int) -> Path:
    for i in range(n):
        draw_photo(root / f"p{i:02d}.png", [(1 + i % 3, i, 10, 10)], size=(64, 48))
    return root


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def library_with_photos(tmp_path, home):
    """(open library, photo ids in path order); the library is closed afterwards."""

    def make(n: int = 4):
        lib = open_test_library(home, FakeBackend())
        lib.index([make_photos(tmp_path / "Pictures", n)])
        ids = [p.id for p in lib.photos()]
        assert len(ids) == n
        opened.append(lib)
        return lib, ids

    opened: list = []
    yield make
    for lib in opened:
        lib.close()


def reopen(home: Path):
    return open_test_library(home, FakeBackend())
