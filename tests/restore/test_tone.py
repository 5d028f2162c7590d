"""Black-and-white and toned photos stay so after restoration (restore.tone).

The tiny golden ReF-LDM has random weights: its faces are coloured noise, the worst case
for a black-and-white photo. A grey copy of every old photo, restored with it, must come
back grey in every pixel; the sepia prints must keep their hue over each face.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from restore_testlib import cli, install_golden_model, load, one_torch_thread, require_dlib

from refldm_desktop.restore.tone import COLOUR, GREY, TONED, detect_tone

FAST = ("--restorer", "refldm", "--steps", "2", "--device", "cpu", "--seed", "5", "--no-refs-ok")
TONED_PRINTS = ("bopb_scratch_b.png", "bopb_scratch_d.png")

_RGB_TO_CBCR = np.array([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def mean_hue(image: np.ndarray, box) -> float:
    """Hue (degrees, in the Cb/Cr plane) of the mean colour over a face box."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    px = image[max(y0, 0) : y1, max(x0, 0) : x1].reshape(-1, 3).astype(np.float64)
    cb, cr = (px @ _RGB_TO_CBCR.T).mean(axis=0)
    return float(np.degrees(np.arctan2(cr, cb)))


def test_grey_sepia_and_colour_photos_are_told_apart(faces_dir):
    old = faces_dir / "old_photos"
    for name in TONED_PRINTS:
        tone = detect_tone(load(old / name))
        assert tone.kind == TONED and tone.name == "sepia", name
    for path in sorted(old.iterdir()):
        if path.suffix in (".png", ".jpg") and path.name not in TONED_PRINTS:
            image = load(path)
            assert detect_tone(image).kind == COLOUR, path.name
            grey = np.repeat(np.asarray(Image.fromarray(image).convert("L"))[..., None], 3, axis=2)
            assert detect_tone(grey).kind == GREY, path.name
    # A cyanotype made of a grey photo: blue at every lightness.
    grey = np.asarray(Image.open(old / "codeformer_02.png").convert("L"), np.float64)
    blue = np.stack([grey * 0.55, grey * 0.75, np.minimum(grey * 1.1 + 20, 255)], axis=2).astype(np.uint8)
    assert (detect_tone(blue).kind, detect_tone(blue).name) == (TONED, "cyanotype")


def test_restored_faces_keep_a_grey_photo_grey_and_a_sepia_print_sepia(faces_dir, golden_dir, tmp_path):
    require_dlib()
    pics = tmp_path / "Pictures"
    pics.mkdir()
    greys = []
    for path in sorted((faces_dir / "old_photos").iterdir()):
        if path.suffix not in (".png", ".jpg"):
            continue
        grey = Image.open(path).convert("L").convert("RGB")
        target = pics / f"grey_{path.name}"
        grey.save(target, quality=95) if path.suffix == ".jpg" else grey.save(target)
        greys.append(target)
    for name in TONED_PRINTS:
        shutil.copy2(faces_dir / "old_photos" / name, pics / name)
    home = tmp_path / "home"
    install_golden_model(home)
    out = tmp_path / "out"
    with one_torch_thread():
        r = cli(home, "restore", *sorted(pics.iterdir()), *FAST, "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    results = {Path(o["photo"]).name: o for o in r.json()}
    restored = 0
    for path in greys:
        o = results[path.name]
        if o["output"] is None:
            continue  # no face found in this grey copy
        after = load(Path(o["output"]))
        assert np.array_equal(after[..., 0], after[..., 1]) and np.array_equal(after[..., 1], after[..., 2]), path.name
        before = load(path)
        faces = [f for f in o["faces"] if f["status"] == "restored"]
        assert np.abs(after.astype(int) - before).max() > 8, path.name  # the model's pixels are there, in grey
        # Strangers without references still get the identity check, against themselves;
        # the golden model's noise never passes as them.
        assert all(f["identity"]["against"] == "original" for f in faces if f["person_id"] is None)
        assert all(f["identity"]["verdict"] in ("drifted", "no_face") for f in faces)
        restored += len(faces)
    assert restored >= 10
    for name in TONED_PRINTS:
        o = results[name]
        before, after = load(pics / name), load(Path(o["output"]))
        faces = [f for f in o["faces"] if f["status"] == "restored"]
        assert faces
        for f in faces:
            assert mean_hue(after, f["box"]) == pytest.approx(mean_hue(before, f["box"]), abs=2.0), name
