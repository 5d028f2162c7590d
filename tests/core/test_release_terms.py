"""What a user agrees to before installing the model comes from the manifest the download
uses: the built-in one, or the one $REFLDM_DESKTOP_RELEASE_MANIFEST names (a mirror)."""

from __future__ import annotations

import json

import pytest

from refldm_desktop.core.home import Home
from refldm_desktop.core.models import ModelError, ModelManager
from refldm_desktop.restore.refldm.release import RELEASE_ENV


def _manifest(tmp_path, **extra):
    data = {
        "format": "refldm-desktop/release", "version": 1, "title": "Mirror of ReF-LDM for the lab",
        "homepage": "https://mirror.example/refldm", "license": "lab use only",
        "files": {r: {"url": f"https://mirror.example/{r}.ckpt", "filename": f"{r}.ckpt"} for r in ("refldm", "vqgan")},
        **extra,
    }
    path = tmp_path / "mirror.json"
    path.write_text(json.dumps(data))
    return path


def test_the_built_in_manifest_gives_the_authors_terms(tmp_path, monkeypatch):
    monkeypatch.delenv(RELEASE_ENV, raising=False)
    terms = ModelManager(Home(tmp_path / "home")).release_terms()
    assert terms.title.startswith("ReF-LDM") and "non-commercial" in terms.license
    assert terms.homepage.startswith("https://github.com/") and terms.download_size == "about 2 GB"
    assert terms.built_in


def test_another_manifest_named_by_the_environment_gives_its_own_terms(tmp_path, monkeypatch):
    monkeypatch.setenv(RELEASE_ENV, str(_manifest(tmp_path)))
    terms = ModelManager(Home(tmp_path / "home")).release_terms()
    assert (terms.title, terms.homepage, terms.license) == ("Mirror of ReF-LDM for the lab", "https://mirror.example/refldm", "lab use only")
    assert terms.download_size is None and terms.source == str(tmp_path / "mirror.json")
    assert not terms.built_in


def test_a_manifest_that_cannot_be_read_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(RELEASE_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(ModelError, match="missing.json"):
        ModelManager(Home(tmp_path / "home")).release_terms()
