"""`--precision auto`: bf16 only where a trial found it faster and close enough to fp32; the
trial runs once per device and model, and later runs (new processes) reuse the stored one."""

from __future__ import annotations

import json
import math

import pytest

from refldm_desktop.restore.refldm import precision as P
from refldm_desktop.restore.refldm.precision import PrecisionStore, PrecisionTrial, auto_precision, choose


@pytest.mark.parametrize("fp32_s, bf16_s, psnr_db, expected", [
    (35.2, 50.5, 41.3, "fp32"),  # a CPU without AMX: bf16 slower (the figures)
    (1.13, 0.74, 41.0, "bf16"),  # faster and close
    (1.13, 0.74, 34.9, "fp32"),  # faster but too far from fp32
    (1.00, 1.00, 50.0, "fp32"),  # no gain
    (1.00, 0.50, math.inf, "bf16"),  # identical outputs
    (1.00, math.inf, 0.0, "fp32"),  # no bf16 on this device
])
def test_bf16_only_when_faster_and_within_35_db(fp32_s, bf16_s, psnr_db, expected):
    assert choose(PrecisionTrial(fp32_s, bf16_s, psnr_db)) == expected


def test_measured_once_per_device_and_reused_by_a_later_process(tmp_path):
    path = tmp_path / "cache" / "precision.json"
    trials = {"gpu": PrecisionTrial(1.0, 0.6, 40.0), "cpu": PrecisionTrial(1.0, 1.4, 41.0)}
    measured = []

    def measure(key):
        def run():
            measured.append(key)
            return trials[key]
        return run

    assert auto_precision(PrecisionStore(path), "gpu", measure("gpu")) == "bf16"
    assert auto_precision(PrecisionStore(path), "gpu", measure("gpu")) == "bf16"  # a new store: the file
    assert auto_precision(PrecisionStore(path), "cpu", measure("cpu")) == "fp32"  # another device
    assert measured == ["gpu", "cpu"]
    stored = json.loads(path.read_text())["trials"]
    assert stored["gpu"]["choice"] == "bf16" and stored["cpu"]["bf16_s"] == 1.4
    assert [p.name for p in path.parent.iterdir()] == ["precision.json"]  # no temporary left


@pytest.mark.parametrize("content", ["{not json", '{"version": 99, "trials": {}}', '{"version": 2, "trials": {"gpu": 3}}', '{"version": 1, "trials": {}}'])
def test_an_unreadable_store_means_measure_again(tmp_path, content):
    path = tmp_path / "precision.json"
    path.write_text(content)
    calls = []
    trial = PrecisionTrial(1.0, 0.5, 40.0)
    assert auto_precision(PrecisionStore(path), "gpu", lambda: calls.append(1) or trial) == "bf16"
    assert calls == [1]
    assert PrecisionStore(path).get("gpu") == trial


def test_a_read_only_home_still_restores(tmp_path, monkeypatch):
    store = PrecisionStore(tmp_path / "precision.json")

    def refuse(*a, **kw):
        raise PermissionError("read-only")

    monkeypatch.setattr("refldm_desktop.library.atomic.write_atomic", refuse)
    assert auto_precision(store, "cpu", lambda: PrecisionTrial(1.0, 2.0, 40.0)) == "fp32"


def test_the_trial_runs_the_model_in_both_precisions(tiny_home):
    trial = P.measure(tiny_home / "models" / "tiny", "cpu", steps=1)
    assert trial.fp32_s > 0 and trial.bf16_s > 0
    assert 10.0 < trial.psnr_db  # the same face in both, bf16 rounding aside


def test_auto_in_the_restorer_uses_the_stored_trial(tmp_path, tiny_home, monkeypatch):
    """A full-size model would be measured; the stored trial decides the loaded dtype."""
    import torch

    from refldm_desktop.restore.refldm.restorer import RefLDMRestorer

    monkeypatch.setattr(P, "MIN_TRIAL_RESOLUTION", 0)  # treat the tiny model as a real one
    r = RefLDMRestorer(model="tiny", models_dir=tiny_home / "models", device="cpu",
                       cache_dir=tmp_path / "cache" / "ref_latents")
    key = f"{P.device_name('cpu')}|{r.model}"
    PrecisionStore(tmp_path / "cache" / "precision.json").put(key, PrecisionTrial(2.0, 1.0, 40.0))
    monkeypatch.setattr(P, "measure", lambda *a, **kw: pytest.fail("measured again"))
    assert r._load("cpu").dtype == torch.bfloat16


def test_the_app_and_the_cli_keep_one_trial_file(tmp_path):
    """A trial the app measured (its restorer's default cache) is the one `restore-face`
    reads (the home's cache): the file is named in one place."""
    from refldm_desktop.core.home import Home
    from refldm_desktop.restore.refldm.restorer import RefLDMRestorer

    home = Home(tmp_path / "home")
    assert RefLDMRestorer(models_dir=home.models, device="cpu").precision_file == P.store_in(home.cache)
    assert P.store_in(home.cache).parent == home.cache
