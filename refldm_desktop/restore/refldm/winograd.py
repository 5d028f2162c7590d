"""3x3 convolutions on the CPU with Winograd's minimal filtering, F(4x4, 3x3).

Most of a face's CPU time is 3x3 convolutions (stride 1, padding 1): 56% of a UNet pass, 78%
of a decode, 80% of an encode, and oneDNN already runs them near the two cores' peak. So the
rest can only come from doing fewer multiplications. Winograd's F(4x4, 3x3) computes each
4x4 block of outputs from the 6x6 input block around it with 36 multiplications per input and
output channel, where the direct convolution needs 144: both blocks go through small fixed
transforms, and the 36 products become 36 matrix products over all blocks at once (positions x
input channels times input x output channels), which BLAS runs near peak. The transforms are
additions in a few passes over each stripe of the image, kept small enough to stay in the
cache.

Rounding: the transforms' coefficients (up to 8 and 1/24) make the result differ from the
direct one by about 1e-5 of the output's range in float32, against 2e-6 for the direct
convolution itself (measured against float64); the golden tests' tolerance is 1e-4.

Measured on the 2-core AVX2 EPYC (Zen 3), float32, one convolution against the packed
oneDNN call on channels_last input, 1 thread, time ratio: UNet shapes 2 x 160 ch at 64 px
0.56-0.67, 2 x 320 ch at 32 px 0.43-0.51, 2 x 320 ch at 16 px 0.55-0.62, 2 x 640 ch at 8 px
0.91-1.13 (too few blocks for the transforms to pay, so small images keep the direct call);
decoder 128 ch at 256 px 0.59-0.71, 256 ch at 128 px 0.47-0.49. Convolutions with few
channels keep the direct call too: their matrix products are too thin.

Whole phases of a face, 2 threads, quiet (profile_face.py --variants default,direct, alternated,
medians of 3-5, wall s, CPU s in brackets), Winograd against direct: LQ encode 3.06 (5.38)
against 3.60 (6.93), guided UNet pass 1.155 (1.94) against 1.208 (2.21), decode 4.67 (8.47)
against 5.70 (11.02). The UNet's wall time gains less than its CPU time: its transforms are
many short element-wise passes, over which two threads wait for each other. A later face from
stored latents (restore_face.py) took 30.6 s against 34.5 s, the authors' code 102-104 s that
hour. In a worker thread, as the app's job runner restores, a later face of 20 steps took
28.3-28.8 s against 32.8-33.2 s (CPU 50 against 62 s; one process each, alternated). It is on
by default on the CPU (RefLDM's `winograd`).

With stripes sized for one core's cache, two threads mostly waited for each other (the pass
took as long as the direct one, the VQ coder longer), so a stripe holds STRIPE_VALUES x
STRIPE_SPREAD x threads values when there is more than one thread. The VQ's 128 channels at
512 px (most of a decode) pay only while freed memory stays in the process (MAX_INPUT_VALUES).

Used on the CPU in float32 only, under the UNet's packing switch where there is one (the
zero reference's keys are computed with the plain rounding); anything else runs the
convolution's own call.

Memory: the UNet's convolutions keep their transformed weights, 4x their own size: about
0.49 GiB for those that run at 16 px or more (whose packed copies, cpu_conv.py, are then never
made). The VQ runs each convolution once an image, so its weights are transformed on each call
(up to 9 ms, against about 50 ms saved for its widest) and none are kept. A face's peak grew
from 2.4-2.8 to 3.1-3.3 GiB (restore_face.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from refldm_desktop.restore.refldm import heap

if TYPE_CHECKING:
    import torch

    from refldm_desktop.restore.refldm.cpu_conv import Packing

# Smaller images and thinner convolutions keep the direct call (see above).
MIN_PIXELS = 16 * 16
MIN_CHANNELS = 32
# Larger inputs (values per image) keep it too, unless freed memory stays in the process
# (heap.py, as while the model works): else each stripe's buffers (up to 32 MiB) come from the
# kernel, zeroed, every time. The VQ's 128 channels at 512 px (33.5 Mi values) ran 1.05x the
# direct call's time that way and 0.87x with the heap kept (a face's LQ encode and decode 10%
# faster); at 256 px (8.4 Mi) 0.81x either way.
MAX_INPUT_VALUES = 1 << 24
# Values in one stripe's transformed input or products with one thread: a few MiB, so that
# each pass over them finds them in the cache. With more threads a stripe is that many times
# STRIPE_SPREAD bigger: small stripes give matrix products too small for BLAS to split and
# element-wise passes too short to share, so the second core mostly waited (see above).
STRIPE_VALUES = 1 << 20
STRIPE_SPREAD = 4
# But never more than 32 MiB a buffer: one 128-channel convolution at 512 px (2 threads, heap
# kept) took 304 ms with 8 Mi values a stripe and 371 ms with 16 Mi (the direct call 359), and
# in a thread other than the main one (the app's job runner) glibc maps blocks over 64 MiB
# afresh on every call even while the heap is kept (heap.py).
MAX_STRIPE_VALUES = 8 << 20

# F(4x4, 3x3) with the interpolation points 0, 1, -1, 2, -2 and infinity.
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))


def transform_weight(weight: "torch.Tensor") -> "torch.Tensor":
    """[out, in, 3, 3] -> [36, in, out]: G w G^T per channel pair, index row * 6 + column
    of the 6x6 transform (the order the input transform below writes)."""
    import torch

    # In float32: float64's small matrix products ran at half the speed, and the products
    # here are a few sums of three terms each.
    g = torch.tensor(_G, dtype=torch.float32)
    k, c = weight.shape[:2]
    # Two products with all channel pairs side by side, already in the order the matrix
    # products read (an einsum of all four took seconds for the UNet's weights, which every
    # process pays again on its first face).
    w = weight.detach().permute(2, 3, 1, 0).float().reshape(3, 3, c * k)  # [i, j, in x out]
    u = torch.matmul(g, w)  # columns: [i, 6 c, in x out]
    u = torch.mm(g, u.reshape(3, 6 * c * k))  # rows: [6 r, 6 c x in x out]
    return u.view(36, c, k).to(weight.dtype)


def conv3x3(x: "torch.Tensor", u: "torch.Tensor", bias: "torch.Tensor | None") -> "torch.Tensor":
    """The 3x3, stride 1, zero-padding 1 convolution of x [N, C, H, W] whose weight gave
    u = transform_weight(weight). The result is channels_last if x is (else NCHW)."""
    import torch

    n, c, h, w = x.shape
    k = u.shape[2]
    th, tw = -(-h // 4), -(-w // 4)
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    xl = x.permute(0, 2, 3, 1)  # NHWC: channels innermost, as the matrix products read them
    out = torch.empty((n, 4 * th, 4 * tw, k), dtype=x.dtype)
    # Stripes of block rows as even as they can be: a short last stripe's products are slow.
    threads = torch.get_num_threads()
    values = min(STRIPE_VALUES * max(1, STRIPE_SPREAD * threads if threads > 1 else 1), MAX_STRIPE_VALUES)
    stripes = -(-th // max(1, values // (36 * n * tw * max(c, k))))
    rows = -(-th // stripes)
    for r0 in range(0, th, rows):
        r1 = min(th, r0 + rows)
        v = _transform_input(xl, r0, r1, tw)
        m = torch.bmm(v.view(36, -1, c), u)
        stripe = out[:, 4 * r0:4 * r1]
        _transform_output(m.view(6, 6, n, r1 - r0, tw, k), stripe)
        if bias is not None:
            stripe.add_(bias)  # while the stripe is in the cache
    y = out[:, :h, :w].permute(0, 3, 1, 2)
    return y.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _transform_input(xl: "torch.Tensor", r0: int, r1: int, tw: int) -> "torch.Tensor":
    """B^T d B of the 6x6 input blocks of block rows [r0, r1) -> [6 row, 6 col, N, rows, tw, C]."""
    import torch

    n, h, w, c = xl.shape
    nr = r1 - r0
    # The stripe with its zero border: buffer row b is the image's row 4 r0 + b - 1.
    pad = torch.empty((n, 4 * nr + 2, 4 * tw + 2, c), dtype=xl.dtype)
    top, bottom = 4 * r0 - 1, min(h, 4 * r1 + 1)
    lo = max(top, 0)
    pad[:, lo - top:bottom - top, 1:w + 1] = xl[:, lo:bottom]
    pad[:, :lo - top].zero_()
    pad[:, bottom - top:].zero_()
    pad[:, :, :1].zero_()
    pad[:, :, w + 1:].zero_()
    # Columns, then rows: each block's six columns (rows) are every fourth one from k.
    # Each result is written whole and in order (the first axis), which is what the cache likes.
    cols = _b_transform([pad[:, :, j::4][:, :, :tw] for j in range(6)], (6, n, 4 * nr + 2, tw, c), xl)
    return _b_transform([cols[:, :, i::4][:, :, :nr] for i in range(6)], (6, 6, n, nr, tw, c), xl)


def _b_transform(d: list, shape: tuple[int, ...], like: "torch.Tensor") -> "torch.Tensor":
    """The six rows of B^T d along a new first axis of a tensor of `shape`."""
    import torch

    out = torch.empty(shape, dtype=like.dtype)
    r = list(out)
    d0, d1, d2, d3, d4, d5 = d
    # 4 d0 - 5 d2 + d4
    torch.add(d4, d2, alpha=-5, out=r[0])
    r[0].add_(d0, alpha=4)
    # (d3 + d4) - 4 (d1 + d2) and (d4 - d3) + 4 (d1 - d2)
    s12, s34 = d1 + d2, d3 + d4
    torch.add(s34, s12, alpha=-4, out=r[1])
    torch.sub(d1, d2, out=s12)
    torch.sub(d4, d3, out=s34)
    torch.add(s34, s12, alpha=4, out=r[2])
    # (d4 - d2) +- 2 (d3 - d1)
    torch.sub(d4, d2, out=s12)
    torch.sub(d3, d1, out=s34)
    torch.add(s12, s34, alpha=2, out=r[3])
    torch.add(s12, s34, alpha=-2, out=r[4])
    # 4 d1 - 5 d3 + d5
    torch.add(d5, d3, alpha=-5, out=r[5])
    r[5].add_(d1, alpha=4)
    return out


def _transform_output(m: "torch.Tensor", out: "torch.Tensor") -> None:
    """A^T m A of the products m [6 row, 6 col, N, rows, tw, K] into out [N, 4 rows, 4 tw, K]."""
    n, nr, tw, k = m.shape[2:]
    # Rows first, with the six columns kept: [4 row, 6 col, N, rows, tw, K].
    rows = _a_transform(list(m), None, (4, 6, n, nr, tw, k), m)
    # Then columns, straight into the output: out[:, 4 a + i, 4 b + j] = result (i, j) of block (a, b).
    blocks = out.view(n, nr, 4, tw, 4, k)
    dest = [blocks[:, :, :, :, j] for j in range(4)]  # [N, rows, 4 row, tw, K]
    _a_transform([rows[:, j].permute(1, 2, 0, 3, 4) for j in range(6)], dest)


def _a_transform(d: list, dest: list | None, shape=None, like=None):
    """The four rows of A^T d: into `dest` where given, else along a new first axis of a new tensor."""
    import torch

    out = None
    if dest is None:
        out = torch.empty(shape, dtype=like.dtype)
        dest = list(out)
    d0, d1, d2, d3, d4, d5 = d
    s12, s34 = d1 + d2, d3 + d4
    # d0 + (d1 + d2) + (d3 + d4) and (d1 + d2) + 4 (d3 + d4)
    torch.add(s12, s34, alpha=4, out=dest[2])
    torch.add(s12, s34, out=dest[0])
    dest[0].add_(d0)
    # (d1 - d2) + 2 (d3 - d4) and (d1 - d2) + 8 (d3 - d4) + d5
    torch.sub(d1, d2, out=s12)
    torch.sub(d3, d4, out=s34)
    torch.add(s12, s34, alpha=2, out=dest[1])
    torch.add(s12, s34, alpha=8, out=dest[3])
    dest[3].add_(d5)
    return out


def _eligible(conv, max_channels: int | None) -> bool:
    import torch

    return (isinstance(conv, torch.nn.Conv2d) and type(conv) is torch.nn.Conv2d
            and conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"
            and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS
            and (max_channels is None or max(conv.in_channels, conv.out_channels) <= max_channels))


def winograd_convolutions(model: "torch.nn.Module", packing: "Packing | None" = None,
                          max_channels: int | None = None, keep: bool = True) -> int:
    """Give every eligible 3x3 Conv2d under `model` the Winograd call for CPU float32 inputs
    of a size where it pays; the call it had before (packed or plain) serves the rest. With
    `packing`, its switch turns this off too. `max_channels` leaves wider convolutions alone.
    `keep`: each convolution keeps its transformed weight (4x its own size) for its next
    call; without, it is transformed on every call, for modules that run each convolution
    once per image. Returns how many convolutions were changed."""
    count = 0
    for conv in model.modules():
        if _eligible(conv, max_channels) and not isinstance(conv._conv_forward, _WinogradConv):
            conv._conv_forward = _WinogradConv(conv._conv_forward, packing, keep)
            count += 1
    return count


class _WinogradConv:
    """conv._conv_forward(input, weight, bias) by conv3x3 where it pays."""

    def __init__(self, direct: Callable, packing: "Packing | None", keep: bool = True) -> None:
        self.direct = direct
        self.packing = packing
        self.keep = keep
        self.source: tuple[object, int, int] | None = None  # the weight transformed: object, version, storage
        self.u: "torch.Tensor | None" = None
        self.calls = 0  # Winograd calls (tests)

    def __call__(self, x, weight, bias):
        import torch

        if (x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32 or x.dim() != 4
                or x.shape[0] == 0 or x.shape[-2] * x.shape[-1] < MIN_PIXELS
                or (x[0].numel() > MAX_INPUT_VALUES and not heap.is_kept())
                or (self.keep and weight.is_inference())
                or (self.packing is not None and not self.packing.enabled)
                or (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad))):
            # (an inference-mode weight keeps no version to tell a change by)
            return self.direct(x, weight, bias)
        if not self.keep:
            self.calls += 1
            with torch.no_grad():
                return conv3x3(x, transform_weight(weight), bias)
        # The storage too: `param.data = ...` (what Module.to() does) keeps the object and version.
        source = (weight, weight._version, weight.data_ptr())
        if self.u is None or self.source is None or self.source[0] is not weight or self.source[1:] != source[1:]:
            with torch.no_grad():
                self.u = transform_weight(weight)
            self.source = source
        self.calls += 1
        return conv3x3(x, self.u, bias)
