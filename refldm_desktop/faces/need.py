"""How much does a face need restoring?

A separate question from how good a reference it makes (faces.quality.rate): restoration
repairs blur, too few pixels, noise, JPEG blocks, film grain, scratches, halftone
screens and fading, so the need is made of those alone. Pose, closed eyes and expression
never count: a diffusion model cannot open eyes or turn a head, and running it over a face
that is already fine only risks changing who it shows.

`rate_need` reads the measures `quality.assess` stored with the face, so a new version of
the need (NEED_VERSION) is worked out again from the database without decoding a photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from refldm_desktop.defaults import DEFAULT_MIN_NEED  # noqa: F401 (re-exported)
from refldm_desktop.faces import oldprint
from refldm_desktop.faces.quality import QualityScores, _ramp

# Bump whenever the rating below changes, so stored needs get recomputed (from the stored
# measures; a change of the measures themselves bumps QUALITY_VERSION instead).
NEED_VERSION = 1
# The reasons that tell an old print (as opposed to a poor digital photo).
OLD_PRINT_REASONS = ("scratched print", "film grain", "halftone", "faded", "colour cast")
# Below this severity a flaw is too slight to name.
_NAMED = 0.3
# How much of the need each flaw can make on its own. Fading and a colour cast are repaired
# only partly (the paste keeps the photo's own tones), so they weigh less.
_WEIGHTS = {
    "blurry": 1.0, "tiny": 1.0, "noisy": 0.9, "heavy JPEG": 0.9, "film grain": 0.9,
    "scratched print": 0.9, "halftone": 0.8, "faded": 0.6, "colour cast": 0.5,
}


@dataclass(frozen=True)
class Need:
    score: float  # 0 (nothing to repair) .. 1 (plainly needs restoring)
    reasons: tuple[str, ...]  # the flaws restoration would repair, worst first
    severity: dict[str, float]  # each flaw's severity in [0, 1], for display and tuning

    @property
    def old_print(self) -> bool:
        """Whether the face shows any sign of an old print."""
        return any(r.split(":")[0] in OLD_PRINT_REASONS for r in self.reasons)


def severities(q: QualityScores) -> dict[str, float]:
    """Each repairable flaw of a face, 0 (none) to 1 (plain)."""
    s: dict[str, float] = {}
    # Blur on a log scale, judged at the detail the face's own size can carry (see
    # quality._sharpness); faces of any size are judged alike. Grain, noise and JPEG
    # blocks can pass for detail: they raise the need themselves.
    s["blurry"] = _ramp(-math.log10(max(q.sharpness, 1e-9)), -math.log10(0.004), -math.log10(0.0012))
    # Too few pixels: below ~40 px between the eyes the model has to invent the detail.
    s["tiny"] = _ramp(-math.log2(max(q.eye_distance, 1.0)), -math.log2(40.0), -math.log2(16.0))
    s["noisy"] = _ramp(q.noise, 5.0, 12.0)
    s["heavy JPEG"] = _ramp(q.blockiness, 0.3, 0.6)
    if q.print_signs is not None:
        s.update(oldprint.severities(q.print_signs))
    return s


def rate_need(q: QualityScores) -> Need:
    """The need in [0, 1] and its reasons: each flaw removes up to its weight of what is
    left, so one plain flaw is enough and several slight ones add up."""
    sev = severities(q)
    keep = 1.0
    for k, v in sev.items():
        keep *= 1.0 - _WEIGHTS[k] * v
    named = sorted(((v, k) for k, v in sev.items() if v >= _NAMED), reverse=True)
    reasons = tuple(f"tiny: {q.eye_distance:.0f} px between the eyes" if k == "tiny" else k for _, k in named)
    return Need(score=float(min(max(1.0 - keep, 0.0), 1.0)), reasons=reasons, severity=sev)
