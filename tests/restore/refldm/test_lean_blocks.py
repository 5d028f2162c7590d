"""The residual blocks' lean inference forward (modules.lean_resnets) gives the results of
diffusers' own forward, bitwise. (The golden tests check the default path against the
authors' tensors.)"""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers.models.resnet import ResnetBlock2D
from refldm_testlib import golden

from refldm_desktop.restore.refldm.modules import lean_resnets
from refldm_desktop.restore.refldm.model import RefLDM


@pytest.mark.parametrize("channels_out, temb, norm", [(32, None, "default"), (64, 16, "default"), (64, None, "group")],
                         ids=["plain", "shortcut+temb", "decoder-group"])
def test_lean_forward_is_bitwise_the_original(channels_out, temb, norm):
    torch.manual_seed(0)
    block = ResnetBlock2D(in_channels=32, out_channels=channels_out, temb_channels=temb, groups=8,
                          time_embedding_norm=norm).eval()
    lean = copy.deepcopy(block)
    assert lean_resnets(lean) == 1
    x = torch.randn(2, 32, 12, 12)
    t = torch.randn(2, temb) if temb else None
    with torch.inference_mode():
        expected = block(x, t)
        x_before, t_before = x.clone(), None if t is None else t.clone()
        got = lean(x, t)
    assert torch.equal(got, expected)
    assert torch.equal(x, x_before)  # the input is not written to...
    assert t is None or torch.equal(t, t_before)  # ...nor the time embedding every block shares


def test_with_autograd_the_original_forward_runs():
    torch.manual_seed(0)
    block = ResnetBlock2D(in_channels=16, out_channels=16, temb_channels=None, groups=8)
    lean_resnets(block)
    x = torch.randn(1, 16, 8, 8, requires_grad=True)
    block(x, None).sum().backward()  # in-place SiLUs would break the backward pass
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("packing", [False, True], ids=["plain-convs", "packed-convs"])
def test_a_lean_model_restores_bitwise_as_a_plain_one(tiny_home, golden_dir, packing):
    path = tiny_home / "models" / "tiny"
    lean = RefLDM.load(path, device="cpu", precision="fp32", cpu_packing=packing)
    plain = RefLDM.load(path, device="cpu", precision="fp32", cpu_packing=packing, lean_blocks=False)
    assert lean.lean_blocks > 0 and plain.lean_blocks == 0
    # the decoder's blocks too (diffusers builds them with time_embedding_norm "group")
    assert all(type(r.forward).__name__ == "_LeanResnetForward" for b in lean.vq.decoder.up_blocks for r in b.resnets)
    inp = golden(golden_dir, "inputs")
    outs = []
    for model in (lean, plain):
        cache = model.encode_references(inp["ref_images"][:3])
        latent = model.sample(model.encode(inp["lq_image"]), cache, 2, 1.5, inp["xT"])
        outs.append(model.decode(latent)[0])
    assert torch.equal(outs[0], outs[1])
