"""The VQ encoder over a wide reference strip, in bounded memory, with the same result.

The references are encoded side by side in ONE pass (the authors do so, and the latents depend
on it: the encoder's GroupNorms and its middle attention see the whole strip). At full size the
first level's activations are 128 channels at 512 x 512N pixels, 1 GiB each with 8 references,
and a plain residual block holds four or five of them at once (input, norm, activation, conv
output, the conv library's reordered copies): 6.1 GiB peak with 8 references.

Here the large levels run their residual blocks in vertical stripes instead:
- each GroupNorm's statistics are taken over the whole activation first (a reduction, no
  copy), so every stripe is normalised exactly as the whole;
- norm (one multiply-add per value), SiLU (in place) and the 3x3 conv then run per stripe
  with one column of the neighbours on each side (zeros only at the strip's true left and
  right edges, as the conv's own padding);
- the block's output is added into its input in place, stripe by stripe (a stripe's residual
  is needed only by that stripe; the second conv reads the intermediate, not the input).
So a large level holds two full activations (the input and the first conv's output) plus one
stripe's temporaries. The downsampling conv (stride 2, padding (0, 1, 0, 1)) runs per stripe
too. The result differs from the plain forward only by float rounding (the statistics are
summed in another order; tests compare with the authors' tensors at their tolerance).

Smaller levels run whole, the middle block (its attention must see everything) and the output
layers as diffusers has them.

On the CPU (`channels_last=True`, what RefLDM.encode asks there) the down levels are
channels_last, and their plain residual blocks and downsamplers take the path above (a small
level in one stripe, its whole width): oneDNN convolves NHWC directly, while NCHW input is
reordered into its blocked layout and back at every call. A 128-channel 3x3 conv on a
512 x 258 stripe ran at 83 GFLOP per CPU second NHWC against 66 NCHW. GroupNorm statistics
of an NHWC activation come per channel from batch norm's kernel, per block of rows, merged in
float64 (the kernel's float32 sums over a whole 512 x 2048 channel were off by 7e-5 of the
variance; the blocks keep it near 1e-6). Measured on the 2-core AVX2 EPYC, full size, medians
of CPU seconds over alternated runs:
- the 4-reference strip, striped levels channels_last: 44.1 s against 51.0 s NCHW (load 2.5-3.9);
- one 512 px LQ face, every level so: 9.44 s against 10.66 s (load 5.5-6.6); the strip gained
  nothing more from it (45.7 against 45.8 s), its small levels being near the peak already.
Per part of the strip's 45 CPU s (load 6; small levels still NCHW then): the striped first level's four convolutions
18.4 s (1237 GFLOP, 67 GFLOP per CPU s: the stripes' norm, SiLU and copies are the rest), its
downsampling 1.7 s (46), the 256 px level 5.1 s (61), the 128 and 64 px levels 3.9 and
3.5 s (71, 80), the middle block's residual blocks 3.9 s (79) and its attention over all
16384 tokens 7.4 s (584 GFLOP, 79: the CPU flash kernel, near the peak of about 80 per core).
The results stay within 1e-5 of the plain forward's range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# A level runs in stripes when one of its activations is larger than this.
STRIPED_ABOVE_BYTES = 192 * 2**20
# Stripe width in pixels of the level being computed (temporaries: ~ channels x H x this).
STRIPE_COLUMNS = 256


def encode_lean(vq, x: "torch.Tensor", above_bytes: int = STRIPED_ABOVE_BYTES,
                columns: int = STRIPE_COLUMNS, channels_last: bool = False) -> "torch.Tensor":
    """quant_conv(encoder(x)) of a diffusers VQModel, large levels in stripes (see above)."""
    import torch

    enc = vq.encoder
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)  # conv_in gives the first level's layout
    h = enc.conv_in(x)
    for block in enc.down_blocks:
        big = h.numel() * h.element_size() > above_bytes
        lean, width = big or channels_last, columns if big else h.shape[-1]
        if channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        for resnet in block.resnets:
            h = _resnet_striped(resnet, h, width) if lean and _stripable(resnet) else resnet(h, None)
        for down in block.downsamplers or ():
            h = _downsample_striped(down, h, width) if lean and _stripable_down(down) else down(h)
    h = enc.mid_block(h.contiguous())
    h = enc.conv_out(enc.conv_act(enc.conv_norm_out(h)))
    return vq.quant_conv(h)


def _stripable(resnet) -> bool:
    """A plain residual block: no time embedding, no resampling, no shortcut conv, unit scale."""
    conv = resnet.conv1
    return (
        resnet.upsample is None and resnet.downsample is None and resnet.time_emb_proj is None
        and resnet.conv_shortcut is None and resnet.output_scale_factor == 1
        and resnet.time_embedding_norm == "default"
        and all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.stride == (1, 1)
                and c.padding_mode == "zeros" for c in (conv, resnet.conv2))
        and type(resnet.nonlinearity).__name__ == "SiLU"
    )


def _stripable_down(down) -> bool:
    conv = getattr(down, "conv", None)
    return (
        down.norm is None and down.use_conv and down.padding == 0 and conv is not None
        and conv.kernel_size == (3, 3) and conv.stride == (2, 2) and conv.padding == (0, 0)
    )


def _spans(width: int, columns: int) -> list[tuple[int, int]]:
    return [(a, min(a + columns, width)) for a in range(0, width, columns)]


def group_affine(norm, x: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
    """GroupNorm over all of x as a per-(sample, channel) scale and shift [b, c, 1, 1]:
    norm(x) == x * scale + shift, the form PyTorch's own GroupNorm kernel applies.

    The statistics come from one float32 pass over the whole activation, without a copy
    (only the normalised activation is large, and that is made stripe by stripe). Each
    (sample, group) is a channel of a [1, b * g, rest] view to batch norm's statistics
    kernel: the same biased variance as var_mean, three times faster on the CPU."""
    import torch

    b, c = x.shape[:2]
    g = norm.num_groups
    if x.is_contiguous():
        mean, var = torch.batch_norm_update_stats(x.reshape(1, b * g, -1), None, None, 0.0)
        mean, var = mean.view(b, g), var.view(b, g)
    else:
        mean, var = _group_stats_blocked(x, g)
    rstd = torch.rsqrt(var + norm.eps)
    scale = rstd.repeat_interleave(c // g, dim=1)  # [b, c]
    shift = -mean.repeat_interleave(c // g, dim=1) * scale
    if norm.affine:
        shift = shift * norm.weight + norm.bias
        scale = scale * norm.weight
    return scale[..., None, None], shift[..., None, None]


def _group_stats_blocked(x: "torch.Tensor", groups: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Per-(sample, group) mean and biased variance of x in any layout (channels_last here).

    Batch norm's statistics kernel per sample and block of rows gives per-channel figures
    without a copy; they are merged in float64 (equal counts: the variance is the mean of
    the variances plus the variance of the means). Blocks bound the float32 sums' error."""
    import torch

    b, c, h, w = x.shape
    rows = max(1, 2**15 // w)
    means, variances, dtype = [], [], x.dtype
    for i in range(b):
        parts = [torch.batch_norm_update_stats(x[i:i + 1, :, r:r + rows], None, None, 0.0)
                 for r in range(0, h, rows)]
        dtype = parts[0][0].dtype
        m = torch.stack([p[0] for p in parts]).double()  # [blocks, c]
        v = torch.stack([p[1] for p in parts]).double()
        weight = torch.tensor([min(rows, h - r) for r in range(0, h, rows)], dtype=torch.float64,
                              device=m.device)[:, None] / h
        mean_c = (m * weight).sum(0)
        var_c = (v * weight).sum(0) + ((m - mean_c) ** 2 * weight).sum(0)
        mean_c, var_c = mean_c.view(groups, c // groups), var_c.view(groups, c // groups)
        mean_g = mean_c.mean(1)
        means.append(mean_g)
        variances.append(var_c.mean(1) + ((mean_c - mean_g[:, None]) ** 2).mean(1))
    return torch.stack(means).to(dtype), torch.stack(variances).to(dtype)


def _conv_stripe(conv, x, affine, a: int, e: int) -> "torch.Tensor":
    """conv(silu(norm(x))) for output columns [a, e).

    The stripe is read with one neighbour column on each side where x has one, and the
    conv pads as usual: output columns next to a neighbour column are exact, the two
    extra ones (computed against padding) are dropped; at x's true edges the padding is
    the conv's own."""
    import torch
    import torch.nn.functional as F

    lo, hi = max(a - 1, 0), min(e + 1, x.shape[-1])
    scale, shift = affine
    z = torch.addcmul(shift, x[..., lo:hi], scale)  # one pass: a new, contiguous stripe
    F.silu(z, inplace=True)
    return conv(z)[..., a - lo:e - lo]


def _resnet_striped(resnet, x: "torch.Tensor", columns: int) -> "torch.Tensor":
    """resnet(x) computed stripe by stripe; the result is written into x."""
    import torch

    spans = _spans(x.shape[-1], columns)
    affine1 = group_affine(resnet.norm1, x)
    if len(spans) == 1:  # one stripe: the conv's own output, without a second full buffer
        h = _conv_stripe(resnet.conv1, x, affine1, 0, x.shape[-1])
    else:
        h = torch.empty_like(x)  # the same layout (a plain block keeps its width)
        for a, e in spans:
            h[..., a:e] = _conv_stripe(resnet.conv1, x, affine1, a, e)
    affine2 = group_affine(resnet.norm2, h)
    for a, e in spans:
        x[..., a:e] += _conv_stripe(resnet.conv2, h, affine2, a, e)
    return x


def _layout_of(x: "torch.Tensor") -> "torch.memory_format":
    import torch

    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format


def _downsample_striped(down, x: "torch.Tensor", columns: int) -> "torch.Tensor":
    """F.pad(x, (0, 1, 0, 1)) then the stride-2 conv, per stripe of output columns."""
    import torch
    import torch.nn.functional as F

    b, c, h, w = x.shape
    conv = down.conv
    out_w, out_h = (w + 1 - 3) // 2 + 1, (h + 1 - 3) // 2 + 1
    out = torch.empty(b, conv.out_channels, out_h, out_w, dtype=x.dtype, device=x.device,
                      memory_format=_layout_of(x))
    for a, e in _spans(out_w, max(1, columns // 2)):
        lo, hi = 2 * a, min(2 * e + 1, w)  # output column j reads padded columns 2j .. 2j + 2
        part = F.pad(x[..., lo:hi], (0, 2 * e + 1 - hi, 0, 1))
        out[..., a:e] = conv(part)
    return out
