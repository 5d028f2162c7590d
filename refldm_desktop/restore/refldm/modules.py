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
                and block.time_embedding_norm == "default" and type(block.nonlinearity).__name__ == "SiLU"):
            block.forward = _LeanResnetForward(block)
            count += 1
    return count


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
