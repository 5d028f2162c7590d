"""`restore` and `batch` with the ReF-LDM restorer, on real photos, with the tiny golden
model imported (its crops are 64x64; 2 denoising steps keep the CPU time low).

What a user must be able to count on: every output exists and decodes; far from the restored
faces it is the original, pixel for pixel (a JPEG keeps its untouched blocks); the faces did
change; the originals are untouched; EXIF survives (edge_cases/image_T1.jpeg is turned by
its EXIF orientation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from restore_testlib import (
    LIBRARY_PARTS,
    cli,
    far_from_faces,
    indexed_library,
    install_golden_model,
    load,
    one_torch_thread,
    outputs_under,
    sha256_tree,
)

FAST = ("--restorer", "refldm", "--steps", "2", "--device", "cpu", "--seed", "3")


@pytest.fixture
def library(faces_dir, golden_dir):
    lib = indexed_library(LIBRARY_PARTS)
    install_golden_model(lib.home)
    with one_torch_thread():
        yield lib


def check_outputs(library, results) -> int:
    """Every output decodes, keeps the photo far from its restored faces, and changed the
    faces themselves. Returns how many faces were restored."""
    restored_faces = 0
    for o in results:
        restored = [f for f in o["faces"] if f["status"] == "restored"]
        if not restored:
            assert o["output"] is None
            continue
        before, after = load(Path(o["photo"])), load(Path(o["output"]))
        assert after.shape == before.shape
        boxes = [f["box"] for f in restored]
        far = far_from_faces(before.shape, boxes)
        assert np.array_equal(after[far], before[far]), o["photo"]
        changed = 0
        for box in boxes:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            inner = (slice(max(y0, 0), max(y1, 0)), slice(max(x0, 0), max(x1, 0)))
            changed += np.abs(after[inner].astype(int) - before[inner]).mean() > 1.0
        assert changed >= len(boxes) / 2, o["photo"]  # the model's pixels are there
        restored_faces += len(restored)
    return restored_faces


def test_restore_with_the_golden_model(library):
    people = [
        library.lib / "groups" / "two_people.jpg",
        *sorted((library.lib / "identities" / "obama").iterdir()),
        *sorted((library.lib / "identities" / "john_salley").iterdir())[:3],
    ]
    others = [
        library.lib / "groups" / "2007_007763.jpg",
        *sorted((library.lib / "edge_cases").iterdir()),
        library.lib / "old_photos" / "gfpgan_10045.png",
        library.lib / "old_photos" / "codeformer_01.jpg",
    ]
    out = library.root / "out-golden"
    # Faces of people with other photos: restored with references from those photos.
    r = cli(library.home, "restore", *people, *FAST, "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    with_refs = r.json()
    assert check_outputs(library, with_refs) >= 6
    faces = {f["id"]: f for f in cli(library.home, "faces", "list", "--json").json()}
    for o in with_refs:
        for f in o["faces"]:
            if f["status"] == "restored":
                refs = [faces[i] for i in f["references"]]
                assert refs and all(x["person_id"] == f["person_id"] and x["photo"] != o["photo"] for x in refs)
    # Faces of strangers too, when asked for (reference-free).
    r = cli(library.home, "restore", *others, *FAST, "--no-refs-ok", "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    results = r.json()
    assert len(results) == len(others)
    assert check_outputs(library, results) >= 10
    written = sorted(Path(o["output"]) for o in with_refs + results if o["output"])
    assert written == outputs_under(out)
    assert sha256_tree(library.lib) == library.before

    # The photo turned by its EXIF keeps its EXIF (orientation included: the restored JPEG
    # keeps the original's stored blocks, so it is shown turned the same way).
    (t1,) = [o for o in results if o["photo"].endswith("image_T1.jpeg")]
    with Image.open(t1["photo"]) as a, Image.open(t1["output"]) as b:
        ea, eb = a.getexif(), b.getexif()
        assert ea.get(0x0112) == 6 and dict(eb) == dict(ea)
        assert dict(eb.get_ifd(0x8769)) == dict(ea.get_ifd(0x8769))
    assert load(Path(t1["output"])).shape == load(Path(t1["photo"])).shape == (640, 480, 3)

    # What was recorded: the restorer, the model's name and version, the seed, every face.
    with_versions = cli(library.home, "versions", "list", "--json").json()
    mine = [v for v in with_versions if v["output"] in {str(w) for w in written}]
    assert len(mine) == len(written)
    for v in mine:
        assert v["restorer"] == "refldm" and v["model"].startswith("refldm@") and v["seed"] == 3
        assert v["parameters"]["steps"] == 2 and v["parameters"]["resolution"] == 64
        restored = {f["face_id"] for f in v["faces"] if f["status"] == "restored"}
        assert {r["face_id"] for r in v["references"]} == restored


def test_upscaled_restoration_is_bigger_and_keeps_the_rest_of_the_photo(library):
    photo = library.lib / "old_photos" / "codeformer_01.jpg"  # 248x189, faces of about 40 px
    out = library.root / "out-golden-x2"
    r = cli(library.home, "restore", photo, *FAST, "--no-refs-ok", "--upscale", "2", "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    (o,) = r.json()
    before, after = load(photo), load(Path(o["output"]))
    assert after.shape == (before.shape[0] * 2, before.shape[1] * 2, 3)
    # Far from the faces the photo is only enlarged: shrunk back it is close to the original.
    small = np.asarray(Image.fromarray(after).resize(before.shape[1::-1], Image.Resampling.BOX)).astype(int)
    far = far_from_faces(before.shape, [f["box"] for f in o["faces"] if f["status"] == "restored"])
    assert np.abs(small[far] - before[far]).mean() < 3.0


def test_batch_with_the_golden_model_and_its_rerun(library):
    out = library.root / "out-golden-batch"
    args = ("batch", library.lib, *FAST, "--min-quality", "0.6", "--output-dir", out, "--json")
    r = cli(library.home, *args)
    assert r.rc == 0, r.err
    first = r.json()
    assert check_outputs(library, first["photos"]) >= 2
    chosen = [f for o in first["photos"] for f in o["faces"] if f["status"] == "restored"]
    left = [f for o in first["photos"] for f in o["faces"] if f["status"] != "restored"]
    assert chosen and all(f["references"] and f["person_id"] is not None for f in chosen)
    assert all(f["status"].startswith("skipped: ") for f in left)
    report = Path(first["report"]).read_text("utf-8")
    assert report.count('alt="before"') == len(chosen) and 'alt="reference"' in report
    files = {p: p.read_bytes() for p in outputs_under(out)}

    again = cli(library.home, *args).json()
    assert again["batch"] == first["batch"] and again["photos"] == first["photos"]
    assert {p: p.read_bytes() for p in outputs_under(out)} == files
    assert sha256_tree(library.lib) == library.before
