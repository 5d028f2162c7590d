"""The window's menus and shortcuts, kept out of the window class.

Each contributor in CONTRIBUTORS gets the window, the context and the menus by name
("file", "edit", "view", "photo", "tools", "help") and adds its actions there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from refldm_desktop.ui.mainwindow.pages import PAGES

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.mainwindow.window import MainWindow

Menus = dict[str, QMenu]
Contributor = Callable[["MainWindow", "AppContext", Menus], None]


class PhotoVerb(NamedTuple):
    """One entry of both the grid's right-click menu and the Photo menu. A NamedTuple, not a
    dataclass: these are made before the window's first paint, and a tuple costs nothing."""

    text: str
    verb: str  # the function of ui.views.photo_menu it calls: (page, ids) or (page, one id)
    single: bool  # takes one photo (the first selected) rather than all of them
    shortcut: str
    menu_name: str  # object name in the Photo menu
    popup_name: str  # object name in the right-click menu
    tip: str = ""
    many_text: str = ""  # the right-click text for several photos, "{what}" being "3 Photos"
    needs_one: bool = False  # greyed out in the right-click menu when several are selected
    group_start: bool = False  # a separator before it


PHOTO_VERBS = (
    PhotoVerb("&Restore Faces", "restore", False, "Ctrl+R", "restoreSelected", "restoreAction",
              tip="Restore with your saved settings", many_text="&Restore Faces of {what}"),
    PhotoVerb("Restore with &Options…", "restore_with_options", False, "Ctrl+Shift+R", "restoreSelectedOptions",
              "restoreOptionsAction"),
    PhotoVerb("Show &Faces", "show_faces", True, "Ctrl+F", "showFacesSelected", "showFacesAction",
              needs_one=True, group_start=True),
    PhotoVerb("&Compare with Restored", "compare_latest", True, "Ctrl+D", "compareSelected", "compareAction",
              needs_one=True),
    PhotoVerb("Open in the File &Manager", "open_in_file_manager", True, "Ctrl+Shift+O", "openFolderSelected",
              "openFolderAction"),
)


def photo_verb(verb: str) -> PhotoVerb:
    return next(v for v in PHOTO_VERBS if v.verb == verb)


# The platform's Open key: Ctrl+O, or Cmd+O on macOS.
ADD_FOLDER_SHORTCUT: str | QKeySequence.StandardKey = QKeySequence.StandardKey.Open
BATCH_SHORTCUT = "Ctrl+B"

MENUS = (("file", "&File"), ("edit", "&Edit"), ("view", "&View"), ("photo", "&Photo"), ("tools", "&Tools"), ("help", "&Help"))


def action(parent, text: str, slot, shortcut: str | QKeySequence.StandardKey | None = None, name: str = "") -> QAction:
    """An action with its shortcut shown in the menu and a name for tests and scripts."""
    a = QAction(text, parent)
    if shortcut:
        a.setShortcut(QKeySequence(shortcut) if isinstance(shortcut, str) else QKeySequence(shortcut))
    if name:
        a.setObjectName(name)
    a.triggered.connect(lambda _checked=False: slot())
    return a


def add_folder_words() -> str:
    """Where Add Folder is and its key as this platform's menu writes it, for notes that ask
    users to add a folder: a key typed into the text said Ctrl+O on a Mac too."""
    from refldm_desktop.ui.keys import with_key

    return with_key("File › Add Folder…", ADD_FOLDER_SHORTCUT)


def _file(window: "MainWindow", ctx: "AppContext", menus: Menus) -> None:
    def add_folder() -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(window, "Add a folder of photos")
        if folder:
            from pathlib import Path

            window.open_paths([Path(folder)])

    menus["file"].addAction(action(window, "&Add Folder…", add_folder, ADD_FOLDER_SHORTCUT, "addFolderAction"))
    menus["file"].addSeparator()
    menus["file"].addAction(action(window, "&Quit", window.close, QKeySequence.StandardKey.Quit, "quitAction"))


def _view(window: "MainWindow", ctx: "AppContext", menus: Menus) -> None:
    for spec in PAGES:
        menus["view"].addAction(
            action(window, spec.title, lambda key=spec.key: window.show_page(key), spec.shortcut or None, f"show_{spec.key}")
        )


def _photo(window: "MainWindow", ctx: "AppContext", menus: Menus) -> None:
    """The right-click menu's actions, for the selected photos of the page on screen."""

    def on_selection(verb: str, single: bool = False):
        def run() -> None:
            # The verbs' module is read when a key is first used, not before the first paint.
            from refldm_desktop.ui.views import photo_menu

            page = window.current_page()
            selected = getattr(page, "selected_photo_ids", None)
            ids = selected() if selected is not None else []
            if not ids:
                ctx.status.emit("Select a photo first")
            else:
                getattr(photo_menu, verb)(page, ids[0] if single else ids)

        return run

    m = menus["photo"]
    acts = []
    for v in PHOTO_VERBS:
        if v.group_start:
            m.addSeparator()
        acts.append(action(window, v.text, on_selection(v.verb, v.single), v.shortcut, v.menu_name))
        acts[-1].setToolTip(v.tip)
        m.addAction(acts[-1])

    def follow_page(_index: int = 0) -> None:
        # Only on a page of photos: elsewhere these keys belong to that page (Ctrl+R retries
        # a job in the Jobs panel).
        on = hasattr(window.current_page(), "selected_photo_ids")
        for a in acts:
            a.setEnabled(on)

    window.stack.currentChanged.connect(follow_page)
    follow_page()


def _people(window: "MainWindow", ctx: "AppContext", menus: Menus) -> None:
    from refldm_desktop.ui.people_actions import contribute

    contribute(window, ctx, menus)


def _tools(window: "MainWindow", ctx: "AppContext", menus: Menus) -> None:
    menus["tools"].addAction(action(window, "Check &Library…", window.check_library, None, "checkLibraryAction"))
    probe_again = getattr(window.statusBar(), "probe_again", None)
    if probe_again is not None:
        menus["tools"].addSeparator()
        menus["tools"].addAction(probe_again)


def _help(window: "MainWindow", ctx: "AppContext", menus: Menus) -> None:
    def shortcuts() -> None:
        from refldm_desktop.ui.dialogs.shortcuts import ShortcutsDialog

        ShortcutsDialog(window).open()

    def about() -> None:
        from PySide6.QtWidgets import QMessageBox

        from refldm_desktop import __version__

        QMessageBox.about(
            window, "About ReF-LDM Desktop",
            f"ReF-LDM Desktop {__version__}\n\nRestores faces in old photos using good photos of the same "
            f"person. Your originals are only ever read.\n\nData: {ctx.library.home.root}",
        )

    menus["help"].addAction(action(window, "Keyboard &Shortcuts", shortcuts, QKeySequence.StandardKey.HelpContents, "shortcutsAction"))
    menus["help"].addAction(action(window, "&About ReF-LDM Desktop", about, None, "aboutAction"))


CONTRIBUTORS: list[Contributor] = [_file, _view, _photo, _people, _tools, _help]


def install(window: "MainWindow", ctx: "AppContext") -> Menus:
    bar = window.menuBar()
    menus: Menus = {}
    for key, title in MENUS:
        menu = bar.addMenu(title)
        menu.setObjectName(f"{key}Menu")
        menus[key] = menu
    for contribute in CONTRIBUTORS:
        contribute(window, ctx, menus)
    for menu in menus.values():
        if menu.isEmpty():
            menu.menuAction().setVisible(False)
    window.menus = menus
    return menus
