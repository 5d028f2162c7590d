"""The insightface backend's own arithmetic: SCRFD decoding, NMS, ArcFace alignment.

Runs on tiny buffalo_l-shaped models (tests/contracts/tiny_models.py), so every step
between onnxruntime and the DetectedFace is exercised without the real models.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from musthave import require_module  # noqa: E402

require_module("onnx")
require_module("onnxruntime")

import tiny_models  # noqa: E402
from refldm_plugin_insightface import (  # noqa: E402
    ARCFACE_TEMPLATE,
    INSIGHTFACE_SPACE,
    InsightFaceBackend,
    align_arcface,
    default_model_dir,
    nms,
    similarity_transform,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_models.build_buffalo_l(tmp_path_factory.mktemp("buffalo_l"))


@pytest.fixture(scope="module")
def backend(model_dir):
    return InsightFaceBackend(model_dir=model_dir)


@pytest.mark.parametrize(
    "shape, centres, size",
    [
        ((480, 640), [(150, 120), (420, 330)], 64),  # fits 640 as it is
        ((200, 300), [(80, 90), (220, 110)], 30),  # small: enlarged 2.13x
        ((1500, 1000), [(300, 400), (700, 1100)], 140),  # large portrait: shrunk 0.43x
    ],
)
def test_boxes_and_key_points_land_on_the_faces_in_photo_pixels(backend, shape, centres, size):
    image = tiny_models.blob_image(centres, size, shape)
    faces = backend.detect(image)
    assert len(faces) == len(centres)
    scale = min(640 / shape[1], 640 / shape[0])  # the detector's letterbox
    for face, (cx, cy) in zip(faces, sorted(centres)):
        x0, y0, x1, y1 = face.box
        # Box size comes from the decoded distances times the stride, over the scale.
        assert x1 - x0 == pytest.approx(tiny_models.FACE_SIZE / scale, rel=1e-4)
        # Its centre is on the blob, within one stride-8 cell of the detector input.
        assert abs((x0 + x1) / 2 - cx) <= 8 / scale and abs((y0 + y1) / 2 - cy) <= 8 / scale
        # Key points: anchor + offsets times the stride, mapped back like the box.
        expected = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) + tiny_models.KPS_LAYOUT * tiny_models.FACE_SIZE / scale
        np.testing.assert_allclose(face.landmarks, expected, atol=1e-3 / scale)
        assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)


def test_overlapping_candidates_collapse_to_one_face(backend):
    # One blob fires at all three strides; NMS must leave a single face.
    faces = backend.detect(tiny_models.blob_image([(320, 240)], 120))
    assert len(faces) == 1


def test_nms_keeps_the_best_of_overlapping_boxes_and_all_separate_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], dtype=float)
    scores = np.array([0.7, 0.9, 0.8, 0.6])
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 2, 0, 3]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.4).tolist() == []


def test_similarity_transform_recovers_rotation_scale_and_shift():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.array([[10, 20], [40, 22], [25, 35], [15, 50], [38, 49]], dtype=float)
    dst = src @ rot.T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)
    # Mirrored points get the best rotation, never a reflection.
    mirrored = similarity_transform(src, dst * np.array([-1.0, 1.0]))
    assert np.linalg.det(mirrored[:, :2]) > 0


def test_alignment_puts_the_key_points_on_arcface_template():
    # Key points of a rotated, scaled face; paint a soft dot at one of them at a time,
    # align on all five, and find the dot again in the 112x112 crop.
    angle, scale, shift = -0.25, 2.3, np.array([140.0, 90.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = ARCFACE_TEMPLATE @ rot.T + shift
    ys, xs = np.mgrid[:480, :500]
    cy, cx = np.mgrid[:112, :112]
    for (px, py), (tx, ty) in zip(points, ARCFACE_TEMPLATE):
        spot = np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * 3.0**2))
        image = np.repeat((spot * 255).astype(np.uint8)[..., None], 3, axis=2)
        crop = align_arcface(image, points)
        assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
        w = crop[..., 0].astype(float)
        found = np.array([(w * cx).sum(), (w * cy).sum()]) / w.sum()
        assert np.hypot(*(found - (tx, ty))) < 0.3, (found, (tx, ty))


def test_a_recogniser_with_a_fixed_batch_of_one_gives_the_same_embeddings(backend, tmp_path, model_dir):
    import onnx

    model = onnx.load(str(model_dir / "w600k_r50.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1
    (tmp_path / "det_10g.onnx").write_bytes((model_dir / "det_10g.onnx").read_bytes())
    onnx.save(model, str(tmp_path / "w600k_r50.onnx"))
    image = tiny_models.blob_image([(150, 120), (420, 330)], 64)
    batched = backend.detect(image)
    one_by_one = InsightFaceBackend(model_dir=tmp_path).detect(image)
    assert len(batched) == len(one_by_one) == 2
    for a, b in zip(batched, one_by_one):
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-6)


def test_a_detector_without_key_points_is_refused_clearly(tmp_path, model_dir):
    import onnx

    model = onnx.load(str(model_dir / "det_10g.onnx"))
    kept = [o for o in model.graph.output if o.name not in tiny_models.KPS_NAMES]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    onnx.save(model, str(tmp_path / "det_10g.onnx"))
    (tmp_path / "w600k_r50.onnx").write_bytes((model_dir / "w600k_r50.onnx").read_bytes())
    with pytest.raises(RuntimeError, match="6 outputs is not supported"):
        InsightFaceBackend(model_dir=tmp_path).detect(tiny_models.blob_image([(100, 100)], 64))


def test_missing_models_are_reported_with_the_folder_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path / "ins"))
    assert default_model_dir() == tmp_path / "ins" / "models" / "buffalo_l"
    backend = InsightFaceBackend()
    ok, reason = backend.available()
    assert ok is False
    assert "det_10g.onnx" in reason and str(tmp_path / "ins" / "models" / "buffalo_l") in reason
    assert "INSIGHTFACE_HOME" in reason and "model_dir" in reason
    with pytest.raises(RuntimeError, match="not available: insightface buffalo_l models not found"):
        backend.detect(np.zeros((10, 10, 3), np.uint8))
    monkeypatch.delenv("INSIGHTFACE_HOME")
    assert default_model_dir().parts[-3:] == (".insightface", "models", "buffalo_l")


def test_space_and_options():
    assert (INSIGHTFACE_SPACE.dim, INSIGHTFACE_SPACE.metric) == (512, "cosine")
    with pytest.raises(ValueError, match="multiple of 32"):
        InsightFaceBackend(det_size=500)
    with pytest.raises(ValueError, match="nms_iou"):
        InsightFaceBackend(nms_iou=0)


def test_importing_the_plugin_loads_neither_onnxruntime_nor_insightface():
    code = (
        "import sys, refldm_plugin_insightface as p; p.InsightFaceBackend().available(); "
        "print(sorted(m for m in ('onnxruntime', 'insightface', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
