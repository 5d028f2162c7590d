"""Restoring never loses or doubles work: a deleted output, an unreadable photo, a busy
runner, and outputs written inside the library. Fast: fake photos, fake backend."""

from __future__ import annotations

import shutil

import pytest
from fakes import FakeBackend, draw_photo, open_test_library
from test_restore_job import lib, painter, photo, run  # noqa: F401 (fixtures)

from refldm_desktop.core.changes import LibraryError
from refldm_desktop.db.models import JobState
from refldm_desktop.jobs.lock import RunnerLock


def _files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_restoring_again_after_the_output_was_deleted_makes_a_new_file(lib, painter, tmp_path):  # noqa: F811
    a = photo(lib, "a.png")
    out = tmp_path / "out"
    summary, (first,) = run(lib, [a.id], out)
    assert not summary.failed
    old = out / "a (restored).png"
    assert first.output == old
    old.unlink()  # the user deleted the restored file

    summary, (second,) = run(lib, [a.id], out)
    assert not summary.failed, second.error
    assert second.state is JobState.DONE and second.output not in (None, old)
    versions = lib.jobs.versions(a.id)
    assert [v.output_lost for v in versions] == [True, False]
    assert _files(out) == [versions[1].output]  # the new file, recorded; nothing else


def test_an_unreadable_photo_says_why_it_cannot_be_restored(lib, tmp_path):  # noqa: F811
    broken = tmp_path / "Pictures" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature, then nothing
    lib.index([tmp_path / "Pictures"])
    with pytest.raises(LibraryError) as caught:
        lib.restoring.photo_ids([broken])
    message = str(caught.value)
    assert "it is error" not in message and str(broken) in message
    assert len(message.split(": ", 1)[1]) > 10  # a reason, not a state name


def test_a_restore_refused_by_a_busy_runner_leaves_no_job_behind(lib, tmp_path, monkeypatch, capsys):  # noqa: F811
    from refldm_desktop.cli import library_verbs, main

    home = lib.home.root
    monkeypatch.setattr(library_verbs, "open_library", lambda args: open_test_library(home, FakeBackend()))
    other = RunnerLock(lib.jobs.lock_path)
    assert other.acquire()  # another process is running jobs
    try:
        rc = main(["--home", str(home), "restore", str(tmp_path / "Pictures" / "a.png"),
                   "--restorer", "passthrough", "--output-dir", str(tmp_path / "out")])
    finally:
        other.release()
    assert rc == 2
    err = capsys.readouterr().err
    assert "already running jobs" in err and "Traceback" not in err
    assert lib.jobs.list(all=True) == []  # nothing a later `jobs run` would do
    assert main(["--home", str(home), "jobs", "run"]) == 0
    assert lib.jobs.versions() == []


def test_outputs_inside_the_library_are_never_indexed_as_photos(lib, tmp_path):  # noqa: F811
    from refldm_desktop.core.restoring import RestoreSettings

    pics = tmp_path / "Pictures"
    before = {p.path for p in lib.photos()}
    faces_before = len(lib.faces())
    ids = [p.id for p in lib.photos()]
    settings = RestoreSettings(restorer="passthrough", output_dir=pics / "restored", inside_library=True, no_refs_ok=True)
    queued = lib.restoring.enqueue(ids, settings)
    assert not lib.jobs.run(batch_id=queued.batch_id).failed
    outputs = [v.output for v in lib.jobs.versions()]
    assert outputs and all(pics in o.parents for o in outputs)
    # A copy the user made elsewhere in the library is ours too (same bytes).
    shutil.copy2(outputs[0], pics / "copy of a restored photo.png")

    result = lib.index([pics])
    assert result.new == 0 and result.errors == 0
    assert {p.path for p in lib.photos()} == before
    assert len(lib.faces()) == faces_before  # no face of a restored photo can become a reference


def test_index_fails_when_every_file_failed(tmp_path, monkeypatch, capsys):
    from refldm_desktop.cli import library_verbs, main

    home = tmp_path / "home"
    monkeypatch.setattr(library_verbs, "open_library", lambda args: open_test_library(home, FakeBackend()))
    for n, flags in enumerate([[], ["--json"]]):
        pics = tmp_path / f"Pictures{n}"
        pics.mkdir()
        for name in ("a.jpg", "b.png"):
            (pics / name).write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
        assert main(["--home", str(home), "index", str(pics), *flags]) == 1
    assert "error:" in capsys.readouterr().err
    draw_photo(tmp_path / "Pictures2" / "fine.png", [(1, 0, 20, 30)])
    (tmp_path / "Pictures2" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    assert main(["--home", str(home), "index", str(tmp_path / "Pictures2")]) == 0  # some did work
