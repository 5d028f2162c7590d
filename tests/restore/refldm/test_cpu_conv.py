"""The CPU's packed convolutions (cpu_conv.py) give the plain modules' results up to float
rounding, follow weights that change, and fall back to the plain call when refused.
(The golden tests check the default CPU path, packed, against the authors' tensors.)"""

from __future__ import annotations

import pytest
import torch
from refldm_testlib import STEPS, golden, matches

from refldm_desktop.restore.refldm import cpu_conv
from refldm_desktop.restore.refldm.model import RefLDM

pytestmark = pytest.mark.skipif(not cpu_conv.packing_available(), reason="this torch has no oneDNN")


def _restore_latent(model, golden_dir):
    inp = golden(golden_dir, "inputs")
    cache = model.encode_references(inp["ref_images"][:3])
    return model.sample(model.encode(inp["lq_image"]), cache, STEPS, 1.5, inp["xT"])


def _pair(tiny_home):
    path = tiny_home / "models" / "tiny"
    return (RefLDM.load(path, device="cpu", precision="fp32"),
            RefLDM.load(path, device="cpu", precision="fp32", cpu_packing=False))


def test_packed_and_plain_convolutions_agree(tiny_home, golden_dir):
    packed, plain = _pair(tiny_home)
    assert packed.cpu_packing and not plain.cpu_packing
    a, b = _restore_latent(packed, golden_dir), _restore_latent(plain, golden_dir)
    assert matches(a, b)  # rtol 1e-4 + atol 1e-4 * max, as the golden tensors


def test_a_changed_weight_is_packed_again(tiny_home, golden_dir):
    packed, plain = _pair(tiny_home)
    _restore_latent(packed, golden_dir)  # packs every convolution
    with torch.no_grad():
        for m in (packed, plain):
            m.unet.conv_in.weight.mul_(1.5)
            m._zero_kv.clear()
    assert matches(_restore_latent(packed, golden_dir), _restore_latent(plain, golden_dir))


def test_a_refused_packed_call_falls_back_to_the_plain_one(tiny_home, golden_dir, monkeypatch):
    packed, plain = _pair(tiny_home)

    def refuse(*args, **kwargs):
        raise RuntimeError("no primitive for this shape")

    monkeypatch.setattr(torch._C._nn, "mkldnn_reorder_conv2d_weight", refuse)
    out = _restore_latent(packed, golden_dir)
    # every packed call was refused; the upsamplers' own 3x3 convs never ran (upsample.py
    # runs their folded 2x2 ones, which are packed and refused as the others)
    replaced = sum(type(m.forward).__name__ == "_SubPixelForward" for m in packed.unet.modules())
    assert packed._packing.refused == packed._packing.count - replaced > 0
    assert matches(out, _restore_latent(plain, golden_dir))
