"""Real-photo fixtures for face tests: the manifest, and dlib detections cached per session.

Detection is the slow part (about 0.1-0.5 s a photo on one core), so each shared photo is
detected at most once per test session, however many tests look at it.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from face_photos import load_rgb  # noqa: E402
from musthave import require_backend_available  # noqa: E402


class DlibCache:
    def __init__(self) -> None:
        from refldm_plugin_dlib import DlibBackend

        self.backend = DlibBackend()
        self.faces: dict[Path, list] = {}
        self.seconds: dict[Path, float] = {}

    def detect(self, path: Path) -> list:
        if path not in self.faces:
            image = load_rgb(path)
            start = time.perf_counter()
            self.faces[path] = self.backend.detect(image)
            self.seconds[path] = time.perf_counter() - start
        return self.faces[path]


@pytest.fixture(scope="session")
def _dlib_cache() -> DlibCache:
    cache = DlibCache()
    require_backend_available(cache.backend)
    return cache


@pytest.fixture
def dlib_faces(_dlib_cache, faces_dir) -> DlibCache:
    """Detect faces in shared photos with the default dlib backend, once per session."""
    return _dlib_cache


@pytest.fixture
def manifest(faces_dir) -> list[dict]:
    with open(faces_dir / "MANIFEST.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
