"""Indexing a library: incremental, move-aware, interrupt-safe, read-only on the photos."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from fakes import FakeBackend, draw_photo, open_test_library, snapshot
from refldm_desktop.core.changes import LibraryError

# person, variation, x, y
ALICE, BOB, CAROL = 1, 2, 3


def make_library(root: Path) -> dict[str, int]:
    """Five photos; returns photo name -> number of faces drawn."""
    draw_photo(root / "2019" / "a.png", [(ALICE, 0, 10, 10), (BOB, 0, 100, 10)])
    draw_photo(root / "2019" / "b.png", [(ALICE, 5, 40, 40)])
    draw_photo(root / "2020" / "c.png", [(BOB, 7, 20, 60)])
    draw_photo(root / "2020" / "trip" / "d.png", [(CAROL, 3, 60, 30), (ALICE, 9, 10, 80)])
    draw_photo(root / "e.png", [])
    return {"a.png": 2, "b.png": 1, "c.png": 1, "d.png": 2, "e.png": 0}


@pytest.fixture
def lib_dir(tmp_path):
    root = tmp_path / "Pictures"
    make_library(root)
    return root


@pytest.fixture
def backend():
    return FakeBackend()


@pytest.fixture
def lib(tmp_path, backend):
    library = open_test_library(tmp_path / "home", backend)
    yield library
    library.close()


def people_of(lib) -> dict[str, set[int | None]]:
    """photo name -> person ids of its faces."""
    out: dict[str, set] = {}
    for f in lib.faces():
        out.setdefault(f.photo.name, set()).add(f.person_id)
    return out


def test_first_index_finds_every_face_and_groups_people(lib, lib_dir, backend):
    r = lib.index([lib_dir])
    assert (r.new, r.unchanged, r.errors, r.faces_found) == (5, 0, 0, 6)
    assert backend.calls == 5
    faces = lib.faces()
    assert Counter(f.photo.name for f in faces) == {"a.png": 2, "b.png": 1, "c.png": 1, "d.png": 2}
    for f in faces:
        assert f.photo.is_absolute() and f.photo.is_file()
        x0, y0, x1, y1 = f.box
        assert x1 - x0 == 24 and y1 - y0 == 24
    # Three people: Alice in a, b, d; Bob in a, c; Carol in d.
    by_person: dict[int, set[str]] = {}
    for f in faces:
        by_person.setdefault(f.person_id, set()).add(f.photo.name)
    assert sorted(map(sorted, by_person.values())) == [["a.png", "b.png", "d.png"], ["a.png", "c.png"], ["d.png"]]
    assert r.clustering.people_created == 3
    photos = {p.path.name: p for p in lib.photos()}
    assert photos["a.png"].width == 160 and photos["a.png"].height == 120
    assert photos["a.png"].format == "PNG" and photos["a.png"].backend == "fake"
    assert all(p.state == "ok" and len(p.content_hash) == 64 for p in photos.values())


def test_second_run_over_an_unchanged_library_reads_no_file(lib, lib_dir, backend, monkeypatch):
    lib.index([lib_dir])
    import refldm_desktop.library.imageio as imageio
    import refldm_desktop.library.scan as scan

    def forbidden(*a, **k):
        raise AssertionError("an unchanged file was read")

    monkeypatch.setattr(imageio, "load_rgb", forbidden)
    monkeypatch.setattr(scan, "content_hash", forbidden)
    backend.calls = 0
    r = lib.index([lib_dir])
    assert backend.calls == 0
    assert (r.new, r.unchanged, r.changed, r.moved, r.missing, r.faces_found) == (0, 5, 0, 0, 0, 0)


def test_touched_file_is_hashed_but_not_detected_again(lib, lib_dir, backend):
    lib.index([lib_dir])
    before = lib.faces()
    st = (lib_dir / "e.png").stat()
    os.utime(lib_dir / "2019" / "a.png", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    backend.calls = 0
    r = lib.index([lib_dir])
    assert backend.calls == 0 and r.unchanged == 5 and r.changed == 0
    assert lib.faces() == before


def test_changed_content_is_detected_again(lib, lib_dir, backend):
    lib.index([lib_dir])
    draw_photo(lib_dir / "2019" / "b.png", [(CAROL, 1, 5, 5), (BOB, 2, 90, 70)])
    st = (lib_dir / "2019" / "b.png").stat()
    os.utime(lib_dir / "2019" / "b.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    backend.calls = 0
    r = lib.index([lib_dir])
    assert backend.calls == 1 and r.changed == 1 and r.faces_found == 2
    assert len([f for f in lib.faces() if f.photo.name == "b.png"]) == 2


def _rewrite(path: Path, faces, size=(160, 120)) -> None:
    """The photo's bytes change (as when another program re-tags or resizes it)."""
    draw_photo(path, faces, size)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))


def test_a_changed_photo_keeps_what_was_said_of_faces_still_in_their_place(lib, lib_dir, backend):
    lib.index([lib_dir])
    a = lib_dir / "2019" / "a.png"
    alice, bob = sorted((f for f in lib.faces() if f.photo == a), key=lambda f: f.box[0])
    lib.rename_person(alice.person_id, "Alice")
    lib.confirm_face(alice.id)
    lib.pin_reference(alice.id)
    lib.confirm_face(bob.id)
    before = a.read_bytes()
    # Alice's face where it was; Bob's face moved far away; a new face (Carol) appears.
    _rewrite(a, [(ALICE, 0, 10, 10), (BOB, 0, 100, 80), (CAROL, 1, 60, 40)])
    assert a.read_bytes() != before
    r = lib.index([lib_dir])
    assert r.changed == 1 and r.faces_found == 3 and (r.faces_kept, r.faces_lost) == (1, 1)  # Bob moved
    now = {f.box[:2]: f for f in lib.faces() if f.photo == a}
    assert len(now) == 3
    kept = now[alice.box[:2]]
    assert (kept.person_id, kept.person_name, kept.assignment, kept.reference) == (
        alice.person_id, "Alice", "confirmed", "pinned")
    others = [f for box, f in now.items() if box != alice.box[:2]]
    assert all(f.reference is None and f.assignment != "confirmed" for f in others)
    assert lib.person(alice.person_id).name == "Alice"  # not left empty and removed


def test_a_face_a_pixel_away_is_still_in_its_place(lib, lib_dir, backend):
    """A re-saved photo (another program's edit) may shift a detected box a little."""
    lib.index([lib_dir])
    b = lib_dir / "2019" / "b.png"
    (face,) = [f for f in lib.faces() if f.photo == b]
    lib.rename_person(face.person_id, "Alice")
    lib.confirm_face(face.id)
    _rewrite(b, [(ALICE, 5, 41, 41)])
    r = lib.index([lib_dir])
    assert r.faces_kept == 1
    (now,) = [f for f in lib.faces() if f.photo == b]
    assert (now.person_name, now.assignment) == ("Alice", "confirmed")


def test_moved_and_renamed_files_keep_their_faces_and_people(lib, lib_dir, backend):
    lib.index([lib_dir])
    lib.rename_person(next(f.person_id for f in lib.faces() if f.photo.name == "b.png"), "Alice")
    before = {(f.id, f.person_id, f.person_name, f.box) for f in lib.faces()}
    (lib_dir / "sorted").mkdir()
    os.rename(lib_dir / "2019" / "a.png", lib_dir / "sorted" / "alice-and-bob.png")
    os.rename(lib_dir / "2020" / "trip" / "d.png", lib_dir / "2020" / "trip" / "renamed.png")
    backend.calls = 0
    r = lib.index([lib_dir])
    assert backend.calls == 0
    assert (r.moved, r.new, r.missing) == (2, 0, 0)
    assert {(f.id, f.person_id, f.person_name, f.box) for f in lib.faces()} == before
    names = {f.photo.name for f in lib.faces()}
    assert names == {"alice-and-bob.png", "b.png", "c.png", "renamed.png"}
    assert len(lib.photos()) == 5


def test_a_file_moved_into_another_indexed_folder_is_followed(lib, tmp_path, lib_dir, backend):
    lib.index([lib_dir])
    other = tmp_path / "Archive"
    other.mkdir()
    face_ids = {f.id for f in lib.faces() if f.photo.name == "c.png"}
    os.rename(lib_dir / "2020" / "c.png", other / "c.png")
    backend.calls = 0
    r = lib.index([other])
    assert (r.moved, r.new, backend.calls) == (1, 0, 0)
    assert {f.id for f in lib.faces() if f.photo == other / "c.png"} == face_ids


def test_deleted_files_are_marked_missing_and_come_back(lib, lib_dir, backend):
    lib.index([lib_dir])
    people_before = lib.people()
    data = (lib_dir / "2019" / "b.png").read_bytes()
    st = (lib_dir / "2019" / "b.png").stat()
    (lib_dir / "2019" / "b.png").unlink()
    r = lib.index([lib_dir])
    assert (r.missing, r.unchanged) == (1, 4)
    photos = {p.path.name: p for p in lib.photos()}
    assert photos["b.png"].state == "missing" and len(photos) == 5
    # Its face and person are kept: the file may be on an unplugged disk.
    assert [f.photo_state for f in lib.faces() if f.photo.name == "b.png"] == ["missing"]
    assert lib.people() == people_before
    assert lib.index([lib_dir]).missing == 0  # already known to be missing

    (lib_dir / "2019" / "b.png").write_bytes(data)
    os.utime(lib_dir / "2019" / "b.png", ns=(st.st_atime_ns, st.st_mtime_ns))
    backend.calls = 0
    r = lib.index([lib_dir])
    assert (r.reappeared, r.new, backend.calls) == (1, 0, 0)
    assert {p.path.name: p.state for p in lib.photos()}["b.png"] == "ok"


def test_a_copy_reuses_the_faces_without_detection(lib, lib_dir, backend):
    lib.index([lib_dir])
    (lib_dir / "copy.png").write_bytes((lib_dir / "2020" / "c.png").read_bytes())
    backend.calls = 0
    r = lib.index([lib_dir])
    assert (r.new, r.duplicates, r.faces_found, backend.calls) == (1, 1, 1, 0)
    persons = {f.photo.name: f.person_id for f in lib.faces() if f.photo.name in ("c.png", "copy.png")}
    assert persons["c.png"] == persons["copy.png"] is not None


def test_bad_files_are_recorded_and_indexing_goes_on(lib, lib_dir):
    (lib_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (lib_dir / "empty.png").write_bytes(b"")
    r = lib.index([lib_dir])
    assert r.errors == 2 and r.new == 7 and r.faces_found == 6
    bad = {p.path.name: p for p in lib.photos(state="error")}
    assert set(bad) == {"broken.jpg", "empty.png"}
    assert all(p.error for p in bad.values())
    assert {p.path.name for p in r.problems} == {"broken.jpg", "empty.png"}
    # Not retried while unchanged.
    assert lib.index([lib_dir]).errors == 0


def test_a_backend_crash_on_one_photo_is_recorded(tmp_path, lib_dir):
    backend = FakeBackend(fail_on=[2])
    with open_test_library(tmp_path / "home", backend) as lib:
        r = lib.index([lib_dir])
        assert r.errors == 1 and r.new == 5
        (bad,) = lib.photos(state="error")
        assert "face detection failed" in bad.error


def test_ctrl_c_leaves_a_consistent_database_and_the_next_run_finishes(tmp_path, lib_dir):
    drawn = make_library(lib_dir)  # same files again: counts per photo
    home = tmp_path / "home"
    with open_test_library(home, FakeBackend(interrupt_on=4)) as lib:
        with pytest.raises(KeyboardInterrupt):
            lib.index([lib_dir])
        done = lib.photos()
        # Whatever was committed is whole: each photo has all of its faces. Every photo
        # is committed on its own, so the three finished ones are kept.
        assert len(done) == 3
        for p in done:
            assert p.state == "ok" and p.face_count == drawn[p.path.name]
    # A raw look at the file: no journal left to replay, integrity intact.
    with sqlite3.connect(home / "library.sqlite3") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []

    backend = FakeBackend()
    with open_test_library(home, backend) as lib:
        r = lib.index([lib_dir])
        assert backend.calls == 5 - len(done)
        assert r.unchanged == len(done) and r.new == 5 - len(done)
        photos = lib.photos()
        assert sorted(p.path.name for p in photos) == sorted(drawn)
        assert {p.path.name: p.face_count for p in photos} == drawn
        assert all(f.person_id is not None for f in lib.faces())


def test_cancel_stops_between_photos_and_the_next_run_continues(tmp_path, lib_dir):
    seen = []

    def progress(p):
        if p.stage == "index":
            seen.append((p.done, p.total))

    with open_test_library(tmp_path / "home") as lib:
        r = lib.index([lib_dir], progress=progress, cancel=lambda: len(seen) >= 3)
        assert r.cancelled and r.new == 2
        assert seen[0] == (0, 5) and seen[-1] == (2, 5)
        r = lib.index([lib_dir])
        assert (r.new, r.unchanged, r.cancelled) == (3, 2, False)
        assert len(lib.photos()) == 5


def test_the_library_folder_is_never_written_to(lib, lib_dir):
    (lib_dir / "broken.jpg").write_bytes(b"not an image")
    before = snapshot(lib_dir)
    lib.index([lib_dir])
    lib.index([lib_dir])
    faces = lib.faces()
    lib.confirm_face(faces[0].id)
    lib.reject_face(faces[1].id)
    lib.index([lib_dir])
    assert snapshot(lib_dir) == before


def test_a_home_inside_the_library_is_not_indexed(tmp_path, lib_dir):
    home = lib_dir / ".refldm"
    with open_test_library(home) as lib:
        draw_photo(home / "cache" / "crop.png", [(ALICE, 0, 0, 0)])
        r = lib.index([lib_dir])
        assert r.new == 5
        assert not any(p.path.is_relative_to(home) for p in lib.photos())


def test_bad_paths_are_refused_clearly(lib, tmp_path, lib_dir):
    with pytest.raises(LibraryError, match="no such folder"):
        lib.index([tmp_path / "nope"])
    with pytest.raises(LibraryError, match="not a folder"):
        lib.index([lib_dir / "e.png"])
    assert lib.photos() == []


def test_folders_are_remembered(lib, lib_dir):
    lib.index([lib_dir, str(lib_dir / "2019" / ".." / "2019")])
    assert lib.folders() == sorted([lib_dir.resolve(), (lib_dir / "2019").resolve()])


def test_a_file_name_that_is_not_utf8_is_reported_not_fatal(lib, lib_dir):
    bad = os.path.join(os.fsencode(lib_dir), b"caf\xe9.png")
    try:
        with open(bad, "wb") as f:
            f.write((lib_dir / "e.png").read_bytes())
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    r = lib.index([lib_dir])
    assert r.new == 5 and r.errors == 1
    assert "not valid UTF-8" in r.problems[0].reason
