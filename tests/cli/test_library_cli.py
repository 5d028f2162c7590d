"""The library verbs of the command line: output shapes and error handling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import draw_photo, open_test_library
from refldm_desktop.cli import library_verbs, main

ALICE, BOB = 1, 2


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """Run a verb in-process against a home in tmp_path with the fake face backend;
    returns (exit status, stdout, stderr)."""
    monkeypatch.setattr(library_verbs, "open_library", lambda args: open_test_library(Path(args.home)))
    home = tmp_path / "home"

    def run(*argv: str):
        code = main(["--home", str(home), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "Pictures"
    draw_photo(root / "one.png", [(ALICE, 0, 10, 10), (BOB, 0, 100, 10)])
    draw_photo(root / "two.png", [(ALICE, 3, 30, 40)])
    draw_photo(root / "sub" / "three.png", [(BOB, 4, 50, 50)])
    (root / "notes.jpg").write_bytes(b"plain text, not a photo")
    return root


def faces_json(cli):
    code, out, _ = cli("faces", "list", "--json")
    assert code == 0
    return json.loads(out)


def test_index_prints_a_summary_and_lists_errors(cli, photos):
    code, out, err = cli("index", str(photos))
    assert code == 0
    assert "4 new" in out and "1 error;" in out and "4 faces found" in out
    assert "notes.jpg" in err
    code, out, _ = cli("index", "--json", str(photos))
    summary = json.loads(out)
    assert code == 0 and summary["unchanged"] == 4 and summary["new"] == 0


def test_faces_list_json_shape(cli, photos):
    cli("index", str(photos))
    faces = faces_json(cli)
    assert isinstance(faces, list) and len(faces) == 4
    for f in faces:
        assert {"id", "photo", "box", "person_id", "person_name"} <= set(f)
        assert Path(f["photo"]).is_absolute() and Path(f["photo"]).is_file()
        assert len(f["box"]) == 4 and all(isinstance(v, (int, float)) for v in f["box"])
        assert isinstance(f["person_id"], int) and f["person_name"] is None
    one = sorted((f for f in faces if f["photo"].endswith("one.png")), key=lambda f: f["box"][0])
    assert [f["box"] for f in one] == [[10, 10, 34, 34], [100, 10, 124, 34]]

    cli("faces", "reject", str(one[0]["id"]))
    rejected = next(f for f in faces_json(cli) if f["id"] == one[0]["id"])
    assert rejected["person_id"] is None and rejected["person_name"] is None


def test_people_verbs_round_trip(cli, photos):
    cli("index", str(photos))
    code, out, _ = cli("people", "list", "--json")
    people = json.loads(out)
    assert code == 0 and len(people) == 2
    assert all({"id", "name", "face_count", "hidden"} <= set(p) for p in people)
    assert sorted(p["face_count"] for p in people) == [2, 2]
    a, b = (p["id"] for p in people)

    assert cli("people", "rename", str(a), "Grandma Rose")[0] == 0
    assert cli("people", "hide", str(b))[0] == 0
    people = {p["id"]: p for p in json.loads(cli("people", "list", "--json")[1])}
    assert people[a]["name"] == "Grandma Rose" and people[b]["hidden"] is True
    assert all(f["person_name"] == "Grandma Rose" for f in faces_json(cli) if f["person_id"] == a)

    b_faces = [f["id"] for f in faces_json(cli) if f["person_id"] == b]
    code, out, _ = cli("people", "split", str(b), str(b_faces[0]))
    assert code == 0
    new = {f["id"]: f["person_id"] for f in faces_json(cli)}[b_faces[0]]
    assert new not in (a, b)

    code, out, _ = cli("people", "merge", str(a), str(b), str(new))
    assert code == 0
    assert {f["person_id"] for f in faces_json(cli)} == {a}
    assert [p["id"] for p in json.loads(cli("people", "list", "--json")[1])] == [a]

    face = faces_json(cli)[0]["id"]
    assert cli("faces", "confirm", str(face))[0] == 0
    assert next(f for f in faces_json(cli) if f["id"] == face)["assignment"] == "confirmed"

    # Plain-text listings work too.
    code, out, _ = cli("people", "list")
    assert code == 0 and "Grandma Rose" in out
    code, out, _ = cli("faces", "list")
    assert code == 0 and "one.png" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["people", "rename", "42", "X"], "no person with id 42"),
        (["people", "merge", "42", "43"], "no person with id 42"),
        (["people", "split", "42", "1"], "no person with id 42"),
        (["people", "hide", "42"], "no person with id 42"),
        (["faces", "confirm", "42"], "no face with id 42"),
        (["faces", "reject", "42"], "no face with id 42"),
        (["faces", "list", "--person", "42"], "no person with id 42"),
        (["index", "/definitely/not/here"], "no such folder"),
    ],
)
def test_unknown_ids_exit_2_with_a_clear_message(cli, argv, message):
    code, out, err = cli(*argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_a_real_process_lists_an_empty_library_as_an_empty_array(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "refldm_desktop", "--home", str(tmp_path / "h"), "faces", "list", "--json"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
    assert (tmp_path / "h" / "library.sqlite3").is_file()


def test_ctrl_c_during_index_says_how_to_continue(tmp_path, monkeypatch, capsys, photos):
    from fakes import FakeBackend

    monkeypatch.setattr(
        library_verbs,
        "open_library",
        lambda args: open_test_library(Path(args.home), FakeBackend(interrupt_on=2)),
    )
    code = main(["--home", str(tmp_path / "home"), "index", str(photos)])
    assert code == 130
    assert "run the same command again to continue" in capsys.readouterr().err


def test_people_undo_and_redo_take_back_a_merge(cli, photos):
    cli("index", str(photos))
    people = {f["person_id"] for f in faces_json(cli)}
    a, b = sorted(people)
    cli("people", "rename", str(b), "Bob")
    assert cli("people", "merge", str(a), str(b))[0] == 0
    code, out, _ = cli("people", "undo")
    assert code == 0 and out.strip() == "undone: Merge 2 people into Bob"
    assert {f["person_id"] for f in faces_json(cli)} == people
    code, out, _ = cli("people", "redo")
    assert code == 0 and out.strip() == "done again: Merge 2 people into Bob"
    assert {f["person_id"] for f in faces_json(cli)} == {a}
    cli("people", "undo")
    cli("people", "undo")  # the rename
    code, out, err = cli("people", "undo")
    assert code != 0 and "no people edit to undo" in err and "Traceback" not in err
