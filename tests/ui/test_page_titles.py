"""Every page says where the user is, in the sidebar's words; a person's photos are titled
with the person's name."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def test_each_page_has_a_title_in_the_sidebars_words(qtbot, tmp_path, open_app):
    from PySide6.QtWidgets import QLabel

    from fakes import draw_photo, open_test_library
    from refldm_desktop.ui.mainwindow.pages import PAGES

    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 10, 10)])
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    ctx, window = open_app(lib)
    expected = {"photos": "All photos", "restored": "Restored"}
    for spec in PAGES:
        page = window.show_page(spec.key)
        title = page.findChild(QLabel, "pageTitle")
        assert title is not None and title.isVisible(), spec.key
        qtbot.waitUntil(lambda t=title, s=spec: t.text() == expected.get(s.key, s.title), timeout=30_000)


def _people_photos(qtbot, tmp_path, open_app):
    """The window showing Alice's photos (two of three), opened from her page's Photos."""
    from fakes import draw_photo, open_test_library

    root = tmp_path / "Pictures"
    for i in range(3):
        draw_photo(root / f"p{i}.png", [(1, i, 10, 10)] + ([(2, i, 100, 10)] if i else []))
    lib = open_test_library(tmp_path / "home")
    lib.index([root])
    owner = next(p for p in lib.people() if p.face_count == 2)
    lib.rename_person(owner.id, "Alice")
    ctx, window = open_app(lib)
    people = window.show_page("people")

    def open_photos():
        window.show_page("people")
        people.open_person(owner.id)
        qtbot.waitUntil(lambda: people.person_page.person is not None, timeout=30_000)
        people.person_page.photos_button.click()
        photos = window.current_page()
        qtbot.waitUntil(lambda: photos.title.text() == "Photos of Alice", timeout=30_000)
        return photos

    return lib, ctx, window, owner, people, open_photos


def _click(qtbot, sidebar, item):
    from PySide6.QtCore import Qt

    qtbot.mouseClick(sidebar.viewport(), Qt.MouseButton.LeftButton, pos=sidebar.visualItemRect(item).center())


def test_a_persons_photos_are_titled_with_their_name(qtbot, tmp_path, open_app):
    lib, ctx, window, owner, people, open_photos = _people_photos(qtbot, tmp_path, open_app)
    photos = open_photos()
    qtbot.waitUntil(lambda: photos.count.text() == "2 photos", timeout=30_000)
    # Library in the sidebar: every photo again, no name left behind.
    _click(qtbot, window.sidebar, window.sidebar._items["photos"])
    qtbot.waitUntil(lambda: photos.title.text() == "All photos", timeout=30_000)


def test_the_sidebar_says_where_the_user_is_on_a_persons_photos(qtbot, tmp_path, open_app):
    """A person's photos belong to People (as in digiKam and Immich): the sidebar highlighted
    Library, where the user had not gone. Its entries still take the user where they say."""
    from PySide6.QtGui import QAction

    lib, ctx, window, owner, people, open_photos = _people_photos(qtbot, tmp_path, open_app)
    sidebar = window.sidebar
    library, people_item = sidebar._items["photos"], sidebar._items["people"]
    photos = open_photos()
    assert sidebar.currentItem() is people_item and not library.isSelected()
    # Back to Alice's page from her photos, where the Photos button was.
    assert photos.person_back.isVisible() and photos.person_back.text() == "← Alice"
    photos.person_back.click()
    assert window.current_page() is people and people.stack.currentWidget() is people.person_page
    assert people.person_page.person.id == owner.id and sidebar.currentItem() is people_item
    photos = open_photos()

    # People, already the chosen entry: every person, not Alice's page or photos.
    _click(qtbot, sidebar, people_item)
    assert window.current_page() is people and people.stack.currentIndex() == 0
    assert sidebar.currentItem() is people_item

    # Library by its shortcut (Ctrl+1) from a person's photos: every photo, and Library says so.
    open_photos()
    window.findChild(QAction, "show_photos").trigger()
    assert window.current_page() is photos and sidebar.currentItem() is library
    qtbot.waitUntil(lambda: photos.title.text() == "All photos" and photos.count.text() == "3 photos", timeout=30_000)
    assert photos.person_back.isHidden()

    # A folder, then People and back by the shortcut: the folder is what is shown and highlighted.
    qtbot.waitUntil(lambda: library.childCount() == 1, timeout=30_000)
    _click(qtbot, sidebar, library.child(0))
    qtbot.waitUntil(lambda: photos.title.text() == "Pictures", timeout=30_000)
    window.findChild(QAction, "show_people").trigger()
    window.findChild(QAction, "show_photos").trigger()
    assert photos.title.text() == "Pictures" and sidebar.currentItem() is library.child(0)


def test_a_persons_photos_follow_a_rename_and_its_undo(qtbot, tmp_path, open_app):
    from PySide6.QtGui import QAction

    from ui_testlib import wait_idle

    lib, ctx, window, owner, people, open_photos = _people_photos(qtbot, tmp_path, open_app)
    photos = open_photos()
    wait_idle(qtbot, ctx)
    lib.rename_person(owner.id, "Alicia")  # from anywhere: the person's page, a face's menu, the CLI
    qtbot.waitUntil(lambda: photos.title.text() == "Photos of Alicia", timeout=30_000)
    assert photos.person_back.text() == "← Alicia"
    undo = window.findChild(QAction, "undoPeopleAction")
    qtbot.waitUntil(lambda: undo.isEnabled() and "Alicia" in undo.text(), timeout=30_000)
    undo.trigger()
    qtbot.waitUntil(lambda: photos.title.text() == "Photos of Alice", timeout=30_000)
    # Someone else renamed, and the rename of a third person: the title is Alice's still.
    other = next(p for p in lib.people() if p.id != owner.id)
    with qtbot.waitSignal(ctx.changed, timeout=30_000, check_params_cb=lambda c: other.id in c.ids.get("people", ())):
        lib.rename_person(other.id, "Bob")
    wait_idle(qtbot, ctx)
    assert photos.title.text() == "Photos of Alice" and photos.count.text() == "2 photos"


def test_a_photo_or_comparison_over_the_grid_has_its_own_title(qtbot, tmp_path, open_app):
    """The grid's "All photos" stayed over a photo or a before/after comparison opened on it;
    going back, the grid's title and count are back."""
    from PySide6.QtWidgets import QPushButton

    from ui_testlib import restored_library

    lib, photo, version = restored_library(tmp_path, ("beach.png", "party.png"))
    beach = photo.id
    ctx, window = open_app(lib)
    page = window.show_page("photos")
    qtbot.waitUntil(lambda: page.title.text() == "All photos" and page.count.text() == "2 photos", timeout=30_000)

    page.open_compare(version.id)
    qtbot.waitUntil(lambda: page.title.text() == "Compare: beach.png", timeout=30_000)
    assert page.count.isHidden()  # the grid's count is not the comparison's
    page.compare_view.findChild(QPushButton, "compareBack").click()
    assert page.title.text() == "All photos" and page.count.isVisible() and page.count.text() == "2 photos"

    page.open_photo_view(beach)
    qtbot.waitUntil(lambda: page.title.text() == "beach.png", timeout=30_000)
    assert page.count.isHidden()
    page.photo_view.findChild(QPushButton, "backButton").click()
    assert page.title.text() == "All photos" and page.count.isVisible()
