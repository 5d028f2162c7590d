"""Image comparisons shared by the precision trial, the benchmarks and the tests.

Kept outside the model package so that comparing two images imports neither torch nor the
model: only numpy.
"""

from __future__ import annotations

import math

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images (or equal slices of them), in dB; inf
    when they are equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
