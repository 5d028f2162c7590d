"""Shared test set-up. Qt must see the offscreen platform before it is imported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from musthave import FACES, GOLDEN, REPO, SHARED, require_faces, require_golden  # noqa: F401

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return require_faces()


@pytest.fixture
def golden_dir() -> Path:
    return require_golden()
