"""Backends under contract, each with a photo on which it must find known faces.

- "dlib": the real default backend and its real models, on a real two-person photo from
  ../shared (the face-finding tests skip without it; the others still run).
- "insightface-tiny": the insightface backend's own code on tiny buffalo_l-shaped ONNX
  models built here (see tiny_models.py); its "faces" are bright blobs.
- "insightface": the real buffalo_l, only where the user has installed it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tiny_models  # noqa: E402
from face_photos import FACES, load_rgb  # noqa: E402
from musthave import missing, require_module  # noqa: E402

TWO_PEOPLE = FACES / "groups" / "two_people.jpg"  # obama and biden, left to right


@dataclass
class Case:
    name: str
    make: Callable[[], Any]
    # Returns (image, number of faces in it, whether they are different people),
    # or skips (or fails in CI) through musthave.missing.
    sample: Callable[[], tuple[np.ndarray, int, bool]]


@pytest.fixture(scope="session")
def tiny_buffalo_dir(tmp_path_factory) -> Path:
    require_module("onnx")
    require_module("onnxruntime")
    return tiny_models.build_buffalo_l(tmp_path_factory.mktemp("buffalo_l"))


def _real_sample() -> tuple[np.ndarray, int, bool]:
    if not TWO_PEOPLE.is_file():
        missing(f"real face photos not available: {TWO_PEOPLE} is absent (outside this workplace)")
    return load_rgb(TWO_PEOPLE), 2, True


def _tiny_sample() -> tuple[np.ndarray, int, bool]:
    return tiny_models.blob_image([(180, 160), (470, 300)], 64), 2, False


_instances: dict[str, Any] = {}


@pytest.fixture(params=["dlib", "insightface-tiny", "insightface"])
def case(request) -> Case:
    """One backend per run of each contract test; instances are shared (models load once)."""
    name = request.param
    if name == "dlib":
        from refldm_plugin_dlib import DlibBackend

        make = DlibBackend
        sample = _real_sample
    elif name == "insightface-tiny":
        from refldm_plugin_insightface import InsightFaceBackend

        folder = request.getfixturevalue("tiny_buffalo_dir")

        def make() -> Any:
            return InsightFaceBackend(model_dir=folder)

        sample = _tiny_sample
    else:
        from refldm_plugin_insightface import InsightFaceBackend

        make = InsightFaceBackend
        sample = _real_sample
    probe = make()
    ok, reason = probe.available()
    if not ok:
        # dlib is the default backend and a must-have; the real buffalo_l is the user's choice.
        (missing if name == "dlib" else pytest.skip)(f"{name} backend not available here: {reason}")
    if name not in _instances:
        _instances[name] = probe
    return Case(name, make, sample)


@pytest.fixture
def backend(case: Case) -> Any:
    return _instances[case.name]
