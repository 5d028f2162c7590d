"""What the tests need from outside the repository, and what happens when it is missing.

On a developer's machine a test whose must-have is missing (../shared, dlib with its models,
a package of the app's dependencies or of the `test` extra) is skipped with the reason. In CI (`CI` set to true, 1 or yes) the same test FAILS:
a CI run that quietly skipped the real-photo and golden-model tests would be green without
having checked anything. Every such skip goes through `missing`.

A module with a unique name, not a conftest: importing a conftest by name can find another
folder's conftest.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FACES = SHARED / "data" / "faces"
GOLDEN = SHARED / "refldm-golden"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str) -> NoReturn:
    """A must-have is missing: skip here, fail in CI."""
    if in_ci():
        pytest.fail(f"{reason} (a must-have: with CI={os.environ['CI']} this fails instead of skipping)",
                    pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_faces() -> Path:
    """../shared/data/faces, the real photos with their MANIFEST."""
    if not (FACES / "MANIFEST.csv").is_file():
        missing(f"real face photos not available: {FACES} is absent (outside this workplace)")
    return FACES


def require_golden() -> Path:
    """../shared/refldm-golden, the authors' tiny checkpoints and tensors, and torch to run them."""
    if not (GOLDEN / "refldm.ckpt").is_file():
        missing(f"ReF-LDM golden vectors not available: {GOLDEN} is absent")
    require_module("torch")
    require_module("diffusers")
    return GOLDEN


def require_module(name: str) -> ModuleType:
    """A dependency of the app or of the `test` extra (torch, dlib, onnx, ...), imported."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} is not installed: {exc}")


def require_dlib_models() -> Path:
    """dlib itself and the folder of its model files (face_recognition_models)."""
    require_module("dlib")
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        missing("dlib's models are not installed: pip install face_recognition_models")
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    needed = ["shape_predictor_68_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"]
    absent = [n for n in needed if not (models / n).is_file()]
    if absent:
        missing(f"dlib models missing in {models}: {', '.join(absent)}")
    return models


def require_backend_available(backend: Any, what: str = "the dlib face backend") -> Any:
    """A face backend (or restorer) that must be able to run here."""
    ok, why = backend.available()
    if not ok:
        missing(f"{what} cannot run: {why}")
    return backend


def require_dlib_backend() -> Any:
    """The installed dlib face backend, through the app's own plugin registry."""
    from refldm_desktop.core.plugins import PluginError, Registry
    from refldm_desktop.plugin_api import FACE_BACKENDS_GROUP

    try:
        backend = Registry(FACE_BACKENDS_GROUP).create("dlib")
    except (PluginError, ImportError) as exc:
        missing(f"the dlib face backend is not installed here: {exc}")
    return require_backend_available(backend)
