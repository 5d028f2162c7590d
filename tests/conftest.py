"""Shared test set-up. Qt must see the offscreen platform before it is imported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FACES = SHARED / "data" / "faces"
GOLDEN = SHARED / "refldm-golden"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not (FACES / "MANIFEST.csv").is_file():
        pytest.skip(f"real face photos not available: {FACES} is absent (outside this workplace)")
    return FACES


@pytest.fixture
def golden_dir() -> Path:
    if not (GOLDEN / "refldm.ckpt").is_file():
        pytest.skip(f"ReF-LDM golden vectors not available: {GOLDEN} is absent")
    return GOLDEN
