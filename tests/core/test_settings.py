"""Settings: defaults, validation, atomic saving, a damaged file reported and kept, the
`config` verbs, and flags that win over settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refldm_desktop.cli import main
from refldm_desktop.core.home import Home
from refldm_desktop.core.settings import (
    DEFAULTS,
    Settings,
    SettingsError,
    load_settings,
    overridden,
    save_settings,
    set_value,
    settings_path,
    unset_value,
)


@pytest.fixture
def home(tmp_path) -> Home:
    return Home(tmp_path / "home").ensure()


def test_no_file_means_the_defaults_and_only_changes_are_written(home):
    assert load_settings(home) == DEFAULTS
    s = set_value(home, "steps", "30")
    assert s.steps == 30 and load_settings(home).steps == 30
    set_value(home, "output-folder", str(home.root / "out"))
    set_value(home, "reference_free", "yes")
    data = json.loads(settings_path(home).read_text())
    assert data == {"steps": 30, "output_folder": str(home.root / "out"), "reference_free": True}
    unset_value(home, "steps")
    assert "steps" not in json.loads(settings_path(home).read_text())
    assert load_settings(home).steps == DEFAULTS.steps
    assert not [p for p in home.root.iterdir() if p.name.startswith(".refldm-")]


@pytest.mark.parametrize(
    "key, value, why",
    [
        ("steps", "0", "from 1 to 1000"),
        ("steps", "many", "a whole number"),
        ("guidance", "nan", "a number from 0 to 20"),
        ("device", "gpu", "auto, cpu, cuda"),
        ("precision", "fp8", "auto, fp32, bf16, fp16"),
        ("upscale", "3", "1, 2, 4"),
        ("references", "17", "from 0 to 16"),
        ("theme", "pink", "system, light, dark"),
        ("reference-free", "maybe", "true or false"),
        ("model", "../evil", "letters, digits"),
    ],
)
def test_bad_values_are_refused_with_the_reason_and_nothing_is_written(home, key, value, why):
    with pytest.raises(SettingsError, match=why) as err:
        set_value(home, key, value)
    assert "\n" not in str(err.value)
    assert not settings_path(home).exists()


def test_unknown_key_lists_the_real_ones(home):
    with pytest.raises(SettingsError, match="no setting called 'colour'.*restorer.*theme"):
        set_value(home, "colour", "blue")


def test_a_damaged_file_is_reported_with_its_line_and_never_overwritten(home):
    path = settings_path(home)
    path.write_text('{\n "steps": 30,\n "device": \n}\n')
    before = path.read_bytes()
    with pytest.raises(SettingsError, match=r"damaged \(line 4"):
        load_settings(home)
    with pytest.raises(SettingsError, match="damaged"):
        set_value(home, "steps", "20")
    with pytest.raises(SettingsError, match="damaged"):
        save_settings(home, Settings(steps=20))
    assert path.read_bytes() == before
    path.write_text('{"steps": -4}')
    with pytest.raises(SettingsError, match="'steps' cannot be -4.*config set"):
        load_settings(home)


def test_keys_of_a_newer_version_are_kept(home):
    settings_path(home).write_text('{"future_option": [1, 2], "steps": 12}')
    assert load_settings(home).steps == 12
    set_value(home, "theme", "dark")
    assert json.loads(settings_path(home).read_text()) == {"future_option": [1, 2], "steps": 12, "theme": "dark"}


def test_flags_win_over_settings():
    s = Settings(steps=30, device="cpu")
    assert overridden(s, {"steps": 10, "device": None}) == Settings(steps=10, device="cpu")


def _cli(home: Home, capsys, *argv):
    code = main(["--home", str(home.root), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_config_verbs(home, capsys):
    code, out, _ = _cli(home, capsys, "config", "set", "device", "cpu")
    assert code == 0 and out.strip() == "device = cpu"
    code, out, _ = _cli(home, capsys, "config", "get", "device")
    assert (code, out.strip()) == (0, "cpu")
    code, out, _ = _cli(home, capsys, "config", "list")
    assert "device = cpu  (set)" in out and "steps = 50\n" in out
    code, out, _ = _cli(home, capsys, "config", "list", "--json")
    assert json.loads(out)["device"] == "cpu" and set(json.loads(out)) == set(DEFAULTS.to_json())
    code, _, err = _cli(home, capsys, "config", "set", "steps", "lots")
    assert code == 2 and "steps" in err and "whole number" in err and "Traceback" not in err
    code, _, err = _cli(home, capsys, "config", "get", "nonsense")
    assert code == 2 and "no setting called 'nonsense'" in err
    code, out, _ = _cli(home, capsys, "config", "unset", "device")
    assert code == 0 and load_settings(home).device == "auto"


def test_a_restorer_that_is_not_installed_is_refused_with_the_installed_ones(home):
    from refldm_desktop.core.plugins import Registry
    from refldm_desktop.defaults import RESTORERS_GROUP

    installed = Registry(RESTORERS_GROUP).names()
    assert "passthrough" in installed
    for save in (lambda: set_value(home, "restorer", "nonsense"),
                 lambda: save_settings(home, Settings(restorer="nonsense", steps=30))):
        with pytest.raises(SettingsError) as err:
            save()
        assert "nonsense" in str(err.value) and all(name in str(err.value) for name in installed)
    assert not settings_path(home).exists()  # nothing written
    assert set_value(home, "restorer", "passthrough").restorer == "passthrough"


def test_a_saved_restorer_uninstalled_since_does_not_block_other_settings(home):
    settings_path(home).write_text(json.dumps({"restorer": "gone-plugin"}))
    assert set_value(home, "steps", "30").steps == 30
    assert json.loads(settings_path(home).read_text()) == {"restorer": "gone-plugin", "steps": 30}
