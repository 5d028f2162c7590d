"""The in-memory photo pipeline: one restorer call per person, references passed along."""

from __future__ import annotations

import numpy as np
import pytest

from refldm_desktop.plugin_api import RestoreCancelled, RestoreOptions, RestoreProgress
from refldm_desktop.restore.paste import PasteOptions
from refldm_desktop.restore.photo import FaceToRestore, restore_photo
from refldm_plugin_passthrough import PassthroughRestorer


def _face(cx: float, cy: float, half: float = 20.0) -> np.ndarray:
    lm = np.zeros((68, 2))
    lm[:] = [cx, cy + half]
    lm[36:42] = [cx - half, cy]
    lm[42:48] = [cx + half, cy]
    lm[48] = [cx - 0.8 * half, cy + 2 * half]
    lm[54] = [cx + 0.8 * half, cy + 2 * half]
    return lm


class RecordingRestorer:
    """Paints each face a flat grey and remembers how it was called."""

    name = "recording"
    model = "recording-1"
    resolution = 64
    needs_references = True

    def __init__(self):
        self.calls: list[tuple[int, int, RestoreOptions]] = []

    def available(self):
        return True, ""

    def restore(self, crops, references, options=RestoreOptions(), progress=None, cancelled=None):
        self.calls.append((len(crops), len(references), options))
        out = []
        for i, _ in enumerate(crops):
            if cancelled is not None and cancelled():
                raise RestoreCancelled("cancelled")
            out.append(np.full((64, 64, 3), 200, np.uint8))
            if progress is not None:
                progress(RestoreProgress(i + 1, len(crops), 1, 1))
        return out


def test_passthrough_returns_copies_of_the_crops():
    r = PassthroughRestorer(resolution=32)
    crops = [np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)]
    out = r.restore(crops, [])
    assert np.array_equal(out[0], crops[0]) and out[0] is not crops[0]


def test_faces_of_one_person_go_in_one_call_with_that_persons_references():
    image = np.zeros((300, 600, 3), np.uint8)
    faces = [
        FaceToRestore(_face(100, 120), group="ann"),
        FaceToRestore(_face(300, 120), group="bob"),
        FaceToRestore(_face(500, 120), group="ann"),
    ]
    refs = {"ann": [np.zeros((64, 64, 3), np.uint8)] * 3, "bob": [np.zeros((64, 64, 3), np.uint8)]}
    r = RecordingRestorer()
    seen: list[RestoreProgress] = []
    opts = RestoreOptions(steps=10, cfg=2.0, seed=5)
    raw = PasteOptions(color_match=False, lowfreq_sigma=0.0, keep_detail=False)  # keep the flat grey visible
    res = restore_photo(image, faces, r, refs, options=opts, paste_options=raw, progress=seen.append)
    assert sorted((n, k) for n, k, _ in r.calls) == [(1, 1), (2, 3)]
    assert all(o == opts for _, _, o in r.calls)
    assert [p.faces_done for p in seen] == [1, 2, 3] and all(p.faces == 3 for p in seen)
    # Every face was painted where it is.
    for f in faces:
        x, y = f.landmarks[36:48].mean(0).astype(int)
        assert res.image[y + 10, x].max() > 150
    assert len(res.transforms) == len(res.crops) == len(res.restored) == 3


def test_a_person_without_references_is_refused_before_any_work():
    r = RecordingRestorer()
    with pytest.raises(ValueError, match="needs references"):
        restore_photo(np.zeros((200, 200, 3), np.uint8), [FaceToRestore(_face(100, 80), 1)], r, {})
    assert r.calls == []


def test_cancel_between_people():
    r = RecordingRestorer()
    calls = iter([False, True, True, True])
    faces = [FaceToRestore(_face(100, 80), 1), FaceToRestore(_face(300, 80), 2)]
    refs = {1: [np.zeros((64, 64, 3), np.uint8)], 2: [np.zeros((64, 64, 3), np.uint8)]}
    with pytest.raises(RestoreCancelled):
        restore_photo(np.zeros((200, 400, 3), np.uint8), faces, r, refs, cancelled=lambda: next(calls))


def test_options_are_checked():
    with pytest.raises(ValueError):
        RestoreOptions(steps=0)
    with pytest.raises(ValueError):
        RestoreOptions(cfg=float("nan"))
    assert RestoreProgress(1, 4, 5, 10).fraction == pytest.approx((1 + 3 * 0.5) / 4)
