"""Reference choice on synthetic people: good, diverse, never a copy twice, user decides."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from refldm_desktop.faces.quality import QUALITY_VERSION, ColourStats, Pose, QualityScores
from refldm_desktop.faces.refselect import Candidate, Settings, best_shots, near_duplicate_groups, references_for
from refldm_desktop.faces.types import EmbeddingSpace

SPACE = EmbeddingSpace("test-euclid", 16, "euclidean", same_person=0.6)
COSINE = EmbeddingSpace("test-cos", 16, "cosine", same_person=0.5)


def scores(
    sharp: float = 0.05,
    eye_distance: float = 120,
    yaw: float = 0.0,
    pitch: float = 0.0,
    blockiness: float = 0.02,
    colour: tuple[float, float] = (0.18, 0.16),
    brightness: float = 0.5,
    fingerprint: tuple[int, ...] = (),
) -> QualityScores:
    return QualityScores(
        version=QUALITY_VERSION,
        sharpness=sharp,
        native_sharpness=sharp,
        eye_distance=eye_distance,
        pose=Pose(yaw, pitch, 0.0),
        brightness=brightness,
        contrast=0.15,
        clipped=0.0,
        eye_openness=0.3,
        blockiness=blockiness,
        noise=1.0,
        detector=0.95,
        colour=ColourStats(*colour),
        fingerprint=fingerprint,
    )


class Person:
    """Synthetic faces of one person: a centre plus a distinct look per photo."""

    def __init__(self, seed: int = 0, space: EmbeddingSpace = SPACE):
        self.rng = np.random.default_rng(seed)
        self.space = space
        self.centre = self.rng.normal(size=space.dim)
        self.centre /= np.linalg.norm(self.centre)
        self.next_id = 1

    def look(self) -> np.ndarray:
        """A new photo's embedding: different photos of one person sit about 0.7 of the
        same-person threshold apart, as with real models."""
        d = self.rng.normal(size=self.space.dim)
        d -= d @ self.centre * self.centre
        # Euclidean: 0.3 from the centre; cosine: about 32 degrees from it.
        spread = 0.3 if self.space.metric == "euclidean" else 0.62
        return self.centre + d / np.linalg.norm(d) * spread

    def face(self, embedding=None, photo_id=None, **kw) -> Candidate:
        fid = self.next_id
        self.next_id += 1
        q = kw.pop("quality", None) or scores(**{k: kw.pop(k) for k in list(kw) if k in scores.__code__.co_varnames})
        return Candidate(
            face_id=fid,
            photo_id=photo_id if photo_id is not None else 1000 + fid,
            photo_path=f"/photos/{fid}.jpg",
            embedding=self.look() if embedding is None else embedding,
            quality=q,
            box=(10.0, 20.0, 110.0, 140.0),
            **kw,
        )

    def copy_of(self, c: Candidate, jitter: float = 0.02, **kw) -> Candidate:
        """A degraded copy: nearly the same embedding, a different photo."""
        d = self.rng.normal(size=self.space.dim)
        return self.face(embedding=np.asarray(c.embedding) + d / np.linalg.norm(d) * jitter, **kw)


def ids(choices) -> list[int]:
    return [c.face_id for c in choices]


def test_copies_count_once_and_the_best_copy_is_the_one_chosen():
    p = Person(1)
    originals = [p.face(sharp=0.05) for _ in range(6)]
    blurred = [p.copy_of(o, sharp=0.0005) for o in originals]
    jpegs = [p.copy_of(o, sharp=0.08, blockiness=0.9) for o in originals]
    chosen = best_shots(originals + blurred + jpegs, SPACE)
    assert len(chosen) == 5
    assert set(ids(chosen)) <= set(ids(originals))
    assert any("near-identical" in r for c in chosen for r in c.reasons)


def test_bursts_and_identical_files_are_near_duplicates():
    p = Person(2)
    t0 = datetime(2020, 5, 1, 12, 0, 0)
    burst = [p.face(taken_at=t0 + timedelta(seconds=s), sharp=0.02 + 0.01 * s) for s in range(4)]
    same_file = [p.face(content_hash="abc", sharp=0.03), p.face(content_hash="abc", sharp=0.06)]
    later = p.face(taken_at=t0 + timedelta(minutes=5))
    groups = near_duplicate_groups(burst + same_file + [later], SPACE)
    assert sorted(ids(burst)) in [sorted(g) for g in groups]
    assert sorted(ids(same_file)) in [sorted(g) for g in groups]
    assert [later.face_id] in groups
    chosen = ids(best_shots(burst + same_file + [later], SPACE))
    assert sum(i in chosen for i in ids(burst)) == 1 and burst[-1].face_id in chosen  # the sharpest of the burst
    assert same_file[1].face_id in chosen and same_file[0].face_id not in chosen


def test_blurred_copies_of_two_photos_do_not_chain_the_photos_together():
    # Blurring makes two different photos of one person alike: their copies link to each
    # other, but the originals must stay apart.
    p = Person(3)
    a, b = p.face(sharp=0.05), p.face(sharp=0.05)
    mid = (np.asarray(a.embedding) + np.asarray(b.embedding)) / 2
    a_blur = p.face(embedding=mid + 0.01, sharp=0.0004)
    b_blur = p.face(embedding=mid - 0.01, sharp=0.0004)
    # Make the copies' link to their originals explicit through a shared file hash.
    a2, a_blur2 = replace(a, content_hash="A"), replace(a_blur, content_hash="A")
    b2, b_blur2 = replace(b, content_hash="B"), replace(b_blur, content_hash="B")
    chosen = ids(best_shots([a2, b2, a_blur2, b_blur2], SPACE))
    assert a.face_id in chosen and b.face_id in chosen


def test_poor_faces_never_fill_empty_slots():
    p = Person(4)
    good = [p.face(sharp=0.05) for _ in range(2)]
    poor = [p.face(sharp=0.0003) for _ in range(5)]  # blurry, and not copies of the good ones
    assert set(ids(best_shots(good + poor, SPACE))) == set(ids(good))


def test_diverse_looks_and_poses_are_covered():
    p = Person(5)
    # Eight frontal shots of one look, and two good profile shots of another look.
    look = p.look()
    frontal = [p.face(embedding=look + p.rng.normal(size=16) * 0.05, sharp=0.06) for _ in range(8)]
    profile = [p.face(sharp=0.05, yaw=35.0) for _ in range(2)]
    chosen = ids(best_shots(frontal + profile, SPACE, settings=Settings(k=2)))
    assert chosen[0] in ids(frontal) and chosen[1] in ids(profile)
    chosen = ids(best_shots(frontal + profile, SPACE, settings=Settings(k=4)))
    assert len(set(chosen) & set(ids(profile))) >= 1
    first = best_shots(frontal + profile, SPACE)[0]
    assert first.face_id in ids(frontal)  # the seed is the best face
    assert first.reasons[0] in ("sharpest frontal photo", "sharpest photo", "best photo of this person")


def test_pins_come_first_and_exclusions_never_appear():
    p = Person(6)
    faces = [p.face(sharp=0.05) for _ in range(6)]
    poor = p.face(sharp=0.0002, eye_distance=20)
    everyone = faces + [poor]
    chosen = best_shots(everyone, SPACE, pinned=[poor.face_id], excluded=[faces[0].face_id, faces[1].face_id])
    assert chosen[0].face_id == poor.face_id and chosen[0].pinned
    assert chosen[0].reasons[0] == "pinned by you"
    assert faces[0].face_id not in ids(chosen) and faces[1].face_id not in ids(chosen)
    assert len(chosen) == 5
    # Excluding wins over everything, even over a pin.
    assert poor.face_id not in ids(best_shots(everyone, SPACE, pinned=[poor.face_id], excluded=[poor.face_id]))


def test_a_far_away_face_is_marked_and_ranked_low():
    p = Person(7)
    faces = [p.face(sharp=0.05) for _ in range(5)]
    stranger = p.face(embedding=p.centre + np.ones(16) * 0.65 / 4, sharp=0.3)  # 0.65 away
    chosen = best_shots(faces + [stranger], SPACE)
    assert stranger.face_id not in ids(chosen)
    shown = best_shots(faces + [stranger], SPACE, pinned=[stranger.face_id])[0]
    assert "far from this person's other photos" in shown.reasons


def test_target_own_photo_and_its_copies_are_not_its_references():
    p = Person(8)
    target = p.face(sharp=0.0005)
    original = p.copy_of(target, sharp=0.06)  # the good version of the target photo
    same_photo = p.face(photo_id=target.photo_id, sharp=0.05)  # e.g. a mirror reflection
    others = [p.face(sharp=0.05) for _ in range(6)]
    refs = ids(references_for(target, [target, original, same_photo] + others, SPACE))
    assert original.face_id not in refs and same_photo.face_id not in refs and target.face_id not in refs
    assert len(refs) == 5
    # The user may know better: a pin wins.
    pinned = references_for(target, [original] + others, SPACE, pinned=[original.face_id])
    assert pinned[0].face_id == original.face_id


def test_references_follow_the_targets_pose_and_date():
    p = Person(9)
    t = datetime(2000, 6, 1)
    target = p.face(yaw=40.0, taken_at=t, sharp=0.0005)
    frontal_same_year = [p.face(yaw=0.0, taken_at=t + timedelta(days=40 * i + 10), sharp=0.06) for i in range(3)]
    turned_old = [p.face(yaw=38.0, taken_at=t - timedelta(days=365 * 25 + i), sharp=0.06) for i in range(3)]
    turned_same_year = [p.face(yaw=42.0, taken_at=t + timedelta(days=30 + i), sharp=0.05) for i in range(2)]
    everyone = [target] + frontal_same_year + turned_old + turned_same_year
    refs = references_for(target, everyone, SPACE, settings=Settings(k=2))
    assert set(ids(refs)) == set(ids(turned_same_year))
    assert all("similar pose to the target" in r.reasons and "close in date" in r.reasons for r in refs)
    # Without dates, pose decides.
    undated = [replace(c, taken_at=None) for c in everyone]
    refs = references_for(undated[0], undated, SPACE, settings=Settings(k=5))
    assert set(ids(refs[:5])) == set(ids(turned_old + turned_same_year))


def test_colour_outliers_are_avoided_and_explained():
    p = Person(10)
    target = p.face(sharp=0.0005)
    usual = [p.face(sharp=0.04) for _ in range(5)]
    tinted = p.face(sharp=0.08, colour=(0.45, 0.40))  # strongly lit: sharper, but orange
    grey = p.face(sharp=0.08, colour=(0.0, 0.0))
    refs = references_for(target, [target, tinted, grey] + usual, SPACE, settings=Settings(k=3))
    assert tinted.face_id not in ids(refs) and grey.face_id not in ids(refs)
    shown = best_shots([tinted, grey] + usual, SPACE, pinned=[tinted.face_id, grey.face_id])
    assert "unusual colour or lighting for this person" in shown[0].reasons
    assert "black and white, unlike this person's other photos" in shown[1].reasons


def test_cosine_space_and_json_output():
    p = Person(11, space=COSINE)
    faces = [p.face(sharp=0.05) for _ in range(4)]
    chosen = best_shots(faces, COSINE)
    assert len(chosen) == 4
    j = chosen[0].to_json()
    assert set(j) >= {"face_id", "photo", "box", "score", "reasons"}
    assert j["photo"].endswith(".jpg") and len(j["box"]) == 4 and isinstance(j["reasons"], list)
    assert 0.0 <= j["score"] <= 1.0


def test_empty_and_mismatched_input():
    assert best_shots([], SPACE) == []
    p = Person(12)
    assert references_for(p.face(), [], SPACE) == []
    wrong = replace(p.face(), embedding=np.zeros(8))
    with pytest.raises(ValueError, match="dimensions"):
        best_shots([wrong], SPACE)


def test_many_faces_give_the_same_choice_in_any_order():
    p = Person(13)
    faces = [p.face(sharp=float(p.rng.uniform(0.001, 0.1)), yaw=float(p.rng.uniform(-40, 40))) for _ in range(1500)]
    a = ids(best_shots(faces, SPACE))
    b = ids(best_shots(list(reversed(faces)), SPACE))
    assert a == b and len(a) == 5
