"""The status bar's device label: found once without importing torch in the app's process,
kept in the home's cache, and honest before any restore has measured a speed."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from fakes import open_test_library

from refldm_desktop.ui import device


class _Probe:
    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return json.dumps(self.answer) + "\n"  # what the probe child prints


@pytest.fixture
def torch_version(monkeypatch):
    version = {"value": "2.5.0"}
    monkeypatch.setattr(device, "_torch_version", lambda: version["value"])
    monkeypatch.setattr(device, "_known", {})  # what this session learnt: nothing yet
    return version


def test_the_device_is_probed_once_and_kept(tmp_path, monkeypatch, torch_version):
    probe = _Probe(["cuda", "NVIDIA Test GPU"])
    monkeypatch.setattr(device, "_run_probe", probe)
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

    monkeypatch.setattr(device, "_run_probe", fail)
    assert device.device_name(tmp_path) == ("cpu", "CPU")
    assert not (tmp_path / "device.json").exists()


def test_a_failed_probe_is_not_repeated_until_the_user_asks(tmp_path, monkeypatch, torch_version):
    """The label is measured again after every restore: a probe that failed (a broken
    driver, a torch that does not import) must not start a child process each time."""
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        raise subprocess.CalledProcessError(1, args)

    monkeypatch.setattr(device, "_run_probe", fail)
    lib = open_test_library(tmp_path / "home")
    try:
        for _ in range(3):
            assert device.describe(lib).startswith("CPU: ")
        assert len(calls) == 1
        assert not (lib.home.cache / "device.json").exists()  # the next start tries again

        # The user asks again (a driver installed meanwhile): probed afresh, and kept.
        monkeypatch.setattr(device, "_run_probe", _Probe(["cuda", "NVIDIA Test GPU"]))
        assert device.describe(lib, probe_again=True).startswith("NVIDIA Test GPU: ")
        assert device.describe(lib).startswith("NVIDIA Test GPU: ")
        stored = json.loads((lib.home.cache / "device.json").read_text())
    finally:
        lib.close()
    assert stored["name"] == "NVIDIA Test GPU"


def test_looking_up_the_device_again_ignores_the_stored_answer(tmp_path, monkeypatch, torch_version, qtbot):
    """From the status bar (the device label's menu, Tools): a stored GPU that is gone is
    found gone."""
    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.mainwindow.statusbar import StatusBar

    make_qapp()
    monkeypatch.setattr(device, "_run_probe", _Probe(["cuda", "NVIDIA Test GPU"]))
    lib = open_test_library(tmp_path / "home")
    ctx = AppContext(lib, start_jobs=False)
    try:
        bar = StatusBar(ctx)
        qtbot.addWidget(bar)
        bar.measure_device()
        qtbot.waitUntil(lambda: bar.device.text().startswith("NVIDIA Test GPU: "), timeout=30_000)
        probe = _Probe(["cpu", "CPU"])
        monkeypatch.setattr(device, "_run_probe", probe)
        bar.measure_device()  # a re-measure after a restore: the device is known
        qtbot.waitUntil(lambda: not ctx.tasks.busy(), timeout=30_000)
        assert probe.calls == 0 and bar.device.text().startswith("NVIDIA Test GPU: ")
        assert bar.probe_again in bar.device.actions()
        bar.probe_again.trigger()
        qtbot.waitUntil(lambda: bar.device.text().startswith("CPU: "), timeout=30_000)
        assert probe.calls == 1
    finally:
        ctx.close()


def test_before_any_restore_the_speed_is_not_measured_yet(tmp_path, monkeypatch, torch_version):
    monkeypatch.setattr(device, "_run_probe", _Probe(["cpu", "CPU"]))
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


def test_re_measures_at_once_share_one_probe(tmp_path, monkeypatch, torch_version):
    """A batch re-reads the speed after each burst of results: that must not start a second
    torch import while the first still runs."""
    import threading
    from types import SimpleNamespace

    calls = []

    def slow_failure(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)
        raise subprocess.TimeoutExpired(args, 1)

    monkeypatch.setattr(device, "_run_probe", slow_failure)
    monkeypatch.setattr(device, "seconds_per_face", lambda lib, kind: None)
    lib = SimpleNamespace(home=SimpleNamespace(cache=tmp_path))
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(device.describe(lib))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 3 and all(a.startswith("CPU: ") for a in answers)
    assert len(calls) == 1


def test_the_device_label_waits_until_the_grid_stops_scrolling(qtbot, tmp_path, monkeypatch, open_app):
    """Looking the device up takes a core for seconds: it waits for the app to be idle, not
    only for the first paint, so it never competes with someone scrolling."""
    from PySide6.QtWidgets import QLabel, QListView
    from sqlalchemy import insert

    from refldm_desktop.db.models import LibraryFolder, Photo
    from refldm_desktop.ui import context

    asked = []
    monkeypatch.setattr(device, "describe", lambda lib, probe_again=False, cancelled=None: asked.append(1) or "Test device: fast")
    # Idle only after a minute while scrolling, so a busy machine's slow steps cannot pass for idle.
    monkeypatch.setattr(context, "IDLE_MS", 60_000)
    lib = open_test_library(tmp_path / "home")
    with lib._Session.begin() as s:
        folder = LibraryFolder(path=str(tmp_path / "pics"))
        s.add(folder)
        s.flush()
        s.execute(insert(Photo), [dict(folder_id=folder.id, path=str(tmp_path / "pics" / f"p{i:03d}.jpg"), size=1,
                                       mtime_ns=0, state="ok", width=10, height=10, format="JPEG") for i in range(200)])
    ctx, window = open_app(lib, start_jobs=False)
    window.resize(900, 600)
    grid = window.findChild(QListView, "photoGrid")
    qtbot.waitUntil(lambda: grid.model().rowCount() == 200 and grid.verticalScrollBar().maximum() > 0, timeout=20_000)
    bar = grid.verticalScrollBar()
    scrolled_until = time.monotonic() + 3
    while time.monotonic() < scrolled_until:
        bar.setValue((bar.value() + 40) % bar.maximum())
        qtbot.wait(100)
    assert not asked and ctx._idle.isActive()  # waiting for the scrolling to stop
    ctx._idle.setInterval(300)  # the user stops scrolling; 300 ms later the app is idle
    ctx.user_active()
    label = window.findChild(QLabel, "deviceLabel")
    qtbot.waitUntil(lambda: label.text() == "Test device: fast", timeout=10_000)
    assert len(asked) == 1


def test_closing_the_app_ends_a_running_probe_and_remembers_no_answer(tmp_path, monkeypatch, torch_version):
    """The probe's thread must not outlive the window (it waited up to two minutes for torch
    to import, into the next window's life): cancelled, its child is ended."""
    import os
    import threading
    from types import SimpleNamespace

    pid_file = tmp_path / "probe.pid"
    monkeypatch.setattr(device, "_PROBE", (
        f"import os, time\nopen({str(pid_file) + '.tmp'!r}, 'w').write(str(os.getpid()))\n"
        f"os.replace({str(pid_file) + '.tmp'!r}, {str(pid_file)!r})\ntime.sleep(120)\n"))
    monkeypatch.setattr(device, "seconds_per_face", lambda lib, kind: None)
    lib = SimpleNamespace(home=SimpleNamespace(cache=tmp_path))
    closing, stopped = threading.Event(), []

    def probe() -> None:
        try:
            device.describe(lib, cancelled=closing.is_set)
        except device.ProbeStopped as exc:
            stopped.append(exc)

    thread = threading.Thread(target=probe)
    thread.start()
    for _ in range(600):
        if pid_file.exists():
            break
        time.sleep(0.1)
    closing.set()
    thread.join(60)
    assert not thread.is_alive() and stopped
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # ended, and reaped
    assert tmp_path not in device._known and not (tmp_path / "device.json").exists()  # asked again next time
