"""Restoration need: each flaw restoration repairs raises it and is named; what it cannot
repair (pose, closed eyes) never counts. Synthetic faces here; real photos and their
degraded copies in test_need_real.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from degradations import grain, noise
from refldm_desktop.faces import oldprint
from refldm_desktop.faces.need import DEFAULT_MIN_NEED, OLD_PRINT_REASONS, rate_need, severities
from refldm_desktop.faces.quality import Pose, QualityScores, assess, rate
from test_quality import blur, down_up, jpeg
from test_quality import face_photo as _face_photo


def face_photo(eyes: float, seed: int):
    """A synthetic face photo with the full tonal range of a fresh print or a digital photo
    (deep shadows to highlights)."""
    img, lm = _face_photo(eyes, seed=seed)
    lo, hi = np.percentile(img, (2, 98))
    img = np.clip((img.astype(np.float32) - lo) * (245.0 / max(hi - lo, 1.0)) + 5.0, 0, 255).astype(np.uint8)
    return img, lm


def _need(img, lm):
    return rate_need(assess(img, lm))


def test_a_sharp_clean_face_needs_nothing_and_each_flaw_is_named():
    img, lm = face_photo(80.0, seed=3)
    clean = _need(img, lm)
    assert clean.score < DEFAULT_MIN_NEED and clean.reasons == ()
    eyes = 80.0
    flawed = {
        "blurry": blur(img, 3.0),
        "noisy": noise(img, eyes, np.random.default_rng(1)),
        "heavy JPEG": jpeg(img, 10),
        "film grain": grain(img, eyes, np.random.default_rng(2)),
    }
    for name, pixels in flawed.items():
        n = _need(pixels, lm)
        assert n.score >= DEFAULT_MIN_NEED and n.score > clean.score, (name, n)
        assert n.reasons[0] == name, (name, n.reasons)
    # White noise is noise, not grain; grain is grain, not noise.
    assert "film grain" not in _need(flawed["noisy"], lm).reasons
    assert "noisy" not in _need(flawed["film grain"], lm).reasons


def test_too_few_pixels_names_the_eye_distance():
    img, lm = face_photo(21.0, seed=4)
    n = _need(img, lm)
    assert n.score >= DEFAULT_MIN_NEED and "tiny: 21 px between the eyes" in n.reasons


def test_a_blown_up_face_is_blurry_at_any_size_the_model_works_at():
    for eyes in (40.0, 100.0):
        img, lm = face_photo(eyes, seed=5)
        assert "blurry" in _need(down_up(img, 4), lm).reasons


def test_pose_closed_eyes_and_the_detector_never_change_the_need():
    img, lm = face_photo(90.0, seed=6)
    q = assess(blur(img, 1.2), lm)
    base = rate_need(q)
    for change in (
        {"pose": Pose(yaw=55.0, pitch=-30.0, roll=20.0)},
        {"eye_openness": 0.05},
        {"detector": 0.01},
        {"brightness": 0.1, "contrast": 0.03},  # lighting: restoration keeps it
    ):
        other = rate_need(dataclasses.replace(q, **change))
        assert other.score == pytest.approx(base.score, abs=1e-9) and other.reasons == base.reasons, change
    # The reference score does care, which is why the two are kept apart.
    assert rate(dataclasses.replace(q, eye_openness=0.05)).score < rate(q).score


def _toned(img: np.ndarray, tint: tuple[float, float, float]) -> np.ndarray:
    """A monochrome print toned one colour (sepia, cyanotype): every tone leans the same
    way, by the same amount (RGB offsets in 0..255)."""
    g = img.astype(np.float32).mean(axis=2, keepdims=True)
    return np.clip(g + np.asarray(tint, np.float32), 0, 255).astype(np.uint8)


def test_a_toned_print_has_a_colour_cast_and_a_grey_one_does_not():
    img, lm = face_photo(80.0, seed=7)
    sepia = _need(_toned(img, (18.0, 2.0, -20.0)), lm)
    cyanotype = _need(_toned(img, (-22.0, 0.0, 20.0)), lm)
    grey = _need(_toned(img, (0.0, 0.0, 0.0)), lm)
    assert "colour cast" in sepia.reasons and "colour cast" in cyanotype.reasons
    assert "colour cast" not in grey.reasons and grey.score < DEFAULT_MIN_NEED
    assert sepia.old_print and not grey.old_print


def test_a_faded_print_is_faded_only_where_the_photo_shows_more_than_the_face():
    img, lm = face_photo(40.0, seed=8)  # the photo is 6 eye distances wide: more than the face
    assert "faded" not in _need(img, lm).reasons
    faded = (80 + img.astype(np.float32) * 0.6).astype(np.uint8)  # blacks lifted to 80/255
    assert "faded" in _need(faded, lm).reasons
    signs = assess(faded, lm).print_signs
    tight = dataclasses.replace(signs, context=1.3)
    assert oldprint.severities(tight)["faded"] == 0.0


def test_severities_cover_the_old_print_reasons_and_stay_in_range():
    img, lm = face_photo(70.0, seed=9)
    s = severities(assess(img, lm))
    assert set(OLD_PRINT_REASONS) <= set(s)
    assert all(0.0 <= v <= 1.0 for v in s.values())


def test_measures_round_trip_through_json_and_older_ones_still_load():
    import json

    img, lm = face_photo(70.0, seed=10)
    q = assess(img, lm)
    back = QualityScores.from_dict(json.loads(json.dumps(q.to_dict())))
    assert back == q and rate_need(back) == rate_need(q)
    old = q.to_dict()
    del old["print_signs"]  # stored before old-print signs were measured
    assert QualityScores.from_dict(old).print_signs is None
    assert rate_need(QualityScores.from_dict(old)).score >= 0.0
