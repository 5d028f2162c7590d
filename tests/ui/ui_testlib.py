"""Helpers the app's tests import by name. Not in conftest.py: every test folder has a
conftest module, and `from conftest import ...` gets whichever of them pytest loaded last
(tests/restore/refldm's, when it is collected after this folder)."""

from __future__ import annotations


def wait_idle(qtbot, ctx, timeout=60_000):
    """Until no background task of the app is running."""
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=timeout)


def restored_library(tmp_path, photos=("beach.png",)):
    """A library of fake photos, one face each, the first restored with the passthrough
    restorer: (library, that photo, its version)."""
    from fakes import draw_photo, open_test_library
    from refldm_desktop.core.restoring import RestoreSettings

    root = tmp_path / "Pictures"
    for i, name in enumerate(photos):
        draw_photo(root / name, [(i + 1, 0, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    photo = next(p for p in lib.photos() if p.path.name == photos[0])
    queued = lib.restoring.enqueue([photo.id], RestoreSettings(restorer="passthrough", no_refs_ok=True,
                                                               output_dir=tmp_path / "out"))
    assert lib.jobs.run(batch_id=queued.batch_id).done
    (version,) = lib.jobs.versions(photo.id)
    return lib, photo, version
