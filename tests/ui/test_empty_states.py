"""A list with nothing in it says why and what to do, and the note goes once rows come;
the first-run assistant starts nothing until it has a folder, and takes dropped folders."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def _hint(widget, name, qtbot=None):
    """The page's note; with qtbot, once the page has made it (a photo grid makes its note
    when it is first empty, after its first listing)."""
    from PySide6.QtWidgets import QLabel

    if qtbot is not None:
        qtbot.waitUntil(lambda: widget.findChild(QLabel, name) is not None, timeout=10_000)
    hint = widget.findChild(QLabel, name)
    assert hint is not None, name
    return hint


def _add_folder_keys(window) -> str:
    """The key of File › Add Folder… as its menu shows it (Cmd+O on a Mac)."""
    from PySide6.QtGui import QAction, QKeySequence

    keys = window.findChild(QAction, "addFolderAction").shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    assert keys
    return keys


def test_notes_that_ask_for_a_folder_give_add_folders_own_key(qtbot, tmp_path, open_app, monkeypatch):
    """The notes name the key the Add Folder action really has, not one typed into the text
    (which said Ctrl+O on a Mac, where it is Cmd+O): give the action another key and every
    note follows."""
    from fakes import open_test_library
    from refldm_desktop.ui.mainwindow import actions

    monkeypatch.setattr(actions, "ADD_FOLDER_SHORTCUT", "Ctrl+Alt+Shift+O")
    ctx, window = open_app(open_test_library(tmp_path / "home"))
    keys = _add_folder_keys(window)
    assert "Shift" in keys or "⇧" in keys  # the action took the new key
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=30_000)
    library = window.show_page("photos")
    note = _hint(library, "photosEmpty", qtbot)
    qtbot.waitUntil(lambda: f"({keys})" in note.text(), timeout=10_000)
    people = _hint(window.show_page("people"), "peopleEmpty", qtbot)
    qtbot.waitUntil(lambda: f"({keys})" in people.text(), timeout=10_000)
    unknown = window.show_page("unknown")
    qtbot.waitUntil(lambda: f"({keys})" in unknown.summary.text(), timeout=10_000)
    for text in (note.text(), people.text(), unknown.summary.text()):
        assert "Ctrl+O" not in text


def test_empty_pages_say_why_and_the_note_goes_when_rows_come(qtbot, tmp_path, open_app):
    from fakes import draw_photo, open_test_library

    photos = tmp_path / "photos"
    draw_photo(photos / "a.png", [(1, 0, 10, 10)])
    draw_photo(photos / "b.png", [(1, 4, 40, 40)])
    lib = open_test_library(tmp_path / "home")
    ctx, window = open_app(lib)
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=30_000)
    library = window.show_page("photos")
    note = _hint(library, "photosEmpty", qtbot)
    qtbot.waitUntil(lambda: not note.isHidden(), timeout=10_000)
    assert "Add Folder" in note.text() and note.geometry().width() > 100  # placed over the grid
    assert f"({_add_folder_keys(window)})" in note.text()

    for key, name, words in (("restored", "restoredEmpty", "Restore Faces"), ("people", "peopleEmpty", "No people yet"),
                             ("jobs", "jobsEmpty", "Show finished")):
        page = window.show_page(key)
        hint = _hint(page, name, qtbot)
        qtbot.waitUntil(lambda h=hint: not h.isHidden(), timeout=10_000)
        assert words in hint.text()
    unknown = window.show_page("unknown")
    qtbot.waitUntil(lambda: "No faces found yet" in unknown.summary.text(), timeout=10_000)
    jobs = window.show_page("jobs")
    jobs.show_finished.setChecked(True)
    qtbot.waitUntil(lambda: "No jobs yet" in _hint(jobs, "jobsEmpty").text(), timeout=10_000)

    window.open_paths([photos])
    library = window.show_page("photos", "")
    qtbot.waitUntil(lambda: library.model.rowCount() == 2, timeout=30_000)
    assert note.isHidden()
    people = window.show_page("people")
    qtbot.waitUntil(lambda: people.model.rowCount() > 0, timeout=30_000)
    hint = _hint(people, "peopleEmpty")
    assert hint.isHidden()
    # A search that finds nobody says so, and clearing it brings the tiles back.
    people.search.setText("zz-nobody")
    assert not hint.isHidden() and "zz-nobody" in hint.text()
    people.search.clear()
    assert hint.isHidden()


def test_a_persons_empty_photo_grid_does_not_ask_for_folders(qtbot, fake_ctx):
    """The library has photos; this person's grid is empty for another reason."""
    from refldm_desktop.ui.models.photo_source import PhotoFilter
    from refldm_desktop.ui.views.photos_page import PhotosPage

    page = PhotosPage(fake_ctx)
    qtbot.addWidget(page)
    page.resize(600, 400)
    page.show()
    unused = max(p.id for p in fake_ctx.library.people()) + 1  # a person with no faces
    page.model.set_filter(PhotoFilter(person_id=unused))
    note = _hint(page, "photosEmpty", qtbot)
    qtbot.waitUntil(lambda: "this person" in note.text(), timeout=10_000)
    assert "Add Folder" not in note.text()


def test_first_run_starts_only_with_a_folder_and_takes_dropped_folders(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.dialogs.first_run import FirstRunDialog

    make_qapp()
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/Pictures: the list starts empty
    dialog = FirstRunDialog(None)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.folders.count() == 0
    assert not dialog.start.isEnabled() and not dialog.remove.isEnabled()
    assert not _hint(dialog, "firstRunEmpty").isHidden()

    folder = tmp_path / "Photos 1962"
    folder.mkdir()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder)), QUrl.fromLocalFile(str(tmp_path / "missing"))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    dialog.dropEvent(drop)
    dialog.dropEvent(drop)  # the same folder twice is listed once; a missing one not at all
    assert dialog.chosen() == [folder]
    assert dialog.start.isEnabled() and _hint(dialog, "firstRunEmpty").isHidden()
    chosen = []
    dialog.folders_chosen.connect(chosen.append)
    dialog.folders.item(0).setSelected(True)
    assert dialog.remove.isEnabled()
    dialog.start.click()
    assert chosen == [[folder]]


def test_keys_named_in_notes_and_tips_are_the_keys_the_actions_have(qtbot, tmp_path, open_app, monkeypatch):
    """Restore Faces, Clean Up an Album, Undo, Merge and the pages' keys are named in notes,
    tips and status lines from the shortcuts themselves, as the platform writes them (Cmd on
    a Mac): give each another key and every text follows."""
    from PySide6.QtGui import QAction

    from fakes import open_test_library
    from refldm_desktop.ui import keys
    from refldm_desktop.ui.keys import key_text
    from refldm_desktop.ui.mainwindow import actions
    from refldm_desktop.ui.views import people_page

    monkeypatch.setattr(actions, "PHOTO_VERBS", tuple(
        v._replace(shortcut="Ctrl+Alt+Shift+R") if v.verb == "restore" else v for v in actions.PHOTO_VERBS))
    monkeypatch.setattr(actions, "BATCH_SHORTCUT", "Ctrl+Alt+Shift+B")
    monkeypatch.setattr(keys, "UNDO_KEY", "Ctrl+Alt+Shift+Z")
    monkeypatch.setattr(people_page, "MERGE_KEY", "Ctrl+Alt+Shift+M")
    ctx, window = open_app(open_test_library(tmp_path / "home"))
    restore = key_text(window.findChild(QAction, "restoreSelected"))
    batch = key_text(window.findChild(QAction, "batchCleanupAction"))
    undo = key_text(window.people_undo.undo_action)
    for shown in (restore, batch, undo):
        assert "Shift" in shown or "⇧" in shown  # the actions took the new keys
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=30_000)

    restored = _hint(window.show_page("restored"), "restoredEmpty", qtbot)
    qtbot.waitUntil(lambda: f"Restore Faces ({restore})" in restored.text(), timeout=10_000)
    jobs = window.show_page("jobs")
    jobs.show_finished.setChecked(True)
    note = _hint(jobs, "jobsEmpty", qtbot)
    qtbot.waitUntil(lambda: f"({restore})" in note.text() and f"({batch})" in note.text(), timeout=10_000)
    people = window.show_page("people")
    merge = next(a for a in people.view.actions() if a.text() == "Merge")
    assert f"({key_text(merge)}); {undo} undoes it" in people.merge_button.toolTip()
    retry = next(a for a in jobs.actions() if a.text() == "Re&try")  # a button's key, read from its action
    assert jobs.buttons["retry"].toolTip().endswith(f"({key_text(retry)})")
    for spec, item in ((s, window.sidebar._items[s.key]) for s in actions.PAGES):
        assert item.toolTip(0) == f"{spec.title} ({key_text(window.findChild(QAction, f'show_{spec.key}'))})"
    for text in (restored.text(), note.text(), people.merge_button.toolTip()):
        assert "Ctrl+R" not in text and "Ctrl+B" not in text and "Ctrl+Z" not in text and "Ctrl+M)" not in text
