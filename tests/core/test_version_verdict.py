"""Keep or discard a restored version: discard deletes only the file the version made."""

from __future__ import annotations

import pytest
from fakes import FakeBackend, draw_photo, open_test_library, snapshot

from refldm_desktop.core.changes import LibraryError, NotFound
from refldm_desktop.core.restoring import RestoreSettings


@pytest.fixture
def restored(tmp_path):
    pics = tmp_path / "Pictures"
    draw_photo(pics / "a.png", [(1, 0, 20, 30)])
    lib = open_test_library(tmp_path / "home", FakeBackend())
    lib.index([pics])
    queued = lib.restoring.enqueue([lib.photos()[0].id], RestoreSettings(restorer="passthrough", no_refs_ok=True))
    assert len(lib.jobs.run(batch_id=queued.batch_id).done) == 1
    (version,) = lib.jobs.versions()
    yield lib, version, pics
    lib.close()


def test_discard_deletes_the_new_file_only_and_is_recorded(restored):
    lib, version, pics = restored
    before = snapshot(pics)
    assert version.state == "new" and version.output.is_file()
    gone = lib.jobs.discard_version(version.id)
    assert gone.state == "discarded" and lib.jobs.version(version.id).state == "discarded"
    assert not version.output.exists()
    assert not list(version.output.parent.glob(".discarded-*"))  # nothing left aside
    assert snapshot(pics) == before  # the original is untouched
    assert lib.jobs.discard_version(version.id).state == "discarded"  # twice is harmless
    with pytest.raises(LibraryError, match="discarded"):
        lib.jobs.keep_version(version.id)


def test_keep_marks_it_and_a_changed_file_is_not_deleted(restored):
    lib, version, _pics = restored
    assert lib.jobs.keep_version(version.id).state == "kept"
    version.output.write_bytes(version.output.read_bytes() + b"edited")
    with pytest.raises(LibraryError, match="changed since it was made"):
        lib.jobs.discard_version(version.id)
    assert version.output.is_file() and lib.jobs.version(version.id).state == "kept"
    with pytest.raises(NotFound):
        lib.jobs.discard_version(version.id + 100)


def test_versions_discard_on_the_command_line(restored, monkeypatch, capsys):
    from refldm_desktop.cli import library_verbs, main

    lib, version, _pics = restored
    home = lib.home.root
    monkeypatch.setattr(library_verbs, "open_library", lambda args: open_test_library(home, FakeBackend()))
    assert main(["--home", str(home), "versions", "discard", str(version.id)]) == 0
    assert "untouched" in capsys.readouterr().out and not version.output.exists()
    assert main(["--home", str(home), "versions", "discard", "999"]) == 2
    assert "no restored version with id 999" in capsys.readouterr().err
