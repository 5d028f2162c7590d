"""The Settings dialog over the core's settings (home/settings.json, the same the CLI's
`config` verbs read and write): how faces are restored, where results go, which face
backend finds faces, and the app's theme."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from refldm_desktop.ui.dialogs.forms import accept_buttons, add_rows, stack
from refldm_desktop.ui.theme import THEMES, apply_theme

if TYPE_CHECKING:
    from refldm_desktop.core.settings import Settings
    from refldm_desktop.ui.context import AppContext


def _combo(name: str, accessible: str, items: list[tuple[str, Any]], editable: bool = False) -> QComboBox:
    box = QComboBox()
    box.setObjectName(name)
    box.setAccessibleName(accessible)
    box.setEditable(editable)
    for text, data in items:
        box.addItem(text, data)
    return box


def _set(box: QComboBox, value: Any) -> None:
    i = box.findData(value)
    if i < 0:
        box.addItem(str(value), value)
        i = box.count() - 1
    box.setCurrentIndex(i)


def _get(box: QComboBox) -> Any:
    if box.isEditable() and box.currentText() != box.itemText(box.currentIndex()):
        return box.currentText().strip()
    return box.currentData()


def installed_backends() -> list[str]:
    from refldm_desktop.core.library import FACE_BACKENDS_GROUP
    from refldm_desktop.core.plugins import Registry

    return sorted(Registry(FACE_BACKENDS_GROUP).names())


class SettingsDialog(QDialog):
    saved = Signal(object)  # core.settings.Settings

    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.restorer = _combo("settingsRestorer", "Restorer", [("ReF-LDM", "refldm"), ("Passthrough (changes nothing)", "passthrough")], True)
        self.model = QLineEdit()
        self.model.setAccessibleName("Installed model to restore with")
        self.device = _combo("settingsDevice", "Device", [("Automatic", "auto"), ("CPU", "cpu"), ("NVIDIA GPU (CUDA)", "cuda"), ("Apple GPU (MPS)", "mps")], True)
        self.precision = _combo("settingsPrecision", "Precision", [("Automatic", "auto"), ("32-bit (fp32)", "fp32"), ("bfloat16", "bf16"), ("16-bit (fp16)", "fp16")])
        self.steps = QSpinBox()
        self.steps.setObjectName("settingsSteps")
        self.steps.setAccessibleName("Denoising steps")
        self.steps.setRange(1, 1000)
        self.guidance = QDoubleSpinBox()
        self.guidance.setObjectName("settingsGuidance")
        self.guidance.setAccessibleName("Reference guidance")
        self.guidance.setRange(0.0, 20.0)
        self.guidance.setSingleStep(0.1)
        self.references = QSpinBox()
        self.references.setObjectName("settingsReferences")
        self.references.setAccessibleName("Reference photos per face")
        self.references.setRange(0, 16)
        self.upscale = _combo("settingsUpscale", "Enlarge photos first", [("No", 1), ("2×", 2), ("4×", 4)])
        self.reference_free = QCheckBox("Also restore faces without reference photos")
        self.reference_free.setAccessibleName("Also restore faces without reference photos")
        self.output = QLineEdit()
        self.output.setObjectName("settingsOutput")
        self.output.setAccessibleName("Folder for restored photos; empty: Restored in the app's home")
        self.output.setPlaceholderText(str(ctx.library.home.restored))
        browse = QPushButton("Browse…")
        browse.setAccessibleName("Choose the folder for restored photos")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)
        self.backend = _combo(
            "settingsBackend", "Face backend",
            [("The one the library's faces came from", None)] + [(n, n) for n in installed_backends()],
        )
        self.identity = _combo(
            "settingsIdentity", "When a restored face no longer looks like its person",
            [("Keep it, marked", "flag"), ("Keep the original face", "keep-original")],
        )
        self.theme = _combo("settingsTheme", "Theme", [(t.capitalize(), t) for t in THEMES])
        self.loaded: "Settings | None" = None  # what the file holds; saving keeps what is not shown here
        self.error = QLabel()
        self.error.setObjectName("settingsError")
        self.error.setAccessibleName("Why the settings cannot be saved")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.hide()

        form = QFormLayout()
        add_rows(form, (
            ("&Restorer:", self.restorer), ("&Model:", self.model), ("&Device:", self.device),
            ("&Precision:", self.precision), ("&Steps:", self.steps), ("&Guidance:", self.guidance),
            ("Re&ferences per face:", self.references), ("&Enlarge first:", self.upscale),
            ("", self.reference_free), ("If a face &looks different:", self.identity), ("&Output folder:", out_row),
            ("Face &backend:", self.backend), ("&Theme:", self.theme),
        ))
        buttons, _ = accept_buttons(self, "Save", "Save these settings", name="saveSettingsButton", on_accept=self.save)
        stack(self, form, self.error, buttons)
        self.load()

    def load(self) -> None:
        from refldm_desktop.core.settings import load_settings

        home = self.ctx.library.home

        def failed(exc, details) -> None:
            from refldm_desktop.ui.tasks import describe

            self._show_error(describe(exc))

        self.ctx.tasks.run(lambda: load_settings(home), self.show_settings, failed, label="Reading settings")

    def show_settings(self, s: "Settings") -> None:
        self.loaded = s
        _set(self.restorer, s.restorer)
        self.model.setText(s.model)
        _set(self.device, s.device)
        _set(self.precision, s.precision)
        self.steps.setValue(s.steps)
        self.guidance.setValue(s.guidance)
        self.references.setValue(s.references)
        _set(self.upscale, s.upscale)
        self.reference_free.setChecked(s.reference_free)
        self.output.setText("" if s.output_folder is None else str(s.output_folder))
        _set(self.backend, s.face_backend)
        _set(self.identity, s.identity_policy)
        _set(self.theme, s.theme)

    def values(self) -> dict[str, Any]:
        out = self.output.text().strip()
        return {
            "restorer": _get(self.restorer),
            "model": self.model.text().strip(),
            "device": _get(self.device),
            "precision": _get(self.precision),
            "steps": self.steps.value(),
            "guidance": round(self.guidance.value(), 3),
            "references": self.references.value(),
            "upscale": _get(self.upscale),
            "reference_free": self.reference_free.isChecked(),
            "output_folder": Path(out) if out else None,
            "face_backend": _get(self.backend),
            "identity_policy": _get(self.identity),
            "theme": _get(self.theme),
        }

    def save(self) -> None:
        from dataclasses import replace

        from refldm_desktop.core.settings import Settings, save_settings

        home = self.ctx.library.home
        try:
            # Over what was read, so a setting this dialog does not show is kept, not reset.
            settings = replace(self.loaded or Settings(), **self.values())
        except Exception as exc:  # noqa: BLE001 - a SettingsError says which value and why
            from refldm_desktop.ui.tasks import describe

            self._show_error(describe(exc))
            return

        def done(saved) -> None:
            apply_theme(saved.theme)
            self.saved.emit(saved)
            self.accept()

        def failed(exc, details) -> None:
            from refldm_desktop.ui.tasks import describe

            self._show_error(describe(exc))

        self.ctx.tasks.run(lambda: save_settings(home, settings), done, failed, label="Saving settings")

    def _show_error(self, line: str) -> None:
        self.error.setText(line)
        self.error.show()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Where restored photos go", self.output.text())
        if folder:
            self.output.setText(folder)
