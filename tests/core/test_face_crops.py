"""Aligned face crops are cached under the home folder, never in the library."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fakes import draw_photo, open_test_library, snapshot
from refldm_desktop.core.changes import LibraryError



def test_crop_is_made_once_cached_in_home_and_shared_by_copies(tmp_path):
    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 60, 40)], size=(200, 160))
    (root / "copy.png").write_bytes((root / "a.png").read_bytes())
    before = snapshot(root)
    with open_test_library(tmp_path / "home") as lib:
        lib.index([root])
        a, b = lib.faces()
        path = lib.face_crop(a.id)
        assert path.is_relative_to(tmp_path / "home" / "cache")
        from PIL import Image

        with Image.open(path) as im:
            assert im.size == (512, 512) and im.mode == "RGB"
            crop = np.asarray(im)
        # The square face fills the middle of the crop: its colour is there.
        centre = crop[246:266, 246:266].reshape(-1, 3).mean(0)
        assert abs(centre[0] - 20) < 12 and abs(centre[2] - 77) < 12
        mtime = path.stat().st_mtime_ns
        assert lib.face_crop(a.id) == path and path.stat().st_mtime_ns == mtime
        assert lib.face_crop(b.id) == path  # same bytes, same landmarks: one file
    assert snapshot(root) == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_crop_of_a_changed_or_missing_photo_is_refused(tmp_path):
    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 60, 40)], size=(200, 160))
    with open_test_library(tmp_path / "home") as lib:
        lib.index([root])
        (face,) = lib.faces()
        st = (root / "a.png").stat()
        os.utime(root / "a.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        with pytest.raises(LibraryError, match="changed since"):
            lib.face_crop(face.id)
        (root / "a.png").unlink()
        with pytest.raises(LibraryError, match="missing"):
            lib.face_crop(face.id)


def test_a_face_replaced_while_its_crop_is_made_keeps_no_stale_crop(tmp_path, monkeypatch):
    # An index run (another thread or process) may replace a photo's faces while a crop of
    # one of them is being written; SQLite may then give the new face the old one's id.
    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 60, 40)], size=(200, 160))
    with open_test_library(tmp_path / "home") as lib:
        lib.index([root])
        (face,) = lib.faces()
        write = lib._write_crop

        def write_while_the_photo_changes(*args):
            write(*args)
            draw_photo(root / "a.png", [(2, 0, 90, 70)], size=(200, 160))
            lib.index([root])

        monkeypatch.setattr(lib, "_write_crop", write_while_the_photo_changes)
        old = lib.face_crop(face.id)
        assert old.is_file()
        monkeypatch.undo()
        (now,) = lib.faces()
        fresh = lib.face_crop(now.id)
        assert fresh != old  # the crop of what the photo shows now, not of the face that went
        from PIL import Image

        with Image.open(fresh) as im:
            centre = np.asarray(im)[246:266, 246:266].reshape(-1, 3).mean(0)
        assert abs(centre[0] - 40) < 12  # person 2's colour
