"""The reference strip's VQ encode in stripes (lean_encoder.py) gives the authors' latents.

Stripes are forced on the tiny model (its activations are far below the size where the
app stripes them) and made narrow (8 columns at the first level), so every border case
runs: interior stripes, the strip's true edges, GroupNorm statistics over many stripes,
the stride-2 downsampling per stripe."""

from __future__ import annotations

import torch
from refldm_testlib import STEPS, assert_golden, golden

from refldm_desktop.restore.refldm import lean_encoder


def striped_everywhere(monkeypatch, columns: int = 8) -> None:
    monkeypatch.setattr(lean_encoder, "STRIPED_ABOVE_BYTES", 0)
    monkeypatch.setattr(lean_encoder, "STRIPE_COLUMNS", columns)
    monkeypatch.setattr(lean_encoder.encode_lean, "__defaults__", (0, columns))


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


def test_stripe_width_changes_nothing_but_rounding(tiny_model, golden_dir, monkeypatch):
    inp = golden(golden_dir, "inputs")
    strip = torch.cat(list(inp["ref_images"]), dim=-1)[None]
    with torch.inference_mode():
        plain = tiny_model.vq.quant_conv(tiny_model.vq.encoder(strip))
        for columns in (2, 8, 40, 1000):
            striped = lean_encoder.encode_lean(tiny_model.vq, strip, above_bytes=0, columns=columns)
            assert (striped - plain).abs().max() <= 1e-5 * plain.abs().max()


def test_group_affine_is_group_norm_per_sample():
    """The stripes' norm (x * scale + shift) equals GroupNorm, each sample with its own statistics."""
    torch.manual_seed(0)
    norm = torch.nn.GroupNorm(4, 16)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(3, 16, 20, 28) * torch.tensor([0.5, 2.0, 4.0])[:, None, None, None] + 1.5
    with torch.inference_mode():
        scale, shift = lean_encoder.group_affine(norm, x)
        want = norm(x)
    assert scale.shape == shift.shape == (3, 16, 1, 1)
    assert (x * scale + shift - want).abs().max() <= 1e-5 * want.abs().max()
