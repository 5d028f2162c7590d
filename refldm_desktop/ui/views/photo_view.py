"""One photo with its faces: a box per face with the person's name; click a box to say who
it is (or that it is nobody known)."""

from __future__ import annotations

from pathlib import Path
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.ui.thumbnails import load_qimage
from refldm_desktop.ui.views.when_shown import WhenShown

if TYPE_CHECKING:
    from refldm_desktop.core.changes import FaceInfo, PersonInfo
    from refldm_desktop.ui.context import AppContext

VIEW_SIZE = 2048  # photos are shown at most this large; enough for a full-screen view


class FaceBox(QGraphicsRectItem):
    def __init__(self, face: "FaceInfo", on_click) -> None:
        x0, y0, x1, y1 = face.box
        super().__init__(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.face = face
        self._on_click = on_click
        confirmed = face.assignment == "confirmed"
        colour = QColor("#2e9e5b") if confirmed else QColor("#e0a030") if face.person_id else QColor("#d04040")
        pen = QPen(colour, 3)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAcceptHoverEvents(True)
        # Tab moves from face to face, Enter (or the menu key) asks who it is, as a click does.
        self.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemIsFocusable)
        self._pen = pen
        name = face.person_name or (f"Person {face.person_id}" if face.person_id else "Unknown")
        self.name = name
        self.setToolTip(f"{name} (face {face.id}); click to change")
        # The name on a tag of the box's colour: coloured text alone was unreadable on light
        # clothes and walls.
        tag = QGraphicsRectItem(self)
        tag.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemIgnoresTransformations)
        tag.setBrush(colour.darker(130))
        tag.setPen(QPen(Qt.PenStyle.NoPen))
        tag.setPos(x0, y1 + 2)
        self.label = QGraphicsSimpleTextItem(name, tag)
        self.label.setBrush(QColor("white"))
        font = QFont()
        font.setBold(True)
        self.label.setFont(font)
        self.label.setPos(4, 1)
        tag.setRect(self.label.boundingRect().adjusted(0, 0, 8, 2))

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._on_click(self.face, event.screenPos())
            event.accept()
            return
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space, Qt.Key.Key_Menu):
            view = self.scene().views()[0]
            at = view.mapFromScene(self.sceneBoundingRect().bottomLeft())
            self._on_click(self.face, view.viewport().mapToGlobal(at))
            event.accept()
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event) -> None:
        pen = QPen(self._pen)
        pen.setWidth(6)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        view = self.scene().views()[0] if self.scene() and self.scene().views() else None
        if view is not None:
            view.setAccessibleDescription(f"Face of {self.name}; Enter to say who it is")
        super().focusInEvent(event)

    def focusOutEvent(self, event) -> None:
        self.setPen(self._pen)
        super().focusOutEvent(event)


class PhotoView(QWidget):
    back = Signal()
    heading_changed = Signal()  # `heading`, the page's title while this view is shown, changed

    def __init__(self, ctx: "AppContext") -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("photoView")
        self.setAccessibleName("Photo with its faces")
        self.photo_id: int | None = None
        self.heading = "Photo"  # the photo's name once it is read
        self.faces: list["FaceInfo"] = []
        self.scene = QGraphicsScene(self)
        self.view = QGraphicsView(self.scene)
        self.view.setObjectName("photoCanvas")
        self.view.setAccessibleName("Photo")
        self.view.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.view.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        back = QPushButton("Back")
        back.setObjectName("backButton")
        back.setAccessibleName("Back to the photos")
        back.setShortcut("Esc")
        back.clicked.connect(self.back)
        self.caption = QLabel()
        self.caption.setObjectName("photoCaption")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        bar.addWidget(back)
        bar.addWidget(self.caption, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self._pixmap_item: QGraphicsPixmapItem | None = None
        self._size: tuple[int, int] | None = None
        self.view.installEventFilter(self)
        # A change while the view is hidden (another page, the grid) is read when it is shown:
        # coming back, the boxes had the names they had when the user left.
        self._when_shown = WhenShown(self, self._reload)
        ctx.changed.connect(self._on_change)

    def eventFilter(self, watched, event) -> bool:
        """Tab and Shift+Tab go from face to face in reading order, then on to the window's
        next control; the focused face takes Enter (FaceBox.keyPressEvent)."""
        if watched is self.view and isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress \
                and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            forward = event.key() == Qt.Key.Key_Tab and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            boxes = sorted(self.face_boxes(), key=lambda b: (b.rect().top() // 64, b.rect().left()))
            current = self.scene.focusItem()
            at = boxes.index(current) if current in boxes else (-1 if forward else len(boxes))
            nxt = at + (1 if forward else -1)
            if 0 <= nxt < len(boxes):
                boxes[nxt].setFocus(Qt.FocusReason.TabFocusReason)
                self.view.ensureVisible(boxes[nxt])
                return True
            self.scene.clearFocus()
        return super().eventFilter(watched, event)

    def show_photo(self, photo_id: int) -> None:
        if photo_id != self.photo_id:
            self._set_heading("Photo")  # not the last photo's name while this one loads
        self.photo_id = photo_id
        self._when_shown.refreshed()
        lib = self.ctx.library

        def load():
            info = next((p for p in lib.photos() if p.id == photo_id), None) if not hasattr(lib, "photo") else lib.photo(photo_id)
            faces = [f for f in lib.faces() if f.photo_id == photo_id] if not hasattr(lib, "faces_of_photo") else lib.faces_of_photo(photo_id)
            image = load_qimage(Path(info.path), VIEW_SIZE)
            return info, faces, image

        self.ctx.tasks.run(load, lambda r: self._show(photo_id, *r), label="Opening the photo")

    def _show(self, photo_id: int, info, faces, image) -> None:
        if photo_id != self.photo_id:
            return
        self.scene.clear()
        self.faces = list(faces)
        w, h = info.width or image.width(), info.height or image.height()
        pm = QPixmap.fromImage(image)
        self._pixmap_item = item = self.scene.addPixmap(pm)
        # The picture may be shown smaller than the photo; boxes are in photo pixels.
        item.setScale(w / max(1, image.width()))
        item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        for face in self.faces:
            self.scene.addItem(FaceBox(face, self._face_clicked))
        self.scene.setSceneRect(QRectF(0, 0, w, h))
        self._size = (w, h)
        self.fit()
        n = len(self.faces)
        # The photo's name is the page's title (heading); here, what to do with its faces.
        self.caption.setText(f"{n} face{'s' if n != 1 else ''}" + (": click a box to say who it is" if n else ""))
        self.caption.setToolTip(str(info.path))
        self._set_heading(Path(info.path).name)

    def _set_heading(self, text: str) -> None:
        if text != self.heading:
            self.heading = text
            self.heading_changed.emit()

    def fit(self) -> None:
        if self._size:
            self.view.fitInView(self.scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    def face_boxes(self) -> list[FaceBox]:
        return [i for i in self.scene.items() if isinstance(i, FaceBox)]

    def _on_change(self, change) -> None:
        if self.photo_id is not None and ({"faces", "people"} & set(change.areas)):
            self._when_shown.changed()

    def _reload(self) -> None:
        if self.photo_id is not None:
            self.show_photo(self.photo_id)

    # -- saying who a face is ------------------------------------------------------------------

    def _face_clicked(self, face: "FaceInfo", screen_pos) -> None:
        lib = self.ctx.library

        def show(people: list["PersonInfo"]) -> None:
            menu = self.person_menu(face, people)
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per click: freed when closed
            menu.popup(screen_pos)

        self.ctx.tasks.run(lambda: lib.people(include_hidden=False), show, label="Listing people")

    def person_menu(self, face: "FaceInfo", people: list["PersonInfo"]) -> QMenu:
        """Confirm, move to another person, a new person, or not this person."""
        menu = QMenu(self)
        menu.setObjectName("faceMenu")
        menu.setAccessibleName("Who is this")
        lib = self.ctx.library
        if face.person_id is not None and face.assignment != "confirmed":
            menu.addAction(f"Yes, this is {face.person_name or f'Person {face.person_id}'}", lambda: self._edit(lambda: lib.confirm_face(face.id)))
        others = [p for p in people if p.id != face.person_id]
        if others:
            move = menu.addMenu("This is…")
            move.setObjectName("assignMenu")
            for p in sorted(others, key=lambda p: (p.name is None, p.label.lower())):
                move.addAction(p.label, partial(self._edit, partial(lib.confirm_face, face.id, p.id)))
        # A name, typed or picked: the person of that name, or a new one (also for a face
        # nobody was found for). One edit, so one Ctrl+Z takes it back.
        a = menu.addAction("Name…", lambda: self._name_face(face, people))
        a.setObjectName("nameFaceAction")
        own = next((p for p in people if p.id == face.person_id), None)
        if own is not None and not own.name:
            a = menu.addAction(f"Name {own.label} ({own.face_count} faces)…", lambda: self._name_person(own))
            a.setObjectName("namePersonAction")
        if face.person_id is not None:
            menu.addAction("Not this person", lambda: self._edit(lambda: lib.reject_face(face.id)))
        return menu

    def _name_face(self, face: "FaceInfo", people: list["PersonInfo"]) -> None:
        names = sorted({p.name for p in people if p.name}, key=str.casefold)
        current = face.person_name or ""
        at = names.index(current) if current in names else -1
        if at < 0:
            names.insert(0, current)
            at = 0
        name, ok = QInputDialog.getItem(self, "Who is this?", "Name (a new name makes a new person):", names, at, True)
        name = name.strip() if ok else ""
        if name:
            lib = self.ctx.library
            self._edit(lambda: lib.name_faces([face.id], name))

    def _name_person(self, person: "PersonInfo") -> None:
        name, ok = QInputDialog.getText(self, "Name this person", f"Name for all faces of {person.label}:")
        name = name.strip() if ok else ""
        if name:
            # The shared rename: a name another person has asks to merge the two, never
            # makes a second person of that name.
            from refldm_desktop.ui.views.people_common import rename_person

            rename_person(self.ctx, self, person.id, name)

    def _edit(self, fn) -> None:
        self.ctx.call(fn, None, "faces", "people", label="Changing the face's person")
