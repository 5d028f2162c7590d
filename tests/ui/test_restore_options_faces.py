"""Restore with Options, per face: a face's own steps, guidance and seed, chosen with the
keyboard, reach the job and the version it makes; other faces keep the photo's."""

from __future__ import annotations

from dataclasses import replace

WAIT = 30_000


def tab_order(start, n):
    """The next `n` controls Tab reaches from `start`: the focus chain, less what Tab skips
    (no tab focus, hidden, or a part such as a spin box's line edit that hands focus on)."""
    from PySide6.QtCore import Qt

    out, w = [], start.nextInFocusChain()
    while len(out) < n and w is not start:
        if w.isVisible() and w.isEnabled() and w.focusProxy() is None and w.focusPolicy() & Qt.FocusPolicy.TabFocus:
            out.append(w)
        w = w.nextInFocusChain()
    return out


def test_a_faces_own_settings_reach_the_job_and_others_keep_the_photos(qtbot, fake_ctx):
    from PySide6.QtCore import Qt

    from refldm_desktop.ui.dialogs.restore_options import RestoreOptionsDialog

    lib = fake_ctx.library
    photo = next(p.id for p in lib.photos() if p.path.name == "p0.png")
    dialog = RestoreOptionsDialog(fake_ctx, [photo])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: len(dialog.rows) == 2, timeout=WAIT)
    dialog.steps.setValue(20)
    dialog.cfg.setValue(2.0)
    dialog.seed.setValue(7)
    dialog.no_refs.setChecked(True)
    mine, other = dialog.rows
    assert mine.settings.isHidden()  # compact until asked for

    mine.own.setFocus()
    qtbot.keyClick(mine.own, Qt.Key.Key_Space)
    assert mine.own.isChecked() and not mine.settings.isHidden()
    # It starts from the photo's steps and guidance, and from the photo's seed (0), not a copy of it.
    assert (mine.steps.value(), mine.cfg.value(), mine.seed.value()) == (20, 2.0, 0)
    assert mine.seed.text() == "photo's"
    # Tab leads from the check box to what it revealed, in order.
    assert tab_order(mine.own, 3) == [mine.steps, mine.cfg, mine.seed]
    point = mine.cfg.locale().decimalPoint()
    for box, typed in ((mine.cfg, f"2{point}5"), (mine.seed, "42")):
        box.setFocus()
        box.selectAll()
        qtbot.keyClicks(box, typed)
    assert (mine.steps.value(), mine.cfg.value(), mine.seed.value()) == (20, 2.5, 42)
    # The photo's values changed afterwards: the face follows where it kept the photo's.
    dialog.steps.setValue(25)
    dialog.cfg.setValue(3.0)
    assert (mine.steps.value(), mine.cfg.value()) == (25, 2.5)
    # Own settings on a face that is then left out are not sent.
    other.own.setChecked(True)
    other.cfg.setValue(4.0)
    other.include.setChecked(False)
    assert not other.own.isEnabled() and other.own.isChecked()

    with qtbot.waitSignal(dialog.chosen, timeout=WAIT) as sent:
        qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    settings, per_photo = sent.args
    options = per_photo[photo]
    assert options["face_settings"] == {str(mine.choice.face_id): {"cfg": 2.5, "seed": 42}}
    assert options["face_ids"] == [mine.choice.face_id] and str(other.choice.face_id) in options["not_chosen"]

    # Through the core, as the app queues it (the passthrough restorer: no model needed).
    queued = lib.restoring.enqueue([photo], replace(settings, restorer="passthrough"), per_photo=per_photo)
    assert lib.jobs.run(batch_id=queued.batch_id).done
    (version,) = lib.jobs.versions(photo)
    assert version.sampling(mine.choice.face_id) == {"steps": 25, "cfg": 2.5, "seed": 42}


def test_restoring_a_selection_with_a_bad_photo_queues_none_and_names_it(qtbot, fake_ctx):
    """The app queues a selection in one go: one photo's wrong face settings leave no other
    photo queued behind the error, and the error says which photo."""
    from refldm_desktop.core.restoring import RestoreSettings
    from refldm_desktop.ui.restore_ops import restore_photos

    lib = fake_ctx.library
    by_name = {p.path.name: p for p in lib.photos()}
    first, second = by_name["p0.png"], by_name["p1.png"]
    face = next(f.id for f in lib.faces() if f.photo_id == second.id)
    with qtbot.waitSignal(fake_ctx.tasks.failed, timeout=WAIT) as failed:
        restore_photos(fake_ctx, [first.id, second.id], RestoreSettings(restorer="passthrough"),
                       per_photo={second.id: {"face_settings": {str(face): {"cfg": -1}}}})
    _task, line, _details = failed.args
    assert str(second.path) in line and str(first.path) not in line and "cfg must be a number >= 0" in line
    assert lib.jobs.list(all=True) == []
