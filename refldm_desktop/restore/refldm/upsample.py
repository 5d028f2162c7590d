"""Nearest 2x upsampling followed by a 3x3 convolution, as four 2x2 convolutions.

Both ReF-LDM networks upsample that way (diffusers' Upsample2D): the UNet three times, the VQ
decoder three times, the last at 512 x 512 with 128 channels. Each output pixel of the 3x3
conv over the nearest-upsampled image reads only a 2x2 window of the small image: for output
row 2i the kernel rows fall on input rows i-1 (kernel row 0) and i (rows 1 and 2, so their
weights add up); for row 2i+1 on rows i (rows 0 and 1) and i+1 (row 2); columns alike. So
the four output phases are 2x2 convolutions of the small image with summed weights: 16
multiply-adds per input channel and output pixel quad instead of 36 (the upsampled image is
never made). All four run as one convolution with 4x the output channels on the small image
padded by one; the phases are then interleaved into the output. Each phase also computes one
extra row and column of that padded image, so the saving is a little under 2.25x: about 2.0x
at the UNet's 8 to 32 px levels, 2.2x in the decoder.

The result differs from the plain forward by float rounding only: the weights are summed in
float64, the products grouped otherwise. Measured on the 2-core AVX2 EPYC, CPU seconds of
one upsampler (channels_last, float32): 512 ch at 64 -> 128 px 0.58 against 1.12, 256 ch at
128 -> 256 px 0.64 against 1.10, 128 ch at 256 -> 512 px 0.69 against 1.26; the largest
difference 3e-6 of the output's range.

Used on the CPU in float32 only (RefLDM decides where); anything else (autograd, another
size than 2x, bf16, a disabled switch) takes diffusers' own forward.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

    from refldm_desktop.restore.refldm.cpu_conv import Packing


def fold_weight(weight: "torch.Tensor") -> "torch.Tensor":
    """A 3x3 kernel [co, ci, 3, 3] -> the four phases' 2x2 kernels [4 co, ci, 2, 2], phases
    (row, column) in the order (0, 0), (0, 1), (1, 0), (1, 1)."""
    import torch

    w = weight.detach().double()

    def fold(k: "torch.Tensor", dim: int, phase: int) -> "torch.Tensor":
        t0, t1, t2 = k.unbind(dim)
        return torch.stack((t0, t1 + t2) if phase == 0 else (t0 + t1, t2), dim=dim)

    return torch.cat([fold(fold(w, 2, a), 3, b) for a in (0, 1) for b in (0, 1)]).to(weight.dtype)


def sub_pixel_upsamplers(model: "torch.nn.Module", packing: "Packing | None" = None) -> int:
    """Give every nearest-2x + 3x3-conv Upsample2D under `model` the folded forward.
    With `packing` (the UNet's), the folded conv is packed like the others and the plain
    forward runs while that packing is suspended. Returns how many were changed."""
    from diffusers.models.upsampling import Upsample2D

    count = 0
    for up in model.modules():
        if type(up) is Upsample2D and _foldable(up):
            up.forward = _SubPixelForward(up, packing)
            count += 1
    return count


def _foldable(up) -> bool:
    import torch

    conv = getattr(up, "conv", None) if up.name == "conv" else getattr(up, "Conv2d_0", None)
    if not isinstance(conv, torch.nn.Conv2d) or type(conv) is not torch.nn.Conv2d:
        return False
    return (
        up.use_conv and not up.use_conv_transpose and up.interpolate and up.norm is None
        and conv.kernel_size == (3, 3) and conv.padding == (1, 1)
        and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


class _SubPixelForward:
    def __init__(self, up, packing: "Packing | None") -> None:
        self.up = up
        self.original: Callable = type(up).forward.__get__(up)
        self.packing = packing
        self.folded: "torch.nn.Conv2d | None" = None
        self.source: tuple[object, int, object, int] | None = None  # weight, version, bias, version
        self.calls = 0  # folded calls (tests)

    @property
    def conv(self) -> "torch.nn.Conv2d":
        # Read each time: a conv module replaced after loading is folded too.
        return self.up.conv if self.up.name == "conv" else self.up.Conv2d_0

    def __call__(self, hidden_states, output_size=None, *args, **kwargs):
        import torch

        x = hidden_states
        if (args or kwargs or torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32
                or self.conv.weight.dtype != torch.float32 or x.shape[1] != self.up.channels
                or (output_size is not None and tuple(output_size) != (2 * x.shape[-2], 2 * x.shape[-1]))
                or (self.packing is not None and not self.packing.enabled)):
            return self.original(hidden_states, output_size, *args, **kwargs)
        folded = self._folded()
        b, _, h, w = x.shape
        co = self.conv.out_channels
        y = folded(x)  # [b, 4 co, h + 1, w + 1]: phase (p, q) of output (i, j) is at (i + p, j + q)
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        out = torch.empty((b, co, 2 * h, 2 * w), dtype=y.dtype, device=y.device,
                          memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        for k, (p, q) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            out[:, :, p::2, q::2] = y[:, k * co:(k + 1) * co, p:p + h, q:q + w]
        self.calls += 1
        return out

    def _folded(self) -> "torch.nn.Conv2d":
        """The four phases' conv, folded again if the 3x3 weight or bias changed."""
        import torch

        wt, bias = self.conv.weight, self.conv.bias
        source = (wt, wt._version, bias, -1 if bias is None else bias._version)
        if self.folded is None or self.source is None or any(
                a is not b if i % 2 == 0 else a != b for i, (a, b) in enumerate(zip(self.source, source, strict=True))):
            # Made outside inference mode, even when first called inside it: inference
            # tensors keep no version counter, which the packed conv reads to see a change
            # (without this every folded UNet conv was refused packing and ran the plain call).
            with torch.inference_mode(False), torch.no_grad():
                conv = torch.nn.Conv2d(self.conv.in_channels, 4 * self.conv.out_channels, 2, padding=1,
                                       bias=bias is not None, device=wt.device, dtype=wt.dtype)
                conv.requires_grad_(False)
                conv.weight.copy_(fold_weight(wt))
                if bias is not None:
                    conv.bias.copy_(bias.detach().repeat(4))
            if self.packing is not None:
                from refldm_desktop.restore.refldm.cpu_conv import pack_one

                pack_one(conv, self.packing)
            self.folded, self.source = conv, source
        return self.folded
