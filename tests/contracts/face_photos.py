"""Where the shared real photos are, and how tests load them: with the app's own loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from refldm_desktop.library import imageio

from musthave import FACES  # noqa: F401


def load_rgb(path: Path) -> np.ndarray:
    """Upright RGB uint8, exactly as the indexer sees the photo."""
    return imageio.load_rgb(path)[0]
