"""FFHQ alignment: the crop must be the one ReF-LDM was trained on, and invertible."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from musthave import require_dlib_models, require_module
from refldm_desktop.faces.align import apply_affine, ffhq_transform, warp_to_crop


def _template_68() -> np.ndarray:
    """A plausible upright frontal face: eyes at y=100, mouth at y=160, 200 px wide image."""
    lm = np.zeros((68, 2))
    lm[:, 0], lm[:, 1] = 100, 130
    lm[36:42] = [70, 100]
    lm[42:48] = [130, 100]
    lm[48] = [80, 160]
    lm[54] = [120, 160]
    return lm


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([r, np.array(shift)[:, None]])


def test_transform_follows_the_face_under_rotation_scale_and_shift():
    base = ffhq_transform(_template_68(), 256)
    m = _similarity(25.0, 1.7, (40.0, -15.0))
    moved = ffhq_transform(apply_affine(m, _template_68()), 256)
    probe = np.array([[10.0, 20.0], [200.0, 50.0], [128.0, 128.0]])
    # A point of the face must land on the same crop pixel wherever the face was.
    np.testing.assert_allclose(moved.image_to_crop(apply_affine(m, probe)), base.image_to_crop(probe), atol=1e-6)
    assert moved.eye_distance == pytest.approx(base.eye_distance * 1.7)


def test_five_point_landmarks_give_the_same_square_as_68():
    lm68 = _template_68()
    lm5 = np.array([lm68[36:42].mean(0), lm68[42:48].mean(0), [100, 130], lm68[48], lm68[54]])
    np.testing.assert_allclose(ffhq_transform(lm5, 512).matrix, ffhq_transform(lm68, 512).matrix)


def test_degenerate_or_malformed_landmarks_are_refused():
    with pytest.raises(ValueError):
        ffhq_transform(np.zeros((68, 2)))
    with pytest.raises(ValueError):
        ffhq_transform(np.zeros((10, 2)))


def test_warp_reproduces_pixels_when_the_transform_is_a_pure_shift():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(small).resize((240, 240), Image.Resampling.BICUBIC))
    t = ffhq_transform(_template_68(), 512)
    # Build landmarks whose crop is exactly image[20:148, 30:158] at scale 1.
    m = np.hstack([np.eye(2), [[-30.0], [-20.0]]])
    t = type(t)(matrix=m, size=128, eye_distance=60.0)
    crop = warp_to_crop(np.ascontiguousarray(image), t)
    diff = np.abs(crop.astype(int) - image[20:148, 30:158].astype(int))
    assert diff.mean() < 1.0


def test_face_at_the_border_is_padded_not_black():
    image = np.full((200, 200, 3), 180, np.uint8)
    lm = apply_affine(np.hstack([np.eye(2), [[-90.0], [0.0]]]), _template_68())  # half outside
    crop = warp_to_crop(image, ffhq_transform(lm, 64))
    assert crop.shape == (64, 64, 3)
    assert crop.min() > 120  # filled from the photo, not zeros


def _dlib_landmarks(image: np.ndarray) -> np.ndarray:
    models = require_dlib_models()
    dlib = require_module("dlib")
    rects = dlib.get_frontal_face_detector()(image, 0)
    assert len(rects) == 1
    shape = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))(image, rects[0])
    return np.array([(p.x + 0.5, p.y + 0.5) for p in shape.parts()])


@pytest.mark.parametrize("name", ["gt.png", "ref0.png", "ref1.png", "ref2.png", "ref3.png"])
def test_already_aligned_ffhq_faces_map_onto_themselves(faces_dir, name):
    # The authors' demo faces are FFHQ-aligned 512 crops: re-aligning them must be (nearly) the
    # identity, which checks our recipe against theirs up to landmark noise.
    image = np.ascontiguousarray(np.asarray(Image.open(faces_dir / "refldm_demo" / name).convert("RGB")))
    t = ffhq_transform(_dlib_landmarks(image), 512)
    a = t.matrix[:, :2]
    assert abs(np.sqrt(abs(np.linalg.det(a))) - 1.0) < 0.03
    assert abs(np.degrees(np.arctan2(a[1, 0], a[0, 0]))) < 1.0
    assert np.abs(t.matrix[:, 2]).max() < 8.0
    crop = warp_to_crop(image, t)
    assert np.abs(crop.astype(float) - image).mean() < 12.0
