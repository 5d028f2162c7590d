"""DDIM "uniform_trailing" step choice and the noise schedule, for any number of steps."""

from __future__ import annotations

import numpy as np
import pytest

from refldm_desktop.restore.refldm.config import DiffusionConfig
from refldm_desktop.restore.refldm.schedule import alphas_cumprod, betas, ddim_schedule, ddim_timesteps


@pytest.mark.parametrize(
    "steps, expected",
    [
        (4, [249, 499, 749, 999]),
        (50, list(range(19, 1000, 20))),
        (6, [3, 169, 335, 501, 667, 833, 999]),  # 1000 % 6 != 0: seven steps, as the authors run
        (1, [999]),
        (1000, list(range(1000))),
    ],
)
def test_uniform_trailing_timesteps(steps, expected):
    assert ddim_timesteps(steps).tolist() == expected


def test_every_step_count_ends_at_999_with_even_spacing():
    for steps in range(1, 1001):
        ts = ddim_timesteps(steps)
        c = 1000 // steps
        assert ts[-1] == 999 and ts[0] >= 0
        assert len(ts) >= steps
        assert np.all(np.diff(ts) == c)


@pytest.mark.parametrize("steps", [0, -3, 1001])
def test_impossible_step_counts_are_refused(steps):
    with pytest.raises(ValueError, match="steps"):
        ddim_timesteps(steps)


def test_last_step_goes_to_alphas_cumprod_0_not_1():
    d = DiffusionConfig()
    ac = alphas_cumprod(d)
    s = ddim_schedule(d, 50)
    assert s.alphas.tolist() == ac[s.timesteps].tolist()
    assert s.alphas_prev[0] == ac[0] and ac[0] < 1
    assert s.alphas_prev[1:].tolist() == s.alphas[:-1].tolist()
    order = s.in_execution_order()
    assert [t for t, _, _ in order] == s.timesteps[::-1].tolist()
    assert order[-1][2] == ac[0]


def test_scaled_linear_betas():
    b = betas(DiffusionConfig())
    assert b.dtype == np.float64 and len(b) == 1000
    assert b[0] == pytest.approx(0.0015) and b[-1] == pytest.approx(0.0155)
    assert np.allclose(np.diff(np.sqrt(b)), (np.sqrt(0.0155) - np.sqrt(0.0015)) / 999)
