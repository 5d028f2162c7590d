"""Quality scores in the database and the Library's reference verbs, on fake photos.

The fake backend finds coloured squares; FakeQuality stands in for quality.assess, counts
its calls and makes a face's quality follow its variation (0 blurry .. 6 sharp). What is
checked here is the wiring: when faces are scored, what is stored, when they are scored
again, and that the user's pins and exclusions win. The real measures on real photos are
checked in tests/faces and end to end in tests/cli/test_refs_cli.py.
"""

from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy import select, update

from fakes import FakeQuality, SpreadBackend, fake_photo, open_test_library
from refldm_desktop.core.changes import LibraryError, NotFound
from refldm_desktop.db.models import Face, Photo
from refldm_desktop.faces import quality

ALICE, BOB = 1, 2


@pytest.fixture
def assess(monkeypatch) -> FakeQuality:
    fake = FakeQuality()
    monkeypatch.setattr(quality, "assess", fake)
    return fake


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "Pictures"
    for v in range(1, 7):  # Alice in six photos, sharper as v grows; Bob in two of them
        faces = [(ALICE, v)] + ([(BOB, v)] if v in (2, 4) else [])
        fake_photo(root / f"alice{v}.png", faces)
    fake_photo(root / "empty.png", [])
    return root


@pytest.fixture
def lib(tmp_path):
    with open_test_library(tmp_path / "home", SpreadBackend()) as lib:
        yield lib


def _person(lib, photo_name: str) -> int:
    return next(f.person_id for f in lib.faces() if f.photo.name == photo_name)


def _face(lib, photo_name: str, person: int | None = None) -> int:
    return next(
        f.id for f in lib.faces() if f.photo.name == photo_name and (person is None or f.person_id == person)
    )


def _rows(lib, *cols):
    with lib._Session() as s:
        return s.execute(select(*cols).order_by(Face.id)).all()


def _ids(choices) -> list[int]:
    return [c.face_id for c in choices]


# ---------------------------------------------------------------------------------------
# Scoring


def test_each_new_face_is_scored_once_when_found_and_not_again_while_unchanged(lib, photos, assess):
    r = lib.index([photos])
    assert r.faces_found == 8 and assess.calls == 8
    for q, version, score, reasons, yaw in _rows(
        lib, Face.quality, Face.quality_version, Face.quality_score, Face.quality_reasons, Face.yaw
    ):
        assert version == quality.QUALITY_VERSION
        assert quality.QualityScores.from_dict(q).eye_distance == 120.0
        assert 0.0 <= score <= 1.0 and isinstance(reasons, list) and yaw == 0.0
    with lib._Session() as s:
        fingerprints = {os.path.basename(p): fp for p, fp in s.execute(select(Photo.path, Photo.fingerprint))}
    assert fingerprints["empty.png"] is None  # no faces, nothing to compare
    assert all(len(fp) == quality.FINGERPRINT_SIDE**2 for n, fp in fingerprints.items() if n != "empty.png")
    # The sharper face scores higher, and the stored score is what faces list shows.
    by_photo = {f.photo.name: f.quality_score for f in lib.faces() if f.person_id == _person(lib, "alice1.png")}
    assert by_photo["alice6.png"] > by_photo["alice3.png"] > by_photo["alice1.png"]

    lib.index([photos])  # unchanged
    for p in photos.iterdir():
        os.utime(p, ns=(p.stat().st_mtime_ns + 10**9,) * 2)
    lib.index([photos])  # touched: same content
    shutil.copyfile(photos / "alice2.png", photos / "copy-of-alice2.png")
    r = lib.index([photos])  # a duplicate: its faces are copied, scores included
    assert r.duplicates == 1 and assess.calls == 8
    copied = {f.photo.name: f.quality_score for f in lib.faces()}
    assert copied["copy-of-alice2.png"] == copied["alice2.png"]
    lib.best_shots(_person(lib, "alice1.png"))
    assert assess.calls == 8  # choosing reads the stored scores

    fake_photo(photos / "alice1.png", [(ALICE, 0), (BOB, 6)])  # new content: faces found anew
    r = lib.index([photos])
    assert r.changed == 1 and assess.calls == 10


def test_a_new_quality_version_rescores_lazily_once(lib, photos, assess, monkeypatch):
    lib.index([photos])
    alice = _person(lib, "alice1.png")
    bob = next(f.person_id for f in lib.faces() if f.person_id != alice)
    calls = assess.calls
    monkeypatch.setattr(quality, "QUALITY_VERSION", quality.QUALITY_VERSION + 1)

    lib.best_shots(alice)  # Alice's six faces are stale: `refs show` rescores them
    assert assess.calls == calls + 6
    lib.best_shots(alice)
    assert assess.calls == calls + 6
    versions = {fid: v for fid, v in _rows(lib, Face.id, Face.quality_version)}
    assert {versions[f.id] for f in lib.faces(alice)} == {quality.QUALITY_VERSION}
    assert {versions[f.id] for f in lib.faces(bob)} == {quality.QUALITY_VERSION - 1}

    r = lib.index([photos])  # the index run catches the rest
    assert r.rescoring.faces_rescored == 2 and r.rescoring.photos_read == 2
    assert assess.calls == calls + 8
    assert lib.index([photos]).rescoring.faces_rescored == 0 and assess.calls == calls + 8


def test_faces_from_before_scoring_existed_are_scored_by_the_next_index(lib, photos, assess):
    lib.index([photos])
    with lib._write, lib._Session.begin() as s:  # as migration 0002 leaves an older library
        s.execute(update(Face).values(quality=None, quality_version=None, quality_score=None))
        s.execute(update(Photo).values(fingerprint=None))
    calls = assess.calls
    r = lib.index([photos])
    assert r.rescoring.faces_rescored == 8 and assess.calls == calls + 8
    assert all(v == quality.QUALITY_VERSION for (v,) in _rows(lib, Face.quality_version))
    with lib._Session() as s:
        assert all(fp for n, fp in s.execute(select(Photo.path, Photo.fingerprint)) if "empty" not in n)


def test_rescoring_skips_a_photo_that_is_gone_and_keeps_its_old_scores(lib, photos, assess, monkeypatch):
    lib.index([photos])
    gone = _face(lib, "alice5.png")
    old = lib.face(gone).quality_score
    (photos / "alice5.png").unlink()
    monkeypatch.setattr(quality, "QUALITY_VERSION", quality.QUALITY_VERSION + 1)
    r = lib.rescore()
    assert r.faces_rescored == 7 and r.faces_skipped == 1
    assert lib.face(gone).quality_score == old


def test_a_face_that_cannot_be_measured_is_kept_never_chosen_and_not_retried(lib, photos, monkeypatch):
    assess = FakeQuality(fail={5})
    monkeypatch.setattr(quality, "assess", assess)
    r = lib.index([photos])
    assert r.errors == 0 and r.faces_found == 8
    bad = _face(lib, "alice5.png")
    with lib._Session() as s:
        face = s.get(Face, bad)
        assert face.quality is None and face.quality_version == quality.QUALITY_VERSION
        assert face.quality_reasons == ["could not be measured: the face lies outside the image"]
    alice = lib.face(bad).person_id
    assert bad not in _ids(lib.best_shots(alice, k=10))
    calls = assess.calls
    lib.index([photos])
    lib.best_shots(alice)
    assert assess.calls == calls
    with pytest.raises(LibraryError, match="could not be measured"):
        lib.references_for_face(bad)


# ---------------------------------------------------------------------------------------
# Choosing, pinning, excluding


def test_best_shots_take_the_sharpest_faces_with_what_is_needed_for_crops(lib, photos, assess):
    lib.index([photos])
    alice = _person(lib, "alice1.png")
    chosen = lib.best_shots(alice, k=3)
    names = [c.photo_path.rsplit("/", 1)[-1] for c in chosen]
    assert len(chosen) == 3 and names[0] == "alice6.png"
    assert set(names) <= {"alice4.png", "alice5.png", "alice6.png"}
    for c in chosen:
        assert os.path.isabs(c.photo_path) and os.path.isfile(c.photo_path)
        assert len(c.landmarks) == 5 and c.box is not None and c.reasons
        face = lib.face(c.face_id)
        assert face.person_id == alice and face.box == c.box
    # alice1 and alice2 score under half the best: left out even when places are free.
    assert {c.photo_path.rsplit("/", 1)[-1] for c in lib.best_shots(alice, k=5)} == {
        "alice3.png", "alice4.png", "alice5.png", "alice6.png"
    }
    with pytest.raises(LibraryError, match="at least 1"):
        lib.best_shots(alice, k=0)


def test_pins_and_exclusions_win_survive_reindexing_and_reset(lib, photos, assess):
    lib.index([photos])
    alice = _person(lib, "alice1.png")
    best, blurry = _face(lib, "alice6.png"), _face(lib, "alice1.png")

    pinned = lib.pin_reference(blurry)
    assert (pinned.face_id, pinned.person_id, pinned.changed) == (blurry, alice, True)
    assert lib.pin_reference(blurry).changed is False
    excluded = lib.exclude_reference(best)
    assert (excluded.face_id, excluded.changed) == (best, True)
    assert {f.id: f.reference for f in lib.faces(alice)}[best] == "excluded"

    def check():
        chosen = lib.best_shots(alice, k=3)
        assert chosen[0].face_id == blurry and chosen[0].pinned and "pinned by you" in chosen[0].reasons
        assert best not in _ids(chosen) and len(chosen) == 3
        target = _face(lib, "alice3.png")
        refs = lib.references_for_face(target, k=3)
        assert refs[0].face_id == blurry and best not in _ids(refs)

    check()
    # Touch every photo and add one as sharp as the best: decisions stay and still win.
    for p in photos.iterdir():
        os.utime(p, ns=(p.stat().st_mtime_ns + 10**9,) * 2)
    fake_photo(photos / "alice-new.png", [(ALICE, 6 + 7)])
    r = lib.index([photos])
    assert r.new == 1 and r.unchanged == 7
    assert lib.face(_face(lib, "alice-new.png")).person_id == alice
    check()

    reset = lib.reset_references(alice)
    assert (reset.person_id, reset.pins_removed, reset.exclusions_removed) == (alice, (blurry,), (best,))
    assert lib.reset_references(alice).pins_removed == ()
    chosen = _ids(lib.best_shots(alice, k=3))
    assert blurry not in chosen and best in chosen


def test_pin_and_exclude_exclude_each_other(lib, photos, assess):
    lib.index([photos])
    a, b = _face(lib, "alice3.png"), _face(lib, "alice4.png", _person(lib, "alice1.png"))
    lib.pin_reference(a)
    with pytest.raises(LibraryError, match="cannot be pinned and excluded at once"):
        lib.exclude_reference(a)
    lib.exclude_reference(b)
    with pytest.raises(LibraryError, match="cannot be pinned and excluded at once"):
        lib.pin_reference(b)
    r = lib.reset_references(face_id=b)
    assert (r.person_id, r.pins_removed, r.exclusions_removed) == (None, (), (b,))
    assert lib.pin_reference(b).changed


def test_a_decision_follows_its_face_into_another_person(lib, photos, assess):
    lib.index([photos])
    alice = _person(lib, "alice1.png")
    bob = next(f.person_id for f in lib.faces() if f.person_id != alice)
    moved = _face(lib, "alice3.png")
    lib.pin_reference(moved)
    lib.confirm_face(moved, bob)
    assert moved not in _ids(lib.best_shots(alice))
    bobs = lib.best_shots(bob)
    assert bobs[0].face_id == moved and bobs[0].pinned


def test_references_for_a_face_leave_out_its_photo_and_copies(lib, photos, assess):
    shutil.copyfile(photos / "alice5.png", photos / "alice5-copy.png")
    lib.index([photos])
    alice = _person(lib, "alice1.png")
    target = _face(lib, "alice5.png")
    copy = _face(lib, "alice5-copy.png")
    refs = lib.references_for_face(target, k=10)
    assert refs and target not in _ids(refs) and copy not in _ids(refs)
    assert all(not c.photo_path.endswith(("alice5.png", "alice5-copy.png")) for c in refs)
    assert refs[0].photo_path.endswith("alice6.png")
    # The best shots hold one of the two copies at most.
    shots = [c.photo_path for c in lib.best_shots(alice, k=10)]
    assert sum(p.endswith(("alice5.png", "alice5-copy.png")) for p in shots) == 1
    # The person is checked when given.
    bob = next(f.person_id for f in lib.faces() if f.person_id != alice)
    with pytest.raises(LibraryError, match=f"face {target} is not one of person {bob}'s faces"):
        lib.references_for_face(target, person_id=bob)


def test_unknown_and_unassigned_faces_get_clear_errors(lib, photos, assess):
    lib.index([photos])
    with pytest.raises(NotFound, match="no person with id 99"):
        lib.best_shots(99)
    for verb in (lib.references_for_face, lib.pin_reference, lib.exclude_reference):
        with pytest.raises(NotFound, match="no face with id 999"):
            verb(999)
    with pytest.raises(NotFound, match="no person with id 99"):
        lib.reset_references(99)
    face = _face(lib, "alice2.png")
    lib.reject_face(face)
    for verb in (lib.references_for_face, lib.pin_reference, lib.exclude_reference):
        with pytest.raises(LibraryError, match="belongs to nobody"):
            verb(face)


def test_faces_of_another_backend_are_explained_not_silently_dropped(tmp_path, photos, assess):
    with open_test_library(tmp_path / "home", SpreadBackend()) as lib:
        lib.index([photos])
        alice = _person(lib, "alice1.png")
    # The same library opened with another backend (another embedding space).
    with open_test_library(tmp_path / "home") as other:
        with pytest.raises(LibraryError, match="another face backend \\(fake-spread-v1\\)"):
            other.best_shots(alice)
