"""CacheKV: how reference faces enter the UNet, as a diffusers attention processor.

Each self-attention layer of the UNet gets its own processor. In "save" mode (the reference
pass) it computes ordinary self-attention and keeps the layer's keys and values. In "use" mode
(every denoising step) the target's queries attend over its own tokens followed by the stored
tokens of every reference, [own, ref0, ref1, ...], under one softmax, as the authors' cache_kv.

One softmax over [own, refs] is computed in parts and merged by their log-sum-exp: attention
over the face's own tokens, then over the references. That lets every face of a batch share
ONE copy of the reference keys/values (the queries of all faces that see the same references
are laid end to end and attend to them in one call), lets the references be taken in chunks
(memory grows linearly with their count), and lets the unconditional half attend to one
zeroed reference instead of N identical ones: N equal copies of a key set weigh exactly like
one copy with log(N) added to its log-sum-exp. The result equals the single softmax up to
float rounding. The same holds for single tokens: a zeroed reference's activations are flat
away from its borders, so at the first attention layers most of its tokens are equal (at a
64x64 latent, 100 distinct of 1024 at the first, 196 at the second); on the CPU those layers
keep each distinct token once, weighed by log(its count) (`compact_tokens`).

The authors scale q and k each by 1/sqrt(sqrt(d)); scaled_dot_product_attention's default
1/sqrt(d) on q.k is the same product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Reference tokens per attention call. The CPU and CUDA kernels never hold the score matrix,
# so this only bounds the plain fallback's [queries x keys] scores; one 64x64-latent
# reference at the first attention level is 1024 tokens.
REF_CHUNK_TOKENS = 4096
# Query rows per call of the plain fallback (bounds its score matrix together with the above).
MATH_QUERY_CHUNK = 1024


@dataclass(frozen=True)
class RefPart:
    """Reference keys/values [1, heads, tokens, d] seen by `rows` consecutive batch rows.

    `copies`: how many identical reference tiles these keys stand for (the zeroed references
    of the unconditional half are all the same, so one tile is kept and weighed N times).
    `bias`: [tokens] float32 log-weights of the keys, where each stands for several equal ones.
    """

    k: "torch.Tensor"
    v: "torch.Tensor"
    rows: int
    copies: int = 1
    bias: "torch.Tensor | None" = None


# A layer's tokens are kept compacted only when at most this share of them is distinct: the
# kernel's per-key bias costs a little, and most layers have no equal tokens at all.
COMPACT_SHARE = 0.5


def compact_tokens(k, v) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor | None"]:
    """Keys/values [1, heads, tokens, d] with each distinct token (its keys and values in every
    head) kept once, and the log of its count as its bias; bias None where it does not pay.

    Attention over the compacted set equals attention over the full one up to float rounding:
    equal keys get equal scores, so m copies weigh like one with log(m) added to its score.
    """
    import torch

    _, heads, tokens, dim = k.shape
    rows = torch.cat([k, v], dim=-1)[0].transpose(0, 1).reshape(tokens, heads * 2 * dim)
    distinct, counts = torch.unique(rows, dim=0, return_counts=True)
    if distinct.shape[0] > COMPACT_SHARE * tokens:
        return k, v, None
    kv = distinct.view(-1, heads, 2 * dim).transpose(0, 1)[None]  # [1, heads, distinct, 2 d]
    ck, cv = (t.contiguous() for t in kv.split(dim, dim=-1))
    return ck, cv, counts.to(torch.float32).log()


def _attention_math(q, k, v, bias=None) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Softmax attention and its log-sum-exp per query, in float32, chunked over queries."""
    import torch

    scale = 1.0 / math.sqrt(q.shape[-1])
    outs, lses = [], []
    kt = k.float().transpose(-1, -2)
    vf = v.float()
    for qc in q.float().split(MATH_QUERY_CHUNK, dim=-2):
        s = (qc * scale) @ kt
        if bias is not None:
            s += bias
        lse = torch.logsumexp(s, dim=-1)
        outs.append(torch.exp(s - lse[..., None]) @ vf)
        lses.append(lse)
    return torch.cat(outs, dim=-2).to(q.dtype), torch.cat(lses, dim=-1)


def attention_with_lse(q, k, v, force_math: bool = False, bias=None) -> tuple["torch.Tensor", "torch.Tensor"]:
    """(softmax(q k^T / sqrt(d) + bias) v, logsumexp of the scores) for [b, heads, tokens, d]
    inputs, with an optional float32 bias [keys].

    The CPU flash kernel returns both in one pass; CUDA's memory-efficient kernel likewise;
    anything else (or a kernel that refuses the shapes) takes the chunked plain path.
    """
    import torch

    if not force_math:
        try:
            if q.device.type == "cpu" and (bias is None or q.dtype == torch.float32):
                mask = None if bias is None else bias.view(1, 1, 1, -1)
                out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, attn_mask=mask)[:2]
                return out, lse.float()
            if q.device.type == "cuda" and bias is None:
                out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, True)[:2]
                return out, lse[..., : q.shape[-2]].float()
        except (RuntimeError, NotImplementedError):
            pass
    return _attention_math(q, k, v, bias)


def merge_attention(out_a, lse_a, out_b, lse_b) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Two softmax attentions over disjoint key sets -> the attention over their union."""
    import torch

    lse = torch.logaddexp(lse_a, lse_b)
    wa = torch.exp(lse_a - lse)[..., None]
    wb = torch.exp(lse_b - lse)[..., None]
    out = out_a.float() * wa + out_b.float() * wb
    return out.to(out_a.dtype), lse


def attend_to_references(q, part: RefPart, force_math: bool = False) -> tuple["torch.Tensor", "torch.Tensor"]:
    """q [rows, heads, L, d] against one shared set of reference keys/values.

    The rows' queries are laid end to end ([1, heads, rows * L, d]) so all faces share the
    one stored copy of the reference keys/values; returns (out, lse) in q's layout.
    """
    rows, heads, length, dim = q.shape
    folded = q.transpose(0, 1).reshape(1, heads, rows * length, dim)
    out = lse = None
    chunks = part.k.split(REF_CHUNK_TOKENS, dim=2), part.v.split(REF_CHUNK_TOKENS, dim=2)
    biases = [None] * len(chunks[0]) if part.bias is None else part.bias.split(REF_CHUNK_TOKENS)
    for kc, vc, bc in zip(*chunks, biases, strict=True):
        o, s = attention_with_lse(folded, kc, vc, force_math, bc)
        out, lse = (o, s) if out is None else merge_attention(out, lse, o, s)
    if out is None or lse is None:
        raise ValueError("a reference part without keys")
    if part.copies > 1:
        lse = lse + math.log(part.copies)
    out = out.reshape(heads, rows, length, dim).transpose(0, 1)
    lse = lse.reshape(heads, rows, length).transpose(0, 1)
    return out, lse


def _layout_of(x: "torch.Tensor") -> "torch.memory_format":
    import torch

    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format


class ReferencePassDone(Exception):
    """Raised by the last attention layer of a reference pass once every layer has kept its
    keys and values: the rest of the UNet (its last level and output) would be discarded."""


class SaveCounter:
    """Shared by the processors of one UNet during a reference pass: counts the layers that
    have saved, and ends the pass when the last one has."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self.saved = 0

    def one_saved(self) -> None:
        self.saved += 1
        if self.saved == self.layers:
            raise ReferencePassDone()


class CacheKVProcessor:
    def __init__(self) -> None:
        self.mode = "off"  # off | save | use
        self.saved: tuple["torch.Tensor", "torch.Tensor"] | None = None
        self.counter: SaveCounter | None = None  # save mode: ends the pass after the last layer
        self.parts: list[RefPart] = []
        self.force_math = False  # tests: run the plain fallback on the CPU too
        # modules.SharedHalves, on the first attention layer: while it is active, the batch's
        # two halves are equal here, so their own-token attention is computed once.
        self.equal_halves = None

    def bind(self, parts: list[RefPart]) -> None:
        """Prepare "use" mode: the batch of each step is the parts' rows stacked in order
        (e.g. [uncond x B, cond x B]); each part's keys/values serve all its rows."""
        self.parts = list(parts)
        self.mode = "use"

    def saved_kv(self) -> tuple["torch.Tensor", "torch.Tensor"]:
        """The keys and values the last "save" pass kept."""
        if self.saved is None:
            raise RuntimeError("this attention layer has not run in save mode")
        return self.saved

    def release(self) -> None:
        self.mode = "off"
        self.saved = None
        self.parts = []
        self.counter = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None):
        import torch
        import torch.nn.functional as F

        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("CacheKVProcessor does self-attention only")
        b, c, h, w = hidden_states.shape
        use = self.mode == "use"
        if use and sum(p.rows for p in self.parts) != b:
            raise RuntimeError("reference keys/values are bound for another batch")
        # Equal halves (see equal_halves): the [uncond, cond] parts each see the same rows.
        halved = (use and self.equal_halves is not None and self.equal_halves.active
                  and all(2 * p.rows == b for p in self.parts))
        own = hidden_states[: b // 2] if halved else hidden_states
        n = own.shape[0]
        # Tokens [n, h * w, c]: a view of channels_last activations (the CPU's layout,
        # cpu_conv.py), one copy of NCHW ones.
        x = attn.group_norm(own).permute(0, 2, 3, 1).reshape(n, h * w, c)
        heads = attn.heads
        q = attn.to_q(x).view(n, h * w, heads, -1).transpose(1, 2)  # [n, heads, tokens, d]
        k = attn.to_k(x).view(n, h * w, heads, -1).transpose(1, 2)
        v = attn.to_v(x).view(n, h * w, heads, -1).transpose(1, 2)
        if use:
            out, lse = attention_with_lse(q, k, v, self.force_math)
            merged, start = [], 0
            for part in self.parts:
                rows = slice(0, n) if halved else slice(start, start + part.rows)
                ro, rl = attend_to_references(q[rows], part, self.force_math)
                merged.append(merge_attention(out[rows], lse[rows], ro, rl)[0])
                start += part.rows
            out = merged[0] if len(merged) == 1 else torch.cat(merged)
        else:
            if self.mode == "save":
                self.saved = (k, v)
                if self.counter is not None:
                    self.counter.one_saved()
            out = F.scaled_dot_product_attention(q, k, v)
        out = attn.to_out[0](out.transpose(1, 2).reshape(b, h * w, c))
        # [b, c, h, w] in the layout of the input: a view if that is channels_last
        out = out.view(b, h, w, c).permute(0, 3, 1, 2).contiguous(memory_format=_layout_of(hidden_states))
        out = out + hidden_states
        return out if attn.rescale_output_factor == 1 else out / attn.rescale_output_factor
