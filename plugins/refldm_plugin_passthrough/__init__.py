"""The passthrough restorer: a diagnostic that returns every aligned crop unchanged.

Pasting an unchanged crop back must give the original photo again (up to resampling), so
this restorer checks the geometry of alignment, warp back and blending on its own, without
a model. It needs no references.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from refldm_desktop.plugin_api import (
    CancelCheck,
    ProgressCallback,
    RestoreCancelled,
    RestoreOptions,
    RestoreProgress,
    check_crops,
)


class PassthroughRestorer:
    name = "passthrough"
    model = "passthrough"
    needs_references = False
    device = "cpu"  # where it runs (numpy), recorded with each result it makes

    def __init__(self, *, resolution: int = 512) -> None:
        if int(resolution) < 16:
            raise ValueError(f"resolution must be at least 16, got {resolution}")
        self.resolution = int(resolution)

    def available(self) -> tuple[bool, str]:
        return True, ""

    def restore(
        self,
        crops: Sequence[np.ndarray],
        references: Sequence[np.ndarray],
        options: RestoreOptions = RestoreOptions(),
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[np.ndarray]:
        check_crops(crops, self.resolution)
        check_crops(references, self.resolution, "reference")
        out: list[np.ndarray] = []
        for i, crop in enumerate(crops):
            if cancelled is not None and cancelled():
                raise RestoreCancelled("cancelled")
            out.append(np.array(crop, dtype=np.uint8, copy=True))
            if progress is not None:
                progress(RestoreProgress(faces_done=i + 1, faces=len(crops), step=1, steps=1))
        return out
