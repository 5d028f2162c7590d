"""The reference strip's VQ encode in stripes (lean_encoder.py) gives the authors' latents.

Stripes are forced on the tiny model (its activations are far below the size where the
app stripes them) and made narrow (8 columns at the first level), so every border case
runs: interior stripes, the strip's true edges, GroupNorm statistics over many stripes,
the stride-2 downsampling per stripe."""

from __future__ import annotations

import pytest
import torch
from refldm_testlib import STEPS, assert_golden, golden

from refldm_desktop.restore.refldm import lean_encoder


def striped_everywhere(monkeypatch, columns: int = 8) -> None:
    monkeypatch.setattr(lean_encoder, "STRIPED_ABOVE_BYTES", 0)
    monkeypatch.setattr(lean_encoder, "STRIPE_COLUMNS", columns)
    real = lean_encoder.encode_lean
    monkeypatch.setattr(lean_encoder, "encode_lean",
                        lambda vq, x, **kw: real(vq, x, **{**kw, "above_bytes": 0, "columns": columns}))


def test_striped_reference_strip_gives_the_authors_latents_and_output(tiny_model, golden_dir, monkeypatch):
    g, inp = golden(golden_dir, "golden_main"), golden(golden_dir, "inputs")
    m = tiny_model
    calls = []
    monkeypatch.setattr(lean_encoder, "_resnet_striped",
                        lambda *a, real=lean_encoder._resnet_striped: calls.append(1) or real(*a))
    striped_everywhere(monkeypatch)
    cache = m.encode_references(inp["ref_images"])
    assert calls, "the striped path did not run"
    assert_golden(torch.cat(list(cache.latents), dim=-1)[None], g["ref_latent_wide"], "reference latents")
    final = m.sample(m.encode(inp["lq_image"]), cache, STEPS, 1.5, inp["xT"])
    assert_golden(final, g["final_latent"], "final latent")


@pytest.mark.parametrize("channels_last", [False, True])
def test_stripe_width_and_layout_change_nothing_but_rounding(tiny_model, golden_dir, channels_last):
    inp = golden(golden_dir, "inputs")
    strip = torch.cat(list(inp["ref_images"]), dim=-1)[None]
    with torch.inference_mode():
        plain = tiny_model.vq.quant_conv(tiny_model.vq.encoder(strip))
        for columns in (2, 8, 40, 1000):
            striped = lean_encoder.encode_lean(tiny_model.vq, strip, above_bytes=0, columns=columns,
                                               channels_last=channels_last)
            assert (striped - plain).abs().max() <= 1e-5 * plain.abs().max()
        whole = lean_encoder.encode_lean(tiny_model.vq, strip, channels_last=channels_last)  # no stripes
        assert (whole - plain).abs().max() <= 1e-5 * plain.abs().max()


def test_the_model_encodes_the_down_levels_channels_last(tiny_model, monkeypatch):
    """On the CPU every down level convolves channels_last (oneDNN's native layout, no reorder
    per call), striped or not: its plain residual blocks take the lean path in that layout."""
    if not tiny_model.vq_channels_last:
        pytest.skip("no oneDNN here: the encoder runs NCHW")
    layouts = []
    real = lean_encoder._resnet_striped
    monkeypatch.setattr(lean_encoder, "_resnet_striped", lambda resnet, x, columns: layouts.append(
        x.is_contiguous(memory_format=torch.channels_last)) or real(resnet, x, columns))
    plain_blocks = sum(lean_encoder._stripable(r) for b in tiny_model.vq.encoder.down_blocks for r in b.resnets)
    size = tiny_model.config.image_size
    images = torch.rand(2, 3, size, size) * 2 - 1
    tiny_model.encode(images)  # LQ faces: no level is large enough for stripes
    assert plain_blocks and layouts == [True] * plain_blocks
    layouts.clear()
    striped_everywhere(monkeypatch)
    tiny_model.encode_reference_latents(images)
    assert layouts == [True] * plain_blocks


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape", [(3, 16, 20, 28), (2, 16, 37, 1500)])  # the latter: uneven row blocks
def test_group_affine_is_group_norm_per_sample(shape, channels_last):
    """The stripes' norm (x * scale + shift) equals GroupNorm, each sample with its own statistics,
    in either layout."""
    torch.manual_seed(0)
    norm = torch.nn.GroupNorm(4, 16)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    b = shape[0]
    x = torch.randn(shape) * torch.tensor([0.5, 2.0, 4.0][:b])[:, None, None, None] + 1.5
    # Rows and channels that differ in level, as a face's activations do: the row blocks'
    # statistics then differ, and merging them must account for the spread of their means.
    x += torch.linspace(-5, 5, shape[2])[:, None] + 3 * torch.randn(1, shape[1], 1, 1)
    with torch.inference_mode():
        want = norm(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        scale, shift = lean_encoder.group_affine(norm, x)
    assert scale.shape == shift.shape == (b, 16, 1, 1)
    assert (x * scale + shift - want).abs().max() <= 1e-5 * want.abs().max()


def test_blocked_group_statistics_equal_float64_ones():
    """The row blocks' statistics, merged, are the group's mean and variance over all of it."""
    torch.manual_seed(1)
    b, c, h, w, groups = 2, 8, 45, 2000, 4  # 16 rows a block: three blocks, the last shorter
    x = torch.randn(b, c, h, w) + torch.linspace(-8, 8, h)[:, None] + 3 * torch.randn(1, c, 1, 1)
    x = x.contiguous(memory_format=torch.channels_last)
    mean, var = lean_encoder._group_stats_blocked(x, groups)
    var_want, mean_want = torch.var_mean(x.double().reshape(b, groups, -1), dim=-1, correction=0)
    # float32 sums per block: about 1e-6 of the data's range (a dropped merge term is 10%)
    assert torch.allclose(mean.double(), mean_want, rtol=0, atol=2e-6 * x.abs().max())
    assert torch.allclose(var.double(), var_want, rtol=1e-5, atol=0)
