"""Restore the faces of one photo in memory: upscale, align, restore per person, paste back.

No database and no files here: the caller says which faces to restore (their landmarks in
the upright photo) and with which references, and gets the new pixels back. Writing them
as a new file is library.output's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Hashable, Mapping, Sequence

import numpy as np

from refldm_desktop.faces.align import AlignTransform, ffhq_transform, warp_to_crop
from refldm_desktop.restore.paste import (
    FacePaste,
    PasteOptions,
    PasteResult,
    Upscaler,
    paste_faces,
    scale_landmarks,
    upscale_image,
)
from refldm_desktop.restore.tone import detect_tone
from refldm_desktop.restore.protocol import (
    CancelCheck,
    ProgressCallback,
    RestoreCancelled,
    RestoreOptions,
    Restorer,
    RestoreProgress,
)


@dataclass(frozen=True, eq=False)
class FaceToRestore:
    """A face of the photo: landmarks (68 or 5 points) in the upright, NOT upscaled photo,
    the group (normally the person id) whose references it is restored with, and its own
    sampling options (None: the photo's)."""

    landmarks: np.ndarray
    group: Hashable = None
    options: RestoreOptions | None = None


@dataclass(frozen=True, eq=False)
class RestoredPhoto:
    image: np.ndarray  # (H * upscale, W * upscale, 3) uint8
    upscale: int
    transforms: list[AlignTransform]  # per face, in the upscaled photo's coordinates
    crops: list[np.ndarray]  # what each face's restorer was given
    restored: list[np.ndarray]  # what it returned
    paste: PasteResult = field(repr=False)
    source: np.ndarray | None = field(default=None, repr=False)  # the (upscaled) photo the crops came from
    paste_options: PasteOptions = field(default_factory=PasteOptions, repr=False)
    pasted: tuple[bool, ...] = ()  # per face: whether its restored crop is in `image`

    def keeping(self, keep: Sequence[bool]) -> "RestoredPhoto":
        """The same restoration with only the faces marked in `keep` pasted back; the
        others keep the photo's original pixels (an identity guard's keep-original)."""
        if self.source is None:
            raise ValueError("this restoration does not hold its source photo")
        keep = tuple(bool(k) for k in keep)
        if len(keep) != len(self.transforms):
            raise ValueError(f"expected {len(self.transforms)} keep flags, got {len(keep)}")
        pasted = paste_faces(
            self.source,
            [FacePaste(t, r, c) for t, r, c, k in zip(self.transforms, self.restored, self.crops, keep, strict=True) if k],
            self.paste_options,
        )
        return replace(self, image=pasted.image, paste=pasted, pasted=keep)


def restore_photo(
    image: np.ndarray,
    faces: Sequence[FaceToRestore],
    restorer: Restorer,
    references: Mapping[Hashable, Sequence[np.ndarray]] | None = None,
    *,
    options: RestoreOptions = RestoreOptions(),
    paste_options: PasteOptions = PasteOptions(),
    upscale: int = 1,
    upscaler: Upscaler | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    keep_tone: bool = True,
) -> RestoredPhoto:
    """Restore `faces` of an upright (H, W, 3) uint8 photo; see the module docstring.

    Faces of one group and the same options go to the restorer in one call with that
    group's references (aligned crops at the restorer's resolution), so a reference-based
    model caches them once; a face with its own options is restored in a call of its own
    kind, and comes out as it would from a whole photo restored with those options.
    With `keep_tone`, a black-and-white or toned photo (restore.tone) keeps its tone where
    faces are pasted, unless `paste_options` already names a tone.
    """
    references = references or {}
    if paste_options.tone is None and keep_tone:
        paste_options = replace(paste_options, tone=detect_tone(image))
    work = upscale_image(image, upscale, upscaler)
    res = restorer.resolution
    transforms = [ffhq_transform(scale_landmarks(f.landmarks, upscale), res) for f in faces]
    crops = [warp_to_crop(work, t) for t in transforms]

    groups: dict[tuple[Hashable, RestoreOptions], list[int]] = {}
    for i, f in enumerate(faces):
        groups.setdefault((f.group, f.options or options), []).append(i)
    for key, _ in groups:
        if restorer.needs_references and not references.get(key):
            raise ValueError(f"restorer {restorer.name!r} needs references, but group {key!r} has none")

    by_face: dict[int, np.ndarray] = {}  # every face is in one group
    done = 0
    for (key, group_options), idx in groups.items():
        if cancelled is not None and cancelled():
            raise RestoreCancelled("cancelled")
        offset = done

        def relay(p: RestoreProgress, offset: int = offset) -> None:
            if progress is not None:
                progress(RestoreProgress(offset + p.faces_done, len(faces), p.step, p.steps))

        out = restorer.restore(
            [crops[i] for i in idx],
            list(references.get(key, ())),
            group_options,
            progress=relay,
            cancelled=cancelled,
        )
        if len(out) != len(idx):
            raise ValueError(f"restorer {restorer.name!r} returned {len(out)} crops for {len(idx)} faces")
        for i, crop in zip(idx, out, strict=True):
            by_face[i] = np.asarray(crop)
        done += len(idx)
    restored = [by_face[i] for i in range(len(faces))]

    if paste_options.device is None:
        # Warp back where the model ran: on a GPU it costs next to nothing.
        device = str(getattr(restorer, "device", "") or "")
        if device.startswith("cuda"):
            paste_options = replace(paste_options, device=device)
    pasted = paste_faces(
        work,
        [FacePaste(t, r, c) for t, r, c in zip(transforms, restored, crops, strict=True)],
        paste_options,
    )
    return RestoredPhoto(
        pasted.image, upscale, transforms, crops, restored, pasted,
        source=work, paste_options=paste_options, pasted=(True,) * len(faces),
    )
