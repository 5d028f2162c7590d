"""What a face backend returns, and the protocol every backend implements.

Coordinates are in the upright image's pixels (EXIF orientation already applied), x to the
right and y down. Landmarks are 68 points in dlib/iBUG order, or 5 points in insightface
order (left eye, right eye, nose tip, left mouth corner, right mouth corner, as seen by the
viewer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Metric = Literal["euclidean", "cosine"]


@dataclass(frozen=True)
class EmbeddingSpace:
    """Identifies an embedding model; distances are only comparable inside one space.

    `same_person` is the distance (in `metric`) under which two faces are taken to be the
    same person. It belongs to the model, so clustering never mixes thresholds.
    """

    model_id: str
    dim: int
    metric: Metric
    same_person: float

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distances between rows of a (n, d) and rows of b (m, d): an (n, m) array."""
        a = np.atleast_2d(np.asarray(a, dtype=np.float64))
        b = np.atleast_2d(np.asarray(b, dtype=np.float64))
        if self.metric == "cosine":
            an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
            bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
            return 1.0 - an @ bn.T
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        return np.sqrt(np.maximum(d2, 0.0))


@dataclass(frozen=True, eq=False)
class DetectedFace:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float  # detector confidence, backend-specific scale
    landmarks: np.ndarray  # (68, 2) or (5, 2) float32
    embedding: np.ndarray | None = None  # (dim,) float32
    extra: dict = field(default_factory=dict)


@runtime_checkable
class FaceBackend(Protocol):
    """Finds faces in an image, gives their landmarks and identity embeddings."""

    name: str

    @property
    def space(self) -> EmbeddingSpace: ...

    def available(self) -> tuple[bool, str]:
        """(True, "") when the models are present, else (False, a reason a user can act on)."""
        ...

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces of an (H, W, 3) C-contiguous uint8 RGB image, embeddings included."""
        ...
