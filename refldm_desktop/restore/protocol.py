"""The Restorer protocol: what every face restorer plugin implements.

A restorer turns aligned face crops into restored crops of the same size. It is handed all
the faces of ONE person that are restored together with the same options (a face given its
own steps, guidance or seed comes in a call of its own), with one shared set of reference
crops of that person, so that a reference-based model (ReF-LDM) computes its reference keys and
values once for the whole batch instead of once per face.

Plugins register a factory under the entry-point group "refldm_desktop.restorers"; the
factory takes keyword options only (for example `model="refldm"`, `resolution=512`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from refldm_desktop.defaults import DEFAULT_CFG, DEFAULT_STEPS
from refldm_desktop.errors import RestoreError  # noqa: F401 (also exported here)


class RestoreCancelled(Exception):
    """Raised by a restorer when its cancel check said stop; nothing it made is kept."""


@dataclass(frozen=True)
class RestoreOptions:
    """Sampling options. A restorer ignores those that mean nothing to it.

    `seed` fixes the initial noise. A face must come out the same whether it is restored
    alone or in a batch with other faces, so a restorer draws each face's noise from the
    seed on its own, not one draw for the whole batch.
    """

    steps: int = DEFAULT_STEPS
    cfg: float = DEFAULT_CFG
    seed: int = 2024
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    # The most faces a batched model runs through at once; the job runner lowers it after an
    # out-of-memory error. None: the restorer's own choice.
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not np.isfinite(self.cfg) or self.cfg < 0:
            raise ValueError(f"cfg must be a finite number >= 0, got {self.cfg}")


@dataclass(frozen=True)
class RestoreProgress:
    """Where a batch stands. A batched model advances all its faces together, so it reports
    steps of the batch and counts faces as done only when they are finished."""

    faces_done: int
    faces: int
    step: int
    steps: int

    @property
    def fraction(self) -> float:
        if self.faces <= 0:
            return 1.0
        if self.steps <= 0:
            return self.faces_done / self.faces
        within = (self.faces - self.faces_done) * min(self.step, self.steps) / self.steps
        return min(1.0, (self.faces_done + within) / self.faces)


ProgressCallback = Callable[[RestoreProgress], None]
CancelCheck = Callable[[], bool]


@runtime_checkable
class Restorer(Protocol):
    """Restores aligned faces; see the module docstring.

    Attributes:
        name: the entry-point name ("refldm", "passthrough").
        model: what produced the pixels (a model name and version); recorded with each output.
        resolution: the side of the square FFHQ-aligned crop the restorer wants.
        needs_references: False when it can restore a face without reference crops.
    """

    name: str
    model: str
    resolution: int
    needs_references: bool

    def available(self) -> tuple[bool, str]:
        """(True, "") when it can run now, else (False, a reason a user can act on)."""
        ...

    def restore(
        self,
        crops: Sequence[np.ndarray],
        references: Sequence[np.ndarray],
        options: RestoreOptions = RestoreOptions(),
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[np.ndarray]:
        """Restore several aligned crops of ONE person with one shared set of references.

        crops and references are (resolution, resolution, 3) uint8 RGB arrays. Returns one
        (resolution, resolution, 3) uint8 RGB array per crop, in order. Calls `progress`
        now and then, checks `cancelled` between steps and raises RestoreCancelled when it
        returns True; raises RestoreError for anything a user must fix.
        """
        ...


def check_crops(crops: Sequence[np.ndarray], resolution: int, what: str = "crop") -> None:
    """Raise ValueError with a clear message unless every crop is a (res, res, 3) uint8 array."""
    for i, crop in enumerate(crops):
        a = np.asarray(crop)
        if a.dtype != np.uint8 or a.shape != (resolution, resolution, 3):
            raise ValueError(
                f"{what} {i} must be a ({resolution}, {resolution}, 3) uint8 RGB array, "
                f"got {a.shape} {a.dtype}"
            )
