"""The contract every face backend meets; the rest of the app relies on nothing more.

Runs once per backend in conftest.py's `case` fixture.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from refldm_desktop.core.plugins import PluginError, Registry
from refldm_desktop.plugin_api import FACE_BACKENDS_GROUP, DetectedFace, EmbeddingSpace, FaceBackend


def _check_face(face: DetectedFace, image: np.ndarray, space: EmbeddingSpace) -> None:
    h, w = image.shape[:2]
    assert isinstance(face, DetectedFace)
    x0, y0, x1, y1 = face.box
    assert all(isinstance(v, float) and math.isfinite(v) for v in face.box), face.box
    assert 0.0 <= x0 < x1 <= w and 0.0 <= y0 < y1 <= h, f"box {face.box} outside {w}x{h} or empty"
    assert isinstance(face.score, float) and math.isfinite(face.score)

    lm = face.landmarks
    assert isinstance(lm, np.ndarray) and lm.dtype == np.float32
    assert lm.shape in ((68, 2), (5, 2)), lm.shape
    assert np.all(np.isfinite(lm))
    # Landmarks lie on the face: inside its box, give or take a quarter of the box
    # (dlib's chin points and insightface's mouth corners may sit just outside).
    bw, bh = x1 - x0, y1 - y0
    assert np.all(lm[:, 0] >= x0 - bw / 4) and np.all(lm[:, 0] <= x1 + bw / 4), (lm, face.box)
    assert np.all(lm[:, 1] >= y0 - bh / 4) and np.all(lm[:, 1] <= y1 + bh / 4), (lm, face.box)
    # Left eye is left of the right eye (as the viewer sees them), eyes above the mouth.
    if lm.shape[0] == 5:
        left_eye, right_eye, mouth = lm[0], lm[1], lm[3:5].mean(0)
    else:
        left_eye, right_eye, mouth = lm[36:42].mean(0), lm[42:48].mean(0), lm[48:68].mean(0)
    assert left_eye[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < mouth[1]

    emb = face.embedding
    assert isinstance(emb, np.ndarray) and emb.dtype == np.float32 and emb.shape == (space.dim,)
    assert np.all(np.isfinite(emb)) and np.linalg.norm(emb) > 0


def test_is_a_face_backend_with_a_named_space(backend):
    assert isinstance(backend, FaceBackend)
    assert isinstance(backend.name, str) and backend.name
    space = backend.space
    assert isinstance(space, EmbeddingSpace)
    assert space.model_id and space.dim > 0 and space.metric in ("euclidean", "cosine")
    assert 0.0 < space.same_person < (2.0 if space.metric == "cosine" else 10.0)


def test_available_is_a_bool_and_a_reason(backend):
    ok, reason = backend.available()
    assert ok is True and reason == ""


def test_finds_the_faces_with_sane_boxes_landmarks_and_embeddings(case, backend):
    image, expected, _ = case.sample()
    faces = backend.detect(image)
    assert isinstance(faces, list)
    assert len(faces) == expected, [f.box for f in faces]
    for face in faces:
        _check_face(face, image, backend.space)
    # Faces come back in a stable reading order: left to right.
    assert [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)


def test_results_are_deterministic_across_calls_and_instances(case, backend):
    image, _, _ = case.sample()
    first = backend.detect(image)
    again = backend.detect(image.copy())
    fresh = case.make().detect(image)
    for other in (again, fresh):
        assert [f.box for f in other] == [f.box for f in first]
        for a, b in zip(first, other):
            np.testing.assert_array_equal(a.landmarks, b.landmarks)
            np.testing.assert_allclose(a.embedding, b.embedding, rtol=0, atol=1e-6)


def test_same_face_moved_within_the_photo_stays_the_same_person(case, backend):
    image, _, _ = case.sample()
    faces = backend.detect(image)
    h, w = image.shape[:2]
    dx, dy = 37, 23  # not a multiple of any stride or pyramid step
    moved = np.zeros((h + dy, w + dx, 3), dtype=np.uint8)
    moved[dy:, dx:] = image
    faces_moved = backend.detect(moved)
    assert len(faces_moved) == len(faces)
    space = backend.space
    for a, b in zip(faces, faces_moved):
        # The box follows the face, give or take the detector's quantisation (its grid
        # or image pyramid): a sixth of the face's size.
        tol = (a.box[2] - a.box[0]) / 6
        assert abs((b.box[0] - dx) - a.box[0]) <= tol and abs((b.box[1] - dy) - a.box[1]) <= tol
        d = float(space.distance(a.embedding, b.embedding)[0, 0])
        assert d < space.same_person / 2, d


def test_different_people_are_farther_apart_than_the_threshold(case, backend):
    image, expected, different = case.sample()
    if not different:
        pytest.skip(f"{case.name}'s sample faces are not different people")
    faces = backend.detect(image)
    assert len(faces) == expected
    space = backend.space
    d = space.distance(np.stack([f.embedding for f in faces]), np.stack([f.embedding for f in faces]))
    off_diagonal = d[~np.eye(len(faces), dtype=bool)]
    assert np.all(off_diagonal > space.same_person), d


@pytest.mark.parametrize(
    "blank",
    [
        np.zeros((240, 320, 3), np.uint8),
        np.full((240, 320, 3), 255, np.uint8),
        np.full((300, 200, 3), (120, 90, 60), np.uint8),
        np.broadcast_to(np.linspace(0, 255, 320).astype(np.uint8)[None, :, None], (240, 320, 3)).copy(),
    ],
    ids=["black", "white", "brown", "gradient"],
)
def test_blank_images_have_no_faces(backend, blank):
    assert backend.detect(blank) == []


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 5, 3), (2, 900, 3)])
def test_tiny_and_thin_images_give_no_faces_and_no_crash(backend, shape):
    assert backend.detect(np.full(shape, 128, np.uint8)) == []


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.zeros((64, 64, 3), np.float32), TypeError, "uint8"),
        (np.zeros((64, 64, 3), np.uint16), TypeError, "uint8"),
        (np.zeros((64, 64), np.uint8), ValueError, "shape"),
        (np.zeros((64, 64, 4), np.uint8), ValueError, "shape"),
        (np.zeros((0, 64, 3), np.uint8), ValueError, "empty"),
        ([[[0, 0, 0]]], TypeError, "numpy array"),
    ],
    ids=["float32", "uint16", "grey-2d", "rgba", "empty", "list"],
)
def test_rejects_wrong_input_with_a_clear_error(backend, bad, error, words):
    with pytest.raises(error, match=words):
        backend.detect(bad)


def test_accepts_non_contiguous_views(case, backend):
    image, _, _ = case.sample()
    padded = np.zeros((image.shape[0], image.shape[1] * 2, 3), np.uint8)
    padded[:, ::2] = image
    view = padded[:, ::2]  # same pixels, strided memory
    assert not view.flags.c_contiguous
    assert [f.box for f in backend.detect(view)] == [f.box for f in backend.detect(image)]


def test_registry_finds_both_backends_by_entry_point_name(tiny_buffalo_dir):
    from refldm_plugin_dlib import DlibBackend
    from refldm_plugin_insightface import InsightFaceBackend

    registry = Registry(FACE_BACKENDS_GROUP)
    assert {"dlib", "insightface"} <= set(registry.names())
    dlib_backend = registry.create("dlib")
    assert isinstance(dlib_backend, DlibBackend) and dlib_backend.name == "dlib"
    insight = registry.create("insightface", model_dir=tiny_buffalo_dir)
    assert isinstance(insight, InsightFaceBackend) and insight.available() == (True, "")
    with pytest.raises(PluginError, match="no plugin named 'nope'"):
        registry.factory("nope")
