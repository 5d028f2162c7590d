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


def cachekv_processors(unet) -> dict[str, CacheKVProcessor]:
    """diffusers module name -> its CacheKVProcessor."""
    from diffusers.models.attention_processor import Attention

    return {name: m.processor for name, m in unet.named_modules() if isinstance(m, Attention)}
