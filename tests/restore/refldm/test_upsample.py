"""Nearest 2x upsampling + 3x3 conv as four 2x2 convs (upsample.py) gives diffusers' result
up to float rounding, follows a changed weight, and is what the CPU model runs.
(The golden tests check the whole model against the authors' tensors.)"""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers.models.upsampling import Upsample2D

from refldm_desktop.restore.refldm.cpu_conv import Packing, packing_available
from refldm_desktop.restore.refldm.upsample import _SubPixelForward, sub_pixel_upsamplers

# float32 sums of up to 9 x channels products, grouped otherwise: a few ulp of the range
TOLERANCE = 2e-6


def _pair(channels, out_channels, bias=True):
    torch.manual_seed(1)
    plain = Upsample2D(channels, use_conv=True, out_channels=out_channels, bias=bias).eval().requires_grad_(False)
    with torch.no_grad():  # an uneven kernel, so that a wrongly folded tap shows
        plain.conv.weight.normal_()
        if bias:
            plain.conv.bias.normal_()
    folded = copy.deepcopy(plain)
    assert sub_pixel_upsamplers(folded) == 1
    return plain, folded


def _close(got, want):
    return (got - want).abs().max().item() <= TOLERANCE * want.abs().max().item()


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_folded_equals_upsample_then_conv(layout, bias):
    plain, folded = _pair(16, 24, bias)
    x = torch.randn(2, 16, 5, 7).contiguous(memory_format=layout)  # odd and unequal sides: edges
    with torch.inference_mode():
        want, got = plain(x), folded(x)
    assert folded.forward.calls == 1
    assert got.shape == want.shape == (2, 24, 10, 14)
    assert got.is_contiguous(memory_format=layout)
    assert _close(got, want)


def test_a_changed_weight_is_folded_again():
    plain, folded = _pair(8, 8)
    x = torch.randn(1, 8, 6, 6)
    with torch.inference_mode():
        folded(x)
    with torch.no_grad():
        for m in (plain, folded):
            m.conv.weight.mul_(-2.0)
            m.conv.bias.add_(1.0)
    with torch.inference_mode():
        assert _close(folded(x), plain(x))


def test_autograd_and_other_sizes_take_the_plain_forward():
    plain, folded = _pair(8, 8)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():  # grad mode off but not inference: still folded
        assert _close(folded(x), plain(x))
    calls = folded.forward.calls
    with torch.enable_grad():
        assert torch.equal(folded(x), plain(x))
    with torch.inference_mode():
        assert torch.equal(folded(x, output_size=(13, 13)), plain(x, output_size=(13, 13)))
        assert torch.equal(folded.double()(x.double()), plain.double()(x.double()))  # float32 only
    assert folded.forward.calls == calls


@pytest.mark.skipif(not packing_available(), reason="this torch has no oneDNN")
def test_a_suspended_packing_runs_the_plain_forward():
    plain = _pair(8, 8)[0]
    folded = copy.deepcopy(plain)
    packing = Packing()
    sub_pixel_upsamplers(folded, packing)
    x = torch.randn(1, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():  # first called here, as the model's sampling loop does
        assert _close(folded(x), plain(x)) and packing.count == 1  # the folded conv, packed...
    assert packing.refused == 0  # ...and its packed call ran (a refusal falls back quietly)
    with torch.inference_mode():
        with packing.suspended():
            assert torch.equal(folded(x), plain(x))
    assert folded.forward.calls == 1


def test_the_cpu_model_runs_folded_upsamplers(tiny_model):
    ups = [m.forward for part in (tiny_model.unet, tiny_model.vq.decoder) for m in part.modules()
           if isinstance(m.forward, _SubPixelForward)]
    assert len(ups) == tiny_model.sub_pixel == 6  # three in the UNet, three in the decoder
    before = [u.calls for u in ups]
    tiny_model.decode(torch.randn(1, tiny_model.config.latent_channels, 8, 8))
    assert [u.calls - b for u, b in zip(ups, before)][3:] == [1, 1, 1]
