"""Winograd 3x3 convolutions (winograd.py) give the direct convolution's result up to float
rounding, on any image size and layout, follow a changed weight, and serve only where they
should. (The golden tests check the whole CPU model, which runs them in the VQ, against the
authors' tensors.)"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from refldm_testlib import matches

from refldm_desktop.restore.refldm import heap, winograd
from refldm_desktop.restore.refldm.cpu_conv import Packing, packing_available
from refldm_desktop.restore.refldm.model import RefLDM

# Against float64: F(4x4, 3x3)'s transforms cost a few more bits than the direct sum (~1e-5
# of the output's range, where the direct float32 convolution is ~2e-6 off).
TOLERANCE = 5e-5


def _close(got, want):
    return (got.double() - want).abs().max().item() <= TOLERANCE * want.abs().max().item()


def _conv(cin, cout, bias=True):
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(cin, cout, 3, padding=1, bias=bias).requires_grad_(False)
    with torch.no_grad():  # an uneven kernel, so that a misplaced tap shows
        conv.weight.normal_()
        if bias:
            conv.bias.normal_()
    return conv


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("size", [(16, 16), (17, 23), (33, 18)], ids=["whole-blocks", "odd", "tall"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_winograd_equals_the_direct_convolution(layout, size, bias, monkeypatch):
    # small stripes, so that several stripes and a short last one are crossed
    monkeypatch.setattr(winograd, "STRIPE_VALUES", 36 * 2 * 6 * 48 * 2)
    monkeypatch.setattr(winograd, "STRIPE_SPREAD", 0)  # the same stripes with any thread count
    conv = _conv(40, 48, bias)
    x = torch.randn(2, 40, *size).contiguous(memory_format=layout)
    want = F.conv2d(x.double(), conv.weight.double(), None if conv.bias is None else conv.bias.double(), padding=1)
    got = winograd.conv3x3(x, winograd.transform_weight(conv.weight), conv.bias)
    assert got.shape == want.shape
    assert got.is_contiguous(memory_format=layout)
    assert _close(got, want)


def _wrapped(cin=32, cout=32, packing=None, keep=True):
    plain = _conv(cin, cout)
    fast = copy.deepcopy(plain)
    assert winograd.winograd_convolutions(fast, packing, keep=keep) == 1
    return plain, fast, fast._conv_forward


def _exact(conv, x):
    return F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)


@pytest.mark.parametrize("keep", [True, False], ids=["kept", "transformed-each-call"])
def test_a_changed_weight_is_transformed_again(keep):
    plain, fast, call = _wrapped(keep=keep)
    x = torch.randn(1, 32, 16, 16)
    with torch.inference_mode():
        assert _close(fast(x), _exact(plain, x))
    with torch.no_grad():
        for m in (plain, fast):
            m.weight.mul_(-2.0)
    with torch.inference_mode():
        assert _close(fast(x), _exact(plain, x))
    assert call.calls == 2
    assert (call.u is not None) == keep  # without keeping, no transformed copy stays


def test_a_replaced_weight_is_transformed_again():
    plain, fast, call = _wrapped()
    x = torch.randn(1, 32, 16, 16)
    with torch.inference_mode():
        fast(x)
    for m in (plain, fast):  # a new Parameter, then new storage under the same one (Module.to does that)
        m.weight = torch.nn.Parameter(m.weight * 3, requires_grad=False)
    with torch.inference_mode():
        assert _close(fast(x), _exact(plain, x))
    for m in (plain, fast):
        m.weight.data = m.weight.data * -0.5
    with torch.inference_mode():
        assert _close(fast(x), _exact(plain, x))
    assert call.calls == 3


def test_an_empty_batch_and_an_inference_weight_take_the_direct_call():
    plain, fast, call = _wrapped()
    with torch.inference_mode():
        assert fast(torch.randn(0, 32, 16, 16)).shape == (0, 32, 16, 16)
        frozen = torch.nn.Conv2d(32, 32, 3, padding=1).requires_grad_(False)  # made in inference mode
    winograd.winograd_convolutions(frozen)
    x = torch.randn(1, 32, 16, 16)
    with torch.inference_mode():
        assert torch.equal(frozen(x), F.conv2d(x, frozen.weight, frozen.bias, padding=1))
    assert call.calls == 0 and frozen._conv_forward.calls == 0


def test_small_images_autograd_and_other_dtypes_take_the_direct_call():
    plain, fast, call = _wrapped()
    with torch.inference_mode():
        small = torch.randn(1, 32, 8, 8)  # too few blocks to pay
        assert torch.equal(fast(small), plain(small))
        big = torch.randn(1, 32, 16, 16)
        assert torch.equal(fast.double()(big.double()), plain.double()(big.double()))
    fast.float(), plain.float()
    with torch.enable_grad():
        x = torch.randn(1, 32, 16, 16, requires_grad=True)
        assert torch.equal(fast(x), plain(x))
    assert call.calls == 0


def test_thin_and_strided_convolutions_are_left_alone():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.Conv2d(64, 64, 3, padding=1, stride=2),
                                torch.nn.Conv2d(64, 64, 1), torch.nn.Conv2d(64, 64, 3, padding=2, dilation=2),
                                torch.nn.Conv2d(64, 64, 3, padding=1, groups=2), torch.nn.Conv2d(64, 64, 3),
                                torch.nn.Conv2d(64, 64, 3, padding=1))
    assert winograd.winograd_convolutions(model) == 1
    assert winograd.winograd_convolutions(model) == 0  # not wrapped twice
    wide = torch.nn.Sequential(torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.Conv2d(64, 128, 3, padding=1))
    assert winograd.winograd_convolutions(wide, max_channels=64) == 1


def test_a_suspended_packing_runs_the_direct_call():
    packing = Packing()
    plain, fast, call = _wrapped(packing=packing)
    x = torch.randn(1, 32, 16, 16)
    with torch.inference_mode(), packing.suspended():
        assert torch.equal(fast(x), plain(x))
    assert call.calls == 0


@pytest.mark.skipif(not packing_available(), reason="this torch has no oneDNN")
def test_the_cpu_model_runs_winograd_in_the_unet_and_the_vq_by_default(tiny_home):
    path = tiny_home / "models" / "tiny"
    fast = RefLDM.load(path, device="cpu", precision="fp32")
    direct = RefLDM.load(path, device="cpu", precision="fp32", winograd=False)
    assert fast.winograd > 0 and direct.winograd == 0
    calls = [m._conv_forward for m in fast.unet.modules() if isinstance(getattr(m, "_conv_forward", None),
                                                                        winograd._WinogradConv)]
    # The tiny UNet's own latent (8 x 8) is too small; at 32 x 32 its two upper levels qualify.
    torch.manual_seed(5)
    x = torch.randn(2, fast.config.unet.in_channels, 32, 32).contiguous(memory_format=torch.channels_last)
    t = torch.full((2,), 500, dtype=torch.long)
    with torch.inference_mode():
        got, want = fast.unet(x, t).sample, direct.unet(x, t).sample
    assert sum(c.calls for c in calls) > 0
    assert matches(got, want)  # rtol 1e-4 + atol 1e-4 * max, as the golden tensors
    vq = [m._conv_forward for m in fast.vq.modules() if isinstance(getattr(m, "_conv_forward", None),
                                                                    winograd._WinogradConv)]
    image = torch.rand(1, 3, fast.config.image_size, fast.config.image_size) * 2 - 1
    assert matches(fast.encode(image), direct.encode(image))
    assert sum(c.calls for c in vq) > 0
    # The VQ runs each convolution once an image: it keeps no transformed weights.
    assert all(c.u is None for c in vq) and any(c.u is not None for c in calls)


def test_inputs_too_large_to_pay_take_the_direct_call(monkeypatch):
    plain, fast, call = _wrapped()
    monkeypatch.setattr(winograd, "MAX_INPUT_VALUES", 32 * 16 * 16)
    with torch.inference_mode():
        fits = torch.randn(2, 32, 16, 16)  # the bound is per image, not per batch
        assert _close(fast(fits), _exact(plain, fits))
        assert call.calls == 1
        large = torch.randn(1, 32, 16, 17)
        assert torch.equal(fast(large), plain(large))
    assert call.calls == 1
    if heap.available():  # while freed memory stays in the process, large inputs pay too
        with heap.kept_heap(), torch.inference_mode():
            assert _close(fast(large), _exact(plain, large))
        assert call.calls == 2


def test_stripes_grow_with_threads_so_the_second_core_has_work(monkeypatch):
    # One block row a stripe with one thread (the cache's size); with two, stripes are
    # STRIPE_SPREAD x 2 times bigger, so fewer and bigger products: the result is the same.
    conv = _conv(32, 32)
    x = torch.randn(1, 32, 64, 64)
    u = winograd.transform_weight(conv.weight)
    monkeypatch.setattr(winograd, "STRIPE_VALUES", 36 * 16 * 32)  # one block row of this image
    seen = []
    real_bmm = torch.bmm
    monkeypatch.setattr(torch, "bmm", lambda a, b: seen.append(a.shape[1]) or real_bmm(a, b))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = winograd.conv3x3(x, u, conv.bias)
        rows_one = list(seen)
        seen.clear()
        torch.set_num_threads(2)
        two = winograd.conv3x3(x, u, conv.bias)
    finally:
        torch.set_num_threads(before)
    assert len(rows_one) == 16 and len(seen) == 16 // (2 * winograd.STRIPE_SPREAD)
    assert torch.allclose(one, two, atol=1e-5)
    # Many threads: the stripes stop growing at MAX_STRIPE_VALUES (buffers the heap keeps).
    seen.clear()
    monkeypatch.setattr(winograd, "MAX_STRIPE_VALUES", 2 * 36 * 16 * 32)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)
    many = winograd.conv3x3(x, u, conv.bias)
    assert len(seen) == 8 and torch.allclose(one, many, atol=1e-5)
