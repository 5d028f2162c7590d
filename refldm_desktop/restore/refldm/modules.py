"""Build the diffusers modules that hold ReF-LDM: UNet2DModel and VQModel.

diffusers expresses both networks exactly (same layers, same parameter counts as the authors'
openaimodel UNet and taming VQGAN); only the attention math of the UNet is ours (CacheKV).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from refldm_desktop.restore.refldm.config import RefLDMConfig

if TYPE_CHECKING:
    import torch

    from refldm_desktop.restore.refldm.attention import CacheKVProcessor


def build_modules(cfg: RefLDMConfig, device: "str | torch.device" = "meta"):
    """Return (unet, vq) with CacheKV processors on every UNet attention layer.

    On the meta device nothing is allocated; load weights with load_state_dict(assign=True).
    """
    import torch
    from diffusers import UNet2DModel, VQModel
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    from refldm_desktop.restore.refldm.attention import CacheKVProcessor

    with torch.device(device):
        unet = UNet2DModel(**cfg.unet_kwargs())
        vq = VQModel(**cfg.vq_kwargs())
    for module in unet.modules():
        if isinstance(module, Attention):
            module.set_processor(CacheKVProcessor())
    for module in vq.modules():
        if isinstance(module, Attention):
            module.set_processor(AttnProcessor2_0())
    return unet.eval().requires_grad_(False), vq.eval().requires_grad_(False)


def lean_resnets(model) -> int:
    """Give the residual blocks an inference forward without work that changes nothing.

    diffusers' ResnetBlock2D divides its output by output_scale_factor even when that is 1 (a
    whole pass over the activation) and allocates a new tensor for every SiLU and sum. At
    inference the SiLUs and sums can go in place into tensors the block itself just made: the
    result is bitwise the same, with two to three fewer passes over memory per block (the VQ
    decoder's 128 x 512 x 512 activations are 128 MiB each). With autograd on, the original
    forward runs. Returns how many blocks were changed.
    """
    from diffusers.models.resnet import ResnetBlock2D

    count = 0
    for block in model.modules():
        if (type(block) is ResnetBlock2D and block.upsample is None and block.downsample is None
                and _plain_norm2(block) and type(block.nonlinearity).__name__ == "SiLU"):
            block.forward = _LeanResnetForward(block)
            count += 1
    return count


def _plain_norm2(block) -> bool:
    """Whether norm2 is a plain norm, with the time embedding (if any) added before it.
    The VQ decoder's blocks say "group" and have no time embedding: diffusers then runs just
    norm2, as for "default"."""
    return block.time_embedding_norm == "default" or (
        block.time_emb_proj is None and block.time_embedding_norm == "group")


class _LeanResnetForward:
    def __init__(self, block) -> None:
        self.block = block
        self.original = type(block).forward.__get__(block)

    def __call__(self, input_tensor, temb=None, *args, **kwargs):
        import torch
        import torch.nn.functional as F

        b = self.block
        if torch.is_grad_enabled() or args or kwargs:
            return self.original(input_tensor, temb, *args, **kwargs)
        h = b.conv1(F.silu(b.norm1(input_tensor), inplace=True))
        if b.time_emb_proj is not None and temb is not None:
            # temb is shared by every block: its SiLU makes a new (small) tensor
            h += b.time_emb_proj(temb if b.skip_time_act else F.silu(temb))[:, :, None, None]
        h = b.conv2(b.dropout(F.silu(b.norm2(h), inplace=True)))
        h += input_tensor if b.conv_shortcut is None else b.conv_shortcut(input_tensor)
        return h if b.output_scale_factor == 1 else h / b.output_scale_factor


def cachekv_processors(unet) -> dict[str, CacheKVProcessor]:
    """diffusers module name -> its CacheKVProcessor."""
    from diffusers.models.attention_processor import Attention

    return {name: m.processor for name, m in unet.named_modules() if isinstance(m, Attention)}


class SharedHalves:
    """The UNet's layers before its first attention, run once for both halves of a guided batch.

    With classifier-free guidance every step is one batch [uncond, cond] whose halves get the
    same input (x_t and the LQ latent) and the same timestep: they differ only in the
    reference keys/values the attention layers see. So everything before the first attention
    layer (the input conv, the attention-free first level, the next level's first residual
    block) gives both halves the same activations; computing them once and copying saves that
    work (about 6% of a full-size pass's arithmetic), and the first attention layer computes
    its own-token part once. Off unless switched on for a guided batch (`active`).
    """

    def __init__(self, unet) -> None:
        from diffusers.models.attention_processor import Attention

        self.active = False
        self.modules = [unet.conv_in]
        for block in unet.down_blocks:
            attentions = [m for m in block.modules() if isinstance(m, Attention)]
            if attentions:
                # diffusers' AttnDownBlock2D runs its first residual block before any attention
                if type(block).__name__ == "AttnDownBlock2D" and block.resnets:
                    self.modules.append(block.resnets[0])
                # The first attention's input has equal halves too: its processor computes
                # their queries, keys, values and self-attention once (attention.py).
                if hasattr(attentions[0].processor, "equal_halves"):
                    attentions[0].processor.equal_halves = self
                break
            self.modules.append(block)
        for module in self.modules:
            module.forward = _HalfForward(module, self)

    def __len__(self) -> int:
        return len(self.modules)


class _HalfForward:
    def __init__(self, module, shared: SharedHalves) -> None:
        self.original = type(module).forward.__get__(module)
        self.shared = shared

    def __call__(self, *args, **kwargs):
        if not self.shared.active:
            return self.original(*args, **kwargs)
        out = self.original(*_tree(_first_half, args), **_tree(_first_half, kwargs))
        return _tree(_twice, out)


def _first_half(t: "torch.Tensor") -> "torch.Tensor":
    if t.shape[0] % 2:
        raise RuntimeError("a guided batch has two equal halves")
    return t[: t.shape[0] // 2]


def _twice(t: "torch.Tensor") -> "torch.Tensor":
    import torch

    return torch.cat([t, t])


def _tree(fn, value):
    """fn applied to every tensor in nested tuples, lists and dicts."""
    import torch

    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_tree(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: _tree(fn, v) for k, v in value.items()}
    return value
