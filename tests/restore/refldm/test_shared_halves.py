"""A guided step runs the layers before the first attention once for both halves of its
batch (modules.SharedHalves), and gets what computing both halves gives."""

from __future__ import annotations

import torch
from refldm_testlib import STEPS, golden

from refldm_desktop.restore.refldm.model import RefLDM


def _batch_sizes_seen(model):
    """The batch each shared layer computes (what its own forward is given)."""
    seen = []
    for module in model._shared_halves.modules:
        half_forward = module.forward

        def recorded(*args, real=half_forward.original, **kwargs):
            seen.append((args[0] if args else kwargs["hidden_states"]).shape[0])
            return real(*args, **kwargs)

        half_forward.original = recorded
    return seen


def _first_attention_batches(model):
    """The batch the first attention layer computes its queries for."""
    seen = []
    first = [m for m in model.unet.modules() if getattr(getattr(m, "processor", None), "equal_halves", None)]
    assert len(first) == 1
    real = first[0].to_q.forward
    first[0].to_q.forward = lambda x: seen.append(x.shape[0]) or real(x)
    return seen


def test_guided_steps_share_the_first_layers_and_change_nothing_but_rounding(tiny_home, golden_dir):
    path = tiny_home / "models" / "tiny"
    model = RefLDM.load(path, device="cpu", precision="fp32")
    assert len(model._shared_halves) >= 3  # the input conv, the attention-free first level, a block
    inp = golden(golden_dir, "inputs")
    cache = model.encode_references(inp["ref_images"][:3])
    lq = model.encode(torch.cat([inp["lq_image"], inp["lq_image"].flip(-1)]))  # two faces
    noise = torch.cat([inp["xT"], inp["xT"].flip(-1)])

    model.sample(lq, cache, 1, 1.5, noise)  # computes the zeroed references' keys once, first
    seen = _batch_sizes_seen(model)
    queries = _first_attention_batches(model)
    shared = model.sample(lq, cache, STEPS, 1.5, noise)
    assert seen and set(seen) == {2}, "the shared layers ran on the whole guided batch of 4"
    assert set(queries) == {2}, "the first attention computed its own tokens for both halves"

    seen.clear()
    queries.clear()
    # the same model with the sharing switched off: the control
    real = model._halves_shared
    model._halves_shared = lambda guided: real(False)
    full = model.sample(lq, cache, STEPS, 1.5, noise)
    assert set(seen) == set(queries) == {4}
    assert (shared - full).abs().max() <= 1e-5 * full.abs().max()


def test_unguided_and_reference_passes_run_whole_batches(tiny_home, golden_dir):
    model = RefLDM.load(tiny_home / "models" / "tiny", device="cpu", precision="fp32")
    inp = golden(golden_dir, "inputs")
    seen = _batch_sizes_seen(model)
    cache = model.encode_references(inp["ref_images"][:3])  # the reference pass: 3 references
    assert set(seen) == {3}
    seen.clear()
    model.sample(model.encode(inp["lq_image"]), cache, 2, 1.0, inp["xT"])  # CFG 1: no halves
    assert set(seen) == {1}
