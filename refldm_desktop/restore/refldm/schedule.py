"""The noise schedule and the authors' DDIM "uniform_trailing" step choice.

Numbers are computed the way the authors' code computes them (float64 schedule, stored as
float32, DDIM constants taken from the float32 table) so the sampler reproduces their latents
bit for bit given the same model outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refldm_desktop.restore.refldm.config import DiffusionConfig


def betas(d: DiffusionConfig) -> np.ndarray:
    """"linear" schedule of latent diffusion: linear in sqrt(beta), float64."""
    import torch

    return (
        torch.linspace(d.linear_start**0.5, d.linear_end**0.5, d.timesteps, dtype=torch.float64) ** 2
    ).numpy()


def alphas_cumprod(d: DiffusionConfig) -> np.ndarray:
    """Cumulative product of (1 - beta), rounded to float32 as the authors' buffers are."""
    return np.cumprod(1.0 - betas(d)).astype(np.float32)


def ddim_timesteps(steps: int, timesteps: int = 1000) -> np.ndarray:
    """Ascending timesteps of "uniform_trailing": the last one is always T-1.

    With c = T // steps these are arange(T, 0, -c) reversed, minus 1. When steps does not
    divide T this gives MORE than `steps` steps (6 -> 7); the authors run them all, so do we.
    """
    if not 1 <= steps <= timesteps:
        raise ValueError(f"steps must be between 1 and {timesteps}, got {steps}")
    c = timesteps // steps
    return np.arange(timesteps, 0, -c)[::-1].astype(np.int64) - 1


@dataclass(frozen=True)
class DDIMSchedule:
    timesteps: np.ndarray  # ascending, int64
    alphas: np.ndarray  # alphas_cumprod at each timestep, float32
    alphas_prev: np.ndarray  # the alpha each step moves to; the last goes to alphas_cumprod[0]

    def __len__(self) -> int:
        return len(self.timesteps)

    def in_execution_order(self) -> list[tuple[int, np.float32, np.float32]]:
        return [
            (int(self.timesteps[i]), self.alphas[i], self.alphas_prev[i]) for i in reversed(range(len(self)))
        ]


def ddim_schedule(d: DiffusionConfig, steps: int) -> DDIMSchedule:
    ac = alphas_cumprod(d)
    ts = ddim_timesteps(steps, d.timesteps)
    alphas = ac[ts]
    prev = np.concatenate([ac[:1], ac[ts[:-1]]]).astype(np.float32)
    return DDIMSchedule(timesteps=ts, alphas=alphas, alphas_prev=prev)
