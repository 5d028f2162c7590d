"""ReF-LDM inference: encode, reference pass, DDIM with guidance, decode.

What it reproduces (the authors' inference.py, verified against ../shared/refldm-golden):
- images in [-1, 1]; latents are quant_conv(encoder(x)), not quantised, not scaled;
- the references are put side by side and VQ-encoded in ONE pass, then split into tiles;
- each reference latent, zero-padded at the end of the channels to the UNet's input width,
  goes through the UNet once at t = 0 while every attention layer stores its keys/values;
- each DDIM step is one UNet call on [x_t, LQ latent]; with guidance the batch is
  [unconditional, conditional], the unconditional half attending to keys/values computed from
  all-zero reference latents (one zero tile per reference);
- decode quantises to the nearest codebook entry first; output ((x + 1) / 2).clamp(0, 1).

Speed: a ReferenceCache is computed once per set of references and reused for every face and
every step; the zero-reference keys/values are computed once per model and resolution; several
faces of one person restore in one batch. On CUDA: bf16/fp16 weights, SDPA, and optional CUDA
graphs. The CPU runs the same code.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from refldm_desktop.defaults import DEFAULT_CFG, DEFAULT_STEPS, PRECISIONS
from refldm_desktop.restore.refldm.config import RefLDMConfig
from refldm_desktop.restore.refldm.schedule import ddim_schedule

if TYPE_CHECKING:
    import torch

# Latent positions per block of the decode's codebook search (model.quantize).
QUANTIZE_ROWS = 256


def _working(method):
    """Run a method of RefLDM inside its working() scope."""

    @wraps(method)
    def run(self, *args, **kwargs):
        with self.working():
            return method(self, *args, **kwargs)

    return run


class RestoreCancelled(Exception):
    """Raised from restore/sample when the cancel hook answers True."""


@dataclass(frozen=True)
class StepState:
    """Handed to the per-step callback. Tensors are float32 and must not be modified."""

    index: int  # 0-based, in execution order
    total: int
    t: int
    x: "torch.Tensor"  # latent entering the step
    eps_uncond: "torch.Tensor | None"  # None without guidance
    eps_cond: "torch.Tensor"
    eps: "torch.Tensor"  # after guidance
    pred_x0: "torch.Tensor"


@dataclass(frozen=True)
class ReferenceCache:
    """Keys/values of a set of references at every UNet attention layer.

    Valid for any number of faces restored with these references by the model that made it.
    `layers[name]` is (k, v) of shape [1, heads, n_refs * tokens, head_dim], references in order.
    With no references (n_refs == 0) it holds the keys/values of one zeroed reference latent.
    """

    n_refs: int
    latents: "torch.Tensor"  # [n_refs, C, h, w] float32 reference latents (empty when n_refs == 0)
    layers: dict[str, tuple["torch.Tensor", "torch.Tensor"]]
    latent_hw: tuple[int, int]
    owner: object  # the identity token of the model that computed it

    @property
    def tiles(self) -> int:
        """Reference tiles the UNet attends to (a zeroed one stands in for none)."""
        return max(self.n_refs, 1)


def resolve_device(device: str = "auto") -> "torch.device":
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but this torch has no usable CUDA device")
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise ValueError(f"{device} was requested but this machine has {n} CUDA device{'s' if n != 1 else ''} "
                         f"(cuda:0 to cuda:{n - 1})")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("mps (an Apple GPU) was requested but this torch cannot use one here: use cpu or auto")
    return dev


def resolve_dtype(precision: str, device: "torch.device") -> "torch.dtype":
    import torch

    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in table:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return table[precision]


class RefLDM:
    """A loaded model. Not thread-safe: one restore at a time per instance."""

    def __init__(self, config: RefLDMConfig, unet, vq, cuda_graphs: bool = False, cpu_packing: bool = True,
                 lean_blocks: bool = True, winograd: bool = True):
        """unet and vq come from build_modules with weights loaded (see from_state_dicts).

        `cpu_packing`: on the CPU, the UNet's convolutions keep oneDNN-packed weights, and the
        UNet's and the VQ decoder's activations are channels_last (cpu_conv.py), and their
        nearest-2x upsamplers run as four 2x2 convolutions (upsample.py); False runs the
        plain modules. `lean_blocks`: the VQ's residual blocks run without their no-op
        divide and with in-place SiLUs and sums (modules.lean_resnets; bitwise the same result).
        `winograd`: with cpu_packing on the CPU, the 3x3 convolutions of the sizes where it
        pays run as Winograd F(4x4, 3x3) in float32 (winograd.py): a later face 11% faster,
        with about 0.4 GiB more memory.
        """
        from refldm_desktop.restore.refldm.cpu_conv import pack_convolutions, packing_available
        from refldm_desktop.restore.refldm.modules import SharedHalves, cachekv_processors, lean_resnets
        from refldm_desktop.restore.refldm.upsample import sub_pixel_upsamplers
        from refldm_desktop.restore.refldm.winograd import winograd_convolutions

        self.config = config
        self.unet, self.vq = unet, vq
        first = next(unet.parameters())
        self.device, self.dtype = first.device, first.dtype
        self.vq_dtype = next(vq.parameters()).dtype
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        on_cpu = cpu_packing and self.device.type == "cpu" and packing_available()
        self._packing = pack_convolutions(self.unet) if on_cpu else None
        # The VQ decoder convolves large images: its weight reorders cost little, the layout
        # more (decode 13% faster channels_last). The encoder's down levels are channels_last
        # too, through lean_encoder's own norm (diffusers' channels_last GroupNorm made the
        # whole encoder 5% slower; this path: a strip's encode 13%, an LQ face's 11% less CPU).
        self.vq_channels_last = on_cpu
        self._processors = cachekv_processors(self.unet)
        # Nearest 2x upsampling + 3x3 conv as four 2x2 convs (upsample.py): about 2x fewer
        # multiply-adds in the six upsamplers (10% of a UNet pass's, 19% of a decode's).
        self.sub_pixel = 0
        if on_cpu:
            self.sub_pixel = sub_pixel_upsamplers(self.unet, self._packing) + sub_pixel_upsamplers(self.vq.decoder)
        # The UNet runs each convolution 40 times a face: it keeps their transformed weights
        # (0.49 GiB, in place of packed copies). The VQ runs each once an image, so it
        # transforms them on every call (9 ms for the widest, against 50 ms saved) and keeps
        # none: all of its would be 0.8 GiB.
        self.winograd = 0
        if on_cpu and winograd:
            self.winograd = (winograd_convolutions(self.unet, self._packing)
                             + winograd_convolutions(self.vq, keep=False))
        # The VQ's blocks only: on a 2-core AVX2 EPYC they took 10-14% less CPU there (large
        # activations), none measurably less in the UNet (small ones, conv-bound).
        self.lean_blocks = lean_resnets(vq) if lean_blocks else 0
        self._shared_halves = SharedHalves(self.unet)
        self._zero_kv: dict[tuple[int, int], dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}
        self._zero_compact: dict[tuple[int, int], tuple[dict, dict]] = {}  # hw -> (source, parts)
        self._token = object()  # unlike id(self), never reused by a later model

    def working(self):
        """A scope for a run of work on this model: on the CPU, freed memory stays in the
        process for reuse until the outermost scope ends (heap.py: the VQ coder's large
        activations would otherwise come zeroed from the kernel every time)."""
        from refldm_desktop.restore.refldm.heap import kept_heap

        return kept_heap() if self.device.type == "cpu" else nullcontext()

    # --- construction ------------------------------------------------------------------

    @classmethod
    def from_state_dicts(cls, config: RefLDMConfig, unet_sd, vq_sd, device="cpu", precision="auto", **kw) -> "RefLDM":
        import torch

        from refldm_desktop.restore.refldm.modules import build_modules

        dev = resolve_device(device) if isinstance(device, str) else device
        dtype = resolve_dtype(precision, dev)
        # fp16 can overflow in the VQ decoder at 512 px; bf16 has float32's range.
        vq_dtype = torch.bfloat16 if dtype == torch.bfloat16 else torch.float32
        unet, vq = build_modules(config, device="meta")
        unet.load_state_dict({k: v.to(dev, dtype) for k, v in unet_sd.items()}, strict=True, assign=True)
        vq.load_state_dict({k: v.to(dev, vq_dtype) for k, v in vq_sd.items()}, strict=True, assign=True)
        return cls(config, unet, vq, **kw)

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", precision: str = "auto", **kw) -> "RefLDM":
        """Load a model from the store (its files' sha256 are checked first)."""
        from safetensors.torch import load_file

        from refldm_desktop.restore.refldm.store import open_model

        stored = open_model(Path(model_dir))
        return cls.from_state_dicts(
            stored.config, load_file(stored.unet_file), load_file(stored.vq_file), device, precision, **kw
        )

    # --- images and latents ------------------------------------------------------------

    def images_to_tensor(self, images) -> "torch.Tensor":
        """uint8 HxWx3 arrays (one, a list, or a stack) -> float32 [B, 3, H, W] in [-1, 1].

        A float tensor [B, 3, H, W] is taken to be in [-1, 1] already.
        """
        import torch

        if isinstance(images, torch.Tensor) and images.is_floating_point():
            x = images if images.dim() == 4 else images[None]
        else:
            arrays = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
            batch = np.stack([np.asarray(a) for a in arrays]) if arrays else np.zeros((0, 0, 0, 3), np.uint8)
            if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
                raise ValueError("images must be uint8 arrays of shape (H, W, 3)")
            # pil_to_tensor(img) / 127.5 - 1.0, as the authors read images
            x = torch.from_numpy(batch).permute(0, 3, 1, 2) / 127.5 - 1.0
        size = self.config.image_size
        if x.shape[1:] != (3, size, size):
            raise ValueError(f"expected {size}x{size} RGB images, got shape {tuple(x.shape)}")
        return x.to(torch.float32)

    @_working
    def encode(self, images: "torch.Tensor") -> "torch.Tensor":
        """quant_conv(encoder(x)): the pre-quantisation latent, float32.

        A wide reference strip's large levels run in stripes (lean_encoder.py): with 8
        references the plain forward would hold several 1 GiB activations at once.
        """
        import torch

        from refldm_desktop.restore.refldm.lean_encoder import encode_lean

        with torch.inference_mode():
            x = images.to(self.device, self.vq_dtype)
            return encode_lean(self.vq, x, channels_last=self.vq_channels_last).float()

    @_working
    def decode(self, latent: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
        """Quantise, post_quant_conv, decoder. Returns (image in ~[-1, 1], codebook indices)."""
        import torch

        with torch.inference_mode():
            z = latent.to(self.device, torch.float32)
            zq, idx = self.quantize(z)
            zq = zq.to(self.vq_dtype)
            if self.vq_channels_last:
                zq = zq.contiguous(memory_format=torch.channels_last)
            return self.vq.decoder(self.vq.post_quant_conv(zq)).float().contiguous(), idx

    def quantize(self, z: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
        """Nearest codebook entries of z [B, C, h, w] -> (z_q as the decoder sees it, indices)."""
        import torch

        # taming's VectorQuantizer2 in float32, by blocks of QUANTIZE_ROWS positions: the
        # distance matrix of a whole 512 px image is 4096 x 8192 (128 MiB), and its four
        # element-wise passes went to memory; a block's stay in the cache.
        emb = self.vq.quantize.embedding.weight.float()
        emb_sq = (emb**2).sum(1)
        _, c, h, w = z.shape
        out, indices = [], []
        for zi in z:
            flat = zi.permute(1, 2, 0).reshape(-1, c)
            idx = torch.cat([((f**2).sum(1, keepdim=True) + emb_sq - 2 * (f @ emb.t())).argmin(1)
                             for f in flat.split(QUANTIZE_ROWS)])
            q = emb[idx].view(h, w, c).permute(2, 0, 1)
            out.append(zi + (q - zi))  # the straight-through form the authors decode
            indices.append(idx.view(h, w))
        return torch.stack(out), torch.stack(indices)

    @staticmethod
    def to_uint8(image: "torch.Tensor") -> np.ndarray:
        """((x + 1) / 2).clamp(0, 1), then x * 255 truncated, as torchvision's to_pil_image."""
        x = ((image.float() + 1.0) / 2.0).clamp(0.0, 1.0)
        return x.mul(255).byte().permute(0, 2, 3, 1).cpu().numpy()

    def initial_noise(self, batch: int = 1, seed: int = 2024, generator: "torch.Generator | None" = None):
        """torch.manual_seed(seed); torch.randn(batch, C, h, w) on the CPU, as the authors.

        With a (CPU) generator, its state is used and advanced instead of the seed.
        """
        import torch

        g = generator if generator is not None else torch.Generator().manual_seed(seed)
        n = self.config.latent_size
        return torch.randn((batch, self.config.latent_channels, n, n), generator=g)

    # --- references -------------------------------------------------------------------

    def encode_references(self, images) -> ReferenceCache:
        """One VQ pass over the references side by side, then the UNet reference pass."""
        return self.reference_cache_from_latents(self.encode_reference_latents(images))

    @_working
    def encode_reference_latents(self, images) -> "torch.Tensor | None":
        """The references side by side in one VQ pass, split into [n, C, h, w] float32 latents.

        These depend on the VQ weights and the crops only, so they can be stored and reused
        across runs (restore/refldm/latent_store.py); None when there are no references.
        """
        import torch

        if not len(images):
            return None
        x = self.images_to_tensor(images)
        n = x.shape[0]
        strip = torch.cat(list(x), dim=-1)[None]  # [1, 3, H, n*W]
        wide = self.encode(strip)
        return torch.cat(wide.chunk(n, dim=-1))

    @_working
    def reference_cache_from_latents(self, latents: "torch.Tensor | None") -> ReferenceCache:
        """Reference pass over latents [n, C, h, w]; None or n == 0 gives the no-reference cache."""
        import torch

        n = self.config.latent_size
        if latents is None or latents.shape[0] == 0:
            zero = self._zero_reference_kv((n, n))
            empty = torch.zeros((0, self.config.latent_channels, n, n))
            return ReferenceCache(0, empty, dict(zero), (n, n), self._token)
        latents = latents.to(self.device, torch.float32)
        hw = tuple(latents.shape[-2:])
        return ReferenceCache(latents.shape[0], latents.cpu(), self._reference_kv(latents), hw, self._token)

    def _reference_kv(self, latents: "torch.Tensor") -> dict[str, tuple["torch.Tensor", "torch.Tensor"]]:
        """The reference pass: every reference through the UNet at t = 0, in one batch, as far
        as the last attention layer (only the layers' keys and values are kept)."""
        import torch
        import torch.nn.functional as F

        from refldm_desktop.restore.refldm.attention import ReferencePassDone, SaveCounter

        pad = self.config.unet.in_channels - latents.shape[1]
        x = F.pad(latents, (0, 0, 0, 0, 0, pad))  # the reference sits where x_t sits; LQ slot is zero
        t = torch.zeros(x.shape[0], dtype=torch.long, device=self.device)
        counter = SaveCounter(len(self._processors))
        try:
            for p in self._processors.values():
                p.mode, p.counter = "save", counter
            with torch.inference_mode():
                try:
                    self.unet(self._unet_input(x), t)
                except ReferencePassDone:  # every layer has its k/v: the rest would be discarded
                    pass
                else:
                    raise RuntimeError("the reference pass did not reach every attention layer")
                # [n, heads, tokens, d] -> [1, heads, n * tokens, d]: references one after another
                return {
                    name: tuple(a.transpose(0, 1).reshape(1, a.shape[1], -1, a.shape[3]) for a in p.saved_kv())
                    for name, p in self._processors.items()
                }
        finally:
            for p in self._processors.values():
                p.release()

    def _zero_reference_kv(self, hw: tuple[int, int]) -> dict[str, tuple["torch.Tensor", "torch.Tensor"]]:
        """Keys/values of one all-zero reference latent; computed once per model and size."""
        import torch

        if hw not in self._zero_kv:
            zeros = torch.zeros((1, self.config.latent_channels, *hw), device=self.device)
            # The plain convolutions: a zeroed latent's activations are flat, and the GroupNorms
            # magnify the last bits of their rounding (the packed kernels round otherwise).
            with self._packing.suspended() if self._packing else nullcontext():
                self._zero_kv[hw] = self._reference_kv(zeros)
        return self._zero_kv[hw]

    def _zero_reference_parts(self, hw: tuple[int, int]) -> dict[str, tuple]:
        """The zeroed reference's (k, v, bias) per layer for the unconditional half: on the CPU
        in float32, layers whose tokens are mostly equal keep each once (attention.compact_tokens)."""
        import torch

        from refldm_desktop.restore.refldm.attention import compact_tokens

        kv = self._zero_reference_kv(hw)
        known = self._zero_compact.get(hw)
        if known is None or known[0] is not kv:
            compact = self.device.type == "cpu" and self.dtype == torch.float32
            parts = {name: compact_tokens(k, v) if compact else (k, v, None) for name, (k, v) in kv.items()}
            known = self._zero_compact[hw] = (kv, parts)
        return known[1]

    @contextmanager
    def _bound(self, refs: ReferenceCache, batch: int, guided: bool) -> Iterator[None]:
        """Put the reference keys/values in place for `batch` faces ([uncond, cond] if guided).

        Every face shares the one stored copy; the unconditional half's N zeroed references
        are one zeroed tile weighed N times (attention.RefPart.copies).
        """
        from refldm_desktop.restore.refldm.attention import RefPart

        if refs.owner is not self._token:
            raise ValueError("this ReferenceCache was made by another model instance")
        zero = self._zero_reference_parts(refs.latent_hw) if guided else {}
        try:
            for name, p in self._processors.items():
                k, v = refs.layers[name]
                parts = [RefPart(k, v, batch)]
                if guided:
                    zk, zv, zb = zero[name]
                    parts.insert(0, RefPart(zk, zv, batch, copies=refs.tiles, bias=zb))
                p.bind(parts)
            yield
        finally:
            for p in self._processors.values():
                p.release()

    # --- sampling ---------------------------------------------------------------------

    @_working
    def sample(
        self,
        lq_latent: "torch.Tensor",
        refs: ReferenceCache,
        steps: int = DEFAULT_STEPS,
        cfg: float = DEFAULT_CFG,
        noise: "torch.Tensor | None" = None,
        callback: Callable[[StepState], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> "torch.Tensor":
        """DDIM (eta 0, uniform_trailing) from `noise` to the final latent, float32."""
        import torch

        schedule = ddim_schedule(self.config.diffusion, steps)
        if noise is None:  # the seed restore() uses by default
            noise = self.initial_noise(lq_latent.shape[0])
        # Without references both branches would see the same zeroed references: skip the copy.
        guided = cfg != 1.0 and refs.n_refs > 0
        x = noise.to(self.device, torch.float32)
        lq = lq_latent.to(self.device, torch.float32)
        if x.shape != lq.shape or tuple(x.shape[-2:]) != refs.latent_hw:
            raise ValueError(f"noise {tuple(x.shape)}, LQ latent {tuple(lq.shape)} and references "
                             f"{refs.latent_hw} do not fit together")
        b = x.shape[0]
        order = schedule.in_execution_order()
        # float32 alphas of every step moved to the device once: no host transfer inside the loop
        alphas = torch.tensor([[a, p] for _, a, p in order], dtype=torch.float32, device=self.device)
        with torch.inference_mode(), self._bound(refs, b, guided), self._halves_shared(guided):
            unet = self._unet_runner()
            for i, ((t, _, _), (a_t, a_prev)) in enumerate(zip(order, alphas, strict=True)):
                if cancel is not None and cancel():
                    raise RestoreCancelled()
                x_in = torch.cat([x, lq], dim=1)
                if guided:
                    x_in = torch.cat([x_in, x_in])
                t_in = torch.full((x_in.shape[0],), t, dtype=torch.long, device=self.device)
                out = unet(self._unet_input(x_in), t_in).float().contiguous()
                eps_u, eps_c = out.chunk(2) if guided else (None, out)
                eps = eps_c if eps_u is None else eps_u + cfg * (eps_c - eps_u)
                pred_x0 = (x - (1.0 - a_t).sqrt() * eps) / a_t.sqrt()
                x_next = a_prev.sqrt() * pred_x0 + (1.0 - a_prev).sqrt() * eps
                if callback is not None:
                    callback(StepState(i, len(schedule), t, x, eps_u, eps_c, eps, pred_x0))
                x = x_next
        return x

    @contextmanager
    def _halves_shared(self, guided: bool) -> Iterator[None]:
        """While a guided batch runs, its two equal halves share the layers before the
        first attention (modules.SharedHalves)."""
        self._shared_halves.active = guided
        try:
            yield
        finally:
            self._shared_halves.active = False

    @property
    def cpu_packing(self) -> bool:
        """Whether the UNet runs packed convolutions on channels_last activations now."""
        return self._packing is not None and self._packing.count > 0 and self._packing.enabled

    def _unet_input(self, x: "torch.Tensor") -> "torch.Tensor":
        """x in the UNet's dtype, and channels_last where the convolutions are packed for it."""
        import torch

        x = x.to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.cpu_packing else x

    def _unet_runner(self) -> Callable:
        def eager(x_in, t_in):
            return self.unet(x_in, t_in).sample

        if not self.cuda_graphs:
            return eager
        return _CudaGraphRunner(eager)

    # --- the whole job ----------------------------------------------------------------

    @_working
    def restore(
        self,
        lq_images,
        refs: ReferenceCache,
        steps: int = DEFAULT_STEPS,
        cfg: float = DEFAULT_CFG,
        noise: "torch.Tensor | np.ndarray | None" = None,
        seed: int = 2024,
        generator: "torch.Generator | None" = None,
        callback: Callable[[StepState], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        lq_latent: "torch.Tensor | None" = None,
    ) -> np.ndarray:
        """Restore a batch of LQ faces of one person; returns uint8 [B, H, W, 3].

        The initial noise is `noise` [B, C, h, w], else drawn from `generator`, else from `seed`.
        `callback` sees every step (StepState: index, total, ...); `cancel` returning True stops
        with RestoreCancelled before the next step. `lq_latent`: encode(lq_images) when the
        caller has it already (the restorer keeps recent ones, of crops it has checked).
        """
        import torch

        if lq_latent is None:
            lq_latent = self.encode(self.images_to_tensor(lq_images))
        elif lq_latent.shape[0] != (faces := 1 if getattr(lq_images, "ndim", 0) == 3 else len(lq_images)):
            raise ValueError(f"{lq_latent.shape[0]} LQ latents for {faces} faces")
        if noise is None:
            noise = self.initial_noise(lq_latent.shape[0], seed, generator)
        start = torch.as_tensor(noise, dtype=torch.float32)
        if start.dim() == 3:
            start = start[None]
        latent = self.sample(lq_latent, refs, steps, cfg, start, callback, cancel)
        return self.to_uint8(self.decode(latent)[0])


class _CudaGraphRunner:
    """Replays the UNet call as a CUDA graph after capturing it on first use.

    Valid while the processors stay bound to the same buffers, i.e. within one sample() call.
    Falls back to eager execution if capture fails.
    """

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.graph = None
        self.failed = False

    def __call__(self, x_in, t_in):
        import torch

        if self.failed:
            return self.fn(x_in, t_in)
        if self.graph is None:
            try:
                self._capture(x_in, t_in)
            except RuntimeError as exc:
                warnings.warn(f"CUDA graph capture failed, running eagerly: {exc}", stacklevel=2)
                self.failed = True
                torch.cuda.synchronize()
                return self.fn(x_in, t_in)
        self.x.copy_(x_in)
        self.t.copy_(t_in)
        self.graph.replay()
        return self.out.clone()

    def _capture(self, x_in, t_in) -> None:
        import torch

        self.x, self.t = x_in.clone(), t_in.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.fn(self.x, self.t)  # warm-up: lazy initialisation must not happen during capture
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.out = self.fn(self.x, self.t)
        self.graph = graph
