"""Fast, deterministic stand-ins for the face backend, used by library and CLI tests.

Test photos are white PNGs with solid squares on them. The fake backend "detects" each
square of one exact colour as a face. The red channel names the person, the green channel
is a small per-photo variation, the blue channel must be 77 (so other colours are ignored).
`draw_photo` makes such photos.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from refldm_desktop.faces.types import DetectedFace, EmbeddingSpace

MARK = 77  # blue value of every fake face
SIDE = 24  # square side in pixels


class FakeBackend:
    """Counts its detect calls; can raise KeyboardInterrupt on the Nth call (1-based)."""

    name = "fake"

    def __init__(self, interrupt_on: int | None = None, fail_on: Sequence[int] = ()) -> None:
        self.calls = 0
        self.interrupt_on = interrupt_on
        self.fail_on = set(fail_on)

    @property
    def space(self) -> EmbeddingSpace:
        return EmbeddingSpace(model_id="fake-colour-v1", dim=4, metric="euclidean", same_person=0.5)

    def available(self) -> tuple[bool, str]:
        return True, ""

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        self.calls += 1
        if self.interrupt_on is not None and self.calls == self.interrupt_on:
            raise KeyboardInterrupt
        if self.calls in self.fail_on:
            raise RuntimeError("fake backend crashed")
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        mask = image[..., 2] == MARK
        ys, xs = np.nonzero(mask)
        keys = image[ys, xs, 0].astype(np.int32) * 256 + image[ys, xs, 1]
        faces = []
        for key in np.unique(keys):
            sel = keys == key
            x0, x1 = xs[sel].min(), xs[sel].max() + 1
            y0, y1 = ys[sel].min(), ys[sel].max() + 1
            red, green = divmod(int(key), 256)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            w = x1 - x0
            landmarks = np.array(
                [[cx - w / 4, cy - w / 6], [cx + w / 4, cy - w / 6], [cx, cy],
                 [cx - w / 5, cy + w / 4], [cx + w / 5, cy + w / 4]],
                dtype=np.float32,
            )
            embedding = np.array([red / 20.0, green / 200.0, 0.0, 0.0], dtype=np.float32)
            faces.append(
                DetectedFace(
                    box=(float(x0), float(y0), float(x1), float(y1)),
                    score=1.0,
                    landmarks=landmarks,
                    embedding=embedding,
                )
            )
        faces.sort(key=lambda f: (f.box[0], f.box[1]))
        return faces


def draw_photo(
    path: Path,
    faces: Sequence[tuple[int, int, int, int]] = (),
    size: tuple[int, int] = (160, 120),
) -> Path:
    """A PNG with one square per (person, variation, x, y); person 1..12, variation 0..40."""
    from PIL import Image

    img = np.full((size[1], size[0], 3), 255, dtype=np.uint8)
    for person, variation, x, y in faces:
        img[y : y + SIDE, x : x + SIDE] = (person * 20, variation, MARK)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format="PNG")
    return path


def nearest_cluster(space, embeddings, photo_ids, fixed, forbidden, search=None):
    """A small clusterer with the faces.cluster.cluster contract: each free face joins the
    nearest labelled face within the threshold (not a forbidden person, not a face of the
    same photo), else founds a new person. It ignores the `search` hint (looks at all)."""
    labels: list[int | None] = list(fixed)
    next_new = -1
    d = space.distance(embeddings, embeddings)
    for i in range(len(labels)):
        if labels[i] is not None:
            continue
        best, best_d = None, space.same_person
        for j in range(len(labels)):
            if j == i or labels[j] is None or photo_ids[j] == photo_ids[i]:
                continue
            if labels[j] in forbidden[i] or d[i, j] >= best_d:
                continue
            clash = any(labels[k] == labels[j] and photo_ids[k] == photo_ids[i] for k in range(len(labels)))
            if not clash:
                best, best_d = labels[j], d[i, j]
        if best is None:
            best, next_new = next_new, next_new - 1
        labels[i] = best
    return labels


def open_test_library(home_dir: Path, backend: FakeBackend | None = None, cluster=None):
    from refldm_desktop.core.home import Home
    from refldm_desktop.core.library import Library

    return Library.open(
        Home(home_dir), backend=backend or FakeBackend(), cluster=cluster or nearest_cluster
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry below `folder` with its size and mtime, to prove nothing was written."""
    import os

    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), folder)] = (st.st_size, st.st_mtime_ns)
    return out



# ---------------------------------------------------------------------------------------
# Reference choice on fake photos


class SpreadBackend(FakeBackend):
    """The fake backend with embeddings that tell a person's photos apart.

    FakeBackend's embeddings put all of one person's variations within a near-duplicate
    distance of each other. Here each variation (mod 7) gets its own axis, 0.18 from the
    others and 0.12 from the person's centre, persons stay 1.0 apart: different photos of
    one person are neither near-duplicates nor strangers. Copies of a photo are identical."""

    name = "fake-spread"

    @property
    def space(self) -> EmbeddingSpace:
        return EmbeddingSpace(model_id="fake-spread-v1", dim=8, metric="euclidean", same_person=0.5)

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        from dataclasses import replace

        out = []
        for f in super().detect(image):
            person, variation = float(f.embedding[0]), round(float(f.embedding[1]) * 200)
            e = np.zeros(8, np.float32)
            e[0] = person
            e[1 + variation % 7] = 0.13
            out.append(replace(f, embedding=e))
        return out


def fake_photo(path: Path, faces: Sequence[tuple[int, int]], size: tuple[int, int] = (200, 120)) -> Path:
    """draw_photo with each (person, variation) face placed by its variation and person, so
    that photos holding different faces never look like copies of each other."""
    return draw_photo(path, [(p, v, 4 + (v % 7) * 27, 4 + (p % 4) * 28) for p, v in faces], size)


class FakeQuality:
    """Stands in for faces.quality.assess on fake photos. Counts its calls; a face's
    sharpness grows with its variation (green channel), from blurry at 0 to sharp at 6,
    so tests know which face is best. Variations in `fail` raise, as assess does for a
    face it cannot measure."""

    def __init__(self, fail: Sequence[int] = ()) -> None:
        self.calls = 0
        self.fail = set(fail)

    def __call__(self, image, landmarks, *, detector=None, transform=None, crop=None):
        from refldm_desktop.faces import quality as q

        self.calls += 1
        lm = np.asarray(landmarks, dtype=np.float64)
        cx, cy = lm.mean(0)
        red, green, _ = (int(v) for v in image[int(cy), int(cx)])
        if green in self.fail:
            raise ValueError("the face lies outside the image")
        rng = np.random.default_rng(red * 256 + green)
        return q.QualityScores(
            version=q.QUALITY_VERSION,
            sharpness=0.0008 * 15.0 ** (min(green, 6) / 6),
            native_sharpness=0.01,
            eye_distance=120.0,
            pose=q.Pose(0.0, 0.0, 0.0),
            brightness=0.5,
            contrast=0.2,
            clipped=0.0,
            eye_openness=0.3,
            blockiness=0.0,
            noise=1.0,
            detector=detector,
            colour=q.ColourStats(0.1, 0.1),
            fingerprint=tuple(int(v) for v in rng.integers(-100, 100, q.FINGERPRINT_SIDE**2)),
        )


def real_backend_or_skip(name: str = "dlib"):
    """The installed face backend `name`, ready to run; skips the test when it cannot (and
    fails with CI=true for dlib, a must-have: tests/musthave.py)."""
    import pytest

    from musthave import missing
    from refldm_desktop.core.plugins import PluginError, Registry
    from refldm_desktop.plugin_api import FACE_BACKENDS_GROUP

    gone = missing if name == "dlib" else pytest.skip
    try:
        backend = Registry(FACE_BACKENDS_GROUP).create(name)
    except (PluginError, ImportError) as exc:
        gone(f"the {name} face backend is not installed here: {exc}")
    ok, why = backend.available()
    if not ok:
        gone(f"the {name} face backend cannot run: {why}")
    return backend
