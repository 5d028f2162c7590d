"""The unconditional half's zeroed reference keeps each distinct token once, weighed by its
count (attention.compact_tokens): attention over it equals attention over every token."""

from __future__ import annotations

import pytest
import torch

from refldm_desktop.restore.refldm import attention
from refldm_desktop.restore.refldm.model import RefLDM


def _repeated_tokens(distinct=30, heads=4, dim=8):
    """Keys/values in which each of `distinct` tokens appears 1-20 times, shuffled."""
    g = torch.Generator().manual_seed(4)
    k, v = torch.randn(1, heads, distinct, dim, generator=g), torch.randn(1, heads, distinct, dim, generator=g)
    counts = torch.randint(1, 21, (distinct,), generator=g)
    order = torch.randperm(int(counts.sum()), generator=g)
    expand = lambda t: t.repeat_interleave(counts, dim=2)[:, :, order]  # noqa: E731
    return expand(k), expand(v), distinct


@pytest.mark.parametrize("force_math", [False, True], ids=["cpu-kernel", "plain"])
def test_compacted_tokens_attend_like_all_of_them(force_math):
    k, v, distinct = _repeated_tokens()
    ck, cv, bias = attention.compact_tokens(k, v)
    assert ck.shape[2] == cv.shape[2] == bias.shape[0] == distinct
    q = torch.randn(2, 4, 50, 8, generator=torch.Generator().manual_seed(5))
    want, want_lse = attention.attend_to_references(q, attention.RefPart(k, v, rows=2), force_math)
    got, got_lse = attention.attend_to_references(q, attention.RefPart(ck, cv, rows=2, bias=bias), force_math)
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(got_lse, want_lse, atol=1e-5)


def test_mostly_distinct_tokens_are_left_as_they_are():
    g = torch.Generator().manual_seed(6)
    k, v = torch.randn(1, 4, 40, 8, generator=g), torch.randn(1, 4, 40, 8, generator=g)
    k[:, :, 1], v[:, :, 1] = k[:, :, 0], v[:, :, 0]  # one pair equal: not worth a bias
    ck, cv, bias = attention.compact_tokens(k, v)
    assert bias is None and ck is k and cv is v


def test_tokens_equal_in_keys_but_not_values_stay_apart():
    k, v, distinct = _repeated_tokens()
    v = v + torch.randn(v.shape, generator=torch.Generator().manual_seed(7)) * 1e-3
    assert attention.compact_tokens(k, v)[2] is None


def test_a_guided_restore_with_the_compacted_zero_reference_matches_the_full_one(tiny_home, monkeypatch):
    model = RefLDM.load(tiny_home / "models" / "tiny", device="cpu", precision="fp32")
    hw = (32, 32)  # the tiny model's first attention layer has mostly equal zeroed tokens at this size
    g = torch.Generator().manual_seed(8)
    c = model.config.latent_channels
    cache = model.reference_cache_from_latents(torch.randn(3, c, *hw, generator=g))
    lq, noise = torch.randn(1, c, *hw, generator=g), torch.randn(1, c, *hw, generator=g)
    compacted = model.sample(lq, cache, 3, 1.5, noise)
    parts = model._zero_reference_parts(hw)
    assert any(bias is not None for _, _, bias in parts.values())

    monkeypatch.setattr(attention, "COMPACT_SHARE", 0.0)  # never compact: the control
    model._zero_compact.clear()
    full = model.sample(lq, cache, 3, 1.5, noise)
    assert all(bias is None for _, _, bias in model._zero_reference_parts(hw).values())
    assert (compacted - full).abs().max() <= 1e-5 * full.abs().max()
