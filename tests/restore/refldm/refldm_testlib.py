"""Helpers of the ReF-LDM tests: golden cases, golden tensors and the golden README's tolerances."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Case:
    name: str  # golden_<name>.safetensors, output_<name>.png
    n_refs: int
    cfg: float


CASES = [Case("main", 3, 1.5), Case("cfg1", 3, 1.0), Case("1ref", 1, 1.5)]
SEED, STEPS = 15, 4  # the golden runs: torch.manual_seed(15), 4 DDIM steps


@functools.cache
def golden(folder: Path, name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / f"{name}.safetensors")


# The golden README (section 5): the DDIM update fed the authors' own eps reproduces their
# latents up to a few float32 ulp (another CPU's vector kernels round differently: an Intel
# Xeon was 3.05e-5 off at values near 1e2), so compare it with rtol 1e-6, never bitwise. The
# atol of 1e-6 * max|ref| covers values near zero that come from large terms cancelling.
ARITHMETIC_RTOL = 1e-6


def matches(actual, expected, kind: str = "latent") -> bool:
    """The README's tolerances: latents/eps/KV rtol 1e-4 + atol 1e-4 * max|ref|; images atol 1e-4;
    "arithmetic" (our sampler on the authors' eps) rtol 1e-6 + atol 1e-6 * max|ref|."""
    import torch

    actual, expected = actual.detach().float().cpu(), expected.float()
    if actual.shape != expected.shape:
        return False
    if kind == "image":
        return torch.allclose(actual, expected, rtol=0, atol=1e-4)
    tol = ARITHMETIC_RTOL if kind == "arithmetic" else 1e-4
    return torch.allclose(actual, expected, rtol=tol, atol=tol * expected.abs().max().item())


def assert_golden(actual, expected, what: str, kind: str = "latent") -> None:
    if not matches(actual, expected, kind):
        diff = (actual.detach().float().cpu() - expected).abs().max().item() if actual.shape == expected.shape else None
        pytest.fail(f"{what}: does not match the golden tensor (shape {tuple(actual.shape)} vs "
                    f"{tuple(expected.shape)}, max abs diff {diff})")


def first_step(model, lq_latent, cache, cfg: float, noise):
    """Run only the first DDIM step (t = 999) and return its StepState."""
    from refldm_desktop.restore.refldm.model import RestoreCancelled

    seen = []
    with pytest.raises(RestoreCancelled):
        model.sample(lq_latent, cache, STEPS, cfg, noise, callback=seen.append, cancel=lambda: bool(seen))
    return seen[0]
