"""The "refldm" restorer on the tiny golden model: the restorer contract, the reference
key/value cache, the model loaded once, and clear reasons when it cannot run."""

from __future__ import annotations

import numpy as np
import pytest
from restore_testlib import golden_models_dir, one_torch_thread

from refldm_desktop.core.plugins import Registry
from refldm_desktop.plugin_api import RESTORERS_GROUP, RestoreCancelled, RestoreOptions, Restorer


@pytest.fixture
def models(golden_dir):
    return golden_models_dir()  # imported once per test process


@pytest.fixture
def restorer(models):
    r = Registry(RESTORERS_GROUP).create("refldm", models_dir=str(models), device="cpu")
    with one_torch_thread():
        yield r


def crops(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(n)]


OPTIONS = RestoreOptions(steps=2, cfg=1.5, seed=7, device="cpu")


def test_it_is_a_restorer_of_the_models_resolution(restorer):
    assert isinstance(restorer, Restorer)
    assert restorer.available() == (True, "")
    assert restorer.name == "refldm" and restorer.resolution == 64  # the golden model's size
    assert restorer.model.startswith("refldm@") and len(restorer.model) == len("refldm@") + 12


def test_faces_come_out_the_same_alone_or_together_and_depend_on_the_seed(restorer):
    lq, refs = crops(3, 0), crops(2, 1)
    seen = []
    together = restorer.restore(lq, refs, OPTIONS, progress=seen.append)
    alone = restorer.restore(lq[1:2], refs, OPTIONS)
    assert np.array_equal(together[1], alone[0])
    assert all(o.shape == (64, 64, 3) and o.dtype == np.uint8 for o in together)
    assert seen[-1].faces_done == 3 and seen[-1].fraction == 1.0
    assert any(p.steps and p.steps >= 2 and p.step for p in seen)  # progress per denoising step
    other = restorer.restore(lq[1:2], refs, RestoreOptions(steps=2, cfg=1.5, seed=8, device="cpu"))
    assert not np.array_equal(other[0], alone[0])
    with_other_refs = restorer.restore(lq[1:2], crops(2, 5), OPTIONS)
    assert not np.array_equal(with_other_refs[0], alone[0])


def test_references_are_encoded_once_per_set_of_crops_and_the_model_loaded_once(restorer):
    refs = crops(3, 2)
    restorer.restore(crops(1, 3), refs, OPTIONS)
    model = restorer._model
    restorer.restore(crops(2, 4), [r.copy() for r in refs], OPTIONS)  # same pixels, new arrays
    assert restorer.reference_encodings == 1 and restorer._model is model
    restorer.restore(crops(1, 3), refs[:2], OPTIONS)
    assert restorer.reference_encodings == 2
    restorer.restore(crops(1, 3), [], OPTIONS)  # no references: the zeroed ones
    assert restorer.reference_encodings == 3


def test_a_preview_and_the_full_run_encode_each_face_once(restorer, models):
    """A quick preview, then the full result, of the same faces: the LQ crops go through the
    VQ encoder once, and the full result is what a restorer that never saw them makes."""
    lq, refs = crops(2, 6), crops(2, 7)
    restorer.restore(lq, refs, RestoreOptions(steps=1, cfg=1.5, seed=7, device="cpu"))  # preview
    assert restorer.lq_encodings == 2
    full = restorer.restore([c.copy() for c in lq], refs, OPTIONS)  # same pixels, new arrays
    assert restorer.lq_encodings == 2
    restorer.restore([lq[0], crops(1, 8)[0]], refs, OPTIONS)  # one face seen, one new
    assert restorer.lq_encodings == 3
    fresh = Registry(RESTORERS_GROUP).create("refldm", models_dir=str(models), device="cpu", cache_dir=None)
    expected = fresh.restore(lq, refs, OPTIONS)
    assert fresh.lq_encodings == 2
    assert all(np.array_equal(a, b) for a, b in zip(full, expected, strict=True))


def test_cancel_stops_between_steps(restorer):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(RestoreCancelled):
        restorer.restore(crops(2, 6), crops(1, 7), RestoreOptions(steps=8, seed=1, device="cpu"), cancelled=cancelled)


def test_crops_of_another_size_are_refused(restorer):
    with pytest.raises(ValueError, match=r"\(64, 64, 3\) uint8"):
        restorer.restore([np.zeros((512, 512, 3), np.uint8)], [], OPTIONS)


def test_a_missing_model_says_how_to_install_it(tmp_path, models):
    r = Registry(RESTORERS_GROUP).create("refldm", models_dir=str(tmp_path), model="nosuch")
    ok, why = r.available()
    assert not ok and "models install" in why and "nosuch" in why
    r = Registry(RESTORERS_GROUP).create("refldm", models_dir=str(models), model="../escape")
    assert not r.available()[0]


def test_cuda_without_a_gpu_is_refused_with_a_reason(models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    r = Registry(RESTORERS_GROUP).create("refldm", models_dir=str(models), device="cuda")
    ok, why = r.available()
    assert not ok and "CUDA" in why


def test_jobs_of_one_person_share_the_encoded_references(models, tmp_path, monkeypatch):
    """Through the real job path: two photos restored with the same references encode them
    once, and the model is loaded once for the whole run."""
    from fakes import FakeBackend, draw_photo, open_test_library

    from refldm_desktop.core import restore_job
    from refldm_desktop.core.restoring import RestoreSettings, create_restorer

    pics = tmp_path / "Pictures"
    for i, name in enumerate(("a", "b", "c")):
        draw_photo(pics / f"{name}.png", [(1, i, 40 + 10 * i, 30)], size=(160, 120))
    made = []

    def create(name, **options):
        made.append(create_restorer(name, **{**options, "models_dir": str(models)}))
        return made[-1]

    monkeypatch.setattr(restore_job, "create_restorer", create)
    with open_test_library(tmp_path / "home", FakeBackend()) as lib, one_torch_thread():
        lib.index([pics])
        a, b, c = sorted(lib.photos(), key=lambda p: p.path.name)
        ref = next(f for f in lib.faces() if f.photo_id == a.id)
        lib.references_for_face = lambda face_id, k: [
            type("Pick", (), {"face_id": ref.id, "photo_id": a.id, "photo_path": str(a.path)})()
        ]
        settings = RestoreSettings(restorer="refldm", steps=2, device="cpu", output_dir=tmp_path / "out")
        queued = lib.restoring.enqueue([b.id, c.id], settings)
        summary = lib.jobs.run(batch_id=queued.batch_id)
        assert len(summary.done) == 2
        assert len(made) == 1 and made[0].reference_encodings == 1
        for v in lib.jobs.versions():
            assert v.references_used[0]["references"] == [ref.id] and v.model == made[0].model


def test_a_face_with_its_own_seed_comes_out_as_in_a_photo_restored_with_that_seed(models, tmp_path, monkeypatch):
    """Per-face settings in the real job path: the face given seed 7 of its own matches the
    same face of the photo restored with seed 7; the other face follows the photo's seed."""
    from fakes import FakeBackend, draw_photo, open_test_library
    from PIL import Image

    from refldm_desktop.core import restore_job
    from refldm_desktop.core.restoring import RestoreSettings, create_restorer

    pics = tmp_path / "Pictures"
    draw_photo(pics / "a.png", [(1, 0, 30, 40), (2, 0, 260, 40)], size=(320, 120))
    monkeypatch.setattr(restore_job, "create_restorer",
                        lambda name, **o: create_restorer(name, **{**o, "models_dir": str(models)}))
    with open_test_library(tmp_path / "home", FakeBackend()) as lib, one_torch_thread():
        lib.index([pics])
        (a,) = lib.photos()
        first, second = sorted((f for f in lib.faces() if f.photo_id == a.id), key=lambda f: f.box[0])
        outputs = []
        for seed, own in ((7, None), (9, {first.id: {"seed": 7}})):
            settings = RestoreSettings(restorer="refldm", steps=2, seed=seed, device="cpu", references=0,
                                       no_refs_ok=True, output_dir=tmp_path / f"out{seed}")
            queued = lib.restoring.enqueue([a.id], settings, per_photo={a.id: {"face_settings": own}})
            assert lib.jobs.run(batch_id=queued.batch_id).done
            outputs.append(np.asarray(Image.open(lib.jobs.versions(a.id)[-1].output).convert("RGB"), np.int16))

    def region(image, face):
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        return image[y0:y1, x0:x1]

    same = np.abs(region(outputs[0], first) - region(outputs[1], first))
    assert same.max() <= 2  # 8-bit levels; the same process, so really equal
    other = np.abs(region(outputs[0], second) - region(outputs[1], second))
    assert other.max() > 2  # seed 9 against seed 7
