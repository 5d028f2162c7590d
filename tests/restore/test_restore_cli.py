"""`restore` and `batch` end to end on real photos, with the passthrough restorer.

The passthrough restorer returns every aligned face unchanged, so what comes out shows the
geometry of the pipeline (align, warp back, blend, colour match, encode) on its own: each
output must be the original again, up to resampling.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest
from restore_testlib import (
    cli,
    LIBRARY_PARTS,
    copy_photos,
    indexed_library,
    load,
    outputs_under,
    sha256_tree,
)

from refldm_desktop.restore.metrics import psnr


@pytest.fixture
def library(faces_dir):
    """Copied and indexed once per test run (restore_testlib.LIBRARY_PARTS)."""
    return indexed_library(LIBRARY_PARTS)


def test_passthrough_gives_every_photo_back_as_it_was(library, faces_dir):
    out = library.root / "out-geometry"
    photos = [p for p in library.photos if p.parent.name in ("old_photos", "groups")]
    assert len(photos) == 17
    r = cli(library.home, "restore", *photos, "--restorer", "passthrough", "--no-refs-ok",
            "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    results = r.json()
    assert [Path(o["photo"]) for o in results] == [p.resolve() for p in photos]
    written = []
    for o in results:
        photo = Path(o["photo"])
        if not o["faces"]:
            assert o["output"] is None  # nothing detected: nothing written
            continue
        assert {f["status"] for f in o["faces"]} == {"restored"}, o
        output = Path(o["output"])
        assert output.is_absolute() and output.is_file()
        # The output folder mirrors the library's folders and lies outside it.
        assert output.parent == out / photo.parent.relative_to(library.lib.resolve())
        assert output.name.startswith(photo.stem + " (restored)")
        before, after = load(photo), load(output)
        assert after.shape == before.shape
        assert psnr(before, after) >= 40.0, photo.name
        written.append(output)
    assert len(written) >= 14  # all but the photos where no face is found
    assert sorted(written) == outputs_under(out)
    assert sha256_tree(library.lib) == library.before  # originals only ever read


def test_json_lists_every_face_with_its_status_and_skipped_faces_say_why(library, faces_dir):
    photos = [library.lib / "groups" / "two_people.jpg", library.lib / "old_photos" / "gfpgan_10045.png"]
    out = library.root / "out-json"
    r = cli(library.home, "restore", *photos, "--restorer", "passthrough", "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    assert "two_people.jpg: done" in r.err  # progress goes to stderr, JSON alone to stdout
    results = r.json()
    assert isinstance(results, list) and len(results) == 2
    for o in results:
        assert set(o) >= {"photo", "output", "faces"}
        assert Path(o["photo"]).is_absolute()
        assert o["faces"], "every one of these photos has faces"
        for f in o["faces"]:
            assert set(f) >= {"box", "person_id", "status"}
            assert len(f["box"]) == 4 and all(isinstance(v, (int, float)) for v in f["box"])
            assert f["person_id"] is None or isinstance(f["person_id"], int)
            assert isinstance(f["status"], str) and f["status"]
            if f["status"] == "restored":
                # Without --no-refs-ok only faces of a person with references are restored.
                assert f["person_id"] is not None and f["references"]
            elif f["person_id"] is None:
                assert "no person" in f["status"]
            else:
                assert "reference" in f["status"]
        restored = [f for f in o["faces"] if f["status"] == "restored"]
        if restored:
            assert Path(o["output"]).is_file()
        else:
            assert o["output"] is None
    assert sorted(Path(o["output"]) for o in results if o["output"]) == outputs_under(out)
    # Obama and Biden have other photos in the library: their faces were restored with
    # references from those photos, never from the photo itself.
    people = {f["id"]: f for f in cli(library.home, "faces", "list", "--json").json()}
    restored = [f for f in results[0]["faces"] if f["status"] == "restored"]
    assert len(restored) == 2
    for f in restored:
        refs = [people[r] for r in f["references"]]
        assert refs and all(r["person_id"] == f["person_id"] for r in refs)
        assert all(r["photo"] != results[0]["photo"] for r in refs)


def test_a_second_run_writes_a_second_file_and_never_overwrites(library, faces_dir):
    photo = library.lib / "old_photos" / "bopb_old_h.png"
    out = library.root / "out-twice"
    squatter = out / "old_photos" / "bopb_old_h (restored).png"
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"not ours")
    args = ("restore", photo, "--restorer", "passthrough", "--no-refs-ok", "--output-dir", out, "--json")
    first = Path(cli(library.home, *args).json()[0]["output"])
    second = Path(cli(library.home, *args).json()[0]["output"])
    assert squatter.read_bytes() == b"not ours"
    assert first.name == "bopb_old_h (restored 2).png" and second.name == "bopb_old_h (restored 3).png"
    assert load(first).shape == load(second).shape == load(photo).shape


def test_an_output_folder_inside_the_library_is_refused_unless_asked(library, faces_dir):
    photo = library.lib / "old_photos" / "bopb_old_h.png"
    inside = library.lib / "restored here"
    r = cli(library.home, "restore", photo, "--restorer", "passthrough", "--no-refs-ok", "--output-dir", inside)
    assert r.rc == 2 and "inside the library" in r.err
    assert not inside.exists()
    try:
        r = cli(library.home, "restore", photo, "--restorer", "passthrough", "--no-refs-ok",
                "--output-dir", inside, "--inside-library", "--json")
        assert r.rc == 0, r.err
        assert Path(r.json()[0]["output"]).parent == inside / "old_photos"
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def test_a_photo_not_yet_indexed_is_indexed_first_alone(library, faces_dir, tmp_path):
    folder = copy_photos(tmp_path / "Elsewhere", ["edge_cases/image_T1.jpeg", "edge_cases/r90.jpg"]) / "edge_cases"
    new = folder / "image_T1.jpeg"
    out = tmp_path / "out"
    r = cli(library.home, "restore", new, "--restorer", "passthrough", "--no-refs-ok", "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    (o,) = r.json()
    assert Path(o["photo"]) == new.resolve() and o["faces"]
    assert Path(o["output"]) == out / "image_T1 (restored).jpeg"
    assert psnr(load(new), load(Path(o["output"]))) >= 40.0
    indexed = {f["photo"] for f in cli(library.home, "faces", "list", "--json").json()}
    assert str(new.resolve()) in indexed and str((folder / "r90.jpg").resolve()) not in indexed


def test_unknown_restorer_and_bad_options_are_clear_errors(library, faces_dir):
    photo = library.lib / "old_photos" / "bopb_old_h.png"
    r = cli(library.home, "restore", photo, "--restorer", "nosuch")
    assert r.rc == 2 and "nosuch" in r.err and "passthrough" in r.err
    r = cli(library.home, "restore", photo, "--restorer", "passthrough", "--steps", "0")
    assert r.rc == 2 and "steps" in r.err
    r = cli(library.home, "restore", library.root / "nothing.jpg", "--restorer", "passthrough")
    assert r.rc == 2 and "no such photo" in r.err


def test_batch_writes_a_report_and_a_second_run_does_nothing_twice(library, faces_dir):
    out = library.root / "out-batch"
    args = ("batch", library.lib / "old_photos", "--restorer", "passthrough", "--no-refs-ok",
            "--min-quality", "0.99", "--output-dir", out, "--json")
    r = cli(library.home, *args)
    assert r.rc == 0, r.err
    first = r.json()
    assert first["batch"].startswith("batch-") and first["photos"]
    written = outputs_under(out)
    assert written and sorted(Path(o["output"]) for o in first["photos"] if o["output"]) == written
    hashes = {p: p.read_bytes() for p in written}

    report = Path(first["report"])
    assert report.parent == out and report.suffix == ".html"
    page = report.read_text("utf-8")
    links = [unquote(m) for m in re.findall(r'(?:src|href)="([^"]+)"', page)]
    assert links and all(not Path(link).is_absolute() for link in links)
    assert all((out / link).is_file() for link in links)  # thumbnails and outputs, relative
    faces = sum(1 for o in first["photos"] for f in o["faces"] if f["status"] == "restored")
    assert page.count('alt="before"') == page.count('alt="after"') == faces

    again = cli(library.home, *args)
    assert again.rc == 0, again.err
    second = again.json()
    assert second["batch"] == first["batch"]
    assert second["photos"] == first["photos"]  # the same jobs, nothing redone
    assert outputs_under(out) == written and all(p.read_bytes() == b for p, b in hashes.items())
    assert sha256_tree(library.lib) == library.before


def test_batch_by_default_picks_the_old_prints_and_accounts_for_every_face(library, faces_dir):
    out = library.root / "out-batch-need"
    r = cli(library.home, "batch", library.lib / "old_photos", "--restorer", "passthrough", "--no-refs-ok",
            "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    result = r.json()
    restored = [f for o in result["photos"] for f in o["faces"] if f["status"] == "restored"]
    left = result["left_out"]
    assert set(result["counts"]) == {"already sharp", "no references", "not a person", "excluded by the user",
                                     "not measured"}
    assert sum(result["counts"].values()) == len(left)
    assert all(x["why"] in result["counts"] and x["detail"] and x["photo"] for x in left)
    # Old prints need restoring: faded, grainy, toned, tiny.
    assert len(restored) >= 0.8 * (len(restored) + len(left)), left
    assert "looked at" in r.err and "deprecated" not in r.err

    old = cli(library.home, "batch", library.lib / "old_photos", "--restorer", "passthrough", "--no-refs-ok",
              "--min-quality", "0.5", "--output-dir", out, "--json")
    assert old.rc == 0 and "--min-quality is deprecated" in old.err
    both = cli(library.home, "batch", library.lib / "old_photos", "--min-quality", "0.5", "--min-need", "0.5")
    assert both.rc == 2 and "not both" in both.err
