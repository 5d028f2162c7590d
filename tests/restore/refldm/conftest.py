"""Fixtures of the ReF-LDM tests: the tiny golden model, imported once per session."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest


@functools.cache
def _imported_home(golden: Path, base: Path) -> Path:
    """`models import` of the golden checkpoints into a fresh home, once per session."""
    from refldm_desktop.cli import main

    home = base / "tiny-home"
    rc = main([
        "--home", str(home), "models", "import", "--name", "tiny",
        "--refldm", str(golden / "refldm.ckpt"), "--vqgan", str(golden / "vqgan.ckpt"),
        "--config", str(golden / "config.yaml"),
    ])
    assert rc == 0
    return home


@pytest.fixture
def tiny_home(golden_dir, tmp_path_factory) -> Path:
    return _imported_home(golden_dir, tmp_path_factory.getbasetemp())


@functools.cache
def _load(model_dir: Path):
    from refldm_desktop.restore.refldm.model import RefLDM

    return RefLDM.load(model_dir, device="cpu", precision="fp32")


@pytest.fixture
def tiny_model(tiny_home):
    """The imported tiny model (shared: tests must not change it)."""
    return _load(tiny_home / "models" / "tiny")
