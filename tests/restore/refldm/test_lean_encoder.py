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


def test_the_model_encodes_striped_levels_channels_last(tiny_model, monkeypatch):
    """On the CPU the striped levels convolve channels_last (oneDNN's native layout, no
    reorder per stripe): their residual blocks see that layout."""
    layouts = []
    real = lean_encoder._resnet_striped
    monkeypatch.setattr(lean_encoder, "_resnet_striped", lambda resnet, x, columns: layouts.append(
        x.is_contiguous(memory_format=torch.channels_last)) or real(resnet, x, columns))
    striped_everywhere(monkeypatch)
    size = tiny_model.config.image_size
    images = torch.rand(2, 3, size, size) * 2 - 1
    tiny_model.encode_reference_latents(images)
    assert layouts and layouts == [tiny_model.vq_channels_last] * len(layouts)


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
    with torch.inference_mode():
        want = norm(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        scale, shift = lean_encoder.group_affine(norm, x)
    assert scale.shape == shift.shape == (b, 16, 1, 1)
    assert (x * scale + shift - want).abs().max() <= 1e-5 * want.abs().max()
