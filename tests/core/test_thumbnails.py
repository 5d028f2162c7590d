"""Thumbnails: upright, within the size asked, cached by content, made once when two
threads ask at once, made again when the cached file is damaged."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakes import FakeBackend, draw_photo, open_test_library
from refldm_desktop.core.changes import LibraryError, NotFound
from refldm_desktop.core.thumbnails import ThumbnailCache
from refldm_desktop.library.imageio import load_preview

RED, BLUE = (220, 20, 20), (20, 20, 220)


def _sideways_jpeg(path: Path) -> Path:
    """Stored 300x200 with red on the left, blue on the right, and EXIF orientation 6
    (turn 90 degrees clockwise to view): upright it is 200x300, red on top."""
    a = np.zeros((200, 300, 3), np.uint8)
    a[:, :150] = RED
    a[:, 150:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def _near(pixel, colour, tol=40) -> bool:
    return all(abs(int(p) - c) <= tol for p, c in zip(pixel, colour))


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "Pictures"
    _sideways_jpeg(root / "sideways.jpg")
    draw_photo(root / "faces.png", [(1, 0, 10, 10), (2, 0, 100, 60)], size=(160, 120))
    draw_photo(root / "more.png", [(1, 3, 50, 50)], size=(160, 120))
    library = open_test_library(tmp_path / "home", FakeBackend())
    library.index([root])
    yield library
    library.close()


def _photo(lib, name):
    return next(p for p in lib.photos() if p.path.name == name)


def test_photo_thumbnail_is_upright_and_fits_the_size(lib):
    p = _photo(lib, "sideways.jpg")
    thumb = lib.thumbnail("photo", p.id, 64)
    with Image.open(thumb) as im:
        assert im.format == "JPEG"
        assert im.size == (43, 64) or im.size == (42, 64)  # 200x300 upright, scaled to 64 high
        a = np.asarray(im.convert("RGB"))
    assert _near(a[5, a.shape[1] // 2], RED) and _near(a[-5, a.shape[1] // 2], BLUE)
    assert thumb.is_relative_to(lib.home.cache)


def test_face_thumbnail_shows_the_face_and_person_cover_is_the_best_face(lib):
    from sqlalchemy import update

    from refldm_desktop.db.models import Face

    faces = [f for f in lib.faces() if f.photo.name == "faces.png"]
    for f in faces:
        with Image.open(lib.thumbnail("face", f.id, 48)) as im:
            a = np.asarray(im.convert("RGB"))
        assert max(im.size) == 48
        # The face square (blue 77 marks the fake faces) is at the middle.
        centre = a[a.shape[0] // 2, a.shape[1] // 2]
        assert abs(int(centre[2]) - 77) <= 12 and int(centre[0]) < 250

    person = faces[0].person_id
    theirs = lib.faces(person)
    assert len(theirs) == 2
    with lib._Session.begin() as s:
        s.execute(update(Face).where(Face.id == theirs[0].id).values(quality_score=0.1))
        s.execute(update(Face).where(Face.id == theirs[1].id).values(quality_score=0.9))
    assert lib.thumbnail("person", person, 48) == lib.thumbnail("face", theirs[1].id, 48)


def test_cached_thumbnails_are_reused_and_damaged_ones_made_again(lib, monkeypatch):
    p = _photo(lib, "faces.png")
    first = lib.thumbnail("photo", p.id, 32)
    made = []
    real = ThumbnailCache._make

    def counting(self, *args):
        made.append(args)
        return real(self, *args)

    monkeypatch.setattr(ThumbnailCache, "_make", counting)
    assert lib.thumbnail("photo", p.id, 32) == first and made == []
    assert lib.thumbnail("photo", p.id, 40) != first and len(made) == 1  # another size

    first.write_bytes(first.read_bytes()[:50])  # a crash left half a file
    again = lib.thumbnail("photo", p.id, 32)
    assert again == first and len(made) == 2
    with Image.open(again) as im:
        im.load()
    first.write_bytes(b"")
    lib.thumbnail("photo", p.id, 32)
    assert len(made) == 3 and first.stat().st_size > 100
    assert not [x for x in first.parent.iterdir() if x.name.startswith(".refldm-")]


def test_two_threads_asking_at_once_make_it_once(lib, monkeypatch):
    p = _photo(lib, "sideways.jpg")
    made = []
    real = ThumbnailCache._make
    gate = threading.Barrier(6)

    def slow(self, *args):
        made.append(1)
        threading.Event().wait(0.2)
        return real(self, *args)

    monkeypatch.setattr(ThumbnailCache, "_make", slow)
    results, errors = [], []

    def ask():
        gate.wait()
        try:
            results.append(lib.thumbnail("photo", p.id, 100))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(set(results)) == 1 and len(made) == 1


def test_changed_or_missing_photos_and_bad_requests_say_why(lib):
    p = _photo(lib, "more.png")
    draw_photo(p.path, [(3, 3, 20, 20)], size=(160, 120))  # changed since indexing
    with pytest.raises(LibraryError, match="changed since it was indexed"):
        lib.thumbnail("photo", p.id)
    with pytest.raises(NotFound):
        lib.thumbnail("photo", 999)
    with pytest.raises(NotFound):
        lib.thumbnail("face", 999)
    with pytest.raises(LibraryError, match="unknown kind"):
        lib.thumbnail("poster", p.id)
    with pytest.raises(LibraryError, match="thumbnail size"):
        lib.thumbnail("photo", p.id, 0)


def test_version_thumbnail_is_made_from_the_restored_file(lib, tmp_path):
    from refldm_desktop.jobs.queue import JobResult, VersionRecord
    from refldm_desktop.jobs.runner import HandlerRegistry

    p = _photo(lib, "faces.png")
    out = tmp_path / "restored.png"
    Image.new("RGB", (320, 240), (0, 200, 0)).save(out)
    lib.jobs.enqueue_restore([p.id], restorer="passthrough")
    lib.jobs.run(HandlerRegistry({"restore_photo": lambda ctx: JobResult(VersionRecord(out, "ab" * 32, "fake"))}))
    (v,) = lib.jobs.versions()
    with Image.open(lib.thumbnail("version", v.id, 64)) as im:
        assert im.size == (64, 48) and _near(im.convert("RGB").getpixel((30, 20)), (0, 200, 0))


def test_jpeg_previews_are_decoded_at_a_reduced_scale(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (1600, 1200), (90, 120, 150)).save(path, "JPEG")
    image, scale = load_preview(path, 0.1)
    assert scale == pytest.approx(0.125) and image.size == (200, 150)  # 1/8: still >= 0.1
    image, scale = load_preview(path, 0.3)
    assert scale == pytest.approx(0.5) and image.size == (800, 600)
