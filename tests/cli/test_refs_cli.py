"""`refs` verbs end to end, through the real app: dlib faces, the real clusterer, the stored
quality scores and the reference choice, read back as the user sees them.

The library is the shared identity photos plus, for every photo, three degraded copies
(Gaussian blur sigma 3; downscale by 4 and back; JPEG quality 15) and edge_cases/obama-240p.jpg
beside the obama photos. It is copied into a temporary folder and indexed once per module
(the slow part: about a minute for 221 photos with dlib on one core).

Run with -s to see what was chosen for every person.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes import SpreadBackend, fake_photo, open_test_library, snapshot
from musthave import require_dlib_backend
from refldm_desktop.cli import library_verbs, main

KINDS = ("blur", "down4", "jpeg15")


@dataclass(frozen=True)
class Truth:
    person: str  # identity folder
    family: str  # the original photo it shows (copies and near-duplicates share it)
    kind: str  # "original" or one of KINDS

    @property
    def degraded(self) -> bool:
        return self.kind != "original"


@dataclass(frozen=True)
class Built:
    home: Path
    photos: Path
    truth: dict[Path, Truth]
    faces: list[dict]  # `faces list --json` after indexing
    people: dict[int, str]  # person id -> identity folder (majority of its faces' photos)


def _families(faces_dir: Path) -> dict[str, str]:
    """Manifest photo -> the photo its notes say it is a copy or near-duplicate of."""
    with open(faces_dir / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    paths = {r["path"] for r in rows}
    out: dict[str, str] = {}
    for r in rows:
        m = re.search(r"(?:copy|near-duplicate) of (\S+?)[\s;:,)]", r["notes"] + " ")
        if not m:
            continue
        ref = m.group(1)
        folder = str(Path(r["path"]).parent)
        match = [p for p in sorted(paths) if p == ref or (str(Path(p).parent) == folder and Path(p).stem == ref)]
        if match:
            a, b = sorted([r["path"], match[0]])
            out[b] = out.get(a, a)
    return out


def _degrade(rgb):
    from PIL import Image, ImageFilter

    im = Image.fromarray(rgb)
    w, h = im.size
    small = im.resize((max(1, w // 4), max(1, h // 4)), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=15)
    return {
        "blur": ("png", im.filter(ImageFilter.GaussianBlur(3))),
        "down4": ("png", small.resize((w, h), Image.Resampling.BICUBIC)),
        "jpeg15": ("jpg", buf.getvalue()),
    }


def run_cli(home: Path, capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def built(faces_dir, tmp_path_factory) -> Built:
    from refldm_desktop.library.imageio import load_rgb

    require_dlib_backend()

    tmp = tmp_path_factory.mktemp("refs-real")
    photos, home = tmp / "photos", tmp / "home"
    families = _families(faces_dir)
    before = snapshot(faces_dir)
    truth: dict[Path, Truth] = {}
    for src in sorted((faces_dir / "identities").glob("*/*")):
        rel = src.relative_to(faces_dir).as_posix()
        person, family = src.parent.name, families.get(rel, rel)
        folder = photos / person
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, folder / src.name)
        truth[(folder / src.name).resolve()] = Truth(person, family, "original")
        rgb, _ = load_rgb(src)
        for kind, (ext, data) in _degrade(rgb).items():
            dst = folder / f"{src.stem}-{kind}.{ext}"
            if isinstance(data, bytes):
                dst.write_bytes(data)
            else:
                data.save(dst, compress_level=1)
            truth[dst.resolve()] = Truth(person, family, kind)
    extra = faces_dir / "edge_cases" / "obama-240p.jpg"
    shutil.copyfile(extra, photos / "obama" / extra.name)
    truth[(photos / "obama" / extra.name).resolve()] = Truth(
        "obama", families.get("edge_cases/obama-240p.jpg", "identities/obama/obama.jpg"), "original"
    )

    assert main(["--home", str(home), "index", str(photos)]) == 0
    assert snapshot(faces_dir) == before, "indexing wrote into ../shared"
    faces = cli_json(home, "faces", "list")
    votes: dict[int, Counter] = {}
    for f in faces:
        if f["person_id"] is not None:
            votes.setdefault(f["person_id"], Counter())[truth[Path(f["photo"])].person] += 1
    people = {pid: c.most_common(1)[0][0] for pid, c in votes.items()}
    return Built(home, photos, truth, faces, people)


def cli_json(home: Path, *argv: str):
    """`VERB ... --json` through main(), parsed."""
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["--home", str(home), *argv, "--json"])
    assert code == 0, argv
    return json.loads(buf.getvalue())


def refs_json(home: Path, *argv: str) -> list[dict]:
    return cli_json(home, "refs", "show", *argv)


def _originals(b: Built, person_id: int) -> list[dict]:
    return [f for f in b.faces if f["person_id"] == person_id and not b.truth[Path(f["photo"])].degraded]


# ---------------------------------------------------------------------------------------


def test_best_shots_hold_no_degraded_copy_while_an_undegraded_face_is_available(built):
    b = built
    checked, passed = 0, 0
    print("\nbest shots per person")
    for pid, person in sorted(b.people.items()):
        mine = [f for f in b.faces if f["person_id"] == pid]
        if len({b.truth[Path(f["photo"])].family for f in _originals(b, pid)}) < 3:
            continue
        checked += 1
        chosen = refs_json(b.home, str(pid))
        assert chosen, f"person {pid} ({person}) got no references"
        chosen_truth = [b.truth[Path(c["photo"])] for c in chosen]
        families = {t.family for t in chosen_truth}
        # Available: an undegraded face of the person whose photo (or a copy of it) was not chosen.
        available = [
            f for f in mine
            if not b.truth[Path(f["photo"])].degraded and b.truth[Path(f["photo"])].family not in families
        ]
        degraded = [c for c, t in zip(chosen, chosen_truth) if t.degraded]
        ok = not (degraded and available)
        passed += ok
        print(f"  {pid:3d} {person:15s} {'ok  ' if ok else 'FAIL'} "
              + ", ".join(f"{Path(c['photo']).name}:{c['score']:.2f}" for c in chosen))
    assert checked >= 8, f"only {checked} people with 3 original photos were found"
    assert passed >= 0.95 * checked, f"{passed}/{checked} people passed"


def test_obama_and_its_240p_copy_are_never_both_chosen(built):
    b = built
    obama = [pid for pid, person in b.people.items() if person == "obama"]
    assert obama, "the obama photos did not form a person"
    names = {"obama.jpg", "obama-240p.jpg"}
    for pid in obama:
        faces = [f for f in b.faces if f["person_id"] == pid]
        assert "obama-240p.jpg" in {Path(f["photo"]).name for f in faces}, "obama-240p.jpg is not in obama's person"
        lists = {"best shots": refs_json(b.home, str(pid))}
        for f in faces:
            lists[f"for face {f['id']} ({Path(f['photo']).name})"] = refs_json(
                b.home, str(pid), "--for-face", str(f["id"])
            )
        for what, chosen in lists.items():
            picked = {Path(c["photo"]).name for c in chosen}
            assert not names <= picked, f"{what}: both obama.jpg and obama-240p.jpg chosen"
            fams = [b.truth[Path(c["photo"])].family for c in chosen]
            assert len(fams) == len(set(fams)), f"{what}: one photo chosen twice: {fams}"


def test_references_for_a_face_skip_its_own_photo_and_its_copies(built):
    b = built
    for pid in sorted(b.people):
        if len(_originals(b, pid)) < 3:
            continue
        for f in [f for f in b.faces if f["person_id"] == pid][:6]:
            target = b.truth[Path(f["photo"])]
            refs = refs_json(b.home, str(pid), "--for-face", str(f["id"]))
            assert refs, f"no references for face {f['id']}"
            assert all(r["face_id"] != f["id"] and r["photo"] != f["photo"] for r in refs)
            assert not [r for r in refs if b.truth[Path(r["photo"])].family == target.family], (
                f"face {f['id']} ({Path(f['photo']).name}) got a copy of its own photo"
            )
            if target.degraded:
                assert not [r for r in refs if b.truth[Path(r["photo"])].degraded], (
                    f"a degraded target {Path(f['photo']).name} got degraded references"
                )


def test_json_has_the_fields_and_reasons_say_why(built):
    b = built
    pid = max(b.people, key=lambda p: len(_originals(b, p)))
    chosen = refs_json(b.home, str(pid), "--k", "3")
    assert 1 <= len(chosen) <= 3
    scores = [c["score"] for c in chosen]
    for c in chosen:
        assert {"face_id", "photo", "box", "score", "reasons"} <= set(c)
        assert Path(c["photo"]).is_absolute() and Path(c["photo"]).is_file()
        assert len(c["box"]) == 4 and c["box"][0] < c["box"][2] and c["box"][1] < c["box"][3]
        assert 0.0 <= c["score"] <= 1.0
        assert c["reasons"] and all(isinstance(r, str) and r for r in c["reasons"])
        assert len(c["landmarks"]) in (5, 68)
    # The first pick says why it leads, the others why they add something.
    assert re.search(r"sharpest|best photo", chosen[0]["reasons"][0]), chosen[0]["reasons"]
    vocabulary = re.compile(r"sharp|large face|frontal|blurry|small face|JPEG|angle|variety|near-identical|"
                            r"detail|dark|overexposed|contrast|eyes|noisy|turned|looking|far from|colour")
    assert all(any(vocabulary.search(r) for r in c["reasons"]) for c in chosen), [c["reasons"] for c in chosen]
    # A degraded copy, when rated on its own, is explained by its flaw.
    blurred = next(f for f in b.faces if b.truth[Path(f["photo"])].kind == "blur" and f["person_id"] == pid)
    assert blurred["quality_score"] < min(scores)


def test_human_output_is_a_readable_list_with_reasons(built, capsys):
    b = built
    pid = next(iter(sorted(b.people)))
    code, out, _ = run_cli(b.home, capsys, "refs", "show", str(pid))
    assert code == 0
    lines = out.splitlines()
    assert "reference face" in lines[0] and "best first" in lines[0]
    # Both scores: as a reference, and how much the face itself needs restoring.
    assert re.match(r"\s*1\. face \d+\s+score \d\.\d\d\s+need \d\.\d\d\s+/", lines[1])
    assert lines[2].startswith("    as a reference: ") and len(lines[2].strip()) > 20
    assert lines[3].startswith("    needs restoring: ")


def test_pins_and_exclusions_win_and_survive_a_reindex(built, tmp_path, capsys):
    b = built
    home = tmp_path / "home"
    shutil.copytree(b.home, home)  # this test changes the library; the others share it
    pid = max(b.people, key=lambda p: len(_originals(b, p)))
    first = refs_json(home, str(pid))
    best = first[0]["face_id"]
    # The person's worst face: a degraded copy the choice would never take.
    worst = min((f for f in b.faces if f["person_id"] == pid), key=lambda f: f["quality_score"])
    assert worst["id"] not in {c["face_id"] for c in first}

    assert run_cli(home, capsys, "refs", "pin", str(worst["id"]))[0] == 0
    assert run_cli(home, capsys, "refs", "exclude", str(best))[0] == 0
    # Touch every photo (same content, new time) and re-index: rows and decisions stay.
    for p in b.photos.rglob("*"):
        if p.is_file():
            p.touch()
    code, out, _ = run_cli(home, capsys, "index", str(b.photos))
    assert code == 0 and "0 new" in out

    after = refs_json(home, str(pid))
    assert after[0]["face_id"] == worst["id"] and after[0]["pinned"] is True
    assert "pinned by you" in after[0]["reasons"]
    assert best not in {c["face_id"] for c in after}
    for c in after[1:4]:
        refs = refs_json(home, str(pid), "--for-face", str(c["face_id"]))
        assert best not in {r["face_id"] for r in refs}

    code, out, _ = run_cli(home, capsys, "refs", "reset", str(pid))
    assert code == 0 and "1 pin and 1 exclusion removed" in out
    assert [c["face_id"] for c in refs_json(home, str(pid))] == [c["face_id"] for c in first]


# ---------------------------------------------------------------------------------------
# Errors, on a small fake library (no dlib needed)


@pytest.fixture
def fake_cli(tmp_path, monkeypatch, capsys):
    backend = SpreadBackend()
    monkeypatch.setattr(library_verbs, "open_library", lambda args: open_test_library(Path(args.home), backend))
    home = tmp_path / "home"
    root = tmp_path / "Pictures"
    fake_photo(root / "a.png", [(1, 4), (2, 1)])
    fake_photo(root / "b.png", [(1, 5)])
    fake_photo(root / "c.png", [(1, 6), (2, 3)])
    fake_photo(root / "lone.png", [(9, 0)])

    def run(*argv: str):
        return run_cli(home, capsys, *argv)

    assert run("index", str(root))[0] == 0
    lone = next(f["id"] for f in json.loads(run("faces", "list", "--json")[1]) if f["photo"].endswith("lone.png"))
    assert run("faces", "reject", str(lone))[0] == 0  # now it belongs to nobody
    faces = json.loads(run("faces", "list", "--json")[1])
    return run, faces


def test_errors_are_clear_and_exit_2(fake_cli):
    run, faces = fake_cli
    p1 = faces[0]["person_id"]
    p2 = next(f["person_id"] for f in faces if f["person_id"] not in (p1, None))
    other = next(f["id"] for f in faces if f["person_id"] == p2)
    lone = next(f["id"] for f in faces if f["person_id"] is None)
    a = faces[0]["id"]
    cases = [
        (("refs", "show", "42"), "no person with id 42"),
        (("refs", "show", str(p1), "--for-face", "999"), "no face with id 999"),
        (("refs", "show", str(p1), "--for-face", str(other)), f"face {other} is not one of person {p1}'s faces"),
        (("refs", "pin", "999"), "no face with id 999"),
        (("refs", "exclude", "999"), "no face with id 999"),
        (("refs", "reset", "42"), "no person with id 42"),
        (("refs", "reset", "--face", "999"), "no face with id 999"),
        (("refs", "reset",), "give either a PERSON_ID or --face FACE_ID"),
        (("refs", "pin", str(lone)), "belongs to nobody"),
    ]
    for argv, message in cases:
        code, out, err = run(*argv)
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)
    assert run("refs", "pin", str(a))[0] == 0
    code, _, err = run("refs", "exclude", str(a))
    assert code == 2 and "cannot be pinned and excluded at once" in err
    assert run("refs", "reset", "--face", str(a))[0] == 0
    assert run("refs", "exclude", str(a))[0] == 0
    code, _, err = run("refs", "pin", str(a))
    assert code == 2 and "cannot be pinned and excluded at once" in err
    with pytest.raises(SystemExit) as exit_:  # argparse's own usage error, also status 2
        run("refs", "show", str(p1), "--k", "0")
    assert exit_.value.code == 2


def test_pin_exclude_reset_report_what_changed(fake_cli):
    run, faces = fake_cli
    a = faces[0]["id"]
    code, out, _ = run("refs", "pin", str(a))
    assert code == 0 and f"face {a} pinned" in out
    assert "already pinned" in run("refs", "pin", str(a))[1]
    listed = {f["id"]: f for f in json.loads(run("faces", "list", "--json")[1])}
    assert listed[a]["reference"] == "pinned"
    code, out, _ = run("refs", "reset", "--face", str(a))
    assert code == 0 and "1 pin and 0 exclusions removed" in out
    assert "no pins or exclusions" in run("refs", "reset", "--face", str(a))[1]


def test_a_person_without_a_usable_face_gets_an_empty_list(fake_cli):
    # Real quality measures on flat coloured squares: far too small and featureless.
    run, faces = fake_cli
    p1 = faces[0]["person_id"]
    code, out, _ = run("refs", "show", str(p1), "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run("refs", "show", str(p1))
    assert code == 0 and "no face is good enough" in out
