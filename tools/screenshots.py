"""Write a PNG of each main view of the app to docs/screenshots/, over a copy of the
shared test photos (indexed with the real face backend, one photo restored with the
`passthrough` restorer so that the compare view has something to show).

    QT_QPA_PLATFORM=offscreen python tools/screenshots.py [--photos ../shared/data/faces]
        [--work DIR (kept: a second run skips indexing)] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZE = (1280, 800)


def _wait(app, until, timeout: float = 1200.0) -> None:
    end = time.monotonic() + timeout
    while not until():
        if time.monotonic() > end:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def _settle(app, seconds: float = 1.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _hold_a_restore(app, ctx, page, jobs_panel, photo_id: int):
    """Restore one photo (with the passthrough restorer, which has no steps of its own) and
    hold the job once its quick preview is made, so that the Jobs page shows it running;
    the full run's progress is reported as a 50-step ReF-LDM run would report it. Returns
    the function that lets it finish."""
    import threading

    from refldm_desktop.core import restore_job
    from refldm_desktop.jobs.runner import FULL_STAGE, JobEvent
    from refldm_desktop.ui.views.photo_menu import restore

    gate, previews = threading.Event(), []
    real_preview = restore_job._write_preview

    def held(job_ctx, lib, image):
        shown = real_preview(job_ctx, lib, image)
        previews.append((job_ctx.id, job_ctx.job.batch_id))
        gate.wait(600)
        return shown

    restore_job._write_preview = held
    restore(page, [photo_id])
    _wait(app, lambda: bool(previews), 300)
    job_id, batch = previews[0]
    follow = ctx.running_job
    # Once the panel and the status bar have read the job (a listing read later would show
    # the held job's own last report again).
    _wait(app, lambda: follow.job_id == job_id and follow.model.job(0).faces_total is not None
          and jobs_panel.model.row_of(job_id) >= 0 and not ctx.tasks.busy(), 120)
    faces = follow.model.job(0).faces_total or 1
    for t, step in ((0.0, 22), (1.5, 23)):  # two reports: the time left comes from their pace
        _settle(app, t)
        report = dict(faces_done=faces - 1, faces_total=faces, step=step, steps=50,
                      message="preview ready; making the full result (50 steps)")
        # Where the runner puts a report: the database (which the Jobs page lists) and its event.
        ctx.library.jobs.queue.progress(job_id, force=True, stage=FULL_STAGE, **report)
        ctx.jobs.event.emit(JobEvent(job_id, "restore_photo", "running", batch, photo_id, stage=FULL_STAGE, **report))

    def finish() -> None:
        gate.set()
        _wait(app, lambda: follow.job_id is None, 300)
        _wait(app, lambda: not ctx.tasks.busy(), 300)
        restore_job._write_preview = real_preview
        page.show_grid()

    return finish


def _damaged_check(app, ctx, home, where: Path):
    """Check Library over a copy of the home whose database lost its first page, as the app
    shows it when it cannot open the library (the running library is left alone)."""
    from refldm_desktop.core.home import Home
    from refldm_desktop.errors import database_error_message
    from refldm_desktop.ui.dialogs.check_library import CheckLibraryDialog

    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(home.backups, where / "backups")
    newest = sorted((where / "backups").glob("library-*.sqlite3"))[-1]
    data = bytearray(newest.read_bytes())
    data[:4096] = bytes(4096)
    (where / "library.sqlite3").write_bytes(bytes(data))
    import sqlite3

    failure = database_error_message(sqlite3.DatabaseError("file is not a database")) or ""
    dialog = CheckLibraryDialog(Home(where), ctx.tasks, lambda _backup: None, failure=failure)
    dialog.show()
    _wait(app, lambda: dialog.check is not None and dialog.task is None, 120)
    return dialog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "data" / "faces")
    parser.add_argument("--work", type=Path, help="where the copy and the app's home go (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from refldm_desktop.core.home import Home
    from refldm_desktop.core.library import Library
    from refldm_desktop.core.restoring import RestoreSettings
    from refldm_desktop.ui.app import make_qapp, open_window

    work = args.work or Path(tempfile.mkdtemp(prefix="refldm-shots-"))
    photos = work / "Family photos"
    if not photos.is_dir():
        shutil.copytree(args.photos, photos)
    app = make_qapp()
    lib = Library.open(Home(work / "home"))
    ctx, window = open_window(library=lib)
    ctx.restore_defaults = RestoreSettings(restorer="passthrough")
    window.resize(*SIZE)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    def shot(widget, name: str) -> None:
        _settle(app, 1.5)
        widget.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png")

    from PySide6.QtWidgets import QDialog, QListView

    from refldm_desktop.ui.models.photos import PIXMAP_ROLE

    _settle(app, 0.5)
    first = window.findChild(QDialog, "firstRunDialog")
    if first is not None:
        shot(first, "first-run")
        first.reject()
    window.open_paths([photos])
    grid = window.findChild(QListView, "photoGrid")
    n = sum(1 for p in photos.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    _wait(app, lambda: grid.model().rowCount() >= n and not ctx.tasks.busy())
    window.show_page("photos", "")  # every photo, as the sidebar's Library item shows
    _wait(app, lambda: grid.model().rowCount() >= n)
    model = grid.model()
    _wait(app, lambda: all(model.index(r).data(PIXMAP_ROLE) is not None for r in range(min(24, model.rowCount()))), 120)
    shot(window, "library")

    page = window.current_page()
    group = next(p for p in lib.photos() if p.path.name == "two_people.jpg")
    page.open_photo_view(group.id)
    _wait(app, lambda: page.photo_view.face_boxes())
    shot(window, "photo-faces")
    page.show_grid()

    from refldm_desktop.ui.dialogs.restore_options import RestoreOptionsDialog

    portrait = next(p for p in lib.photos() if p.path.name == "obama.jpg")
    dialog = RestoreOptionsDialog(ctx, [portrait.id], window)
    dialog.show()
    _wait(app, lambda: dialog.rows, 120)
    shot(dialog, "restore-options")
    dialog.reject()

    from refldm_desktop.ui.views.photo_menu import restore

    restore(page, [portrait.id])
    _wait(app, lambda: page.compare_view is not None and page.compare_view.loaded is not None, 300)
    compare = page.compare_view
    compare.face_choice.setCurrentIndex(1)
    compare.canvas.split = 0.45
    shot(window, "compare-split")
    from refldm_desktop.ui.views.compare_canvas import Mode

    compare.set_mode(Mode.SIDE)  # the view's own path: its buttons follow
    shot(window, "compare-side-by-side")
    compare.set_mode(Mode.SPLIT)
    page.show_grid()

    from PySide6.QtCore import Qt

    finish_held = None
    for key, name in (("people", "people"), ("unknown", "unknown-faces"), ("jobs", "jobs")):
        try:
            widget = window.show_page(key)
        except KeyError:
            continue  # that page is not in this version of the app
        if key == "jobs":  # with a restore running: its row, its progress, the status bar's
            finish_held = _hold_a_restore(app, ctx, page, widget, group.id)
        # Tiles' pictures come from the thumbnail cache off the GUI thread: on a busy machine
        # a fixed pause showed grey tiles, so wait until every tile has its picture.
        if hasattr(widget, "show_finished"):  # the restore above has ended: list it
            widget.show_finished.setChecked(True)
            _wait(app, lambda w=widget: w.model.rowCount() > 0, 60)
        model = getattr(widget, "model", None)
        if model is not None and hasattr(model, "rowCount") and not hasattr(widget, "show_finished"):
            _wait(app, lambda m=model: all(m.index(r, 0).data(Qt.DecorationRole) is not None
                                           for r in range(m.rowCount())), 300)
        if hasattr(widget, "rows"):  # Unknown faces: a strip of face labels per group
            # Only tiles on screen ask for their picture (they do when painted): wait for those,
            # once the page has grouped the faces (a regrouping makes new tiles).
            def pictured(w=widget) -> bool:
                return bool(w.rows) and not ctx.tasks.busy() and all(
                    not label.pixmap().isNull() for row in w.rows for label in row.faces.values()
                    if not label.visibleRegion().isEmpty())

            _wait(app, pictured, 300)
            _settle(app, 1.0)
            _wait(app, pictured, 300)
        _settle(app, 1.0)
        shot(window, name)
    if finish_held is not None:
        finish_held()
    window.show_page("restored")
    shot(window, "restored")

    # A person's page: the person with the most faces, its faces and chosen references.
    person = max(lib.people(), key=lambda p: p.face_count)

    def person_page():
        people_page = window.show_page("people")
        people_page.open_person(person.id)
        pp = people_page.person_page
        _wait(app, lambda: pp.person is not None and pp.faces_model.rowCount() > 0, 300)
        for model in (pp.faces_model, pp.refs_model):
            _wait(app, lambda m=model: all(m.index(r, 0).data(Qt.DecorationRole) is not None
                                           for r in range(m.rowCount())), 300)
        return people_page

    people_page = person_page()
    shot(window, "person")
    people_page.show_grid()

    from refldm_desktop.ui.dialogs.batch import BatchDialog
    from refldm_desktop.ui.dialogs.models import ModelsDialog
    from refldm_desktop.ui.dialogs.settings import SettingsDialog

    batch = BatchDialog(ctx, window)
    batch.show()
    _wait(app, lambda: batch.plan is not None, 300)
    _wait(app, lambda: all(not batch.faces.item(i).icon().isNull() for i in range(batch.faces.count())), 120)
    shot(batch, "batch")
    batch.reject()
    for dialog, name in ((ModelsDialog(ctx, window), "models"), (SettingsDialog(ctx, window), "settings")):
        dialog.show()
        _wait(app, lambda: not ctx.tasks.busy(), 120)
        shot(dialog, name)
        dialog.reject()

    # Check Library: a whole library with two backups, then a damaged copy of it.
    from refldm_desktop.core.backups import back_up

    back_up(lib.home)
    back_up(lib.home)
    check = window.check_library()
    _wait(app, lambda: check.check is not None and check.task is None, 120)
    shot(check, "check-library")
    check.reject()
    shot(_damaged_check(app, ctx, lib.home, work / "damaged-home"), "check-library-damaged")

    from refldm_desktop.ui.dialogs.shortcuts import ShortcutsDialog
    from refldm_desktop.ui.theme import apply_theme

    keys = ShortcutsDialog(window)
    keys.show()
    shot(keys, "shortcuts")
    keys.reject()
    # The dark theme (Settings > Theme), over the library and a person's page.
    apply_theme("dark")
    window.show_page("photos", "")
    shot(window, "library-dark")
    people_page = person_page()
    shot(window, "person-dark")
    people_page.show_grid()
    # A dialog with check boxes: an empty one must show on the dark ground.
    settings = SettingsDialog(ctx, window)
    settings.show()
    _wait(app, lambda: not ctx.tasks.busy(), 120)
    shot(settings, "settings-dark")
    settings.reject()
    apply_theme("system")
    ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
