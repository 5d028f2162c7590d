"""The public, versioned API that plugins import. Nothing else in refldm_desktop is for them.

A plugin registers a factory (a class or function taking no required arguments) under one
of the entry-point groups below in its distribution's metadata.
"""

from __future__ import annotations

from refldm_desktop.defaults import FACE_BACKENDS_GROUP, RESTORERS_GROUP
from refldm_desktop.faces.imagecheck import as_rgb_image
from refldm_desktop.faces.types import DetectedFace, EmbeddingSpace, FaceBackend
from refldm_desktop.restore.protocol import (
    CancelCheck,
    ProgressCallback,
    RestoreCancelled,
    RestoreError,
    RestoreOptions,
    Restorer,
    RestoreProgress,
    check_crops,
)

API_VERSION = 1

__all__ = [
    "API_VERSION",
    "FACE_BACKENDS_GROUP",
    "RESTORERS_GROUP",
    "DetectedFace",
    "EmbeddingSpace",
    "FaceBackend",
    "as_rgb_image",
    "CancelCheck",
    "ProgressCallback",
    "RestoreCancelled",
    "RestoreError",
    "RestoreOptions",
    "Restorer",
    "RestoreProgress",
    "check_crops",
]
