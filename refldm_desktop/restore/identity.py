"""The identity guard: is the restored face still the same person?

A restorer can paint a face that looks sharp and plausible but belongs to someone else. After
a photo is restored, each restored face is embedded with the library's face backend (the
same model that grouped the faces into people) and compared with faces known to show that
person: the references the restorer used, else the person's other faces, else the face as it
was before restoration. The same comparison of the original low-quality face gives the
distance "before", so a user sees whether restoration moved the face towards or away from
the person.

Both faces are embedded the same way: the FFHQ-aligned crop the restorer was given and the
one it returned, resized to GUARD_CROP pixels, go to the backend's detector, and the face
found near the crop's centre is kept. So a restorer that changes nothing leaves every
distance exactly as it was. A result in which the backend finds no face there is "no_face";
a low-quality original the backend cannot find in its crop falls back to the embedding
stored when the photo was indexed.

No database here: core/restore_job.py reads the known embeddings and stores the verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from PIL import Image

KEPT = "kept"
IMPROVED = "improved"
DRIFTED = "drifted"
NO_FACE = "no_face"
VERDICTS = (KEPT, IMPROVED, DRIFTED, NO_FACE)

# What happens to a drifted face: "flag" keeps the restored pixels and marks the face;
# "keep-original" leaves the original pixels there and says so.
FLAG = "flag"
KEEP_ORIGINAL = "keep-original"
POLICIES = (FLAG, KEEP_ORIGINAL)

# The side of the aligned crop the backend looks at. dlib's ResNet embeds a 150 px chip and
# the face spans about half of an FFHQ crop, so 256 px gives it its native detail while its
# HOG detector (80 px window) still finds the face.
GUARD_CROP = 256
# A detection counts as "the face" when its centre lies this close (a share of the crop) to
# where the landmarks put the face.
_CENTRE_TOLERANCE = 0.2
# A change of distance smaller than this share of the same-person threshold is noise:
# resampling a face back and forth alone moves dlib embeddings by a few hundredths.
MARGIN_SHARE = 0.15


@dataclass(frozen=True)
class IdentityCheck:
    """Distances from the face to the known faces of its person, before and after."""

    before: float | None
    after: float | None  # None when no face was found in the result
    threshold: float  # the backend's same-person distance
    verdict: str
    against: str  # "references", "person" (their other faces) or "original" (the face itself)
    drift: float | None = None  # distance between the face before and after

    def to_json(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(float(x), 4)

        return {
            "before": r(self.before),
            "after": r(self.after),
            "threshold": r(self.threshold),
            "verdict": self.verdict,
            "against": self.against,
            "drift": r(self.drift),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "IdentityCheck":
        return cls(
            d.get("before"), d.get("after"), float(d.get("threshold") or 0.0), str(d.get("verdict")),
            str(d.get("against") or "references"), d.get("drift"),
        )

    def describe(self) -> str:
        """One short phrase for a person reading a table or a report."""
        t = f"{self.threshold:.2f}"
        if self.verdict == NO_FACE:
            return "no face found in the result"
        what = {"references": "its references", "person": "the person's other faces",
                "original": "the original face"}.get(self.against, self.against)
        if self.verdict == DRIFTED:
            return f"drifted: distance to {what} {_fmt(self.before)} -> {_fmt(self.after)} (same person below {t})"
        return f"{self.verdict}: distance to {what} {_fmt(self.before)} -> {_fmt(self.after)}"


def _fmt(x: float | None) -> str:
    return "?" if x is None else f"{x:.2f}"


def judge(before: float, after: float | None, drift: float | None, threshold: float) -> str:
    """The verdict for distances to the known faces before and after, and the distance
    between the face before and after.

    A result recognised as the person (after <= threshold) is "improved" when it moved
    clearly closer, else "kept". A result not recognised is "drifted" when it moved clearly
    away or is no longer the face it was; one that was not recognised before either and
    stayed itself is "kept" (the restorer did no harm the backend can see).
    """
    if after is None:
        return NO_FACE
    margin = MARGIN_SHARE * threshold
    if after <= threshold:
        return IMPROVED if after < before - margin else KEPT
    if after > before + margin or (drift is not None and drift > threshold):
        return DRIFTED
    return KEPT


class IdentityGuard:
    """Embeds faces of photos with a face backend (see the module docstring)."""

    def __init__(self, backend: Any, crop_size: int = GUARD_CROP) -> None:
        self.backend = backend
        self.space = backend.space
        self.crop_size = int(crop_size)

    @property
    def threshold(self) -> float:
        return float(self.space.same_person)

    def embed(self, crop: np.ndarray) -> np.ndarray | None:
        """The embedding of the face of an FFHQ-aligned (S, S, 3) uint8 crop, or None when
        the backend finds no face near the crop's centre (where alignment puts it)."""
        crop = np.asarray(crop)
        size = self.crop_size
        if crop.shape[:2] != (size, size):
            crop = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS))
        best, best_d = None, _CENTRE_TOLERANCE * size
        try:
            found = self.backend.detect(np.ascontiguousarray(crop))
        except (RuntimeError, ValueError):
            return None  # a backend that cannot make sense of the pixels found no face
        for face in found:
            if face.embedding is None:
                continue
            x0, y0, x1, y1 = face.box
            d = float(np.hypot((x0 + x1 - size) / 2, (y0 + y1 - size) / 2))
            if d <= best_d:
                best, best_d = face, d
        return None if best is None else np.asarray(best.embedding, np.float32)

    def check(
        self,
        original: np.ndarray,
        restored: np.ndarray,
        known: np.ndarray | None,
        against: str,
        stored: np.ndarray | None = None,
    ) -> IdentityCheck:
        """Compare the aligned crop the restorer was given (`original`) and the one it
        returned with `known` (n, d) embeddings of the person. Without known faces the face
        before restoration is the yardstick (`against` is then "original"). `stored`: the
        face's embedding from indexing, used when the backend cannot find the face in the
        original crop."""
        lq = self.embed(original)
        # A face the restorer left as it was needs no second look (a deterministic backend
        # would say the same); this keeps unchanged faces free.
        after = lq if np.array_equal(original, restored) else self.embed(restored)
        if lq is None and stored is not None:
            lq = np.asarray(stored, np.float32)
        return self.compare(lq, after, known, against)

    def compare(
        self, lq: np.ndarray | None, restored: np.ndarray | None, known: np.ndarray | None, against: str
    ) -> IdentityCheck:
        t = self.threshold
        if known is None or len(known) == 0:
            if lq is None:
                # Nothing to compare with: the face was never embeddable.
                return IdentityCheck(None, None, t, NO_FACE if restored is None else KEPT, "original")
            known, against = lq[None, :], "original"
        known = np.atleast_2d(np.asarray(known, np.float64))
        before = None if lq is None else float(np.median(self.space.distance(lq, known)))
        if restored is None:
            return IdentityCheck(before, None, t, NO_FACE, against)
        after = float(np.median(self.space.distance(restored, known)))
        drift = None if lq is None else float(self.space.distance(lq, restored)[0, 0])
        verdict = judge(after if before is None else before, after, drift, t)
        return IdentityCheck(before, after, t, verdict, against, drift)


def summarize(checks: Sequence[dict | None]) -> str:
    """"2 kept, 1 drifted" for a list of identity dicts (as stored); "-" when none."""
    counts: dict[str, int] = {}
    for c in checks:
        if c:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    if not counts:
        return "-"
    return ", ".join(f"{counts[v]} {v.replace('_', ' ')}" for v in VERDICTS if v in counts)


__all__ = [
    "DRIFTED",
    "FLAG",
    "GUARD_CROP",
    "IMPROVED",
    "IdentityCheck",
    "IdentityGuard",
    "KEEP_ORIGINAL",
    "KEPT",
    "NO_FACE",
    "POLICIES",
    "VERDICTS",
    "judge",
    "summarize",
]
