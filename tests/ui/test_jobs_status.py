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
    qtbot.waitUntil(lambda: bar.jobs is not None, timeout=10_000)  # made once the window has painted
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
    qtbot.waitUntil(lambda: bar.jobs is not None, timeout=10_000)
    button = bar.jobs.left_over
    qtbot.waitUntil(button.isVisible, timeout=30_000)
    assert button.text().startswith("2 jobs from last time (2 waiting)")
    with qtbot.waitSignal(ctx.navigate, timeout=5_000) as went:
        button.click()
    assert went.args[0] == "jobs" and not button.isVisible()


def test_progress_of_a_running_job_leaves_a_selection_in_its_details_alone(qtbot, fake_ctx):
    """Reading and copying a running job's details: its progress events must not wipe the
    text the user is selecting."""
    from refldm_desktop.jobs.runner import JobEvent
    from refldm_desktop.ui.views.jobs_panel import JobsPanel

    ctx, lib = fake_ctx, fake_ctx.library
    photo = lib.photos()[0]
    (job_id,) = lib.jobs.enqueue_restore([photo.id], restorer="passthrough").queued
    panel = JobsPanel(ctx)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=30_000)
    panel.table.selectRow(0)

    def step(n):
        ctx.jobs.event.emit(JobEvent(job_id, "restore_photo", "running", "b", photo.id, faces_done=0,
                                     faces_total=1, step=n, steps=50))

    step(1)
    assert "running" in panel.details.toPlainText()
    panel.details.selectAll()
    chosen = panel.details.textCursor().selectedText()
    assert chosen
    step(2)
    step(3)
    assert panel.model.index(0, 2).data().startswith("face 1 of 1 · step 3 of 50")
    assert panel.details.textCursor().selectedText() == chosen


def test_a_finished_job_opens_its_result_in_the_compare_view(qtbot, tmp_path, open_app):
    """Jobs > a done job > Open result (or Enter, or a double click): the Restored page
    compares that version with the original."""
    from PIL import Image

    from fakes import draw_photo, open_test_library
    from refldm_desktop.jobs.queue import JobResult, VersionRecord
    from refldm_desktop.jobs.runner import HandlerRegistry

    photos = tmp_path / "photos"
    draw_photo(photos / "a.png", [(1, 0, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([photos])
    photo = lib.photos()[0]
    out = tmp_path / "out" / "a (restored).png"
    out.parent.mkdir()
    Image.open(photo.path).save(out)
    lib.jobs.enqueue_restore([photo.id], restorer="passthrough")
    lib.jobs.run(HandlerRegistry({"restore_photo": lambda c: JobResult(VersionRecord(out, "ab" * 32, "fake"))}))
    (version,) = lib.jobs.versions(photo.id)
    ctx, window = open_app(lib)
    panel = window.show_page("jobs")
    panel.show_finished.setChecked(True)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=30_000)
    panel.table.selectRow(0)
    assert panel.buttons["open"].isEnabled()
    panel.buttons["open"].click()
    page = window.current_page()
    assert page.objectName() == "restoredPage"
    qtbot.waitUntil(lambda: page.compare_view is not None and page.compare_view.loaded is not None, timeout=30_000)
    assert page.compare_view.loaded.version.id == version.id and page.stack.currentWidget() is page.compare_view


def test_one_follower_serves_the_status_bar_and_the_compare_view(qtbot, fake_ctx, monkeypatch):
    """The compare view shows the full result's progress in the status bar's words, from
    the same follower (each job is read once); another job running is not the preview's."""
    from refldm_desktop.jobs.runner import FULL_STAGE, JobEvent
    from refldm_desktop.ui.mainwindow.statusbar import StatusBar
    from refldm_desktop.ui.views.compare import CompareView

    ctx, lib = fake_ctx, fake_ctx.library
    a, b = lib.photos()[:2]
    (shown_job,) = lib.jobs.enqueue_restore([a.id], restorer="passthrough", steps=50).queued
    (other_job,) = lib.jobs.enqueue_restore([b.id], restorer="passthrough", steps=50).queued
    reads = []
    real_get = type(lib.jobs).get
    monkeypatch.setattr(type(lib.jobs), "get", lambda self, job_id: reads.append(job_id) or real_get(self, job_id))
    bar = StatusBar(ctx)
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitUntil(lambda: bar.jobs is not None, timeout=10_000)  # made once the window has painted
    compare = CompareView(ctx)
    qtbot.addWidget(compare)
    compare.show()
    compare.show_preview(a.id, a.path, 8, shown_job)

    def hear(job_id, photo_id, step):
        ctx.jobs.event.emit(JobEvent(job_id, "restore_photo", "running", "b", photo_id, faces_done=0,
                                     faces_total=1, step=step, steps=50, stage=FULL_STAGE))

    hear(shown_job, a.id, 3)
    qtbot.waitUntil(lambda: compare.progress.isVisible() and bar.jobs.label.isVisible(), timeout=30_000)
    hear(shown_job, a.id, 4)
    assert compare.progress.text().startswith("full result · face 1 of 1 · step 4 of 50")
    assert bar.jobs.label.text().endswith(compare.progress.text())
    assert reads == [shown_job]  # one follower read it, once

    ctx.jobs.event.emit(JobEvent(shown_job, "restore_photo", "done", "b", a.id))
    hear(other_job, b.id, 1)  # the next job runs: the status bar follows it, the preview does not
    qtbot.waitUntil(lambda: bar.jobs.label.isVisible() and b.path.name in bar.jobs.label.text(), timeout=30_000)
    assert not compare.progress.isVisible()
    assert reads == [shown_job, other_job]


def test_the_jobs_panel_shows_the_phase_of_a_job_run_from_the_command_line(qtbot, fake_ctx, tmp_path):
    """`jobs run` in a terminal (here: another Library on the same database) sends the app no
    events; the Jobs panel still says which phase the job is in, from the database."""
    import threading

    from fakes import open_test_library
    from refldm_desktop.jobs.runner import FULL_STAGE, PREVIEW_STAGE, HandlerRegistry
    from refldm_desktop.ui.views.jobs_panel import JobsPanel

    ctx, lib = fake_ctx, fake_ctx.library
    photo = lib.photos()[0]
    (job_id,) = lib.jobs.enqueue_restore([photo.id], restorer="passthrough", options={"preview_steps": 8},
                                         steps=50).queued
    panel = JobsPanel(ctx)
    qtbot.addWidget(panel)
    panel.show()  # a page reads the library only while on screen (views.when_shown)
    phase, done = [(PREVIEW_STAGE, 4, 8)], threading.Event()

    def handler(job):
        while not done.is_set():
            stage, step, steps = phase[0]
            job.progress(faces_done=0, faces_total=1, step=step, steps=steps, stage=stage)
            done.wait(0.05)

    terminal = open_test_library(tmp_path / "home")
    runner = terminal.jobs.runner(HandlerRegistry({"restore_photo": handler}))
    runner.start()

    def progress() -> str:
        row = panel.model.row_of(job_id)
        return str(panel.model.index(row, 2).data()) if row >= 0 else ""

    try:
        qtbot.waitUntil(lambda: progress().startswith("quick preview · face 1 of 1 · step 4 of 8"), timeout=30_000)
        phase[0] = (FULL_STAGE, 25, 50)
        qtbot.waitUntil(lambda: progress().startswith("full result · face 1 of 1 · step 25 of 50"), timeout=30_000)
        row = panel.model.row_of(job_id)
        assert panel.model.fraction(panel.model.job(row)) > 8 / 58  # on from the preview, not back to 0
    finally:
        done.set()
        runner.stop(timeout=10)
        terminal.close()


def test_a_running_jobs_bar_fills_from_the_left_on_one_line(qtbot, fake_ctx):
    """The Jobs panel's progress cell: a quarter done is the left quarter of the bar (the
    style filled it from the bottom when not told the bar is horizontal)."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QColor, QImage, QPainter, QPalette
    from PySide6.QtWidgets import QStyleOptionViewItem

    from refldm_desktop.jobs.runner import JobEvent
    from refldm_desktop.ui.models.jobs import FractionRole, JobsModel
    from refldm_desktop.ui.views.jobs_panel import ProgressDelegate

    lib = fake_ctx.library
    photo = lib.photos()[0]
    (job_id,) = lib.jobs.enqueue_restore([photo.id], restorer="passthrough", steps=40).queued
    model = JobsModel()
    model.set_jobs([lib.jobs.get(job_id)])
    model.apply_event(JobEvent(job_id, "restore_photo", "running", "b", photo.id, faces_done=0, faces_total=1,
                               step=10, steps=40))
    index = model.index(0, 2)
    assert index.data(FractionRole) == 0.25
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 200, 30)
    option.palette = QPalette()
    image = QImage(200, 30, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    option.fontMetrics = painter.fontMetrics()
    ProgressDelegate().paint(painter, option, index)
    painter.end()

    highlight = option.palette.color(QPalette.ColorRole.Highlight)

    def filled(x: int, y: int) -> bool:
        c = image.pixelColor(x, y)
        return abs(c.red() - highlight.red()) + abs(c.green() - highlight.green()) + abs(c.blue() - highlight.blue()) < 90

    top, bottom = 7, 23  # inside the bar, above and below its text
    assert filled(12, top) and filled(12, bottom)  # the done quarter, its full height
    assert not filled(160, top) and not filled(160, bottom)  # the rest is empty


def test_a_job_that_ends_while_it_is_being_read_is_not_shown_as_running(qtbot, fake_ctx):
    """The first event of a job the follower has not seen makes it read the job; when the job
    ends before that read comes back, the read (taken earlier) must not bring it back as
    running in the status bar and the compare view."""
    from refldm_desktop.jobs.runner import JobEvent

    ctx, lib = fake_ctx, fake_ctx.library
    photo = lib.photos()[0]
    (job_id,) = lib.jobs.enqueue_restore([photo.id], restorer="passthrough").queued  # reads back as queued
    follower = ctx.running_job
    ctx.jobs.event.emit(JobEvent(job_id, "restore_photo", "running", "b", photo.id, faces_done=0, faces_total=1))
    ctx.jobs.event.emit(JobEvent(job_id, "restore_photo", "done", "b", photo.id))  # before the read returns
    qtbot.waitUntil(lambda: not follower._fetching, timeout=30_000)
    qtbot.wait(50)
    assert not follower.running and follower.text() == ""
