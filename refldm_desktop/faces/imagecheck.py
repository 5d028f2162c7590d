"""Checks that face backends apply to the images they are given.

Backends call this first so that every backend rejects bad input with the same clear
message, instead of failing somewhere deep in native code.
"""

from __future__ import annotations

import numpy as np


def as_rgb_image(image: object) -> np.ndarray:
    """Return `image` as a C-contiguous (H, W, 3) uint8 array, or raise a clear error.

    Only the memory layout is fixed here (a copy when the array is not contiguous);
    pixel values and dtype are never converted, because silently rescaling floats or
    16-bit data would hide a caller's bug.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must have dtype uint8 (8-bit RGB), got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (height, width, 3) for RGB, got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)
