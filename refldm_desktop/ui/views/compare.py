"""The compare view of a restored version: before and after (split, lens or side by side)
with one zoom and pan, one face at a time or the whole photo, the references each face was
restored from with the reasons they were chosen, and Keep or Discard."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.ui.keys import with_key
from refldm_desktop.ui.naming import named
from refldm_desktop.ui.views.compare_canvas import CompareCanvas, Mode
from refldm_desktop.ui.views.when_shown import WhenShown
from refldm_desktop.core.outcomes import FaceOutcome

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext

SHOWN = 2400  # pictures are loaded at most this large (the lens magnifies them further)
FACE_MARGIN = 0.6  # show this much around a face box, of its size on each side


@dataclass
class Loaded:
    version: Any
    before: QImage
    after: QImage
    original_size: tuple[int, int]
    output_size: tuple[int, int]
    faces: list[dict] = field(default_factory=list)  # face_status entries of restored faces
    names: dict[int, str] = field(default_factory=dict)  # face id -> person's name
    references: dict[int, list[tuple[int, QImage | None, str]]] = field(default_factory=dict)


def _image(path: Path, size: int) -> tuple[QImage, tuple[int, int]]:
    """The picture at most `size` large, and its full upright size."""
    from PIL import Image

    from refldm_desktop.ui.thumbnails import load_qimage

    with Image.open(path) as im:
        w, h = im.size
        if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientations that turn it
            w, h = h, w
    return load_qimage(path, size), (w, h)


def load_version(lib, version_id: int) -> Loaded:
    """Everything the view shows, read on a worker thread."""
    from refldm_desktop.ui.thumbnails import load_qimage

    version = next((v for v in lib.jobs.versions() if v.id == version_id), None)
    if version is None:
        from refldm_desktop.core.changes import NotFound

        raise NotFound(f"no restored version with id {version_id} (it was discarded)")
    before, original_size = _image(Path(version.original), SHOWN)
    after, output_size = _image(Path(version.output), SHOWN)
    used = {int(u["face_id"]): [int(r) for r in u.get("references", [])] for u in version.references_used}
    faces = [f for f in version.face_status if FaceOutcome.from_json(f).restored]
    loaded = Loaded(version, before, after, original_size, output_size, faces,
                    face_names(lib, [int(f["face_id"]) for f in faces]))
    for f in faces:
        fid = int(f["face_id"])
        try:
            reasons = {c.face_id: "; ".join(c.reasons) for c in lib.references_for_face(fid)}
        except Exception:  # noqa: BLE001 - the person changed since: show what was used
            reasons = {}
        refs = []
        for rid in used.get(fid, []):
            try:
                crop = load_qimage(lib.face_crop(rid), 160)
            except Exception:  # noqa: BLE001
                crop = None
            refs.append((rid, crop, reasons.get(rid, "chosen when it was restored (no longer among the best now)")))
        loaded.references[fid] = refs
    return loaded


def face_names(lib, face_ids: list[int]) -> dict[int, str]:
    """Each face's person as the view names them (read on a worker thread)."""
    names = {}
    for fid in face_ids:
        try:
            info = lib.face(fid)
            names[fid] = info.person_name or (f"Person {info.person_id}" if info.person_id else "Unknown")
        except Exception:  # noqa: BLE001 - a face re-detected since keeps its number only
            names[fid] = "Unknown"
    return names


# The identity guard's verdict in words (its distances are in the tooltip).
LIKENESS = {"kept": "still looks like the same person", "improved": "looks more like the person than before",
            "drifted": "may no longer look like the person: compare closely",
            "no_face": "no face was found in the result"}


def _identity_line(face: dict, name: str) -> tuple[str, str]:
    """The guard's verdict for one face, and its numbers for the tooltip."""
    from refldm_desktop.restore.identity import DRIFTED, NO_FACE, IdentityCheck

    fid = face["face_id"]
    if not face.get("identity"):
        return f"{name}: likeness not checked", f"Face {fid}: the restorer's result was not compared with the person"
    check = IdentityCheck.from_json(face["identity"])
    warn = "⚠ " if check.verdict in (DRIFTED, NO_FACE) else ""
    return f"{warn}{name}: {LIKENESS.get(check.verdict, check.verdict)}", f"Face {fid}: {check.describe()}"


class CompareView(QWidget):
    back = Signal()
    decided = Signal(int, str)  # version id, "kept" / "discarded"
    heading_changed = Signal()  # `heading`, the page's title while this view is shown, changed

    def __init__(self, ctx: "AppContext") -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("compareView")
        self.setAccessibleName("Compare before and after")
        self.version_id: int | None = None
        self.loaded: Loaded | None = None
        self.heading = "Compare"
        self.preview_steps: int | None = None  # while a preview is shown
        self._preview_photo: int | None = None
        self.canvas = CompareCanvas()

        back = QPushButton("Back")
        back.setObjectName("compareBack")
        back.setAccessibleName("Back to the photos")
        back.setShortcut(QKeySequence("Esc"))
        back.clicked.connect(self.back)
        # While a preview is shown: how far the full result is (the status bar's words).
        self.progress = named(QLabel(), "compareProgress", "Progress of the full result")
        self.progress.hide()
        self._preview_job: int | None = None  # the job making the full result of the preview
        ctx.running_job.changed.connect(self._show_progress)
        # What a change asked to read again ("names", "version"), read once the view is shown.
        self._to_read: set[str] = set()
        self._when_shown = WhenShown(self, self._read_changed)
        ctx.changed.connect(self._on_change)
        self.title = QLabel()
        self.title.setObjectName("compareTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)  # a long line (the result discarded) wraps; it squeezed the face choice
        self.face_choice = QComboBox()
        self.face_choice.setObjectName("compareFace")
        self.face_choice.setAccessibleName("Which face to show")
        # Wide enough for its longest entry: "Whole photo" was cut to "Whole pl".
        self.face_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.face_choice.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.face_choice.currentIndexChanged.connect(self._face_chosen)
        self.modes = QButtonGroup(self)
        self._mode_buttons: dict[Mode, QToolButton] = {}
        mode_row = QHBoxLayout()
        for i, (mode, text, key) in enumerate(((Mode.SPLIT, "Split", "S"), (Mode.LENS, "Lens", "L"), (Mode.SIDE, "Side by Side", "B"))):
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            b.setChecked(i == 0)
            b.setObjectName(f"mode_{mode.value}")
            b.setAccessibleName(f"{text} view")
            b.setToolTip(f"{text} ({key})")
            b.setShortcut(QKeySequence(key))
            b.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
            self.modes.addButton(b, i)
            self._mode_buttons[mode] = b
            mode_row.addWidget(b)
        self.canvas.mode_changed.connect(self._mode_shown)
        fit = QToolButton()
        fit.setText("Fit")
        fit.setAccessibleName("Fit to the window")
        fit.setToolTip("Fit (0)")
        fit.clicked.connect(lambda: self.canvas.set_zoom(1.0))
        mode_row.addWidget(fit)
        self.keep = QPushButton("Keep")
        self.keep.setObjectName("keepButton")
        self.keep.setAccessibleName("Keep the restored photo")
        self.keep.setShortcut(QKeySequence("Ctrl+Return"))
        self.keep.setToolTip(with_key("Keep the restored copy", self.keep.shortcut()))
        self.keep.clicked.connect(lambda: self._decide("kept"))
        self.discard = QPushButton("Discard")
        self.discard.setObjectName("discardButton")
        self.discard.setAccessibleName("Discard the restored photo")
        self.discard.setShortcut(QKeySequence("Ctrl+Delete"))
        self.discard.setToolTip(with_key("Delete the restored copy; the original is never touched", self.discard.shortcut()))
        self.discard.clicked.connect(lambda: self._decide("discarded"))

        top = QHBoxLayout()
        top.addWidget(back)
        top.addWidget(self.title, 1)
        top.addWidget(self.progress)
        top.addWidget(self.face_choice)
        top.addLayout(mode_row)
        top.addWidget(self.keep)
        top.addWidget(self.discard)

        self.references = QListWidget()
        self.references.setObjectName("compareReferences")
        self.references.setAccessibleName("References used for this face")
        self.references.setIconSize(QSize(96, 96))
        self.references.setWordWrap(True)
        self.ref_caption = QLabel("References")
        self.ref_caption.setObjectName("compareRefCaption")
        self.ref_caption.setWordWrap(True)
        # The identity guard's verdict: does the result still look like the person?
        self.identity = QLabel()
        self.identity.setObjectName("compareIdentity")
        self.identity.setWordWrap(True)
        self.identity.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel()
        self.details.setObjectName("compareDetails")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.identity)
        side_layout.addWidget(self.ref_caption)
        side_layout.addWidget(self.references, 1)
        side_layout.addWidget(self.details)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("compareSplitter")
        split.addWidget(self.canvas)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setSizes([900, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    def _set_heading(self, text: str) -> None:
        if text != self.heading:
            self.heading = text
            self.heading_changed.emit()

    def set_mode(self, mode: Mode) -> None:
        self.canvas.set_mode(mode)

    def _mode_shown(self, mode: Mode) -> None:
        self._mode_buttons[mode].setChecked(True)

    # -- loading -------------------------------------------------------------------------

    def show_preview(self, photo_id: int, preview: Path, steps: int | None, job_id: int | None = None) -> None:
        """A quick low-step result while the full one is made: shown like a result, but
        nothing to keep or discard yet, and how far the full one is (the job `job_id`);
        show_version() swaps in the final one."""
        self._preview_job = job_id
        self.version_id = None
        self.loaded = None
        self._to_read.clear()
        self._when_shown.refreshed()
        self.preview_steps = steps
        self._preview_photo = photo_id
        self.keep.setEnabled(False)
        self.discard.setEnabled(False)
        what = f"Preview ({steps} steps)" if steps else "Preview"
        self.title.setText(f"{what}: the full result follows")
        self.title.setToolTip("A quick result with fewer steps; the final one replaces it when it is done")
        self._show_progress()
        self.references.clear()
        self.ref_caption.setText("References are listed with the full result")
        self.details.setText("")
        self._set_heading("Preview")
        lib = self.ctx.library

        def load() -> tuple[str, QImage, QImage]:
            original = Path(lib.photo(photo_id).path)
            return original.name, _image(original, SHOWN)[0], _image(preview, SHOWN)[0]

        def shown(got: tuple[str, QImage, QImage]) -> None:
            if self.version_id is not None or self.preview_steps != steps:
                return  # the final result came first
            name, *images = got
            self._set_heading(f"Preview: {name}")
            self.canvas.set_images(*images)
            self.canvas.show_region(QRectF(0, 0, images[1].width(), images[1].height()))

        self.ctx.tasks.run(load, shown, lambda *_: None, label="Opening the preview")

    def _show_progress(self) -> None:
        follow = self.ctx.running_job
        shown = self.preview_steps is not None and self._preview_job is not None and follow.job_id == self._preview_job
        if shown:
            self.progress.setText(follow.text())
            self.progress.setToolTip("How far the full result is; it replaces this preview when it is done")
        self.progress.setVisible(shown)

    def preview_ended(self, photo_id: int, why: str) -> None:
        """The job behind the preview on screen ended without a result: say so (the preview
        stays to look at; there is nothing to keep or discard)."""
        if self.preview_steps is None or self.version_id is not None or self._preview_photo != photo_id:
            return
        self.preview_steps = None
        self.progress.hide()
        self.title.setText(f"{why}. This was only the quick preview; the Jobs page has the details")
        self.title.setToolTip(why)
        self.ref_caption.setText("")

    def show_version(self, version_id: int) -> None:
        self.version_id = version_id
        self.loaded = None
        self._to_read.clear()  # read afresh with the version
        self._when_shown.refreshed()
        self.preview_steps = None
        self.progress.hide()
        lib = self.ctx.library
        self.title.setText("Loading…")
        self._set_heading("Compare")
        self.ctx.tasks.run(lambda: load_version(lib, version_id), self._show, label="Opening the restored photo")

    def _show(self, loaded: Loaded) -> None:
        if loaded.version.id != self.version_id:
            return
        self.loaded = loaded
        self.keep.setEnabled(True)
        self.discard.setEnabled(True)
        v = loaded.version
        self.canvas.set_images(loaded.before, loaded.after)
        self.title.setText(f"{Path(v.original).name}  →  {Path(v.output).name}")
        self._set_heading(f"Compare: {Path(v.original).name}")
        self.title.setToolTip(f"Original: {v.original}\nRestored: {v.output}")
        self.face_choice.blockSignals(True)
        self.face_choice.clear()
        self.face_choice.addItem("Whole photo", None)
        for f in loaded.faces:
            fid = int(f["face_id"])
            self.face_choice.addItem(self._face_item(fid), fid)
        self.face_choice.blockSignals(False)
        self.face_choice.setCurrentIndex(1 if len(loaded.faces) == 1 else 0)
        self._face_chosen()

    @staticmethod
    def _details(loaded: Loaded, face_id: int | None) -> str:
        """How the shown face was restored (a face may have had its own steps, guidance and
        seed); for the whole photo, what its faces share, or that they differ."""
        v = loaded.version
        p = v.parameters or {}
        s = v.sampling(face_id)
        differ = False
        if face_id is None:
            shared = {tuple(v.sampling(int(f["face_id"])).items()) for f in loaded.faces}
            s = dict(next(iter(shared))) if len(shared) == 1 else s
            differ = len(shared) > 1
        if differ:
            sampling = "each face its own steps, guidance and seed (choose a face)"
        else:
            sampling = f"steps {s['steps'] or '?'} · guidance {'?' if s['cfg'] is None else s['cfg']} · seed {s['seed']}"
        return (
            f"{v.restorer}{' ' + v.model if v.model and v.model != v.restorer else ''} · {sampling}"
            # "auto" was recorded before the device used was: a wish, not where it ran.
            + (f" · device: {p['device']}" if p.get("device") not in (None, "", "auto") else "")
            + (f" · upscale {p['upscale']}×" if p.get("upscale", 1) != 1 else "")
        )

    def _face_chosen(self) -> None:
        loaded = self.loaded
        if loaded is None:
            return
        fid = self.face_choice.currentData()
        aw, ah = loaded.after.width(), loaded.after.height()
        if fid is None:
            self.canvas.show_region(QRectF(0, 0, aw, ah))
            faces = loaded.faces
        else:
            f = next(f for f in loaded.faces if int(f["face_id"]) == fid)
            # Boxes are in the original's pixels; the restored picture may be upscaled and
            # is loaded reduced.
            s = aw / max(1, loaded.original_size[0])
            x0, y0, x1, y1 = (float(c) * s for c in f["box"])
            mx, my = (x1 - x0) * FACE_MARGIN, (y1 - y0) * FACE_MARGIN
            self.canvas.show_region(QRectF(x0 - mx, y0 - my, x1 - x0 + 2 * mx, y1 - y0 + 2 * my).intersected(QRectF(0, 0, aw, ah)))
            faces = [f]
        self._show_about(faces)

    def _show_about(self, faces: list[dict]) -> None:
        """The references, likeness and settings of the faces shown."""
        loaded = self.loaded
        if loaded is None:
            return
        fid = self.face_choice.currentData()
        self.references.clear()
        count = 0
        for f in faces:
            face_id = int(f["face_id"])
            name = self._name(face_id)
            for rid, crop, reason in loaded.references.get(face_id, []):
                # With several faces shown, each reference says whose it is.
                item = QListWidgetItem(f"For {name}: {reason}" if len(faces) > 1 else reason)
                item.setData(Qt.ItemDataRole.UserRole, rid)
                item.setToolTip(f"Face {rid}, a reference for {name} (face {face_id}): {reason}")
                if crop is not None:
                    item.setIcon(QIcon(QPixmap.fromImage(crop)))
                self.references.addItem(item)
                count += 1
        self.details.setText(self._details(loaded, fid))
        lines = [_identity_line(f, self._name(int(f["face_id"]))) for f in faces]
        self.identity.setText("\n".join(text for text, _ in lines))
        self.identity.setToolTip("Does the result still look like the person? Distances between faces, "
                                 "lower is closer:\n" + "\n".join(tip for _, tip in lines))
        if count:
            self.ref_caption.setText(f"{count} reference photo{'s' if count != 1 else ''} used, and why")
        else:
            self.ref_caption.setText("Restored without references")

    def _name(self, face_id: int) -> str:
        names = self.loaded.names if self.loaded is not None else {}
        return names.get(face_id, "Unknown")

    def _face_item(self, face_id: int) -> str:
        return f"{self._name(face_id)} (face {face_id})"

    def _on_change(self, change) -> None:
        """A face's person renamed, moved or undone: the names follow (the picture, its
        zoom and the references stay). The version discarded elsewhere (the other page's
        compare view, the command line): nothing is left to keep or discard. Read when the
        view is on screen (see WhenShown)."""
        loaded = self.loaded
        if loaded is None:
            return
        if {"people", "faces"} & set(change.areas):
            self._to_read.add("names")
        versions = change.ids.get("versions") if not change.external else None
        if "versions" in change.areas and (versions is None or loaded.version.id in versions):
            self._to_read.add("version")
        if self._to_read:
            self._when_shown.changed()

    def _read_changed(self) -> None:
        loaded, what = self.loaded, self._to_read
        self._to_read = set()
        if loaded is None:
            return
        lib, vid = self.ctx.library, loaded.version.id
        if "names" in what:
            ids = list(loaded.names)
            self.ctx.tasks.run(lambda: face_names(lib, ids), lambda names: self._renamed(vid, names),
                               label="Reading names")
        if "version" in what:
            pid = loaded.version.photo_id

            def there() -> bool:
                return any(v.id == vid for v in (lib.jobs.versions(pid) if pid is not None else lib.jobs.versions()))

            def read(still: bool) -> None:
                if not still:
                    self._discarded(vid)

            self.ctx.tasks.run(there, read, label="Reading versions")

    def _discarded(self, version_id: int) -> None:
        if self.loaded is None or self.loaded.version.id != version_id:
            return
        self.keep.setEnabled(False)
        self.discard.setEnabled(False)
        self.title.setText(f"{Path(self.loaded.version.output).name} was discarded; the original is untouched")

    def _renamed(self, version_id: int, names: dict[int, str]) -> None:
        loaded = self.loaded
        if loaded is None or loaded.version.id != version_id or names == loaded.names:
            return
        loaded.names = names
        for i in range(self.face_choice.count()):
            fid = self.face_choice.itemData(i)
            if fid is not None:
                self.face_choice.setItemText(i, self._face_item(fid))
        fid = self.face_choice.currentData()
        self._show_about([f for f in loaded.faces if fid is None or int(f["face_id"]) == fid])

    # -- the decision --------------------------------------------------------------------

    def _decide(self, what: str) -> None:
        """Keep records that the user kept it (the file stays where it is); Discard removes
        the file and marks the version discarded (the core's verbs). Either way back to the
        photos."""
        vid, loaded = self.version_id, self.loaded
        if vid is None or loaded is None:
            return
        lib = self.ctx.library
        if what == "kept":

            def kept(info) -> None:
                self.ctx.notify("versions")
                self.ctx.status.emit(f"Kept {info.output}")
                self.decided.emit(vid, what)
                self.back.emit()

            self.ctx.tasks.run(lambda: lib.jobs.keep_version(vid), kept, label="Keeping")
            return

        def done(result) -> None:
            self.ctx.notify("versions", "photos")
            gone = "removed" if result.file_removed else "was already gone or replaced, so it was left"
            self.ctx.status.emit(f"Discarded: {result.output} {gone}; the original is untouched")
            self.decided.emit(vid, what)
            self.back.emit()

        self.ctx.tasks.run(lambda: lib.jobs.discard_version(vid), done, label="Discarding")
