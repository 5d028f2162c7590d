"""Errors shown in the app tell what to do in the app, not which command to type; the
command line keeps its own words."""

from __future__ import annotations

import re

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

# What command-line advice looks like: a `verb` in backticks or a --flag.
CLI_WORDS = re.compile(r"`[a-z][^`]*`|(?<![\w-])--[a-z]")


def test_a_photo_changed_on_disk_fails_its_job_with_advice_to_rescan_in_the_app(qtbot, fake_ctx):
    from refldm_desktop.db.models import JobState
    from refldm_desktop.ui.views.jobs_panel import JobsPanel

    ctx, lib = fake_ctx, fake_ctx.library
    photo = lib.photos()[0]
    with open(photo.path, "ab") as f:  # edited in another program after it was indexed
        f.write(b"\0" * 16)
    (job_id,) = lib.jobs.enqueue_restore([photo.id], restorer="passthrough").queued
    lib.jobs.run()
    cli_error = lib.jobs.get(job_id).error
    assert lib.jobs.get(job_id).state == JobState.FAILED and "run `index` on its folder again" in cli_error

    panel = JobsPanel(ctx)
    qtbot.addWidget(panel)
    panel.refresh()
    qtbot.waitUntil(lambda: panel.model.row_of(job_id) >= 0, timeout=30_000)
    row = panel.model.row_of(job_id)
    shown = panel.model.index(row, 3).data()
    assert "changed since it was indexed" in shown and "Rescan Folder" in shown
    assert not CLI_WORDS.search(shown), shown
    panel.table.selectRow(row)
    qtbot.waitUntil(lambda: "Rescan Folder" in panel.details.toPlainText(), timeout=10_000)
    assert "`index`" not in panel.details.toPlainText()


def test_rescan_folder_in_the_sidebar_reads_a_changed_photo_again(qtbot, tmp_path, open_app):
    from ui_testlib import wait_idle
    from fakes import draw_photo, open_test_library

    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    lib.name_faces([lib.faces()[0].id], "Ann")
    ctx, window = open_app(lib)
    draw_photo(root / "a.png", [(1, 0, 10, 10), (2, 0, 100, 10)])  # edited elsewhere: a face more
    seen = []
    ctx.status.connect(seen.append)
    from PySide6.QtGui import QAction

    rescan = window.sidebar.folder_menu(root).findChild(QAction, "rescanFolderAction")
    rescan.trigger()
    qtbot.waitUntil(lambda: any(s.startswith("Rescanned") for s in seen), timeout=60_000)
    wait_idle(qtbot, ctx)
    assert any("1 photo changed and read again" in s for s in seen), seen
    # Its faces were found anew; Ann's, still in its place, kept her name, and the user is told.
    assert any("1 named face of changed photos kept in place" in s for s in seen), seen
    assert lib.photo(lib.photos()[0].id) is not None and len(lib.faces()) == 2
    assert sorted(f.person_name or "" for f in lib.faces()) == ["", "Ann"]


def test_rescan_of_a_folder_that_is_not_there_says_so_and_changes_nothing(qtbot, tmp_path, open_app):
    import shutil

    from ui_testlib import wait_idle
    from fakes import draw_photo, open_test_library
    from PySide6.QtGui import QAction

    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    before = [(p.id, p.state) for p in lib.photos()]
    ctx, window = open_app(lib)
    shutil.rmtree(root)  # a drive unplugged since
    seen = []
    ctx.status.connect(seen.append)
    window.sidebar.folder_menu(root).findChild(QAction, "rescanFolderAction").trigger()
    qtbot.waitUntil(lambda: any("is not there" in s for s in seen), timeout=60_000)
    wait_idle(qtbot, ctx)
    assert any(f"{root} is not there (disconnected drive?); nothing was changed" in s for s in seen), seen
    assert not any("Nothing to add" in s for s in seen), seen
    assert [(p.id, p.state) for p in lib.photos()] == before


def test_every_piece_of_command_line_advice_has_app_words_that_name_no_command():
    from refldm_desktop.errors import Advice, advise
    from refldm_desktop.ui.advice import APP_WORDS, for_app

    assert set(APP_WORDS) == set(Advice)
    for kind in Advice:
        cli = f"it failed ({advise(kind, face=7)}); more"
        app = for_app(cli)
        assert app.startswith("it failed (") and app.endswith("); more"), app
        assert advise(kind, face=7) not in app
        assert not CLI_WORDS.search(app), app
        if kind in (Advice.DB_CHECK, Advice.DB_CHECK_INTACT):  # the app's own way back
            assert "Tools › Check Library…" in app, app


def test_advice_made_by_the_core_is_found_with_its_values():
    """A pin refused because the face has no person names that face id; the app's words
    keep the rest of the line."""
    from refldm_desktop.errors import Advice, reword

    line = "face 12 belongs to nobody; so put it into a person (faces confirm 12 --person ID) before you pin it"
    assert reword(line, {Advice.CONFIRM_FACE: "name face {face} first"}) == (
        "face 12 belongs to nobody; so put it into a person (name face 12 first) before you pin it")


def test_app_advice_patterns_are_built_once_not_per_message(monkeypatch):
    # for_app runs on every Jobs row painted and every tooltip: it must not compile each time.
    from refldm_desktop.errors import Advice, advise
    from refldm_desktop.ui.advice import for_app

    line = f"it failed; {advise(Advice.INDEX_FOLDER)}"
    first = for_app(line)

    def no_more(self):
        raise AssertionError("a pattern was built again")

    monkeypatch.setattr(Advice, "pattern", no_more)
    assert for_app(line) == first and "Rescan Folder" in first
