"""Restore with options: the user's own references for a face, or none on purpose."""

from __future__ import annotations

from fakes import FakeBackend, draw_photo, open_test_library

from refldm_desktop.core.restoring import RestoreSettings


def _restore(lib, photo_id, chosen):
    settings = RestoreSettings(restorer="passthrough")
    queued = lib.restoring.enqueue([photo_id], settings, per_photo={photo_id: {"face_references": chosen}})
    lib.jobs.run(batch_id=queued.batch_id)
    return lib.jobs.versions(photo_id)[-1]


def test_chosen_references_are_used_and_an_empty_choice_means_reference_free(tmp_path):
    pics = tmp_path / "Pictures"
    draw_photo(pics / "a.png", [(1, 0, 20, 30)])
    draw_photo(pics / "b.png", [(1, 1, 60, 40)])
    draw_photo(pics / "c.png", [(1, 2, 40, 50)])
    draw_photo(pics / "d.png", [(5, 0, 40, 50)])  # someone alone: no references exist
    with open_test_library(tmp_path / "home", FakeBackend()) as lib:
        lib.index([pics])
        face = {f.photo.name: f for f in lib.faces()}
        a, c, d = face["a.png"], face["c.png"], face["d.png"]
        v = _restore(lib, a.photo_id, {str(a.id): [c.id]})
        assert [(u["face_id"], u["references"]) for u in v.references_used] == [(a.id, [c.id])]
        # Nobody else looks like d: without a choice it would be skipped; chosen
        # reference-free, it is restored.
        v = _restore(lib, d.photo_id, {str(d.id): []})
        assert [(u["face_id"], u["references"]) for u in v.references_used] == [(d.id, [])]
        assert [f["status"] for f in v.face_status] == ["restored"]
