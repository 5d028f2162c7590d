"""Cracked prints are named as damaged ("scratched print"), not only as faded or toned.

An old print's emulsion cracks in a jagged network that runs across the whole print; the
straight-line scratch search misses it. Real cracked prints (those of old_photos whose
MANIFEST says cracks or scratches) and identity photos aged and cracked by the test
(tests/faces/degradations.py) must carry the reason; the same aged prints without cracks
must not.
"""

from __future__ import annotations

import numpy as np
import pytest

from degradations import aged, cracks
from face_photos import load_rgb
from refldm_desktop.faces.need import rate_need
from refldm_desktop.faces.quality import assess

SCRATCHED = "scratched print"


def _reasons(image: np.ndarray, face) -> tuple[str, ...]:
    return rate_need(assess(image, np.asarray(face.landmarks))).reasons


def test_real_cracked_prints_are_called_scratched(dlib_faces, faces_dir, manifest):
    rows = [r for r in manifest if r["path"].startswith("old_photos/")
            and any(w in r["notes"].lower() for w in ("crack", "scratch"))]
    assert rows, "the MANIFEST names no cracked or scratched old photo"
    for row in rows:
        path = faces_dir / row["path"]
        image = load_rgb(path)
        faces = dlib_faces.detect(path)
        assert faces, path
        for face in faces:
            assert SCRATCHED in _reasons(image, face), (row["path"], _reasons(image, face))


def test_identity_photos_aged_and_cracked_are_called_scratched_and_aged_alone_are_not(dlib_faces, faces_dir):
    paths = sorted(p for p in (faces_dir / "identities").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng = np.random.default_rng(7)
    cracked, plain, n = 0, 0, 0
    for path in paths[::4]:  # a spread of people and sizes; detection is the slow part
        faces = dlib_faces.detect(path)
        if not faces:
            continue
        face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        old = aged(load_rgb(path))
        n += 1
        plain += SCRATCHED in _reasons(old, face)
        cracked += SCRATCHED in _reasons(cracks(old, rng), face)
    assert n >= 10
    print(f"\n{n} aged prints: {cracked} called scratched with cracks, {plain} without")
    assert cracked >= 0.9 * n
    assert plain <= 0.1 * n


@pytest.mark.parametrize("shape", [(40, 40), (300, 2)])
def test_no_crack_is_found_in_a_blank_or_thin_photo(shape):
    from refldm_desktop.faces.oldprint import _cracks

    assert _cracks(np.full((*shape, 3), 128, np.uint8)) == 0.0
