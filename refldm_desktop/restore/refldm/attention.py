"""CacheKV: how reference faces enter the UNet, as a diffusers attention processor.

Each self-attention layer of the UNet gets its own processor. In "save" mode (the reference
pass) it computes ordinary self-attention and keeps the layer's keys and values. In "use" mode
(every denoising step) the target's queries attend over its own tokens followed by the stored
tokens of every reference, [own, ref0, ref1, ...], under one softmax, as the authors' cache_kv.

The reference part of the key/value tensors does not change between steps, so `bind` writes
it once into a buffer and each step only copies the target's own keys/values into the front
of that buffer: no per-step concatenation, and fixed addresses for CUDA graphs.

The authors scale q and k each by 1/sqrt(sqrt(d)); scaled_dot_product_attention's default
1/sqrt(d) on q.k is the same product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class CacheKVProcessor:
    def __init__(self) -> None:
        self.mode = "off"  # off | save | use
        self.saved: tuple["torch.Tensor", "torch.Tensor"] | None = None
        self._k: "torch.Tensor | None" = None
        self._v: "torch.Tensor | None" = None
        self._own = 0

    def bind(self, own_tokens: int, parts: list[tuple["torch.Tensor", "torch.Tensor", int]]) -> None:
        """Prepare "use" mode: parts are (k, v, rows) with k, v [1, heads, ref_tokens, head_dim].

        The batch of each step is the parts' rows stacked in order (e.g. [uncond x B, cond x B]);
        each part's reference keys/values are broadcast over its rows.
        """
        import torch

        k0 = parts[0][0]
        heads, ref_tokens, dim = k0.shape[1:]
        rows = sum(n for _, _, n in parts)
        shape = (rows, heads, own_tokens + ref_tokens, dim)
        self._k = torch.empty(shape, dtype=k0.dtype, device=k0.device)
        self._v = torch.empty_like(self._k)
        start = 0
        for k, v, n in parts:
            self._k[start : start + n, :, own_tokens:] = k
            self._v[start : start + n, :, own_tokens:] = v
            start += n
        self._own = own_tokens
        self.mode = "use"

    def saved_kv(self) -> tuple["torch.Tensor", "torch.Tensor"]:
        """The keys and values the last "save" pass kept."""
        if self.saved is None:
            raise RuntimeError("this attention layer has not run in save mode")
        return self.saved

    def release(self) -> None:
        self.mode = "off"
        self.saved = self._k = self._v = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None):
        import torch.nn.functional as F

        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("CacheKVProcessor does self-attention only")
        b, c, h, w = hidden_states.shape
        x = attn.group_norm(hidden_states.view(b, c, h * w)).transpose(1, 2)  # [b, tokens, c]
        heads = attn.heads
        q = attn.to_q(x).view(b, h * w, heads, -1).transpose(1, 2)  # [b, heads, tokens, d]
        k = attn.to_k(x).view(b, h * w, heads, -1).transpose(1, 2)
        v = attn.to_v(x).view(b, h * w, heads, -1).transpose(1, 2)
        if self.mode == "save":
            self.saved = (k, v)
        elif self.mode == "use":
            if self._k is None or self._k.shape[0] != b or self._own != h * w:
                raise RuntimeError("reference keys/values are bound for another batch or resolution")
            self._k[:, :, : self._own] = k
            self._v[:, :, : self._own] = v
            k, v = self._k, self._v
        out = F.scaled_dot_product_attention(q, k, v)
        out = attn.to_out[0](out.transpose(1, 2).reshape(b, h * w, c))
        out = out.transpose(1, 2).reshape(b, c, h, w)
        out = out + hidden_states
        return out if attn.rescale_output_factor == 1 else out / attn.rescale_output_factor
