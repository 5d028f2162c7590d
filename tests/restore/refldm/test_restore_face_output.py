"""restore-face never loses a file: an existing --output needs --overwrite, a library photo is
never replaced, a file inside a library folder needs --into-library, and an output that cannot
be written is refused in one line before any work."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from refldm_testlib import STEPS

from refldm_desktop.cli import main
from refldm_desktop.db.engine import open_database


def restore_face(home, lq, out, *args):
    return main(["--home", str(home), "restore-face", str(lq), "--model", "tiny",
                 "--steps", str(STEPS), "--no-progress", "-o", str(out), *args])


def _library_home(tmp_path, folder, photo):
    """A home whose library has `folder` indexed, holding `photo` (rows only: no detection)."""
    home = tmp_path / "home"
    engine, _ = open_database(home / "library.sqlite3")
    engine.dispose()
    with sqlite3.connect(home / "library.sqlite3") as db:
        db.execute("INSERT INTO library_folders (id, path, added_at) VALUES (1, ?, '2024-01-01')", (str(folder),))
        db.execute(
            "INSERT INTO photos (folder_id, path, size, mtime_ns, state, indexed_at) VALUES (1, ?, 1, 1, 'ok', '2024-01-01')",
            (str(photo),),
        )
    return home


def _one_error_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("refldm-desktop")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_existing_output_is_refused_without_overwrite(golden_dir, tmp_path, capsys):
    out = tmp_path / "precious.png"
    out.write_bytes(b"someone's file")
    assert restore_face(tmp_path / "home", golden_dir / "lq.png", out) == 2
    line = _one_error_line(capsys)
    assert "already exists" in line and "--overwrite" in line
    assert out.read_bytes() == b"someone's file"


def test_overwrite_replaces_the_file_atomically_and_readably(tiny_home, golden_dir, tmp_path):
    out = tmp_path / "again.png"
    out.write_bytes(b"old result")
    assert restore_face(tiny_home, golden_dir / "lq.png", out, "--overwrite") == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # not a private 0600 file
    assert [p.name for p in tmp_path.iterdir()] == ["again.png"]


def test_a_library_photo_is_never_replaced_even_with_overwrite(golden_dir, tmp_path, capsys):
    folder = tmp_path / "Pictures"
    folder.mkdir()
    photo = folder / "grandma.png"
    photo.write_bytes((golden_dir / "lq.png").read_bytes())
    before = photo.read_bytes()
    home = _library_home(tmp_path, folder, photo)
    assert restore_face(home, golden_dir / "lq.png", photo, "--overwrite", "--into-library") == 2
    assert "originals are never changed" in _one_error_line(capsys)
    assert photo.read_bytes() == before


def test_a_new_file_inside_a_library_folder_needs_into_library(golden_dir, tmp_path, capsys):
    folder = tmp_path / "Pictures"
    (folder / "1962").mkdir(parents=True)
    home = _library_home(tmp_path, folder, folder / "1962" / "a.jpg")
    out = folder / "1962" / "restored.png"
    assert restore_face(home, golden_dir / "lq.png", out) == 2
    line = _one_error_line(capsys)
    assert "inside your library folder" in line and "--into-library" in line
    assert not out.exists()


def test_an_output_that_is_a_folder_is_one_line(golden_dir, tmp_path, capsys):
    out = tmp_path / "a-folder"
    out.mkdir()
    assert restore_face(tmp_path / "home", golden_dir / "lq.png", out) == 2
    assert "is a folder" in _one_error_line(capsys)


def test_a_read_only_disk_is_one_line(golden_dir, tmp_path, capsys, monkeypatch):
    # Root writes anywhere, so the read-only disk is what os.access says about it.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if mode == os.W_OK else real_access(p, mode, **k))
    assert restore_face(tmp_path / "home", golden_dir / "lq.png", tmp_path / "out.png") == 2
    assert "cannot be written" in _one_error_line(capsys)


@pytest.mark.parametrize("flags, word", [(["--cfg", "-1"], "--cfg"), (["--cfg", "nan"], "--cfg"), (["--steps", "0"], "--steps")])
def test_bad_sampling_options_are_refused(golden_dir, tmp_path, capsys, flags, word):
    assert restore_face(tmp_path / "home", golden_dir / "lq.png", tmp_path / "out.png", *flags) == 2
    assert word in _one_error_line(capsys)
    assert not (tmp_path / "out.png").exists()
