"""The status bar follows the job queue on every page: the running restore's progress with
the Jobs panel's words, and jobs an earlier session left, with a way to resume them."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def test_the_status_bar_shows_the_running_job_and_forgets_it_when_it_ends(qtbot, fake_ctx):
    from refldm_desktop.jobs.runner import FULL_STAGE, PREVIEW_STAGE, JobEvent
    from refldm_desktop.ui.mainwindow.statusbar import StatusBar

    ctx, lib = fake_ctx, fake_ctx.library
    photo = lib.photos()[0]
    (job_id,) = lib.jobs.enqueue_restore([photo.id], restorer="passthrough", options={"preview_steps": 8}, steps=50).queued
    bar = StatusBar(ctx)
    qtbot.addWidget(bar)
    bar.show()
    status = bar.jobs

    def hear(**kw):
        ctx.jobs.event.emit(JobEvent(job_id, "restore_photo", "running", "b", photo.id, **kw))

    hear(faces_done=0, faces_total=2, step=4, steps=8, stage=PREVIEW_STAGE)
    qtbot.waitUntil(lambda: status.label.isVisible(), timeout=30_000)
    hear(faces_done=0, faces_total=2, step=4, steps=8, stage=PREVIEW_STAGE)
    assert status.label.text().startswith(f"Restoring {photo.path.name}: quick preview · face 1 of 2 · step 4 of 8")
    first = status.bar.value()
    hear(faces_done=1, faces_total=2, step=10, steps=50, stage=FULL_STAGE)
    assert "full result · face 2 of 2 · step 10 of 50" in status.label.text() and status.bar.value() > first
    ctx.jobs.event.emit(JobEvent(job_id, "restore_photo", "done", "b", photo.id))
    assert not status.label.isVisible() and not status.bar.isVisible()


def test_jobs_left_from_an_earlier_session_are_offered_on_any_page(qtbot, fake_ctx):
    from refldm_desktop.ui.mainwindow.statusbar import StatusBar

    ctx, lib = fake_ctx, fake_ctx.library
    lib.jobs.enqueue_restore([p.id for p in lib.photos()[:2]], restorer="passthrough")
    bar = StatusBar(ctx)
    qtbot.addWidget(bar)
    bar.show()
    button = bar.jobs.left_over
    qtbot.waitUntil(button.isVisible, timeout=30_000)
    assert button.text().startswith("2 jobs from last time (2 waiting)")
    with qtbot.waitSignal(ctx.navigate, timeout=5_000) as went:
        button.click()
    assert went.args[0] == "jobs" and not button.isVisible()
