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


def test_a_persons_photos_are_titled_with_their_name(qtbot, tmp_path, open_app):
    from PySide6.QtCore import Qt

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
    people.open_person(owner.id)
    person_page = people.person_page
    qtbot.waitUntil(lambda: person_page.person is not None, timeout=30_000)
    person_page.photos_button.click()
    photos = window.current_page()
    qtbot.waitUntil(lambda: photos.title.text() == "Photos of Alice", timeout=30_000)
    qtbot.waitUntil(lambda: photos.count.text() == "2 photos", timeout=30_000)
    # Library in the sidebar (already the chosen entry): every photo again, no name left behind.
    library = window.sidebar._items["photos"]
    qtbot.mouseClick(window.sidebar.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.sidebar.visualItemRect(library).center())
    qtbot.waitUntil(lambda: photos.title.text() == "All photos", timeout=30_000)
