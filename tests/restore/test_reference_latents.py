"""Reference latents stored per set of references: a later process restoring the same person
skips the VQ encoder on the references and gives the same pixels; other references are
encoded afresh; a damaged or full store never stops a restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from restore_testlib import install_golden_model, one_torch_thread

from refldm_desktop.plugin_api import RestoreOptions
from refldm_desktop.restore.refldm.latent_store import ReferenceLatentStore, latent_key
from refldm_desktop.restore.refldm.restorer import RefLDMRestorer

OPTIONS = RestoreOptions(steps=2, cfg=1.5, seed=11, device="cpu")

# Restores one face in a fresh interpreter and says how often the VQ encoder ran, on what.
CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    torch.set_num_threads(1)
    import refldm_desktop.restore.refldm.model as m
    from refldm_desktop.plugin_api import RestoreOptions
    from refldm_desktop.restore.refldm.restorer import RefLDMRestorer

    shapes = []
    original = m.RefLDM.encode
    def counted(self, images):
        shapes.append(list(images.shape))
        return original(self, images)
    m.RefLDM.encode = counted

    models, data, out = sys.argv[1:4]
    arrays = np.load(data)
    r = RefLDMRestorer(models_dir=models, device="cpu")
    face = r.restore([arrays["lq"]], list(arrays["refs"]), RestoreOptions(steps=2, cfg=1.5, seed=11, device="cpu"))[0]
    np.save(out, face)
    print(json.dumps({"encoder_inputs": shapes}))
    """
)


def crops(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


@pytest.fixture
def home(tmp_path, golden_dir) -> Path:
    install_golden_model(tmp_path)
    return tmp_path


def restore_in_new_process(home: Path, lq: np.ndarray, refs: np.ndarray, tmp: Path) -> tuple[np.ndarray, list]:
    data, out = tmp / "inputs.npz", tmp / "face.npy"
    np.savez(data, lq=lq, refs=refs)
    r = subprocess.run([sys.executable, "-c", CHILD, str(home / "models"), str(data), str(out)],
                       capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert r.returncode == 0, r.stderr
    return np.load(out), json.loads(r.stdout.strip().splitlines()[-1])["encoder_inputs"]


def test_a_new_process_skips_the_vq_encoder_on_stored_references_and_gives_the_same_face(home, tmp_path):
    lq, refs = crops(1, 1)[0], crops(3, 2)
    without_store = RefLDMRestorer(models_dir=home / "models", device="cpu", cache_dir="")
    with one_torch_thread():
        expected = without_store.restore([lq], list(refs), OPTIONS)[0]
    assert not (home / "cache" / "ref_latents").exists()  # a disabled store writes nothing

    first, seen_first = restore_in_new_process(home, lq, refs, tmp_path)
    # The first run encodes the LQ face and the references' strip (3 faces side by side).
    assert sorted(s[-1] for s in seen_first) == [64, 3 * 64]
    assert len(list((home / "cache" / "ref_latents").glob("*.safetensors"))) == 1

    second, seen_second = restore_in_new_process(home, lq, refs, tmp_path)
    assert [s[-1] for s in seen_second] == [64]  # only the LQ face went through the encoder
    assert np.array_equal(first, expected) and np.array_equal(second, expected)


def test_changed_references_are_encoded_again(home):
    r = RefLDMRestorer(models_dir=home / "models", device="cpu")
    lq, refs = crops(1, 3)[0], crops(3, 4)
    with one_torch_thread():
        r.restore([lq], list(refs), OPTIONS)
        assert r.vq_reference_encodings == 1
        r.restore([lq], list(refs[:2]), OPTIONS)  # one reference excluded: another set
        assert r.vq_reference_encodings == 2
        swapped = [refs[1], refs[0], refs[2]]  # the model sees references in order
        r.restore([lq], swapped, OPTIONS)
        assert r.vq_reference_encodings == 3
        fresh = RefLDMRestorer(models_dir=home / "models", device="cpu")
        fresh.restore([lq], list(refs), OPTIONS)  # back to the first set: stored
        assert fresh.vq_reference_encodings == 0
    assert len(list((home / "cache" / "ref_latents").glob("*.safetensors"))) == 3


def test_a_damaged_entry_is_encoded_again_and_the_restore_goes_on(home):
    lq, refs = crops(1, 5)[0], crops(2, 6)
    with one_torch_thread():
        expected = RefLDMRestorer(models_dir=home / "models", device="cpu").restore([lq], list(refs), OPTIONS)[0]
        (entry,) = (home / "cache" / "ref_latents").glob("*.safetensors")
        entry.write_bytes(entry.read_bytes()[:100])  # truncated, as by a crash or a full disk
        r = RefLDMRestorer(models_dir=home / "models", device="cpu")
        again = r.restore([lq], list(refs), OPTIONS)[0]
    assert r.vq_reference_encodings == 1 and np.array_equal(again, expected)
    assert entry.stat().st_size > 100  # written anew


def test_an_unwritable_store_costs_only_the_cache(home, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    r = RefLDMRestorer(models_dir=home / "models", device="cpu", cache_dir=blocker / "ref_latents")
    with one_torch_thread():
        out = r.restore([crops(1, 7)[0]], list(crops(2, 8)), OPTIONS)
    assert out[0].shape == (64, 64, 3)


def test_the_store_keeps_recently_used_entries_within_its_size(tmp_path):
    import torch

    store = ReferenceLatentStore(tmp_path, max_bytes=3 * 4096 * 4 + 2000)  # room for three entries
    keys = [latent_key("m", 64, list(crops(1, s))) for s in range(5)]
    for i, key in enumerate(keys[:3]):
        store.put(key, torch.full((1, 4, 32, 32), float(i)))
    old = 1_000_000_000
    for i, key in enumerate(keys[:3]):  # keys[0] oldest
        os.utime(tmp_path / f"{key}.safetensors", ns=(old + i, old + i))
    assert store.get(keys[0]) is not None  # reading it makes it the most recent
    store.put(keys[3], torch.zeros((1, 4, 32, 32)))
    assert store.get(keys[1]) is None  # the least recently used went
    assert all(store.get(k) is not None for k in (keys[0], keys[2], keys[3]))
    assert torch.equal(store.get(keys[2]), torch.full((1, 4, 32, 32), 2.0))


def test_keys_name_the_model_size_and_every_crop_in_order():
    a, b = list(crops(1, 1)), list(crops(1, 2))
    assert latent_key("m@1", 64, a + b) != latent_key("m@1", 64, b + a)
    assert latent_key("m@1", 64, a) != latent_key("m@2", 64, a)
    assert latent_key("m@1", 64, a) != latent_key("m@1", 128, a)
    assert latent_key("m@1", 64, a) == latent_key("m@1", 64, [x.copy() for x in a])
    with pytest.raises(ValueError):
        ReferenceLatentStore(Path("/nonexistent")).get("../../etc/passwd")
