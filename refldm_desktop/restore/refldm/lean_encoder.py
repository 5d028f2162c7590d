"""The VQ encoder over a wide reference strip, in bounded memory, with the same result.

The references are encoded side by side in ONE pass (the authors do so, and the latents depend
on it: the encoder's GroupNorms and its middle attention see the whole strip). At full size the
first level's activations are 128 channels at 512 x 512N pixels, 1 GiB each with 8 references,
and a plain residual block holds four or five of them at once (input, norm, activation, conv
output, the conv library's reordered copies): 6.1 GiB peak with 8 references.

Here the large levels run their residual blocks in vertical stripes instead:
- each GroupNorm's statistics are gathered over the whole activation first, stripe by stripe
  (mean and variance per stripe, merged), so every stripe is normalised exactly as the whole;
- norm, SiLU and the 3x3 conv then run per stripe with one column of the neighbours on each
  side (zeros only at the strip's true left and right edges, as the conv's own padding);
- the block's output is added into its input in place, stripe by stripe (a stripe's residual
  is needed only by that stripe; the second conv reads the intermediate, not the input).
So a large level holds two full activations (the input and the first conv's output) plus one
stripe's temporaries. The downsampling conv (stride 2, padding (0, 1, 0, 1)) runs per stripe
too. The result differs from the plain forward only by float rounding (the statistics are
summed in another order; tests compare with the authors' tensors at their tolerance).

Smaller levels, the middle block (its attention must see everything) and the output layers
run as they are: they are 4x and more smaller.
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
                columns: int = STRIPE_COLUMNS) -> "torch.Tensor":
    """quant_conv(encoder(x)) of a diffusers VQModel, large levels in stripes (see above)."""
    enc = vq.encoder
    h = enc.conv_in(x)
    for block in enc.down_blocks:
        big = h.numel() * h.element_size() > above_bytes
        for resnet in block.resnets:
            h = _resnet_striped(resnet, h, columns) if big and _stripable(resnet) else resnet(h, None)
        for down in block.downsamplers or ():
            h = _downsample_striped(down, h, columns) if big and _stripable_down(down) else down(h)
    h = enc.mid_block(h)
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


def group_stats(norm, x: "torch.Tensor", columns: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """GroupNorm's per-(sample, group) mean and 1/sqrt(var + eps) over all of x, gathered
    stripe by stripe and merged (Chan et al.'s parallel variance) in float64."""
    import torch

    b, c, h, w = x.shape
    g = norm.num_groups

    def moments(a: int, e: int) -> tuple[int, "torch.Tensor", "torch.Tensor"]:
        part = x[..., a:e].reshape(b, g, -1)
        var_i, mean_i = torch.var_mean(part.double(), dim=2, correction=0)
        return part.shape[2], mean_i, var_i * part.shape[2]

    spans = _spans(w, columns)
    total, mean, m2 = moments(*spans[0])
    for a, e in spans[1:]:
        n_i, mean_i, m2_i = moments(a, e)
        delta = mean_i - mean
        both = total + n_i
        mean = mean + delta * (n_i / both)
        m2 = m2 + m2_i + delta**2 * (total * n_i / both)
        total = both
    rstd = torch.rsqrt(m2 / total + norm.eps)
    return mean.to(x.dtype), rstd.to(x.dtype)


def _norm_silu(norm, part: "torch.Tensor", mean, rstd) -> "torch.Tensor":
    import torch.nn.functional as F

    b, c, h, w = part.shape
    g = norm.num_groups
    y = (part.reshape(b, g, -1) - mean[..., None]) * rstd[..., None]
    y = y.reshape(b, c, h, w)
    if norm.affine:
        y = y * norm.weight[:, None, None] + norm.bias[:, None, None]
    return F.silu(y)


def _conv_stripe(conv, norm, x, stats, a: int, e: int) -> "torch.Tensor":
    """conv(silu(norm(x))) for output columns [a, e), with the conv's zero padding only at
    x's true left and right edges."""
    import torch.nn.functional as F

    w = x.shape[-1]
    lo, hi = max(a - 1, 0), min(e + 1, w)
    z = _norm_silu(norm, x[..., lo:hi], *stats)
    z = F.pad(z, (1 if a == 0 else 0, 1 if e == w else 0))
    return F.conv2d(z, conv.weight, conv.bias, stride=1, padding=(1, 0))


def _resnet_striped(resnet, x: "torch.Tensor", columns: int) -> "torch.Tensor":
    """resnet(x) computed stripe by stripe; the result is written into x."""
    import torch

    spans = _spans(x.shape[-1], columns)
    stats1 = group_stats(resnet.norm1, x, columns)
    h = torch.empty(x.shape[0], resnet.conv1.out_channels, *x.shape[2:], dtype=x.dtype, device=x.device)
    for a, e in spans:
        h[..., a:e] = _conv_stripe(resnet.conv1, resnet.norm1, x, stats1, a, e)
    stats2 = group_stats(resnet.norm2, h, columns)
    for a, e in spans:
        x[..., a:e] += _conv_stripe(resnet.conv2, resnet.norm2, h, stats2, a, e)
    return x


def _downsample_striped(down, x: "torch.Tensor", columns: int) -> "torch.Tensor":
    """F.pad(x, (0, 1, 0, 1)) then the stride-2 conv, per stripe of output columns."""
    import torch
    import torch.nn.functional as F

    b, c, h, w = x.shape
    conv = down.conv
    out_w, out_h = (w + 1 - 3) // 2 + 1, (h + 1 - 3) // 2 + 1
    out = torch.empty(b, conv.out_channels, out_h, out_w, dtype=x.dtype, device=x.device)
    for a, e in _spans(out_w, max(1, columns // 2)):
        lo, hi = 2 * a, min(2 * e + 1, w)  # output column j reads padded columns 2j .. 2j + 2
        part = F.pad(x[..., lo:hi], (0, 2 * e + 1 - hi, 0, 1))
        out[..., a:e] = conv(part)
    return out
