"""Conversion of the authors' state dicts, checked on the full-size official key listing
(with shape-only meta tensors: no memory, no weights) and on the legacy QKV head layout."""

from __future__ import annotations

import json

import pytest
import torch

from refldm_desktop.restore.refldm.config import DEFAULT_CONFIG
from refldm_desktop.restore.refldm.convert import (
    CheckpointError,
    _transform,
    attention_layer_names,
    convert,
    expected_shapes,
)
from refldm_desktop.restore.refldm.listing import load_listing, make_compact, parse_listing_text
from refldm_desktop.restore.refldm.modules import build_modules


def official_listings(golden_dir):
    return (
        parse_listing_text((golden_dir / "official_state_dict_keys.txt").read_text()),
        parse_listing_text((golden_dir / "official_vqgan_keys.txt").read_text()),
    )


def fake_state_dict(listing) -> dict:
    return {k: torch.empty(shape, dtype=getattr(torch, dtype), device="meta") for k, (shape, dtype) in listing.items()}


def n_params(modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def test_full_size_modules_have_the_authors_parameter_counts(golden_dir):
    counts = json.loads((golden_dir / "official_param_counts.json").read_text())
    unet, vq = build_modules(DEFAULT_CONFIG, device="meta")
    assert n_params([unet]) == counts["unet_params"]
    assert n_params([vq]) == counts["vq_params"]
    assert n_params([vq.encoder, vq.quant_conv]) == counts["vq_encoder_params"]
    assert n_params([vq.decoder, vq.post_quant_conv]) == counts["vq_decoder_params"]
    assert vq.quantize.embedding.weight.numel() == counts["vq_codebook_params"]


def test_every_official_key_is_used_or_deliberately_dropped(golden_dir):
    refldm, vqgan = official_listings(golden_dir)
    out = convert(fake_state_dict(refldm), fake_state_dict(vqgan), DEFAULT_CONFIG)
    want_unet, want_vq = expected_shapes(DEFAULT_CONFIG)
    assert {k: tuple(v.shape) for k, v in out.unet.items()} == want_unet
    assert {k: tuple(v.shape) for k, v in out.vq.items()} == want_vq

    def count(prefix):
        return sum(k.startswith(prefix) for k in refldm)

    assert out.dropped == {
        "live UNet weights (inference uses the EMA copy)": count("model.diffusion_model."),
        "EMA bookkeeping": 2,
        "noise-schedule buffers (recomputed from the config)": sum("." not in k for k in refldm),
        "duplicate VQ copies (cond stages share the first stage)": count("cond_stage_model."),
        "vqgan.ckpt (superseded by the copy in refldm.ckpt)": len(vqgan),
    }
    used = count("model_ema.") - 2 + count("first_stage_model.")
    assert used + sum(out.dropped.values()) - len(vqgan) == len(refldm) == 1493


def test_shipped_listing_is_the_official_one(golden_dir):
    assert load_listing() == official_listings(golden_dir)


def test_tiny_checkpoint_listing_converts_with_its_config(golden_dir):
    from refldm_desktop.restore.refldm.config import load_config

    refldm = parse_listing_text((golden_dir / "tiny_refldm_ckpt_keys.txt").read_text())
    vqgan = {k[len("first_stage_model."):]: v for k, v in refldm.items() if k.startswith("first_stage_model.")}
    make_compact(refldm, vqgan, "tiny")  # the compact form captures the tiny files too
    convert(fake_state_dict(refldm), None, load_config(golden_dir / "config.yaml"))


def test_qkv_is_split_per_head_not_in_thirds():
    heads, d, cin = 3, 2, 5
    qkv = torch.arange(3 * heads * d * cin, dtype=torch.float32).reshape(3 * heads * d, cin, 1)
    parts = [_transform(qkv, ("qkv", j), d) for j in range(3)]
    for j, part in enumerate(parts):
        assert part.shape == (heads * d, cin)
        for h in range(heads):
            # output channel h*3d + j*d + c of the fused conv is channel h*d + c of q, k or v
            assert torch.equal(part[h * d:(h + 1) * d], qkv[h * 3 * d + j * d: h * 3 * d + (j + 1) * d, :, 0])
    bias = torch.arange(3 * heads * d, dtype=torch.float32)
    assert _transform(bias, ("qkv", 1), d).tolist() == [h * 3 * d + d + c for h in range(heads) for c in range(d)]


def test_attention_layers_are_named_as_the_authors(golden_dir):
    names = attention_layer_names(DEFAULT_CONFIG)
    assert len(names) == 16
    assert names["down_blocks.1.attentions.0"] == "input_blocks.4.1.attention"
    assert names["mid_block.attentions.0"] == "middle_block.1.attention"
    assert names["up_blocks.2.attentions.2"] == "output_blocks.8.1.attention"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda r, v: r.pop("model_ema.diffusion_modelinput_blocks00weight"), "no EMA copy"),
        (lambda r, v: [r.pop(k) for k in list(r) if "input_blocks.1.0.in_layers.2" in k or
                       "input_blocks10in_layers2" in k], "missing"),
        (lambda r, v: r.update({"model.diffusion_model.extra.weight": torch.empty(1, device="meta"),
                                "model_ema.diffusion_modelextraweight": torch.empty(1, device="meta")}), "unexpected"),
        (lambda r, v: r.update({"model_ema.diffusion_modelout2weight": torch.empty(8, 160, 1, 1, device="meta")}),
         "shape"),
        (lambda r, v: r.update({"first_stage_model.quantize.embedding.weight": torch.empty(512, 8, device="meta")}),
         "differs from first_stage|same names and shapes"),
        (lambda r, v: r.update({"something_else": torch.empty(1, device="meta")}), "belong to nothing"),
    ],
)
def test_damaged_state_dicts_are_refused_with_a_reason(golden_dir, damage, message):
    refldm, vqgan = (fake_state_dict(x) for x in official_listings(golden_dir))
    damage(refldm, vqgan)
    with pytest.raises(CheckpointError, match=message):
        convert(refldm, vqgan, DEFAULT_CONFIG)
