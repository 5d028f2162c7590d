"""The People, person, Unknown faces and Jobs pages and the batch dialog, driven like a
user would, over a copy of ../shared/data/faces indexed once for the module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from musthave import require_module  # noqa: E402

require_module("PySide6")
require_module("pytestqt")
from PySide6.QtCore import QItemSelectionModel, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QLineEdit, QToolButton  # noqa: E402

from refldm_desktop.core.home import Home  # noqa: E402
from refldm_desktop.core.library import Library  # noqa: E402
from refldm_desktop.ui.models.faces import FaceIdRole  # noqa: E402

WAIT = 60_000


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, faces_dir):
    """A home with the shared photos indexed (the real face backend), made once."""
    base = tmp_path_factory.mktemp("people_ui")
    photos = base / "faces"
    shutil.copytree(faces_dir, photos)
    home = Home(base / "home")
    with Library.open(home) as lib:
        lib.index([photos])
    return base / "home"


@pytest.fixture
def ctx(qtbot, tmp_path, indexed):
    """An app context over a private copy of the indexed home."""
    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.context import AppContext

    make_qapp()
    shutil.copytree(indexed, tmp_path / "home", ignore=shutil.ignore_patterns("runner.lock"))
    lib = Library.open(Home(tmp_path / "home"))
    c = AppContext(lib, start_jobs=False)
    yield c
    c.close()


def idle(qtbot, ctx):
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=WAIT)


def people_page(qtbot, ctx):
    from refldm_desktop.ui.views.people_page import PeoplePage

    page = PeoplePage(ctx)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    qtbot.waitUntil(lambda: page.model.rowCount() > 2, timeout=WAIT)
    return page


def proxy_index(page, person_id):
    return page.proxy.mapFromSource(page.model.index(page.model.row_of(person_id)))


def biggest(ctx, n=1):
    return sorted(ctx.library.people(), key=lambda p: -p.face_count)[:n]


def test_rename_in_place(qtbot, ctx):
    page = people_page(qtbot, ctx)
    person = biggest(ctx)[0]
    idx = proxy_index(page, person.id)
    page.view.setCurrentIndex(idx)
    page.view.edit(idx)
    editor = page.view.findChild(QLineEdit)
    assert editor is not None
    editor.setText("Grandma Ann")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: ctx.library.person(person.id).name == "Grandma Ann", timeout=WAIT)
    qtbot.waitUntil(lambda: proxy_index(page, person.id).data() == "Grandma Ann", timeout=WAIT)


def test_merge_by_selection_and_ctrl_z_brings_both_back(qtbot, ctx):
    from refldm_desktop.ui.people_undo import PeopleUndo

    a, b = biggest(ctx, 2)
    ctx.library.rename_person(a.id, "Ann")
    ctx.library.rename_person(b.id, "Bob")
    page = people_page(qtbot, ctx)
    undo = PeopleUndo(ctx, page)
    page.addAction(undo.undo_action)
    page.addAction(undo.redo_action)
    qtbot.waitUntil(lambda: proxy_index(page, b.id).data() == "Bob", timeout=WAIT)
    sel = page.view.selectionModel()
    for pid in (a.id, b.id):
        sel.select(proxy_index(page, pid), QItemSelectionModel.SelectionFlag.Select)
    assert page.merge_button.isEnabled()
    page.merge_button.click()
    qtbot.waitUntil(lambda: page.model.row_of(b.id) < 0 or page.model.row_of(a.id) < 0, timeout=WAIT)
    merged = {p.id: p for p in ctx.library.people()}
    assert (a.id in merged) != (b.id in merged)
    qtbot.waitUntil(lambda: undo.undo_action.isEnabled() and "Merge" in undo.undo_action.text(), timeout=WAIT)
    page.view.setFocus()
    qtbot.keyClick(page.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: page.model.row_of(a.id) >= 0 and page.model.row_of(b.id) >= 0, timeout=WAIT)
    back = {p.id: p for p in ctx.library.people()}
    assert (back[a.id].name, back[a.id].face_count) == ("Ann", a.face_count)
    assert (back[b.id].name, back[b.id].face_count) == ("Bob", b.face_count)
    qtbot.waitUntil(lambda: proxy_index(page, b.id).data() == "Bob", timeout=WAIT)
    # Ctrl+Shift+Z merges them again.
    qtbot.waitUntil(lambda: undo.redo_action.isEnabled(), timeout=WAIT)
    qtbot.keyClick(page.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: len({a.id, b.id} & {p.id for p in ctx.library.people()}) == 1, timeout=WAIT)


def test_merge_by_drag_and_drop(qtbot, ctx):
    page = people_page(qtbot, ctx)
    a, b = biggest(ctx, 2)
    mime = page.proxy.mimeData([proxy_index(page, b.id)])
    page.proxy.dropMimeData(mime, Qt.DropAction.MoveAction, -1, -1, proxy_index(page, a.id))
    qtbot.waitUntil(lambda: page.model.row_of(b.id) < 0, timeout=WAIT)
    assert ctx.library.person(a.id).face_count == a.face_count + b.face_count


def open_person(qtbot, ctx, person_id):
    page = people_page(qtbot, ctx)
    page.open_person(person_id)
    pp = page.person_page
    qtbot.waitUntil(lambda: pp.faces_model.rowCount() > 0 and pp.person is not None, timeout=WAIT)
    idle(qtbot, ctx)
    return page, pp


def select_faces(pp, face_ids):
    sel = pp.faces.selectionModel()
    sel.clearSelection()
    for row in range(pp.faces_model.rowCount()):
        if pp.faces_model.index(row).data(FaceIdRole) in face_ids:
            sel.select(pp.faces_model.index(row), QItemSelectionModel.SelectionFlag.Select)


def test_split_confirm_reject_and_move_on_a_persons_page(qtbot, ctx):
    a, b = biggest(ctx, 2)
    page, pp = open_person(qtbot, ctx, a.id)
    faces = [f.id for f in ctx.library.faces(a.id)]
    assert pp.faces_model.rowCount() == len(faces) >= 3
    f1, f2, f3 = faces[:3]

    select_faces(pp, [f1])
    pp.buttons["confirm"].click()
    qtbot.waitUntil(lambda: ctx.library.face(f1).assignment == "confirmed", timeout=WAIT)

    select_faces(pp, [f2])
    pp.buttons["reject"].click()
    qtbot.waitUntil(lambda: ctx.library.face(f2).person_id != a.id, timeout=WAIT)
    qtbot.waitUntil(lambda: pp.faces_model.rowCount() == len(faces) - 1, timeout=WAIT)

    select_faces(pp, [f3])
    pp.move_selected(b.id)
    qtbot.waitUntil(lambda: ctx.library.face(f3).person_id == b.id, timeout=WAIT)

    rest = [f for f in faces if f not in (f2, f3)]
    select_faces(pp, rest[-1:])
    pp.buttons["split"].click()
    qtbot.waitUntil(lambda: ctx.library.face(rest[-1]).person_id not in (a.id, b.id, None), timeout=WAIT)
    new = ctx.library.face(rest[-1]).person_id
    assert [f.id for f in ctx.library.faces(new)] == rest[-1:]


def test_pin_and_exclude_in_the_references_view(qtbot, ctx):
    person = biggest(ctx)[0]
    page, pp = open_person(qtbot, ctx, person.id)
    qtbot.waitUntil(lambda: pp.refs_model.rowCount() >= 2, timeout=WAIT)
    assert pp.refs.objectName() == "referencesView"
    first = pp.refs_model.index(0)
    assert pp.refs_model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    # Pin and Exclude act on the selected references: nothing selected, nothing to press.
    assert not pp.buttons["refPin"].isEnabled() and not pp.buttons["refExclude"].isEnabled()
    pp.refs.setCurrentIndex(first)
    assert pp.buttons["refPin"].isEnabled() and pp.buttons["refExclude"].isEnabled()
    assert pp.reasons.text() and "Select a reference" not in pp.reasons.text()
    second = pp.refs_model.index(1).data(FaceIdRole)
    pp.refs.selectionModel().select(pp.refs_model.index(1), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    pp.buttons["refPin"].click()
    qtbot.waitUntil(lambda: ctx.library.face(second).reference == "pinned", timeout=WAIT)
    qtbot.waitUntil(lambda: pp.refs_model.index(0).data(FaceIdRole) == second, timeout=WAIT)  # pins come first
    last = pp.refs_model.index(pp.refs_model.rowCount() - 1).data(FaceIdRole)
    pp.refs.selectionModel().select(
        pp.refs_model.index(pp.refs_model.rowCount() - 1), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    pp.buttons["refExclude"].click()
    qtbot.waitUntil(lambda: ctx.library.face(last).reference == "excluded", timeout=WAIT)
    qtbot.waitUntil(
        lambda: last not in {pp.refs_model.index(r).data(FaceIdRole) for r in range(pp.refs_model.rowCount())},
        timeout=WAIT,
    )
    # Another person: the old selection went with the old references, and so do the buttons,
    # before the new person has even loaded.
    pp.refs.setCurrentIndex(pp.refs_model.index(0))
    pp.faces.setCurrentIndex(pp.faces_model.index(0))
    assert pp.buttons["refPin"].isEnabled() and pp.buttons["pin"].isEnabled()
    pp.show_person(biggest(ctx, 2)[1].id)
    assert not any(pp.buttons[k].isEnabled() for k in ("refPin", "refExclude", "refReset", "pin", "exclude"))


def test_unknown_faces_are_named_a_group_at_once(qtbot, ctx):
    from refldm_desktop.ui.views.unknown_faces import UnknownFacesPage

    page = UnknownFacesPage(ctx)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: len(page.rows) > 0, timeout=WAIT)
    row = max(page.rows, key=lambda r: len(r.group.face_ids))
    ids = row.group.face_ids
    row.name.setText("Uncle Joe")
    qtbot.keyClick(row.name, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: all(ctx.library.face(f).person_name == "Uncle Joe" for f in ids), timeout=WAIT)
    qtbot.waitUntil(lambda: all(r.group.face_ids != ids for r in page.rows), timeout=WAIT)


def a_photo_with_a_known_face(lib):
    """A photo whose face belongs to a person with other photos (so it has references)."""
    person = biggest_named_or_not(lib)
    return lib.faces(person.id)[0].photo_id


def biggest_named_or_not(lib):
    return max(lib.people(), key=lambda p: p.face_count)


def test_jobs_panel_shows_progress_and_a_readable_failure(qtbot, ctx):
    from refldm_desktop.core.restoring import RestoreSettings
    from refldm_desktop.ui.views.jobs_panel import JobsPanel

    lib = ctx.library
    photo = a_photo_with_a_known_face(lib)
    ok = lib.restoring.enqueue([photo], RestoreSettings(restorer="passthrough")).queued[0]
    bad = lib.jobs.enqueue_restore([photo], restorer="no-such-restorer").queued[0]
    panel = JobsPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=WAIT)
    # Jobs waiting while nothing runs them are offered for resuming.
    assert panel.resume_button.isVisible() and "2 jobs waiting" in panel.banner.text()
    seen = []

    def progress(event):
        row = panel.model.row_of(event.job_id)
        if event.job_id == ok and row >= 0:
            seen.append(panel.model.index(row, 2).data())

    ctx.jobs.event.connect(progress)
    panel.resume_button.click()
    qtbot.waitUntil(lambda: {lib.jobs.get(ok).state, lib.jobs.get(bad).state} <= {"done", "failed"}, timeout=WAIT * 2)
    assert lib.jobs.get(ok).state == "done" and lib.jobs.get(bad).state == "failed"
    assert any(text.startswith("face 1 of") for text in seen), seen
    panel.show_finished.setChecked(True)
    qtbot.waitUntil(lambda: panel.model.row_of(bad) >= 0 and panel.model.row_of(ok) >= 0, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.model.index(panel.model.row_of(bad), 1).data() == "failed", timeout=WAIT)
    row = panel.model.row_of(bad)
    error = lib.jobs.get(bad).error
    assert "no-such-restorer" in error and "Traceback" not in error
    assert panel.model.index(row, 3).data() == error
    panel.table.selectRow(row)
    assert error in panel.details.toPlainText()
    assert panel.buttons["retry"].isEnabled() and not panel.buttons["cancel"].isEnabled()
    panel.copy_details()
    assert error in QApplication.clipboard().text()


def test_batch_dialog_count_follows_the_threshold(qtbot, ctx):
    from refldm_desktop.ui.dialogs.batch import BatchDialog

    dialog = BatchDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=WAIT * 2)
    # The count follows the slider at once: by quality (faces below it) or by need (faces
    # at or above it), whichever the core plans with.
    counts = {}
    for t in (0.0, 0.3, 0.6, 1.0):
        dialog.spin.setValue(t)
        counts[t] = dialog.selected_count()
        assert dialog.count.text().startswith(f"{counts[t]} face")
        assert dialog.faces.count() == min(counts[t], 60)
        assert dialog.start_button.isEnabled() == (counts[t] > 0)
    order = [counts[t] for t in sorted(counts, key=lambda t: abs(t - dialog.by.widest))]
    assert order == sorted(order, reverse=True) and order[0] > order[-1]
    dialog.slider.setValue(60)
    assert dialog.spin.value() == pytest.approx(0.6) and dialog.selected_count() == counts[0.6]
    # Faces of nobody (or of people without good photos) join at one click.
    dialog.no_refs.setChecked(True)
    qtbot.waitUntil(lambda: dialog.plan is not None and dialog.plan.without_person == 0, timeout=WAIT * 2)
    assert dialog.selected_count() >= counts[0.6]


def test_a_restore_shows_its_quick_preview_then_the_result(qtbot, ctx, monkeypatch):
    """Restore one photo from the menu: the compare view first shows an 8-step preview
    (nothing to keep yet), then swaps in the final result; the status bar follows the job
    to its end; the mode buttons follow the canvas however its mode is changed."""
    import threading

    from refldm_desktop.core import restore_job
    from refldm_desktop.core.restoring import RestoreSettings
    from refldm_desktop.ui.mainwindow.statusbar import StatusBar
    from refldm_desktop.ui.views.compare_canvas import Mode
    from refldm_desktop.ui.views.photo_menu import PREVIEW_STEPS, restore
    from refldm_desktop.ui.views.jobs_panel import JobsPanel
    from refldm_desktop.ui.views.photos_page import PhotosPage

    # Hold the job between its preview and the full run, so the preview is seen for sure.
    gate = threading.Event()
    real_preview = restore_job._write_preview

    def preview_then_wait(job_ctx, lib, image):
        real_preview(job_ctx, lib, image)
        gate.wait(WAIT / 1000)

    monkeypatch.setattr(restore_job, "_write_preview", preview_then_wait)
    ctx.restore_defaults = RestoreSettings(restorer="passthrough")
    status = StatusBar(ctx)
    qtbot.addWidget(status)
    jobs = JobsPanel(ctx)
    qtbot.addWidget(jobs)
    jobs.show()  # a page reads the library only while on screen (views.when_shown)
    page = PhotosPage(ctx)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    photo = a_photo_with_a_known_face(ctx.library)
    ctx.jobs.start()
    restore(page, [photo])
    try:
        qtbot.waitUntil(lambda: page.compare_view is not None and page.compare_view.canvas.after is not None, timeout=WAIT)
        compare = page.compare_view
        assert compare.preview_steps == PREVIEW_STEPS and compare.loaded is None
        assert compare.title.text().startswith(f"Preview ({PREVIEW_STEPS} steps)")
        assert not compare.keep.isEnabled() and not compare.discard.isEnabled()
        assert status.currentMessage().startswith("Restoring 1 photo")
        # The Jobs panel says so too: the job's phase and where the preview is.
        qtbot.waitUntil(lambda: jobs.model.rowCount() == 1 and jobs.model.preview(jobs.model.job(0).id) is not None,
                        timeout=WAIT)
        assert jobs.model.index(0, 2).data().startswith("quick preview · face 1 of")
        jobs.table.selectRow(0)
        assert "Quick preview (shown in Compare): " in jobs.details.toPlainText()
        # The compare view says how far the full result is, as the job reports it.
        from refldm_desktop.jobs.runner import FULL_STAGE, JobEvent

        job_id = jobs.model.job(0).id
        for step in (0, 3):
            ctx.jobs.event.emit(JobEvent(job_id, "restore_photo", "running", "b", photo, faces_done=0,
                                         faces_total=1, step=step, steps=50, stage=FULL_STAGE))
        qtbot.waitUntil(lambda: compare.progress.isVisible() and "step 3 of 50" in compare.progress.text(), timeout=WAIT)
        # The status bar's follower, which heard the preview too: the same words there.
        assert compare.progress.text().startswith("preview ready · face 1 of 1 · step 3 of 50")
        assert status.jobs.label.text().endswith(compare.progress.text())
    finally:
        gate.set()
    qtbot.waitUntil(lambda: compare.loaded is not None, timeout=WAIT)
    assert compare.loaded.version.photo_id == photo and compare.preview_steps is None
    assert "Preview" not in compare.title.text() and compare.keep.isEnabled() and not compare.progress.isVisible()
    qtbot.waitUntil(lambda: status.currentMessage() == "Restored 1 photo", timeout=WAIT)

    buttons = {m: compare.findChild(QToolButton, f"mode_{m.value}") for m in Mode}
    assert buttons[Mode.SPLIT].isChecked()
    compare.canvas.set_mode(Mode.SIDE)  # not through a button: the buttons follow anyway
    assert buttons[Mode.SIDE].isChecked() and not buttons[Mode.SPLIT].isChecked()
    buttons[Mode.LENS].click()
    assert compare.canvas.mode is Mode.LENS and not buttons[Mode.SIDE].isChecked()


def test_a_preview_whose_full_run_fails_says_so_instead_of_promising_a_result(qtbot, ctx, monkeypatch):
    import threading

    from refldm_desktop.core import restore_job
    from refldm_desktop.core.changes import LibraryError
    from refldm_desktop.core.restoring import RestoreSettings
    from refldm_desktop.ui.views.photo_menu import restore
    from refldm_desktop.ui.views.photos_page import PhotosPage

    gate = threading.Event()
    real_preview = restore_job._write_preview

    def preview_then_fail(job_ctx, lib, image):
        real_preview(job_ctx, lib, image)
        gate.wait(WAIT / 1000)
        raise LibraryError("the disk is full")

    monkeypatch.setattr(restore_job, "_write_preview", preview_then_fail)
    ctx.restore_defaults = RestoreSettings(restorer="passthrough")
    page = PhotosPage(ctx)
    qtbot.addWidget(page)
    page.show()
    ctx.jobs.start()
    restore(page, [a_photo_with_a_known_face(ctx.library)])
    try:
        qtbot.waitUntil(lambda: page.compare_view is not None and page.compare_view.canvas.after is not None, timeout=WAIT)
        assert "the full result follows" in page.compare_view.title.text()
    finally:
        gate.set()
    compare = page.compare_view
    qtbot.waitUntil(lambda: "the disk is full" in compare.title.text(), timeout=WAIT)
    assert compare.title.text().startswith("Restoring failed: the disk is full")
    assert "follows" not in compare.title.text() and not compare.keep.isEnabled()


def test_chosen_references_are_listed_by_photo_name_and_reach_the_job(qtbot, ctx):
    """Restore with Options, References I choose: each reference shows its photo's file
    name (a user knows their files, not the app's face numbers); the choice reaches the job."""
    from PySide6.QtCore import Qt

    from refldm_desktop.ui.dialogs.restore_options import CHOSEN, RestoreOptionsDialog

    lib = ctx.library
    person = biggest_named_or_not(lib)
    photo = a_photo_with_a_known_face(lib)
    dialog = RestoreOptionsDialog(ctx, [photo])
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: bool(dialog.rows), timeout=WAIT)
    row = next(r for r in dialog.rows if r.mode.findData(CHOSEN) >= 0)
    row.mode.setCurrentIndex(row.mode.findData(CHOSEN))
    assert not row.refs.isHidden()
    theirs = {lib.photo(f.photo_id).path for f in lib.faces(person.id)}
    names = [row.refs.item(i).text() for i in range(row.refs.count())]
    assert names and all(any(str(p).endswith(n) for p in theirs) for n in names), (names, theirs)
    first = row.refs.item(0)
    fid = first.data(Qt.ItemDataRole.UserRole)
    assert first.toolTip().startswith(f"{names[0]} (face {fid}): ")
    for i in range(row.refs.count()):
        row.refs.item(i).setCheckState(Qt.CheckState.Unchecked)
    first.setCheckState(Qt.CheckState.Checked)
    assert dialog.per_photo()[photo]["face_references"][str(row.choice.face_id)] == [fid]


def test_references_from_photos_of_the_same_name_say_their_folders(qtbot, tmp_path, monkeypatch):
    """Cameras name files IMG_0001.JPG in every folder: two chosen references from such
    photos must not read alike, so each says its folder; a name used once stays bare."""
    from fakes import FakeQuality, SpreadBackend, fake_photo, open_test_library

    from refldm_desktop.faces import quality
    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.dialogs.restore_options import CHOSEN, RestoreOptionsDialog

    make_qapp()
    monkeypatch.setattr(quality, "assess", FakeQuality())  # fake squares, sharp ones
    root = tmp_path / "Pictures"
    for v, name in enumerate(("2019/IMG_0001.png", "2020/IMG_0001.png", "2020/beach.png", "here.png"), start=3):
        fake_photo(root / name, [(1, v)])
    lib = open_test_library(tmp_path / "home", SpreadBackend())
    lib.index([root])
    ctx = AppContext(lib, start_jobs=False)
    try:
        photo = next(p.id for p in lib.photos() if p.path.name == "here.png")
        dialog = RestoreOptionsDialog(ctx, [photo])
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: bool(dialog.rows), timeout=WAIT)
        row = dialog.rows[0]
        row.mode.setCurrentIndex(row.mode.findData(CHOSEN))
        items = [row.refs.item(i) for i in range(row.refs.count())]
        names = sorted(item.text() for item in items)
        assert names == sorted([str(Path("2019", "IMG_0001.png")), str(Path("2020", "IMG_0001.png")), "beach.png"])
        for item in items:  # the tooltip and the screen reader's text say the same
            assert item.toolTip().startswith(f"{item.text()} (face ")
            assert item.data(Qt.ItemDataRole.AccessibleTextRole).startswith(f"{item.text()}, face ")
    finally:
        ctx.close()
