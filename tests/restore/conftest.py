"""Face finding for the restore tests: dlib's HOG detector and 68 landmarks, used directly.

The face backend plugin will take this job; until then the tests call dlib themselves.
Results are cached per image file for the session, because detection is the slow part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musthave import require_dlib_models, require_module
from refldm_desktop.library import imageio

_cache: dict[Path, tuple[np.ndarray, list[np.ndarray]]] = {}


def load_upright_rgb(path: Path) -> np.ndarray:
    return imageio.load_rgb(path)[0]


@pytest.fixture(scope="session")
def dlib_faces():
    """A function path -> (upright RGB image, list of (68, 2) landmarks in continuous coords)."""
    models = require_dlib_models()
    dlib = require_module("dlib")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))

    def find(path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
        if path not in _cache:
            image = load_upright_rgb(path)
            # Upsampling finds small faces; large photos have large enough faces without it.
            upsample = 1 if max(image.shape[:2]) <= 1400 else 0
            rects = detector(image, upsample)
            # dlib gives integer pixel indices; +0.5 puts them at pixel centres.
            marks = [
                np.array([(p.x + 0.5, p.y + 0.5) for p in predictor(image, r).parts()], np.float64)
                for r in rects
            ]
            _cache[path] = (image, marks)
        return _cache[path]

    return find
