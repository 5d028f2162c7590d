"""A restore that ends with nothing restored (the usual first try on a photo of strangers:
its faces have no reference photos) says so, why, and what to do; it never claims a result."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

WAIT = 60_000


def test_restoring_a_photo_of_faces_without_references_says_nothing_was_restored_and_why(qtbot, tmp_path, open_app):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QDialog, QListView, QMessageBox, QPushButton

    from fakes import draw_photo, open_test_library
    from refldm_desktop.core.restoring import RestoreSettings
    from ui_testlib import wait_idle

    root = tmp_path / "Pictures"
    draw_photo(root / "stranger.png", [(7, 0, 10, 10)])  # one face, nobody else: no person
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    (photo,) = lib.photos()
    ctx, window = open_app(lib)
    ctx.restore_defaults = RestoreSettings(restorer="passthrough", output_dir=tmp_path / "out")  # no_refs_ok off
    said = []
    ctx.status.connect(said.append)
    window.resize(1000, 700)
    window.show()
    grid = window.findChild(QListView, "photoGrid")
    qtbot.waitUntil(lambda: grid.model().rowCount() == 1, timeout=WAIT)
    assert grid.select_photo(photo.id)
    grid.setFocus()
    QTest.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: any(j.state == "done" for j in lib.jobs.list(all=True)), timeout=WAIT)
    wait_idle(qtbot, ctx)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("Nothing was restored"), timeout=WAIT)
    assert window.statusBar().currentMessage() == "Nothing was restored: this face has no reference photos"
    assert not any(s.startswith("Restored") for s in said), said
    assert lib.jobs.versions(photo.id) == []
    page = window.current_page()
    assert page.compare_view is None or page.stack.currentWidget() is not page.compare_view
    # The way out, at hand: why, what to do, and buttons that do it.
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "nothingRestoredMessage") is not None, timeout=WAIT)
    box = window.findChild(QMessageBox, "nothingRestoredMessage")
    qtbot.waitUntil(box.isVisible, timeout=WAIT)
    assert box.text() == "Nothing was restored: this face has no reference photos."
    advice = box.informativeText()
    assert advice.startswith("Name its person") and "Also restore faces that have no references" in advice
    box.findChild(QPushButton, "nothingRestoredOptions").click()
    qtbot.waitUntil(lambda: (d := window.findChild(QDialog, "restoreOptionsDialog")) is not None and d.isVisible(),
                    timeout=WAIT)


def test_a_mixed_ending_counts_the_photos_nothing_was_restored_in(qtbot, fake_ctx):
    """Some photos restored, some not: the status line says how many photos of each."""
    from refldm_desktop.ui.restore_ops import JobEnd, RestoreWatch

    ctx, lib = fake_ctx, fake_ctx.library
    photos = [p.id for p in lib.photos()[:3]]
    jobs = lib.jobs.enqueue_restore(photos, restorer="passthrough").queued
    said: list[str] = []
    ctx.status.connect(said.append)
    watch = RestoreWatch(ctx, jobs)
    watch._end(JobEnd(jobs[0], photos[0], "done", 1, None))  # a new version
    for job, photo in zip(jobs[1:], photos[1:]):  # done, but nothing in the photo could be restored
        watch._end(JobEnd(job, photo, "done", None, None, "no face could be restored"))
    assert said[-1] == "Restored 1 photo, nothing restored in 2 photos (see Jobs)"
    watch = RestoreWatch(ctx, jobs[:2])
    watch._end(JobEnd(jobs[0], photos[0], "done", 1, None))
    watch._end(JobEnd(jobs[1], photos[1], "done", None, None, "no face could be restored"))
    assert said[-1] == "Restored 1 photo, nothing restored in 1 photo (see Jobs)"
