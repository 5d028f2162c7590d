"""The identity guard on every face of ../shared/data/faces, with dlib (the default backend).

What a family must be able to count on: a restorer that changes nothing is never blamed
(every face "kept"); a restorer that paints someone else's face is caught (at least 95% of
faces "drifted"), and with keep-original those faces come back as they were; a restorer
whose faces are noise (the tiny golden model's random weights) never passes as the person.

Faces of the identities/ folders are compared with the other photos of the same person
(as the library's references would be); the other photos' faces with themselves before
restoration (the reference-free check).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from restore_testlib import golden_models_dir, one_torch_thread, require_dlib, require_faces

from refldm_desktop.faces.align import ffhq_transform, warp_to_crop
from refldm_desktop.restore.identity import DRIFTED, KEPT, NO_FACE, IdentityGuard
from refldm_desktop.restore.photo import FaceToRestore, restore_photo
from refldm_desktop.restore.protocol import RestoreOptions

_IMAGES = (".jpg", ".jpeg", ".png")


@dataclass(eq=False)
class Photo:
    path: Path
    identity: str | None  # the identities/ folder it is in
    image: np.ndarray
    faces: list  # DetectedFace


@pytest.fixture(scope="module")
def backend():
    require_dlib()
    from refldm_desktop.core.plugins import Registry

    return Registry("refldm_desktop.face_backends").create("dlib")


@pytest.fixture(scope="module")
def guard(backend):
    return IdentityGuard(backend)


@pytest.fixture(scope="module")
def photos(guard) -> list[Photo]:
    """Every photo of ../shared/data/faces with a face, its faces and their embeddings."""
    from refldm_desktop.library.imageio import ImageError, load_rgb

    root = require_faces()
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in _IMAGES:
            continue
        try:
            image = load_rgb(path)[0]
        except ImageError:
            continue
        faces = guard.backend.detect(image)
        if not faces:
            continue
        rel = path.relative_to(root).parts
        identity = rel[1] if rel[0] == "identities" else None
        out.append(Photo(path, identity, image, faces))
    assert sum(len(p.faces) for p in out) >= 100  # the folder as the tests expect it
    return out


def known_for(photos: list[Photo], photo: Photo) -> tuple[np.ndarray | None, str]:
    """The person's faces in their other photos (as references), or none."""
    if photo.identity is None:
        return None, "original"
    others = [f.embedding for p in photos if p.identity == photo.identity and p is not photo for f in p.faces]
    return (np.stack(others), "references") if others else (None, "original")


class Swapper:
    """A restorer that returns another person's aligned face for every face it is given."""

    name = "swapper"
    needs_references = False
    resolution = 256  # the guard's own size: nothing is resized twice

    def __init__(self, donors: list[np.ndarray]) -> None:
        self.donors = donors
        self.next = 0

    def restore(self, crops, references, options=RestoreOptions(), progress=None, cancelled=None):
        out = []
        for _ in crops:
            out.append(self.donors[self.next % len(self.donors)])
            self.next += 1
        return out


class Passthrough:
    name = "passthrough"
    needs_references = False
    resolution = 256

    def restore(self, crops, references, options=RestoreOptions(), progress=None, cancelled=None):
        return [c.copy() for c in crops]


def checks_of(guard, photos, restorer, only=None, stored_only=False):
    """Restore each photo (of `only`, default all) with `restorer` and check each face
    against its person's other photos, as the restore job does: [(photo, result, checks)].
    `stored_only`: the face before restoration is the embedding from detection (the guard's
    fall-back), which saves embedding the crops the restorer was given."""
    out = []
    options = RestoreOptions(steps=2, seed=1, device="cpu")
    for p in photos if only is None else only:
        result = restore_photo(p.image, [FaceToRestore(f.landmarks) for f in p.faces], restorer, options=options)
        known, against = known_for(photos, p)
        if stored_only:
            checks = [
                guard.compare(f.embedding, guard.embed(r), known, against) for f, r in zip(p.faces, result.restored)
            ]
        else:
            checks = [
                guard.check(c, r, known, against, f.embedding)
                for f, c, r in zip(p.faces, result.crops, result.restored)
            ]
        out.append((p, result, checks))
    return out


def test_a_restorer_that_changes_nothing_keeps_every_face(guard, photos):
    results = checks_of(guard, photos, Passthrough())
    for p, _, checks in results:
        for c in checks:
            assert c.verdict == KEPT, (p.path.name, c)
            assert c.before is not None and c.after == pytest.approx(c.before, abs=1e-6), (p.path.name, c)
    assert sum(len(c) for _, _, c in results) == sum(len(p.faces) for p in photos)


def test_another_persons_face_is_caught_and_keep_original_gives_the_photo_back(guard, photos):
    # Donors: aligned faces of the dlib "johns", people who appear in no other folder; a
    # face of one of them gets a face of another.
    donors: dict[str, np.ndarray] = {}
    for p in photos:
        if p.identity in ("john_salley", "john_savage", "john_schneider") and p.identity not in donors:
            donors[p.identity] = warp_to_crop(p.image, ffhq_transform(p.faces[0].landmarks, Swapper.resolution))
    assert len(donors) == 3
    total = drifted = 0
    missed = []
    for p in photos:
        others = [d for who, d in donors.items() if who != p.identity]
        [(_, result, checks)] = checks_of(guard, photos, Swapper(others), only=[p], stored_only=True)
        total += len(checks)
        drifted += sum(c.verdict == DRIFTED for c in checks)
        missed += [(p.path.name, c) for c in checks if c.verdict != DRIFTED]
        # keep-original: the drifted faces get their original pixels back.
        kept = result.keeping([c.verdict != DRIFTED for c in checks])
        if all(c.verdict == DRIFTED for c in checks):
            assert np.array_equal(kept.image, p.image), p.path.name
        for f, c in zip(p.faces, checks):
            if c.verdict == DRIFTED:
                x0, y0, x1, y1 = (int(round(v)) for v in f.box)
                region = (slice(max(y0, 0), y1), slice(max(x0, 0), x1))
                others_near = [
                    g for g, d in zip(p.faces, checks) if d.verdict != DRIFTED and _overlap(g.box, f.box)
                ]
                if not others_near:
                    assert np.array_equal(kept.image[region], p.image[region]), p.path.name
    assert drifted >= 0.95 * total, missed


def _overlap(a, b, grow: float = 1.0) -> bool:
    wa, wb = (a[2] - a[0]) * grow, (b[2] - b[0]) * grow
    return a[0] - wa < b[2] + wb and b[0] - wb < a[2] + wa and a[1] - wa < b[3] + wb and b[1] - wb < a[3] + wa


def test_the_golden_models_noise_never_passes_as_the_person(guard, photos):
    from refldm_desktop.core.plugins import Registry

    restorer = Registry("refldm_desktop.restorers").create("refldm", models_dir=str(golden_models_dir()), device="cpu")
    with one_torch_thread():
        results = checks_of(guard, photos, restorer, stored_only=True)
    verdicts = [(p.path.name, c.verdict) for p, _, checks in results for c in checks]
    assert verdicts and all(v in (DRIFTED, NO_FACE) for _, v in verdicts), [x for x in verdicts if x[1] not in (DRIFTED, NO_FACE)]


def test_the_verdict_follows_the_distances():
    from refldm_desktop.restore.identity import IMPROVED, judge

    t = 0.55
    assert judge(0.40, 0.40, 0.0, t) == KEPT  # the same
    assert judge(0.50, 0.30, 0.25, t) == IMPROVED  # clearly closer to the person
    assert judge(0.70, 0.45, 0.40, t) == IMPROVED  # now recognised
    assert judge(0.40, 0.75, 0.70, t) == DRIFTED  # now someone else
    assert judge(0.70, 0.72, 0.10, t) == KEPT  # never recognised, and still itself
    assert judge(0.70, 0.72, 0.65, t) == DRIFTED  # never recognised, and no longer itself
    assert judge(0.40, None, None, t) == NO_FACE
