"""A photo's faces: click a box to say who it is; a face nobody was found for can be named
too, and one Ctrl+Z takes any of it back."""

from __future__ import annotations

import pytest

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def _view(qtbot, ctx, photo_id):
    from refldm_desktop.ui.views.photo_view import PhotoView

    view = PhotoView(ctx)
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    view.show_photo(photo_id)
    qtbot.waitUntil(lambda: len(view.face_boxes()) > 0, timeout=30_000)
    return view


def _action(menu, name):
    for a in menu.actions():
        if a.objectName() == name:
            return a
        if a.menu() is not None:
            found = _action(a.menu(), name)
            if found is not None:
                return found
    return None


def test_a_face_nobody_was_found_for_is_named_in_one_undoable_edit(qtbot, fake_ctx, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    ctx, lib = fake_ctx, fake_ctx.library
    loner = next((f for f in lib.faces() if f.person_id is None), None)
    if loner is None:  # clustering put every face into a person: make one face nobody's
        loner = lib.faces()[0]
        lib.reject_face(loner.id)
        loner = lib.face(loner.id)
    assert loner.person_id is None
    view = _view(qtbot, ctx, loner.photo_id)
    box = next(b for b in view.face_boxes() if b.face.id == loner.id)
    asked = []

    def answer(parent, title, label, items, current, editable):
        asked.append((list(items), editable))
        return "Aunt May", True

    monkeypatch.setattr(QInputDialog, "getItem", answer)
    menu = view.person_menu(box.face, lib.people(include_hidden=False))
    before = lib.undo_state().undo
    _action(menu, "nameFaceAction").trigger()
    qtbot.waitUntil(lambda: lib.face(loner.id).person_id is not None, timeout=30_000)
    assert asked and asked[0][1]  # a name can be typed, not only picked
    named = lib.person(lib.face(loner.id).person_id)
    assert named.name == "Aunt May" and lib.face(loner.id).assignment == "confirmed"
    assert lib.undo_state().undo != before
    lib.undo()
    assert lib.face(loner.id).person_id is None


def test_an_unnamed_person_is_named_from_one_of_its_faces(qtbot, fake_ctx, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    ctx, lib = fake_ctx, fake_ctx.library
    person = next(p for p in lib.people() if not p.name)
    face = lib.faces(person.id)[0]
    view = _view(qtbot, ctx, face.photo_id)
    box = next(b for b in view.face_boxes() if b.face.id == face.id)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Grandpa Joe", True))
    menu = view.person_menu(box.face, lib.people(include_hidden=False))
    action = _action(menu, "namePersonAction")
    assert f"{person.face_count} faces" in action.text()
    action.trigger()
    qtbot.waitUntil(lambda: lib.person(person.id).name == "Grandpa Joe", timeout=30_000)


def test_naming_a_person_with_a_name_in_use_asks_to_merge_them(qtbot, fake_ctx, monkeypatch):
    """Two people of one name is never what was meant: the photo's "Name this person" asks,
    as renaming a tile does, and merges when told to."""
    from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

    ctx, lib = fake_ctx, fake_ctx.library
    unnamed = [p for p in lib.people() if not p.name]
    other, person = unnamed[0], unnamed[1]
    lib.rename_person(other.id, "Ann")
    face = lib.faces(person.id)[0]
    view = _view(qtbot, ctx, face.photo_id)
    box = next(b for b in view.face_boxes() if b.face.id == face.id)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("ann", True))
    _action(view.person_menu(box.face, lib.people(include_hidden=False)), "namePersonAction").trigger()
    found: list = []

    def asked() -> bool:
        found[:] = [w for w in QApplication.topLevelWidgets()
                    if isinstance(w, QMessageBox) and w.isVisible() and w.objectName() == "renameMergeQuestion"]
        return bool(found)

    qtbot.waitUntil(asked, timeout=30_000)
    assert "“Ann” already exists" in found[0].text()
    assert [p.name for p in lib.people()].count("ann") == 0  # nothing renamed before the answer
    found[0].button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: person.id not in {p.id for p in lib.people()}, timeout=30_000)
    assert lib.person(other.id).face_count == other.face_count + person.face_count
    assert [p.name for p in lib.people() if p.name and p.name.casefold() == "ann"] == ["Ann"]


def test_open_in_the_file_manager_shows_the_file_itself(qtbot, fake_ctx, tmp_path, monkeypatch):
    """The photo's own file, selected, found through the core (a photo the grid has not
    loaded works too); on the Restored page the restored file, not the original."""
    from PIL import Image

    from refldm_desktop.jobs.queue import JobResult, VersionRecord
    from refldm_desktop.jobs.runner import HandlerRegistry
    from refldm_desktop.ui.views import photo_menu
    from refldm_desktop.ui.views.photos_page import PhotosPage

    ctx, lib = fake_ctx, fake_ctx.library
    shown = []
    monkeypatch.setattr(photo_menu, "reveal", lambda path: shown.append(path) or True)
    photo = lib.photos()[0]
    library, restored = PhotosPage(ctx), PhotosPage(ctx, restored=True)
    for page in (library, restored):
        qtbot.addWidget(page)
    photo_menu.open_in_file_manager(library, photo.id)  # before the grid has loaded anything
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=30_000)
    assert shown[0] == photo.path

    out = tmp_path / "restored.png"
    Image.new("RGB", (64, 48), (0, 200, 0)).save(out)
    lib.jobs.enqueue_restore([photo.id], restorer="passthrough")
    lib.jobs.run(HandlerRegistry({"restore_photo": lambda c: JobResult(VersionRecord(out, "ab" * 32, "fake"))}))
    photo_menu.open_in_file_manager(restored, photo.id)
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=30_000)
    assert shown[1] == out


def test_reveal_falls_back_to_the_folder_without_a_file_manager_service(tmp_path, monkeypatch):
    import sys

    from PySide6.QtGui import QDesktopServices

    from refldm_desktop.ui.views import photo_menu

    opened = []
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(photo_menu, "_show_items_over_dbus", lambda path, failed: False)
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    assert photo_menu.reveal(tmp_path / "a" / "b.jpg")
    assert opened == [str(tmp_path / "a")]


_FILE_MANAGER = """
import sys, time
from PySide6.QtCore import ClassInfo, QCoreApplication, QObject, Slot
from PySide6.QtDBus import QDBusConnection

log, hang = sys.argv[1], sys.argv[2] == "hang"


@ClassInfo({"D-Bus Interface": "org.freedesktop.FileManager1"})
class FileManager(QObject):
    @Slot("QStringList", str)
    def ShowItems(self, uris, startup):
        with open(log, "a") as f:
            f.write(" ".join(uris) + "\\n")
        if hang:
            time.sleep(120)  # a file manager that does not answer


app = QCoreApplication([])
bus = QDBusConnection.connectToBus(sys.argv[3], "test")
manager = FileManager()
bus.registerObject("/org/freedesktop/FileManager1", manager, QDBusConnection.RegisterOption.ExportAllSlots)
if bus.registerService("org.freedesktop.FileManager1"):
    with open(log, "a") as f:
        f.write("ready\\n")
app.exec()
"""


@pytest.fixture
def session_bus(tmp_path, monkeypatch, request):
    """A private D-Bus session bus (Debian's dbus-daemon) that photo_menu talks to."""
    import shutil
    import subprocess

    from PySide6.QtDBus import QDBusConnection

    if shutil.which("dbus-daemon") is None:
        pytest.skip("no dbus-daemon")
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    request.addfinalizer(lambda: (daemon.kill(), daemon.wait(), daemon.stdout.close()))
    address = daemon.stdout.readline().strip()
    name = f"photo-menu-{tmp_path.name}"
    bus = QDBusConnection.connectToBus(address, name)
    request.addfinalizer(lambda: QDBusConnection.disconnectFromBus(name))
    assert bus.isConnected()
    monkeypatch.setattr("refldm_desktop.ui.views.photo_menu._session_bus", lambda: bus)
    return address


def _file_manager(tmp_path, address, hang: bool, request):
    import subprocess
    import sys
    import time

    script, log = tmp_path / "file_manager.py", tmp_path / "file_manager.log"
    script.write_text(_FILE_MANAGER)
    proc = subprocess.Popen([sys.executable, str(script), str(log), "hang" if hang else "answer", address])
    request.addfinalizer(lambda: (proc.kill(), proc.wait()))
    end = time.monotonic() + 30
    while not (log.exists() and "ready" in log.read_text()):
        assert proc.poll() is None and time.monotonic() < end, "the fake file manager did not start"
        time.sleep(0.05)
    return log


@pytest.mark.parametrize("hang", [False, True], ids=["answers", "hangs"])
def test_reveal_never_waits_for_the_file_manager(qtbot, tmp_path, monkeypatch, session_bus, request, hang):
    """The file manager is asked over D-Bus without the window waiting for its answer; one
    that hangs gets the folder opened instead once the call times out."""
    import sys

    from PySide6.QtGui import QDesktopServices

    from refldm_desktop.ui.views import photo_menu

    log = _file_manager(tmp_path, session_bus, hang, request)
    opened: list[str] = []
    monkeypatch.setattr(sys, "platform", "linux")
    if hang:  # else the answer may take its time on a busy machine: the default 25 s stays
        monkeypatch.setattr(photo_menu, "DBUS_TIMEOUT_MS", 1500)
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    photo = tmp_path / "album" / "b.jpg"
    assert photo_menu.reveal(photo)
    assert opened == []  # returned before any answer: a blocking call would have timed out first
    qtbot.waitUntil(lambda: photo.as_uri() in log.read_text(), timeout=10_000)
    if hang:
        qtbot.waitUntil(lambda: opened == [str(photo.parent)], timeout=10_000)
    else:
        qtbot.waitUntil(lambda: not photo_menu._waiting, timeout=30_000)  # the answer came
        qtbot.wait(50)
        assert opened == []  # an answered call opens nothing more


def test_faces_are_reached_with_tab_and_named_with_enter(qtbot, fake_ctx, monkeypatch):
    """Without a mouse: Tab goes from face box to face box, Enter asks who it is."""
    from PySide6.QtCore import Qt

    from refldm_desktop.ui.views.photo_view import PhotoView

    ctx, lib = fake_ctx, fake_ctx.library
    photo = next(p for p in lib.photos() if sum(f.photo_id == p.id for f in lib.faces()) >= 2)
    asked = []
    monkeypatch.setattr(PhotoView, "_face_clicked", lambda self, face, pos: asked.append(face.id))
    view = _view(qtbot, ctx, photo.id)
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow, timeout=5_000)
    view.view.setFocus()
    seen = set()
    for _ in range(2):
        qtbot.keyClick(view.view, Qt.Key.Key_Tab)
        focused = view.scene.focusItem()
        assert focused in view.face_boxes()
        seen.add(focused.face.id)
        qtbot.keyClick(view.view, Qt.Key.Key_Return)
        assert asked[-1] == focused.face.id
    assert len(seen) == 2
