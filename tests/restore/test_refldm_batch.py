"""Faces of one person restored together: one shared copy of the reference keys/values, the
same faces (up to float rounding) as when restored alone, and a batch that halves when the
accelerator runs out of memory.

The bound: on the tiny golden model, over 6 inputs x (4, 20) steps x 1-4 references with
CFG 1.5, a face restored in a batch of 4 differed from the same face restored alone by at
most 1.9e-6 of the final latent's largest value, 3.4e-5 in the decoded image ([-1, 1]) and
one 8-bit level in 0.03% of values. The tests allow ten times that.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from restore_testlib import golden_models_dir, one_torch_thread

from refldm_desktop.plugin_api import RestoreOptions
from refldm_desktop.restore.refldm.model import RefLDM

LATENT_RTOL = 2e-5  # of the largest |value| of the final latent
IMAGE_ATOL = 3e-4  # decoded image, in [-1, 1]
U8_LEVELS, U8_SHARE = 1, 0.005  # 8-bit output: at most one level, in under 0.5% of values


@pytest.fixture(scope="module")
def model():
    with one_torch_thread():
        yield RefLDM.load(golden_models_dir() / "refldm", device="cpu", precision="fp32")


def images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


def assert_same_faces(batched: np.ndarray, alone: np.ndarray) -> None:
    diff = np.abs(batched.astype(int) - alone.astype(int))
    assert diff.max() <= U8_LEVELS and (diff > 0).mean() < U8_SHARE


@pytest.mark.parametrize("n_refs, cfg", [(3, 1.5), (1, 1.5), (2, 1.0), (0, 1.5)])
def test_a_face_in_a_batch_is_the_face_alone_up_to_rounding(model, n_refs, cfg):
    faces = images(4, n_refs)
    refs = model.encode_references(images(n_refs, 10 + n_refs))
    noise = torch.cat([model.initial_noise(1, s) for s in range(4)])
    lq = model.encode(model.images_to_tensor(faces))
    together = model.sample(lq, refs, 4, cfg, noise)
    alone = torch.cat([model.sample(lq[i:i + 1], refs, 4, cfg, noise[i:i + 1]) for i in range(4)])
    assert (together - alone).abs().max() <= LATENT_RTOL * alone.abs().max()
    img_together, img_alone = model.decode(together)[0], model.decode(alone)[0]
    assert (img_together - img_alone).abs().max() <= IMAGE_ATOL
    assert_same_faces(model.to_uint8(img_together), model.to_uint8(img_alone))


def test_the_batch_shares_one_copy_of_the_reference_keys_values(model):
    """During a step every processor holds the cache's own tensors (no copy per face), and
    the unconditional half one zeroed tile weighed once per reference."""
    refs = model.encode_references(images(3, 1))
    seen = []

    def look(state):
        for name, p in model._processors.items():
            zero, ref = p.parts
            seen.append(ref.k.data_ptr() == refs.layers[name][0].data_ptr() and ref.rows == 5
                        and zero.rows == 5 and zero.copies == 3
                        and zero.k.shape[2] * 3 == ref.k.shape[2])

    model.restore(images(5, 2), refs, steps=2, cfg=1.5, seed=1, callback=look)
    assert seen and all(seen)


def test_the_plain_attention_fallback_gives_the_same_faces(model, monkeypatch):
    """What runs where no fused kernel returns the log-sum-exp (e.g. another accelerator)."""
    refs = model.encode_references(images(2, 3))
    faces = images(2, 4)
    fused = model.restore(faces, refs, steps=2, cfg=1.5, seed=3)
    for p in model._processors.values():
        monkeypatch.setattr(p, "force_math", True)
    monkeypatch.setattr("refldm_desktop.restore.refldm.attention.REF_CHUNK_TOKENS", 5)  # many chunks
    plain = model.restore(faces, refs, steps=2, cfg=1.5, seed=3)
    assert_same_faces(plain, fused)


# --- the restorer: batch size and the out-of-memory fallback ---------------------------

OPTIONS = RestoreOptions(steps=2, cfg=1.5, seed=7, device="cpu")


def restorer(**kw):
    from refldm_desktop.core.plugins import Registry
    from refldm_desktop.plugin_api import RESTORERS_GROUP

    return Registry(RESTORERS_GROUP).create("refldm", models_dir=str(golden_models_dir()), device="cpu",
                                              cache_dir="", **kw)


def unet_batches(r):
    """The batch of every UNet call of a restorer's model (CFG doubles it)."""
    calls = []
    r._load("cpu").unet.register_forward_pre_hook(lambda mod, args: calls.append(args[0].shape[0]))
    return calls


def test_the_cpu_restores_one_face_at_a_time_unless_told():
    with one_torch_thread():
        one, four = restorer(), restorer(batch_size=4)
        faces, refs = list(images(5, 5)), list(images(2, 6))
        calls_one, calls_four = unet_batches(one), unet_batches(four)
        alone = one.restore(faces, refs, OPTIONS)
        together = four.restore(faces, refs, OPTIONS)
        # after the reference passes (2 references, then the zeroed one): CFG batches
        assert calls_one[2:] == [2] * 2 * 5
        assert calls_four[2:] == [8] * 2 + [2] * 2
        capped = four.restore(faces, refs, RestoreOptions(steps=2, cfg=1.5, seed=7, device="cpu", batch_size=2))
    for a, b, c in zip(alone, together, capped):
        assert_same_faces(b, a)
        assert_same_faces(c, a)


class FakeOutOfMemoryError(RuntimeError):
    pass


FakeOutOfMemoryError.__name__ = "OutOfMemoryError"  # what torch.cuda.OutOfMemoryError is called


def test_out_of_memory_halves_the_batch_and_keeps_the_smaller_size(monkeypatch):
    with one_torch_thread():
        r = restorer(batch_size=4)
        model = r._load("cpu")
        real, tried = model.restore, []

        def restore(lq, *a, **kw):
            tried.append(len(lq))
            if len(lq) > 2:
                raise FakeOutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real(lq, *a, **kw)

        monkeypatch.setattr(model, "restore", restore)
        faces, refs = list(images(5, 7)), list(images(1, 8))
        out = r.restore(faces, refs, OPTIONS)
        assert tried == [4, 2, 2, 1]
        r.restore(faces[:3], refs, OPTIONS)
        assert tried[4:] == [2, 1]  # the smaller batch is kept for the run
        monkeypatch.setattr(model, "restore", real)
        alone = restorer().restore(faces, refs, OPTIONS)
    for a, b in zip(alone, out):
        assert_same_faces(b, a)


def test_out_of_memory_with_one_face_goes_to_the_job_runner(monkeypatch):
    from refldm_desktop.errors import is_out_of_memory

    r = restorer()
    model = r._load("cpu")

    def restore(*a, **kw):
        raise FakeOutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(model, "restore", restore)
    with pytest.raises(FakeOutOfMemoryError) as caught:
        r.restore(list(images(2, 9)), [], OPTIONS)
    assert is_out_of_memory(caught.value)  # the runner then moves the job to the CPU
