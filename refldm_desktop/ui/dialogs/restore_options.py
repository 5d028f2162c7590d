"""Restore with options: how to restore the chosen photos, and for each face of a single
photo whether to restore it, from which references (automatic, chosen, or none) and, if
the user asks, with its own steps, guidance and seed. Enlarging stays the photo's: it
happens to the whole photo before any face is restored."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from refldm_desktop.defaults import DEFAULT_CFG, DEFAULT_STEPS
from refldm_desktop.ui.dialogs.forms import accept_buttons, add_rows, stack

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext

AUTO, CHOSEN, NONE = "auto", "chosen", "none"
CANDIDATES_SHOWN = 24  # a person's best faces offered as references
SEED_MAX = 2**31 - 1


def steps_box(value: int, name: str, accessible: str) -> QSpinBox:
    box = QSpinBox()
    box.setObjectName(name)
    box.setAccessibleName(accessible)
    box.setRange(1, 500)
    box.setValue(value)
    return box


def guidance_box(value: float, name: str, accessible: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setObjectName(name)
    box.setAccessibleName(accessible)
    box.setRange(0.0, 20.0)
    box.setSingleStep(0.1)
    box.setValue(value)
    return box


def seed_box(value: int, name: str, accessible: str, zero: str) -> QSpinBox:
    """A seed; 0 shows `zero` (what happens without one)."""
    box = QSpinBox()
    box.setObjectName(name)
    box.setAccessibleName(accessible)
    box.setRange(0, SEED_MAX)
    box.setSpecialValueText(zero)
    box.setValue(value)
    return box


@dataclass
class FaceChoice:
    face_id: int
    label: str
    crop: QImage | None
    automatic: list[int]  # the references the library would choose
    # The person's other faces, best first: face id, crop, the photo's name (photo_names), reasons.
    candidates: list[tuple[int, QImage | None, str, str]]


def photo_names(paths: Iterable[Path]) -> dict[Path, str]:
    """Each photo's file name, with as many of its folders as tell it from the others':
    cameras name files IMG_0001.JPG in every folder, and two references must not read alike."""
    unique = set(paths)
    depth = dict.fromkeys(unique, 1)
    while True:
        names = {p: str(Path(*p.parts[-depth[p]:])) for p in unique}
        seen = Counter(names.values())
        clashing = [p for p in unique if seen[names[p]] > 1 and depth[p] < len(p.parts)]
        if not clashing:
            return names
        for p in clashing:
            depth[p] += 1


def load_choices(lib, photo_id: int | None) -> tuple[list[str], list[FaceChoice]]:
    """Installed restorers, and per face of the photo what can be chosen (worker thread)."""
    from refldm_desktop.core.plugins import Registry
    from refldm_desktop.core.restoring import RESTORERS_GROUP
    from refldm_desktop.ui.thumbnails import load_qimage

    def crop(face_id: int) -> QImage | None:
        try:
            return load_qimage(lib.face_crop(face_id), 96)
        except Exception:  # noqa: BLE001 - a face whose photo is gone shows no picture
            return None

    restorers = Registry(RESTORERS_GROUP).names()
    faces = [f for f in lib.faces() if f.photo_id == photo_id] if photo_id is not None else []
    out = []
    for f in faces:
        label = f.person_name or (f"Person {f.person_id}" if f.person_id else "Unknown")
        automatic, candidates = [], []
        if f.person_id is not None:
            try:
                chosen = lib.references_for_face(f.id)
                automatic = [c.face_id for c in chosen]
                best = lib.best_shots(f.person_id, CANDIDATES_SHOWN)
                ids = list(dict.fromkeys(automatic + [c.face_id for c in best if c.photo_id != f.photo_id]))
                reasons = {c.face_id: "; ".join(c.reasons) for c in best + chosen}
                names = photo_names(Path(c.photo_path) for c in best + chosen)
                photos = {c.face_id: names[Path(c.photo_path)] for c in best + chosen}
                candidates = [(i, crop(i), photos.get(i, ""), reasons.get(i, "")) for i in ids]
            except Exception:  # noqa: BLE001 - then only automatic and reference-free
                pass
        out.append(FaceChoice(f.id, f"{label} (face {f.id})", crop(f.id), automatic, candidates))
    return restorers, out


class FaceRow(QGroupBox):
    def __init__(
        self, choice: FaceChoice, photo_values: Callable[[], tuple[int, float, int]] = lambda: (DEFAULT_STEPS, DEFAULT_CFG, 0)
    ) -> None:
        """`photo_values`: the photo's steps, guidance and seed now (0: its seed), which a
        face's own settings start from."""
        super().__init__()
        self.choice = choice
        self.photo_values = photo_values
        self.setObjectName(f"faceOptions_{choice.face_id}")
        self.setAccessibleName(f"Options for {choice.label}")
        self.include = QCheckBox(f"Restore {choice.label}")
        self.include.setChecked(True)
        self.include.setObjectName("restoreFace")
        self.include.setAccessibleName(f"Restore {choice.label}")
        if choice.crop is not None:
            self.include.setIcon(QIcon(QPixmap.fromImage(choice.crop)))
            self.include.setIconSize(QSize(48, 48))
        self.mode = QComboBox()
        self.mode.setObjectName("referenceMode")
        self.mode.setAccessibleName(f"References for {choice.label}")
        self.mode.addItem("Automatic references", AUTO)
        if choice.candidates:
            self.mode.addItem("References I choose", CHOSEN)
        self.mode.addItem("Reference-free", NONE)
        self.refs = QListWidget()
        self.refs.setObjectName("referenceChoice")
        self.refs.setAccessibleName(f"Reference photos for {choice.label}")
        self.refs.setViewMode(QListWidget.ViewMode.IconMode)
        self.refs.setIconSize(QSize(64, 64))
        self.refs.setMaximumHeight(110)
        self.refs.setFlow(QListWidget.Flow.LeftToRight)
        self.refs.setWrapping(False)
        # Cells of one size: a long file name is cut short (the tooltip has it whole).
        self.refs.setGridSize(QSize(104, 92))
        self.refs.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        for fid, image, photo, reason in choice.candidates:
            # The photo's name, not the face's number: a user knows their files, not our ids.
            item = QListWidgetItem(photo or f"face {fid}")
            item.setData(Qt.ItemDataRole.UserRole, fid)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if fid in choice.automatic else Qt.CheckState.Unchecked)
            why = reason or "one of this person's faces"
            item.setToolTip(f"{photo} (face {fid}): {why}")
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{photo}, face {fid}")
            if image is not None:
                item.setIcon(QIcon(QPixmap.fromImage(image)))
            self.refs.addItem(item)
        self.refs.setVisible(False)
        self.mode.currentIndexChanged.connect(lambda: self.refs.setVisible(self.mode.currentData() == CHOSEN))
        self.include.toggled.connect(self.mode.setEnabled)

        # Its own steps, guidance and seed, shown only when asked for.
        self.own = QCheckBox("Own settings")
        self.own.setObjectName("faceOwnSettings")
        self.own.setAccessibleName(f"Custom settings for {choice.label}")
        self.own.setToolTip("Steps, guidance and seed for this face alone (enlarging is the whole photo's)")
        steps, cfg, _ = photo_values()
        self._follows = (steps, round(cfg, 2))  # the photo's values the face's boxes were given
        self.steps = steps_box(steps, "faceSteps", f"Sampling steps for {choice.label}")
        self.cfg = guidance_box(cfg, "faceGuidance", f"Guidance for {choice.label}")
        self.seed = seed_box(0, "faceSeed", f"Seed for {choice.label} (0 keeps the photo's)", "photo's")
        self.settings = QWidget()
        self.settings.setObjectName("faceSettings")
        row = QHBoxLayout(self.settings)
        row.setContentsMargins(0, 0, 0, 0)
        for text, box in (("Steps:", self.steps), ("Guidance:", self.cfg), ("Seed:", self.seed)):
            label = QLabel(text)
            label.setBuddy(box)
            row.addWidget(label)
            row.addWidget(box)
        row.addStretch(1)
        self.settings.setVisible(False)
        self.own.toggled.connect(self._own_toggled)
        self.include.toggled.connect(self.own.setEnabled)
        self.include.toggled.connect(self.settings.setEnabled)

        head = QHBoxLayout()
        head.addWidget(self.include, 1)
        head.addWidget(self.mode)
        head.addWidget(self.own)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.settings)
        layout.addWidget(self.refs)
        # Tab goes across the row, then to what it reveals.
        QWidget.setTabOrder(self.include, self.mode)
        QWidget.setTabOrder(self.mode, self.own)
        QWidget.setTabOrder(self.own, self.steps)
        QWidget.setTabOrder(self.steps, self.cfg)
        QWidget.setTabOrder(self.cfg, self.seed)
        QWidget.setTabOrder(self.seed, self.refs)

    def _own_toggled(self, on: bool) -> None:
        if on:  # start from what the photo has now; the seed from "the photo's"
            steps, cfg, _ = self.photo_values()
            self.steps.setValue(steps)
            self.cfg.setValue(cfg)
            self.seed.setValue(0)
            self._follows = (steps, round(cfg, 2))
        self.settings.setVisible(on)

    def follow_photo(self) -> None:
        """The photo's steps or guidance changed: a face value the user left as the photo's
        takes the new one, so what the row shows is what the face gets."""
        steps, cfg, _ = self.photo_values()
        if self.steps.value() == self._follows[0]:
            self.steps.setValue(steps)
        if round(self.cfg.value(), 2) == self._follows[1]:
            self.cfg.setValue(cfg)
        self._follows = (steps, round(cfg, 2))

    def own_settings(self) -> dict[str, Any] | None:
        """The face's own settings for the job (core.restoring.FACE_SETTINGS), or None."""
        if not (self.include.isChecked() and self.own.isChecked()):
            return None
        # Only what differs from the photo: a value left as the photo's follows the photo's,
        # even when the photo's is changed after Own settings was ticked.
        photo = dict(zip(("steps", "cfg", "seed"), self.photo_values(), strict=True))
        photo["cfg"] = round(photo["cfg"], 2)
        face = {"steps": self.steps.value(), "cfg": round(self.cfg.value(), 2), "seed": self.seed.value()}
        out = {k: v for k, v in face.items() if v != photo[k] and not (k == "seed" and v == 0)}
        return out or None

    def chosen_refs(self) -> list[int]:
        return [
            self.refs.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.refs.count())
            if self.refs.item(i).checkState() == Qt.CheckState.Checked
        ]


class RestoreOptionsDialog(QDialog):
    chosen = Signal(object, object)  # RestoreSettings, per-photo job options (or None)

    def __init__(self, ctx: "AppContext", photo_ids: list[int], parent=None) -> None:
        super().__init__(parent)
        from refldm_desktop.ui.restore_ops import saved_defaults

        self.ctx = ctx
        self.photo_ids = list(photo_ids)
        self.defaults = saved_defaults(ctx)
        self.rows: list[FaceRow] = []
        self.setObjectName("restoreOptionsDialog")
        n = len(photo_ids)
        self.setWindowTitle("Restore with Options")
        self.setAccessibleName(f"Options for restoring {n} photo{'s' if n != 1 else ''}")

        d = self.defaults
        self.restorer = QComboBox()
        self.restorer.setObjectName("restorerChoice")
        self.restorer.setAccessibleName("Restorer")
        self.restorer.addItem(d.restorer)
        self.steps = steps_box(d.steps or DEFAULT_STEPS, "stepsChoice", "Sampling steps")
        self.cfg = guidance_box(DEFAULT_CFG if d.cfg is None else d.cfg, "guidanceChoice", "Guidance")
        self.seed = seed_box(d.seed or 0, "seedChoice", "Seed (0 draws a random one)", "random")
        self.upscale = QComboBox()
        self.upscale.setObjectName("upscaleChoice")
        self.upscale.setAccessibleName("Enlarge the photo first")
        self.upscale.setToolTip("Enlarges the whole photo before its faces are restored, so it is the same for every face")
        for u in (1, 2, 4):
            self.upscale.addItem("no" if u == 1 else f"{u}×", u)
        self.upscale.setCurrentIndex((1, 2, 4).index(d.upscale))
        self.k = QSpinBox()
        self.k.setObjectName("referencesChoice")
        self.k.setAccessibleName("References per face")
        self.k.setRange(0, 16)
        self.k.setValue(d.references)
        self.no_refs = QCheckBox("Also restore faces that have no references")
        self.no_refs.setObjectName("noRefsChoice")
        self.no_refs.setAccessibleName("Also restore faces that have no references")
        self.no_refs.setChecked(d.no_refs_ok)
        form = QFormLayout()
        add_rows(form, (
            ("R&estorer:", self.restorer), ("&Steps:", self.steps), ("&Guidance:", self.cfg),
            ("See&d:", self.seed), ("E&nlarge first:", self.upscale), ("Re&ferences per face:", self.k),
            ("", self.no_refs),
        ))

        self.faces_box = QVBoxLayout()
        self.faces_note = QLabel("Reading the faces…" if n == 1 else f"The same options for all {n} photos.")
        self.faces_note.setWordWrap(True)
        self.faces_box.addWidget(self.faces_note)
        faces_widget = QWidget()
        faces_widget.setLayout(self.faces_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(faces_widget)
        scroll.setAccessibleName("Faces")
        buttons, self.ok = accept_buttons(self, "Restore", "Restore with these options", name="restoreOk")
        stack(self, form, (scroll, 1), buttons)
        self.resize(620, 480)  # many faces scroll; one or two leave little empty space
        lib = ctx.library
        one = self.photo_ids[0] if n == 1 else None
        ctx.tasks.run(lambda: load_choices(lib, one), self._loaded, label="Reading the photo's faces")

    def _loaded(self, answer: tuple[list[str], list[FaceChoice]]) -> None:
        restorers, faces = answer
        current = self.restorer.currentText()
        self.restorer.clear()
        self.restorer.addItems(sorted(set(restorers) | {current}))
        self.restorer.setCurrentText(current)
        if len(self.photo_ids) != 1:
            return
        self.faces_note.setText("No faces were found in this photo." if not faces else "Each face:")
        for choice in faces:
            row = FaceRow(choice, lambda: (self.steps.value(), self.cfg.value(), self.seed.value()))
            self.steps.valueChanged.connect(row.follow_photo)
            self.cfg.valueChanged.connect(row.follow_photo)
            self.rows.append(row)
            self.faces_box.addWidget(row)
        self.faces_box.addStretch(1)

    def settings(self) -> Any:
        return replace(
            self.defaults,
            restorer=self.restorer.currentText(),
            steps=self.steps.value(),
            cfg=self.cfg.value(),
            seed=self.seed.value() or None,
            upscale=self.upscale.currentData(),
            references=self.k.value(),
            no_refs_ok=self.no_refs.isChecked(),
        )

    def per_photo(self) -> dict[int, dict[str, Any]] | None:
        if len(self.photo_ids) != 1 or not self.rows:
            return None
        wanted = [r.choice.face_id for r in self.rows if r.include.isChecked()]
        chosen: dict[str, list[int]] = {}
        for r in self.rows:
            mode = r.mode.currentData()
            if r.include.isChecked() and mode == CHOSEN:
                chosen[str(r.choice.face_id)] = r.chosen_refs()
            elif r.include.isChecked() and mode == NONE:
                chosen[str(r.choice.face_id)] = []
        left_out = {str(r.choice.face_id): "left out in Restore with Options" for r in self.rows if not r.include.isChecked()}
        options: dict[str, Any] = {"face_ids": wanted, "face_references": chosen, "not_chosen": left_out}
        own = {str(r.choice.face_id): r.own_settings() for r in self.rows if r.own_settings()}
        if own:
            from refldm_desktop.core.restoring import FACE_SETTINGS

            options[FACE_SETTINGS] = own
        return {self.photo_ids[0]: options}

    def accept(self) -> None:
        per_photo = self.per_photo()
        if per_photo is not None and not next(iter(per_photo.values()))["face_ids"]:
            self.faces_note.setText("Choose at least one face to restore.")
            return
        settings = self.settings()
        super().accept()
        self.chosen.emit(settings, per_photo)
