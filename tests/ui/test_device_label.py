"""The status bar's device label: found once without importing torch in the app's process,
kept in the home's cache, and honest before any restore has measured a speed."""

from __future__ import annotations

import json
import subprocess

import pytest
from fakes import open_test_library

from refldm_desktop.ui import device


class _Probe:
    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return subprocess.CompletedProcess(args, 0, stdout=json.dumps(self.answer) + "\n", stderr="")


@pytest.fixture
def torch_version(monkeypatch):
    version = {"value": "2.5.0"}
    monkeypatch.setattr(device, "_torch_version", lambda: version["value"])
    return version


def test_the_device_is_probed_once_and_kept(tmp_path, monkeypatch, torch_version):
    probe = _Probe(["cuda", "NVIDIA Test GPU"])
    monkeypatch.setattr(device.subprocess, "run", probe)
    assert device.device_name(tmp_path) == ("cuda", "NVIDIA Test GPU")
    assert device.device_name(tmp_path) == ("cuda", "NVIDIA Test GPU")
    assert probe.calls == 1  # the second start read the stored answer

    torch_version["value"] = "2.6.0"  # another torch may see another device: ask again
    assert device.device_name(tmp_path) == ("cuda", "NVIDIA Test GPU")
    assert probe.calls == 2

    (tmp_path / "device.json").write_text("{not json")
    assert device.device_name(tmp_path) == ("cuda", "NVIDIA Test GPU")
    assert probe.calls == 3
    assert json.loads((tmp_path / "device.json").read_text())["torch"] == "2.6.0"


def test_a_failed_probe_means_the_cpu_and_is_not_stored(tmp_path, monkeypatch, torch_version):
    def fail(*args, **kwargs):
        raise subprocess.TimeoutExpired(args, 1)

    monkeypatch.setattr(device.subprocess, "run", fail)
    assert device.device_name(tmp_path) == ("cpu", "CPU")
    assert not (tmp_path / "device.json").exists()


def test_before_any_restore_the_speed_is_not_measured_yet(tmp_path, monkeypatch, torch_version):
    monkeypatch.setattr(device.subprocess, "run", _Probe(["cpu", "CPU"]))
    lib = open_test_library(tmp_path / "home")
    try:
        text = device.describe(lib)
    finally:
        lib.close()
    assert text.startswith("CPU: ") and "not measured yet" in text
    assert (lib.home.cache / "device.json").exists()


def test_the_real_probe_answers_in_a_child_process(tmp_path):
    import sys

    before = "torch" in sys.modules
    kind, name = device.device_name(tmp_path)
    assert kind in ("cpu", "cuda") and name
    assert ("torch" in sys.modules) == before  # never imported here
