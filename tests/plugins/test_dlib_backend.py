"""The dlib backend's own choices: working-copy size, mapping back, options, CNN detector."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from face_photos import load_rgb
from musthave import require_backend_available
from refldm_plugin_dlib import DLIB_SPACE, DlibBackend, default_models_dir


@pytest.fixture(scope="module")
def backend():
    return require_backend_available(DlibBackend())


def test_working_copy_enlarges_small_photos_and_bounds_big_ones():
    b = DlibBackend()
    assert b.working_scale(150, 150) == 2.0  # face chips: doubled, never more
    assert b.working_scale(375, 500) == 2.0  # PASCAL photos: ~40 px faces reach HOG's 80
    for h, w in ((1545, 1986), (4000, 6000), (12000, 9000)):
        s = b.working_scale(h, w)
        assert (h * s) * (w * s) == pytest.approx(b.max_pixels, rel=1e-6)
    cnn = DlibBackend(detector="cnn")
    assert cnn.max_pixels < b.max_pixels  # the CNN costs ~20x more per pixel


def test_big_photos_are_shrunk_for_detection_and_mapped_back(backend, faces_dir):
    from PIL import Image

    image = load_rgb(faces_dir / "groups" / "two_people.jpg")
    big = np.asarray(Image.fromarray(image).resize((image.shape[1] * 5 // 2, image.shape[0] * 5 // 2)))
    assert backend.working_scale(*big.shape[:2]) < 1.0
    small_faces, big_faces = backend.detect(image), backend.detect(big)
    assert len(small_faces) == len(big_faces) == 2
    for a, b in zip(small_faces, big_faces):
        # Same face, coordinates 2.5x (give or take HOG's pyramid quantisation).
        ca = np.array([(a.box[0] + a.box[2]) / 2, (a.box[1] + a.box[3]) / 2])
        cb = np.array([(b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2])
        assert np.linalg.norm(cb / 2.5 - ca) < 0.1 * (a.box[2] - a.box[0])
        eye_a = a.landmarks[36:48].mean(0)
        eye_b = b.landmarks[36:48].mean(0)
        assert np.linalg.norm(eye_b / 2.5 - eye_a) < 3.0
        assert DLIB_SPACE.distance(a.embedding, b.embedding)[0, 0] < DLIB_SPACE.same_person / 2


def test_cnn_detector_finds_a_face_chip(faces_dir):
    cnn = require_backend_available(DlibBackend(detector="cnn"), "dlib's CNN detector")
    chip = load_rgb(faces_dir / "identities" / "john_salley" / "000179_02159509.jpg")
    faces = cnn.detect(chip)
    assert len(faces) == 1
    assert faces[0].extra["detector"] == "cnn" and faces[0].landmarks.shape == (68, 2)
    hog = DlibBackend().detect(chip)[0]
    # Both detectors feed the same embedder, so the same face is the same person.
    assert DLIB_SPACE.distance(faces[0].embedding, hog.embedding)[0, 0] < DLIB_SPACE.same_person / 2


def test_missing_models_are_reported_and_detect_refuses(tmp_path):
    b = DlibBackend(models_dir=tmp_path)
    ok, reason = b.available()
    assert ok is False
    assert str(tmp_path) in reason and "dlib_face_recognition_resnet_model_v1.dat" in reason
    with pytest.raises(RuntimeError, match="dlib face backend is not available"):
        b.detect(np.zeros((20, 20, 3), np.uint8))


def test_default_models_come_from_face_recognition_models_without_importing_it():
    code = (
        "import sys, refldm_plugin_dlib as p; d = p.default_models_dir(); "
        "print(d is not None and (d / 'shape_predictor_68_face_landmarks.dat').is_file(), "
        "'face_recognition_models' in sys.modules, 'dlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    present = default_models_dir() is not None
    assert out.stdout.split() == [str(present), "False", "False"]


@pytest.mark.parametrize(
    "options, words",
    [
        ({"detector": "mtcnn"}, "detector must be"),
        ({"num_jitters": 0}, "num_jitters"),
        ({"max_upsample": 0.5}, "max_upsample"),
        ({"max_pixels": 100}, "max_pixels"),
    ],
)
def test_bad_options_are_refused(options, words):
    with pytest.raises(ValueError, match=words):
        DlibBackend(**options)
