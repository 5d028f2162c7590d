"""Convolutions on the CPU without the per-call reorders.

oneDNN, PyTorch's CPU convolution library, computes in a blocked layout of its own. Given
plain tensors, every call reorders the weight into that layout, and NCHW activations into
and out of it. The UNet runs at small sizes (64x64 down to 8x8 latents) with large weights,
so the reorders are a large share of a pass: measured on a 2-core AVX2 EPYC, the whole
UNet at an 8x8 latent (1/64 of the arithmetic, all of the weights) took 0.13 s, 0.1 s of it
in convolutions; at full size the packed, channels_last UNet pass took 2-8% less CPU time
and the channels_last VQ decode 13% less (benchmarks/profile_face.py). So on the CPU:
- each Conv2d keeps its weight reordered once (packed) and calls oneDNN with it; the plain
  weight stays the module's parameter (state_dict, other devices);
  a weight replaced or changed in place is packed again;
- the UNet's activations are channels_last (NHWC), a layout oneDNN convolves directly, so
  they are not reordered per call either (the attention processor reads its tokens
  straight from it).
The packed weights are a second copy of the weights of the UNet's convolutions that do not run
as Winograd (winograd.py: those keep a transformed copy instead); all of them would be 98M values, 0.4 GB
in fp32 at full size).

The packed call is an internal PyTorch operator (the one torch.compile's CPU backend uses
for frozen convolutions): if it is missing or refuses an input (bf16 on a CPU without
AVX-512 or AVX-NE-CONVERT), that convolution goes back to the plain call for good; the first
refusal is logged. The results differ from the plain call only by float rounding.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def packing_available() -> bool:
    import torch

    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class Packing:
    """The switch shared by the packed convolutions of one module tree."""

    def __init__(self) -> None:
        self.count = 0  # convolutions given a packed call
        self.refused = 0  # of those, how many went back to the plain call
        self.enabled = True

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """The plain convolutions for a while (calls whose rounding must be the plain one's)."""
        before, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = before


def pack_convolutions(module: "torch.nn.Module") -> Packing:
    """Give every plain Conv2d under `module` a packed weight (on its first CPU call).
    nn.Conv2d.forward calls self._conv_forward, which this replaces."""
    packing = Packing()
    if not packing_available():
        return packing
    for conv in module.modules():
        pack_one(conv, packing)
    return packing


def pack_one(conv: "torch.nn.Module", packing: Packing) -> None:
    """Give one plain Conv2d a packed weight under `packing`'s switch (if it can take one)."""
    import torch

    if (packing_available() and type(conv) is torch.nn.Conv2d and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str)):
        conv._conv_forward = _PackedConv(conv, packing)
        packing.count += 1


class _PackedConv:
    """conv._conv_forward(input, weight, bias) through oneDNN with a packed weight."""

    def __init__(self, conv: "torch.nn.Conv2d", packing: Packing) -> None:
        self.plain = type(conv)._conv_forward.__get__(conv)
        self.packing = packing
        self.args = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        self.source: tuple[object, int] | None = None  # the weight tensor packed and its version
        self.packed = None
        self.failed = False

    def __call__(self, x, weight, bias):
        import torch

        if self.failed or not self.packing.enabled or x.device.type != "cpu" or x.dtype != weight.dtype or (
                torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad)):
            return self.plain(x, weight, bias)
        padding, stride, dilation, groups = self.args
        try:
            if self.source is None or self.source[0] is not weight or self.source[1] != weight._version:
                self.packed = torch._C._nn.mkldnn_reorder_conv2d_weight(
                    weight.detach().to_mkldnn(), padding, stride, dilation, groups, list(x.shape))
                self.source = (weight, weight._version)
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.packed, bias, padding, stride, dilation, groups, "none", [], "")
        except (RuntimeError, NotImplementedError) as exc:
            if not self.packing.refused:
                log.info("packed convolution refused, using the plain one: %s", exc)
            self.packing.refused += 1
            self.failed, self.packed, self.source = True, None, None
            return self.plain(x, weight, bias)
