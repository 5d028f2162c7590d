"""The models facade (core.models.ModelManager) that the CLI and the app share: install with
progress from a local server, cancel and resume, import, list, default, remove."""

from __future__ import annotations

import json

import pytest

from refldm_desktop.cli import main
from refldm_desktop.core.home import Home
from refldm_desktop.core.models import ModelError, ModelManager
from refldm_desktop.core.progress import Cancelled, CancelToken
from test_install import server, sha256, write_manifest  # noqa: F401 - the local server fixture


def test_install_reports_progress_cancels_and_resumes(tmp_path, golden_dir, server):  # noqa: F811
    manifest = write_manifest(tmp_path, golden_dir, server)
    manager = ModelManager(Home(tmp_path / "home"))
    assert manager.list() == [] and manager.pending_download() == 0

    token = CancelToken()
    seen = []

    def progress(p):
        seen.append(p)
        if p.stage == "download" and p.done >= 3 << 20:
            token.cancel()  # a Cancel button pressed mid-download

    with pytest.raises(Cancelled, match="resumes"):
        manager.install(progress, token, name="tiny", manifest=manifest)
    kept = manager.pending_download()
    assert kept >= 3 << 20  # what was downloaded is kept
    assert manager.list() == [] and not (manager.root / "tiny").exists()
    downloads = [p for p in seen if p.stage == "download"]
    assert downloads[0].message == "refldm.ckpt" and downloads[0].total == (golden_dir / "refldm.ckpt").stat().st_size
    assert [p.done for p in downloads] == sorted(p.done for p in downloads)

    server.requests.clear()
    seen.clear()
    info = manager.install(seen.append, CancelToken(), name="tiny", manifest=manifest)
    assert ("/refldm.ckpt", f"bytes={kept}-") in server.requests  # resumed, not started over
    assert info.name == "tiny" and info.problem is None and info.size > 0
    assert {p.stage for p in seen} >= {"download", "import", "done"}
    assert [m.name for m in manager.list()] == ["tiny"]
    assert manager.pending_download() == 0

    with pytest.raises(ModelError, match="already installed; use --force to replace it") as refused:
        manager.install(name="tiny", manifest=manifest)
    # The Models dialog has no --force: it says where to remove the old one instead.
    from refldm_desktop.ui.advice import for_app

    shown = for_app(str(refused.value))
    assert "--force" not in shown and "already installed; remove it first in Tools › Models…" in shown, shown


def test_import_default_and_remove(tmp_path, golden_dir, capsys):
    manager = ModelManager(Home(tmp_path / "home"))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        manager.import_files(golden_dir / "refldm.ckpt", golden_dir / "vqgan.ckpt",
                             config=golden_dir / "config.yaml", name="tiny", cancel=token)
    assert not (manager.root / "tiny").exists()
    assert not manager.root.exists() or list(manager.root.iterdir()) == []

    seen = []
    info = manager.import_files(golden_dir / "refldm.ckpt", golden_dir / "vqgan.ckpt",
                                config=golden_dir / "config.yaml", name="tiny", progress=seen.append)
    assert info.name == "tiny" and info.image_size > 0
    assert any(p.stage == "import" and "reading" in p.message for p in seen)
    assert manager.default == "refldm"  # the built-in default until chosen
    manager.set_default("tiny")
    assert manager.default == "tiny"
    with pytest.raises(ModelError, match="no model named 'other'"):
        manager.set_default("other")
    with pytest.raises(ModelError, match="does not exist"):
        manager.import_files(tmp_path / "nope.ckpt", golden_dir / "vqgan.ckpt", name="x")

    # The CLI's verbs are the same facade.
    home = str(manager.home.root)
    assert main(["--home", home, "models", "default", "refldm"]) == 2  # not installed
    assert "no model named 'refldm'" in capsys.readouterr().err
    assert main(["--home", home, "models", "default", "tiny"]) == 0
    assert capsys.readouterr().out.strip() == "tiny"
    assert main(["--home", home, "models", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert set(row) == {"name", "path", "size", "created", "image_size", "source"} and row["name"] == "tiny"
    assert main(["--home", home, "models", "remove", "tiny"]) == 0
    assert manager.list() == []
    manager.import_files(golden_dir / "refldm.ckpt", golden_dir / "vqgan.ckpt",
                         config=golden_dir / "config.yaml", name="tiny")

    removed = manager.remove("tiny")
    assert removed.name == "tiny" and manager.list() == []
    assert [p.name for p in manager.root.iterdir()] == []  # nothing left aside
    with pytest.raises(ModelError, match="no model named 'tiny'"):
        manager.remove("tiny")
    with pytest.raises(ModelError, match="invalid model name"):
        manager.remove("../home")
