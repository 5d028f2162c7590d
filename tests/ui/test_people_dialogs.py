"""The Settings and Models dialogs over the core's settings and model manager."""

from __future__ import annotations

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")

WAIT = 30_000


def idle(qtbot, ctx):
    qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=WAIT)


def test_settings_dialog_saves_and_reloads(qtbot, fake_ctx, tmp_path):
    from refldm_desktop.core.settings import load_settings
    from refldm_desktop.ui.dialogs.settings import SettingsDialog
    from refldm_desktop.ui.theme import apply_theme

    ctx = fake_ctx
    home = ctx.library.home
    dialog = SettingsDialog(ctx)
    qtbot.addWidget(dialog)
    idle(qtbot, ctx)
    assert dialog.steps.value() == load_settings(home).steps
    dialog.steps.setValue(30)
    dialog.guidance.setValue(2.5)
    dialog.references.setValue(3)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.output.setText(str(tmp_path / "out"))
    dialog.model.setText("bad name!")
    dialog.save()
    assert dialog.error.isVisibleTo(dialog) and "model" in dialog.error.text()  # says why; nothing saved
    assert load_settings(home).steps != 30
    dialog.model.setText("refldm")
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.save()
    try:
        saved = load_settings(home)
        assert (saved.steps, saved.guidance, saved.references, saved.device, saved.theme) == (30, 2.5, 3, "cpu", "dark")
        assert saved.output_folder == tmp_path / "out"
        again = SettingsDialog(ctx)
        qtbot.addWidget(again)
        idle(qtbot, ctx)
        assert (again.steps.value(), again.device.currentData(), again.theme.currentData()) == (30, "cpu", "dark")
        assert again.output.text() == str(tmp_path / "out")
    finally:
        apply_theme("system")


def test_models_dialog_lists_removes_and_explains_a_failed_import(qtbot, fake_ctx, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from refldm_desktop.ui.dialogs.models import ModelsDialog

    ctx = fake_ctx
    broken = ctx.library.home.models / "old"
    broken.mkdir(parents=True)
    (broken / "junk.bin").write_bytes(b"not a model")
    dialog = ModelsDialog(ctx)
    qtbot.addWidget(dialog)
    idle(qtbot, ctx)
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 3).text().startswith("damaged")
    assert not dialog.empty.isVisibleTo(dialog)

    dialog.import_paths(tmp_path / "refldm.ckpt", tmp_path / "vqgan.ckpt")
    qtbot.waitUntil(lambda: dialog.task is None, timeout=WAIT)
    last = dialog.log.toPlainText().splitlines()[-1]
    assert "does not exist" in last and "Traceback" not in dialog.log.toPlainText()

    dialog.table.selectRow(0)
    assert dialog.buttons["remove"].isEnabled() and not dialog.buttons["default"].isEnabled()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog.buttons["remove"].click()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 0, timeout=WAIT)
    assert not broken.exists() and dialog.empty.isVisibleTo(dialog)


def test_models_install_shows_the_licence_resumes_and_survives_closing_the_dialog(qtbot, tmp_path, open_app, monkeypatch):
    """Install asks first, with the licence; closed while downloading and opened again from
    the menu, the dialog still shows that download with its Cancel (no second download);
    a cancelled download is kept and the next Install says it goes on from there."""
    import threading
    import time

    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMessageBox

    from fakes import open_test_library
    from refldm_desktop.core.models import ModelManager
    from refldm_desktop.core.progress import Cancelled, Progress

    started = threading.Event()

    def fake_install(self, progress=None, cancel=None, **kw):
        self.downloads.mkdir(parents=True, exist_ok=True)
        part = self.downloads / "refldm.ckpt.part"
        started.set()
        while not (cancel is not None and cancel()):
            with part.open("ab") as f:
                f.write(b"\0" * 2**20)
            if progress is not None:
                progress(Progress("download", part.stat().st_size, 2 * 2**30, "refldm.ckpt"))
            time.sleep(0.05)
        raise Cancelled()

    monkeypatch.setattr(ModelManager, "install", fake_install)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or QMessageBox.StandardButton.Yes)
    ctx, window = open_app(open_test_library(tmp_path / "home"))
    qtbot.waitUntil(lambda: window.findChild(QAction, "modelsAction") is not None, timeout=WAIT)  # after the first paint
    models = window.findChild(QAction, "modelsAction")
    models.trigger()
    dialog = window.models_dialog
    idle(qtbot, ctx)
    dialog.buttons["install"].click()
    assert "Licence: released by the authors for non-commercial research use" in asked[0]
    assert started.wait(10)
    label = window.statusBar().task_label
    qtbot.waitUntil(lambda: label.isVisible() and "MiB" in label.text(), timeout=WAIT)
    assert label.text().startswith("Installing the model: ") and label.text().endswith(" of 2,048 MiB")
    dialog.close()
    models.trigger()
    assert window.models_dialog is dialog and dialog.isVisible()
    assert dialog.buttons["cancel"].isVisible() and not dialog.buttons["install"].isEnabled()
    dialog.buttons["cancel"].click()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=WAIT)
    assert "cancelled" in dialog.log.toPlainText().lower()
    dialog.buttons["install"].click()
    assert "were downloaded earlier; the download goes on from there" in asked[1]
    qtbot.waitUntil(lambda: dialog.task is not None, timeout=WAIT)
    dialog.buttons["cancel"].click()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=WAIT)


def test_saving_the_settings_dialog_keeps_what_it_does_not_show(qtbot, fake_ctx):
    """A setting made with `config set` and not shown in the dialog survives a Save there;
    the identity policy is shown and saved."""
    import json

    from refldm_desktop.core.settings import load_settings, set_value, settings_path
    from refldm_desktop.ui.dialogs.settings import SettingsDialog

    ctx = fake_ctx
    home = ctx.library.home
    set_value(home, "identity_policy", "keep-original")
    raw = json.loads(settings_path(home).read_text())
    raw["precision"] = "fp32"
    settings_path(home).write_text(json.dumps(raw))
    dialog = SettingsDialog(ctx)
    qtbot.addWidget(dialog)
    idle(qtbot, ctx)
    assert dialog.identity.currentData() == "keep-original"
    dialog.steps.setValue(12)
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.save()
    saved = load_settings(home)
    assert (saved.steps, saved.identity_policy, saved.precision) == (12, "keep-original", "fp32")
    dialog.identity.setCurrentIndex(dialog.identity.findData("flag"))
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.save()
    assert load_settings(home).identity_policy == "flag"


def test_restore_from_the_window_uses_every_saved_setting(qtbot, fake_ctx, tmp_path):
    """Restore Faces "with the saved settings": the model, precision, enlarging, reference-
    free and identity choices made in Settings reach the job, as they do on the command line."""
    from refldm_desktop.core.settings import Settings, save_settings
    from refldm_desktop.ui.restore_ops import saved_defaults

    ctx = fake_ctx
    save_settings(ctx.library.home, Settings(
        restorer="passthrough", model="mine", steps=20, guidance=2.0, device="cpu", precision="fp32",
        references=3, upscale=2, reference_free=True, identity_policy="keep-original", output_folder=tmp_path / "out",
    ))
    s = saved_defaults(ctx)
    assert (s.restorer, s.model, s.steps, s.cfg, s.device, s.precision) == ("passthrough", "mine", 20, 2.0, "cpu", "fp32")
    assert (s.references, s.upscale, s.no_refs_ok, s.identity_policy) == (3, 2, True, "keep-original")
    assert s.output_dir == tmp_path / "out"


def test_the_batch_dialog_plans_with_the_saved_settings(qtbot, fake_ctx):
    from refldm_desktop.core.settings import Settings, save_settings
    from refldm_desktop.ui.dialogs.batch import BatchDialog

    ctx = fake_ctx
    save_settings(ctx.library.home, Settings(restorer="passthrough", steps=20, reference_free=True, upscale=2))
    dialog = BatchDialog(ctx)
    qtbot.addWidget(dialog)
    s = dialog.settings
    assert (s.restorer, s.steps, s.no_refs_ok, s.upscale) == ("passthrough", 20, True, 2)
    assert dialog.no_refs.isChecked()
    idle(qtbot, ctx)


def test_settings_refuse_a_restorer_that_is_not_installed(qtbot, fake_ctx):
    """A name typed in the editable Restorer box that no plugin has: the dialog stays open
    and says which restorers there are; nothing is saved (every later restore would fail)."""
    from refldm_desktop.core.plugins import Registry
    from refldm_desktop.core.settings import load_settings
    from refldm_desktop.defaults import RESTORERS_GROUP
    from refldm_desktop.ui.dialogs.settings import SettingsDialog

    ctx = fake_ctx
    home = ctx.library.home
    before = load_settings(home)
    dialog = SettingsDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    idle(qtbot, ctx)
    dialog.restorer.setEditText("nonsense")
    dialog.steps.setValue(before.steps + 1)
    saved = []
    dialog.saved.connect(saved.append)
    dialog.save()
    idle(qtbot, ctx)
    assert dialog.isVisible() and dialog.result() == 0 and not saved
    assert dialog.error.isVisibleTo(dialog)
    text = dialog.error.text()
    assert "nonsense" in text and all(name in text for name in Registry(RESTORERS_GROUP).names())
    assert load_settings(home) == before
    dialog.restorer.setCurrentIndex(dialog.restorer.findData("passthrough"))
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.save()
    assert load_settings(home).restorer == "passthrough"


def test_the_licence_prompt_shows_the_manifest_the_download_uses(qtbot, fake_ctx, tmp_path, monkeypatch):
    """$REFLDM_DESKTOP_RELEASE_MANIFEST names another release: Install shows its title,
    homepage and licence, not the built-in release's (nor its "about 2 GB")."""
    import json

    from PySide6.QtWidgets import QMessageBox

    from refldm_desktop.restore.refldm.release import RELEASE_ENV
    from refldm_desktop.ui.dialogs.models import ModelsDialog

    manifest = tmp_path / "mirror.json"
    manifest.write_text(json.dumps({
        "format": "refldm-desktop/release", "version": 1, "title": "Mirror of ReF-LDM for the lab",
        "homepage": "https://mirror.example/refldm", "license": "lab use only",
        "files": {r: {"url": f"https://mirror.example/{r}.ckpt", "filename": f"{r}.ckpt"} for r in ("refldm", "vqgan")},
    }))
    monkeypatch.setenv(RELEASE_ENV, str(manifest))
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or QMessageBox.StandardButton.No)
    dialog = ModelsDialog(fake_ctx)
    qtbot.addWidget(dialog)
    idle(qtbot, fake_ctx)
    dialog.buttons["install"].click()
    assert len(asked) == 1
    text = asked[0]
    assert "Mirror of ReF-LDM for the lab" in text and "https://mirror.example/refldm" in text
    assert "Licence: lab use only" in text and "2 GB" not in text and "non-commercial" not in text
    assert str(manifest) in text  # where it comes from

    monkeypatch.setenv(RELEASE_ENV, str(tmp_path / "missing.json"))
    dialog.buttons["install"].click()
    assert len(asked) == 1  # nothing to agree to: the dialog says why instead
    assert "missing.json" in dialog.log.toPlainText()
