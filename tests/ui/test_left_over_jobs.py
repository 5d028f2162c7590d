"""Jobs an earlier session left wait, untouched, until the user chooses Resume: a photo the
user restores now runs at once instead of behind them."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

WAIT = 60_000


def test_a_restore_asked_for_now_runs_before_the_jobs_left_from_last_time(qtbot, tmp_path, open_app):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QListView

    from fakes import draw_photo, open_test_library
    from refldm_desktop.core.restoring import RestoreSettings

    root = tmp_path / "Pictures"
    for i, name in enumerate(("old1.png", "old2.png", "new.png")):
        draw_photo(root / name, [(i + 1, 0, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    by_name = {p.path.name: p.id for p in lib.photos()}
    settings = RestoreSettings(restorer="passthrough", no_refs_ok=True, output_dir=tmp_path / "out")
    old = lib.restoring.enqueue([by_name["old1.png"], by_name["old2.png"]], settings).queued

    ctx, window = open_app(lib)
    ctx.restore_defaults = settings
    window.resize(1000, 700)
    window.show()
    bar = window.statusBar()
    qtbot.waitUntil(lambda: bar.jobs is not None and bar.jobs.left_over.isVisible(), timeout=WAIT)
    button = bar.jobs
    assert button.left_over.text().startswith("2 jobs from last time (2 waiting)")

    # The user ignores the offer and restores another photo.
    grid = window.findChild(QListView, "photoGrid")
    qtbot.waitUntil(lambda: grid.model().rowCount() == 3, timeout=WAIT)
    assert grid.select_photo(by_name["new.png"])
    grid.setFocus()
    QTest.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(lib.jobs.versions(by_name["new.png"])) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "Restored 1 photo", timeout=WAIT)
    qtbot.wait(1_500)  # three polls of the runner: the old jobs must still be waiting
    assert [(lib.jobs.get(j).state, lib.jobs.get(j).attempts) for j in old] == [("queued", 0), ("queued", 0)]
    assert button.left_over.isVisible() and button.left_over.text().startswith("2 jobs from last time")

    # Resume, on the Jobs page: now they run.
    button.left_over.click()
    panel = window.current_page()
    assert panel.objectName() == "jobsPanel"
    qtbot.waitUntil(panel.resume_button.isVisible, timeout=WAIT)
    assert panel.banner.text() == "Left from an earlier session: 2 jobs waiting."
    panel.resume_button.click()
    qtbot.waitUntil(lambda: [lib.jobs.get(j).state for j in old] == ["done", "done"], timeout=WAIT)
    assert not button.left_over.isVisible()
