"""Face quality: each measure must track the flaw it names, at any face size."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from refldm_desktop.faces.align import ffhq_transform, warp_to_crop
from refldm_desktop.faces.quality import (
    QUALITY_VERSION,
    QualityScores,
    assess,
    detector_confidence,
    eye_openness,
    fingerprint_similarity,
    head_pose,
    photo_fingerprint,
    rate,
)

# A generic head for making landmarks, deliberately not the one quality.py fits (faces vary):
# millimetres, x to the viewer's right, y down, z away from the camera, nose tip at 0.
_HEAD = {
    8: (0, 70, 25), 17: (-60, -48, 32), 19: (-35, -58, 18), 21: (-12, -52, 15),
    22: (12, -52, 15), 24: (35, -58, 18), 26: (60, -48, 32), 27: (0, -42, 22),
    30: (0, 0, 0), 31: (-15, 5, 14), 33: (0, 7, 11), 35: (15, 5, 14),
    36: (-47, -33, 30), 39: (-17, -33, 22), 42: (17, -33, 22), 45: (47, -33, 30),
    48: (-27, 30, 24), 51: (0, 20, 10), 54: (27, 30, 24), 57: (0, 40, 15),
}


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Model -> camera with the conventions of quality.Pose (degrees)."""
    y, p, r = np.radians([-yaw, -pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def landmarks_68(
    centre=(300.0, 300.0), eye_distance: float = 100.0, yaw=0.0, pitch=0.0, roll=0.0, eye_gap: float = 0.3
) -> np.ndarray:
    """68 iBUG landmarks of a generic head seen from a pose, eyes `eye_distance` apart."""
    pts = {k: np.array(v, float) for k, v in _HEAD.items()}
    # Eyes: six points per eye around an ellipse whose height/width ratio sets the EAR.
    for first, (xo, xi) in ((36, (-47, -17)), (42, (17, 47))):
        w = xi - xo
        cx, cy, z = (xo + xi) / 2, -33.0, 26.0
        h = eye_gap * w
        ring = [(xo, cy), (cx - w / 6, cy - h / 2), (cx + w / 6, cy - h / 2), (xi, cy), (cx + w / 6, cy + h / 2), (cx - w / 6, cy + h / 2)]
        for k, (x, yy) in enumerate(ring):
            pts[first + k] = np.array([x, yy, z])
    filled = np.zeros((68, 3))
    for k in range(68):
        filled[k] = pts.get(k, pts[30])
    cam = filled @ _rotation(yaw, pitch, roll).T
    scale = eye_distance / 64.0  # eye centres are 64 mm apart in _HEAD
    return (cam[:, :2] * scale + np.asarray(centre)).astype(np.float64)


def to_five(lm68: np.ndarray) -> np.ndarray:
    return np.array([lm68[36:42].mean(0), lm68[42:48].mean(0), lm68[30], lm68[48], lm68[54]])


def natural_texture(size: int, seed: int = 0, level: float = 128.0) -> np.ndarray:
    """Grey noise with a 1/f^1.5 amplitude spectrum: like a face, smoother than a busy
    scene, but with detail at every scale."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    spectrum = np.fft.fft2(rng.standard_normal((size, size))) / radius**1.5
    spectrum[0, 0] = 0
    img = np.real(np.fft.ifft2(spectrum))
    img = (img - img.mean()) / img.std() * 40 + level
    g = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.stack([g, g, g], axis=2))


def face_photo(eye_distance: float, seed: int = 0, level: float = 128.0):
    size = int(eye_distance * 6)
    img = natural_texture(size, seed, level)
    return img, landmarks_68((size / 2, size / 2), eye_distance)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """A true Gaussian blur (Pillow's is three box blurs, whose ripples keep some detail)."""
    r = int(4 * sigma) + 1
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    a = np.pad(img.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    a = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, a)
    a = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, a)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def down_up(img: np.ndarray, factor: int) -> np.ndarray:
    h, w = img.shape[:2]
    im = Image.fromarray(img).resize((w // factor, h // factor), Image.Resampling.BICUBIC)
    return np.asarray(im.resize((w, h), Image.Resampling.BICUBIC))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


# ---------------------------------------------------------------------------------------
# Sharpness: judged against the face's own resolution


def test_sharp_faces_score_sharp_at_every_size():
    small = assess(*face_photo(24, seed=1))
    chip = assess(*face_photo(50, seed=2))
    large = assess(*face_photo(300, seed=3))
    for q in (small, chip, large):
        assert "sharp" in rate(q).reasons, q
        assert "blurry" not in rate(q).reasons
    # A bigger face is not rewarded for sharpness (its size is judged separately).
    values = [small.sharpness, chip.sharpness, large.sharpness]
    assert max(values) / min(values) < 3.0


@pytest.mark.parametrize("eye_distance", [40, 60, 150])
def test_blur_and_upscaling_are_blurry_whatever_the_face_size(eye_distance):
    img, lm = face_photo(eye_distance, seed=eye_distance)
    sharp = assess(img, lm)
    # Blur relative to the face: the same look at any resolution.
    soft = assess(blur(img, eye_distance / 20), lm)
    blown_up = assess(down_up(img, 4), lm)
    for q in (soft, blown_up):
        assert "blurry" in rate(q).reasons
        assert q.sharpness < sharp.sharpness / 5
        assert rate(q).score < rate(sharp).score - 0.3
    # Same pixel count, same eye distance: only sharpness tells them apart.
    assert blown_up.eye_distance == pytest.approx(sharp.eye_distance)


@pytest.mark.parametrize("eye_distance", [240, 400])
def test_a_very_large_face_blown_up_from_a_quarter_ranks_below_the_original(eye_distance):
    # Blown up from eyes 60 or 100 px apart: about what ReF-LDM's crop needs (128), so
    # only somewhat softer there, but with no detail at its own pixel size.
    img, lm = face_photo(eye_distance, seed=7)
    original, copy = rate(assess(img, lm)), rate(assess(down_up(img, 4), lm))
    assert "less detail than its size suggests" in copy.reasons
    assert copy.score < original.score - 0.05


def test_reusing_a_crop_gives_the_same_measures():
    img, lm = face_photo(80, seed=4)
    t = ffhq_transform(lm, 512)
    direct = assess(img, lm)
    from_crop = assess(img, lm, transform=t, crop=warp_to_crop(img, t))
    assert from_crop.sharpness == pytest.approx(direct.sharpness, rel=0.35)
    assert from_crop.brightness == pytest.approx(direct.brightness, abs=0.02)
    assert fingerprint_similarity(from_crop.fingerprint, direct.fingerprint) > 0.98


# ---------------------------------------------------------------------------------------
# Compression and noise: on the source's own pixel grid


def test_heavy_jpeg_is_flagged_and_ordinary_jpeg_is_not():
    img, lm = face_photo(60, seed=5)
    q15 = assess(jpeg(img, 15), lm)
    q95 = assess(jpeg(img, 95), lm)
    assert "heavy JPEG artefacts" in rate(q15).reasons
    assert q95.blockiness < 0.2
    assert "JPEG" not in " ".join(rate(q95).reasons)
    # Blocks fake fine detail; that must not make the compressed copy rank higher.
    assert rate(q15).score < rate(q95).score - 0.3


def test_jpeg_grid_is_found_after_cropping_and_rotation():
    img, lm = face_photo(60, seed=6)
    q15 = jpeg(img, 15)
    shifted = np.ascontiguousarray(q15[3:, 5:])
    assert assess(shifted, lm - [5, 3]).blockiness > 0.5
    turned = np.ascontiguousarray(np.rot90(q15))
    h = img.shape[0]
    lm_turned = np.stack([lm[:, 1], h - lm[:, 0]], axis=1)  # rot90 maps (x, y) -> (y, W - x)
    assert assess(turned, lm_turned).blockiness > 0.5


def test_a_4x_upscale_is_not_mistaken_for_jpeg_blocks():
    img, lm = face_photo(60, seed=8)
    assert assess(down_up(img, 4), lm).blockiness < 0.2
    assert assess(down_up(img, 8), lm).blockiness < 0.2


def test_noise_is_estimated_and_flagged():
    rng = np.random.default_rng(0)
    flat = np.full((400, 400, 3), 120, np.uint8)
    noisy = np.clip(flat + rng.normal(0, 12, flat.shape[:2])[..., None], 0, 255).astype(np.uint8)
    lm = landmarks_68((200, 200), 60)
    q = assess(noisy, lm)
    assert q.noise == pytest.approx(12, rel=0.3)
    assert "noisy" in rate(q).reasons
    assert assess(flat, lm).noise < 1


# ---------------------------------------------------------------------------------------
# Geometry from landmarks


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (35, 0, 0), (-35, 0, 0), (0, 20, 0), (0, -20, 0), (20, 10, 30)])
def test_head_pose_from_68_and_5_landmarks(yaw, pitch, roll):
    lm = landmarks_68(yaw=yaw, pitch=pitch, roll=roll)
    p68 = head_pose(lm)
    assert p68.yaw == pytest.approx(yaw, abs=6)
    assert p68.pitch == pytest.approx(pitch, abs=8)
    assert p68.roll == pytest.approx(roll, abs=5)
    p5 = head_pose(to_five(lm))
    assert p5.yaw == pytest.approx(yaw, abs=12)
    assert p5.roll == pytest.approx(roll, abs=6)


def test_turned_face_is_explained_in_degrees():
    img, _ = face_photo(80, seed=9)
    q = assess(img, landmarks_68((240, 240), 80, yaw=45))
    assert any(r.startswith("turned 4") and r.endswith("degrees to the side") for r in rate(q).reasons)
    assert rate(q).score < rate(assess(img, landmarks_68((240, 240), 80))).score


def test_eyes_open_closed_and_unknown():
    assert eye_openness(landmarks_68(eye_gap=0.32)) > 0.25
    assert eye_openness(landmarks_68(eye_gap=0.08)) < 0.12
    assert eye_openness(to_five(landmarks_68())) is None
    img, _ = face_photo(80, seed=10)
    shut = assess(img, landmarks_68((240, 240), 80, eye_gap=0.06))
    assert "eyes closed" in rate(shut).reasons
    five = assess(img, to_five(landmarks_68((240, 240), 80)))
    assert five.eye_openness is None and "eyes" not in rate(five).factors


def test_small_face_names_its_size():
    img, lm = face_photo(23, seed=11)
    assert "small face (23 px between the eyes)" in rate(assess(img, lm)).reasons


# ---------------------------------------------------------------------------------------
# Exposure, colour, detector, identity


def test_dark_and_flat_faces():
    img, lm = face_photo(60, seed=12, level=25)
    dark = assess((img.astype(np.float32) * 0.3).astype(np.uint8), lm)
    assert "dark" in rate(dark).reasons
    flat = assess(np.full_like(img, 128), lm)
    assert "low contrast" in rate(flat).reasons


def test_colour_stats_follow_the_cast():
    img, lm = face_photo(60, seed=13)
    warm = img.astype(np.float32) * [1.1, 1.0, 0.7]
    q_warm = assess(np.clip(warm, 0, 255).astype(np.uint8), lm)
    q_grey = assess(img, lm)
    assert q_grey.colour.chroma < 0.01
    assert q_warm.colour.blue_yellow > 0.08


def test_detector_confidence_and_identity_distance_lower_the_score():
    img, lm = face_photo(80, seed=14)
    sure = assess(img, lm, detector=detector_confidence(2.5, "dlib"))
    unsure = assess(img, lm, detector=detector_confidence(-0.3, "dlib"))
    assert rate(unsure).score < rate(sure).score
    assert "uncertain detection" in rate(unsure).reasons
    assert detector_confidence(0.9, "insightface") == pytest.approx(0.9)
    far = rate(sure, identity_distance=0.58, same_person=0.6)
    near = rate(sure, identity_distance=0.2, same_person=0.6)
    assert "far from this person's other photos" in far.reasons
    assert far.score < near.score
    with pytest.raises(ValueError):
        rate(sure, identity_distance=0.3)


def test_score_stays_in_unit_interval_and_worst_flaw_comes_first():
    img, lm = face_photo(20, seed=15)
    worst = assess(blur(jpeg(img, 10), 2), landmarks_68((60, 60), 20, yaw=70, eye_gap=0.05))
    r = rate(worst, identity_distance=1.0, same_person=0.6)
    assert 0.0 <= r.score < 0.05
    factors = [r.factors[k] for k in r.factors]
    assert all(0.0 <= v <= 1.0 for v in factors)
    best = rate(assess(*face_photo(140, seed=16)), identity_distance=0.1, same_person=0.6)
    assert best.score > 0.9


# ---------------------------------------------------------------------------------------
# Storage and fingerprints


def test_scores_round_trip_through_json():
    img, lm = face_photo(60, seed=17)
    q = assess(img, lm, detector=0.8)
    back = QualityScores.from_dict(json.loads(json.dumps(q.to_dict())))
    assert back == q
    assert back.version == QUALITY_VERSION


def test_fingerprints_match_copies_and_not_other_photos():
    img, lm = face_photo(60, seed=18)
    other, lm2 = face_photo(60, seed=19)
    base = assess(img, lm).fingerprint
    assert fingerprint_similarity(base, assess(jpeg(img, 30), lm).fingerprint) > 0.97
    assert fingerprint_similarity(base, assess(down_up(img, 2), lm).fingerprint) > 0.97
    assert fingerprint_similarity(base, assess(other, lm2).fingerprint) < 0.8
    # Whole-photo fingerprint: a resized, letterboxed copy is still the same photo.
    h, w = img.shape[:2]
    small = np.asarray(Image.fromarray(img).resize((w // 3, h // 3), Image.Resampling.LANCZOS))
    boxed = np.zeros((small.shape[0], small.shape[1] + 80, 3), np.uint8)
    boxed[:, 40:-40] = small
    assert fingerprint_similarity(photo_fingerprint(img), photo_fingerprint(boxed)) > 0.97
    assert fingerprint_similarity(photo_fingerprint(img), photo_fingerprint(other)) < 0.8


def test_bad_input_is_refused_clearly():
    img, lm = face_photo(40, seed=20)
    with pytest.raises(ValueError, match="uint8 RGB"):
        assess(img[..., 0], lm)
    with pytest.raises(ValueError, match="68, 2"):
        head_pose(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="transform"):
        assess(img, lm, crop=np.zeros((512, 512, 3), np.uint8))
    with pytest.raises(ValueError, match="outside"):
        assess(img, lm + 10_000)


def test_a_face_cut_by_the_photo_border_is_not_mistaken_for_contrast():
    img, lm = face_photo(80, seed=21)
    h = img.shape[0]
    # Keep only the left 45% of the photo: half the face interior is outside it.
    cut = np.ascontiguousarray(img[:, : int(h * 0.45)])
    q = assess(cut, lm)
    assert math.isfinite(q.sharpness) and 0.0 <= q.brightness <= 1.0
    assert q.brightness == pytest.approx(assess(img, lm).brightness, abs=0.1)
