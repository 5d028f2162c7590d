"""restore-face and the Python API beyond the golden cases: no or many references, resizing,
noise files, batching several faces of one person, reusing a reference cache, cancelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from refldm_testlib import SEED, STEPS, golden, matches

from refldm_desktop.cli import main
from refldm_desktop.restore.refldm.model import RestoreCancelled


def restore_face(home, golden_dir, out, *args):
    return main(["--home", str(home), "restore-face", str(golden_dir / "lq.png"), "--model", "tiny",
                 "--steps", str(STEPS), "--no-progress", "-o", str(out), *args])


def png(path):
    return np.asarray(Image.open(path))


def test_no_references_runs_and_says_so(tiny_home, tiny_model, golden_dir, tmp_path, capsys):
    assert restore_face(tiny_home, golden_dir, tmp_path / "out.png", "--seed", str(SEED)) == 0
    assert "no references" in capsys.readouterr().err
    lq = png(golden_dir / "lq.png")
    ours = tiny_model.restore(lq, tiny_model.encode_references([]), steps=STEPS, cfg=1.5, seed=SEED)
    assert np.array_equal(png(tmp_path / "out.png"), ours[0])
    # Without references the guided and unguided runs coincide: both branches see zeroed references.
    unguided = tiny_model.restore(lq, tiny_model.encode_references([]), steps=STEPS, cfg=1.0, seed=SEED)
    assert np.array_equal(ours, unguided)


def test_restore_face_takes_the_users_settings_and_flags_win(tiny_home, tiny_model, golden_dir, tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(tiny_home / "models")  # the shared tiny model; its home stays untouched
    for key, value in (("model", "tiny"), ("steps", "2"), ("guidance", "1"), ("device", "cpu"), ("precision", "fp32")):
        assert main(["--home", str(home), "config", "set", key, value]) == 0
    lq, ref = golden_dir / "lq.png", golden_dir / "ref0.png"
    args = ["--home", str(home), "restore-face", str(lq), "--refs", str(ref), "--seed", str(SEED), "--no-progress"]
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "a.png")]) == 0
    assert "2 steps, cfg 1.0, cpu float32" in capsys.readouterr().out
    ours = tiny_model.restore(png(lq), tiny_model.encode_references([png(ref)]), steps=2, cfg=1.0, seed=SEED)
    assert np.array_equal(png(tmp_path / "a.png"), ours[0])
    assert main([*args, "--steps", "3", "--cfg", "1.5", "-o", str(tmp_path / "b.png")]) == 0
    assert "3 steps, cfg 1.5, cpu float32" in capsys.readouterr().out


def test_many_references_warn(tiny_home, golden_dir, tmp_path, capsys):
    refs = [str(golden_dir / f"ref{j % 3}.png") for j in range(9)]
    assert restore_face(tiny_home, golden_dir, tmp_path / "out.png", "--refs", *refs) == 0
    err = capsys.readouterr().err
    assert "warning: 9 references" in err


def test_other_sizes_are_resized_like_the_authors(tiny_home, golden_dir, tmp_path, capsys):
    big = tmp_path / "big.png"
    Image.open(golden_dir / "ref0.png").resize((100, 100), Image.Resampling.NEAREST).save(big)
    assert restore_face(tiny_home, golden_dir, tmp_path / "out.png", "--refs", str(big)) == 0
    assert f"{big}: resized to 64x64" in capsys.readouterr().err
    assert png(tmp_path / "out.png").shape == (64, 64, 3)


def test_noise_file_equals_the_seed(tiny_home, golden_dir, tmp_path):
    refs = ["--refs", str(golden_dir / "ref0.png")]
    assert restore_face(tiny_home, golden_dir, tmp_path / "a.png", *refs, "--seed", str(SEED)) == 0
    assert restore_face(tiny_home, golden_dir, tmp_path / "b.png", *refs, "--noise", str(golden_dir / "xT.npy")) == 0
    assert np.array_equal(png(tmp_path / "a.png"), png(tmp_path / "b.png"))


@pytest.mark.parametrize("problem", ["overwrite-input", "missing-folder", "bad-image", "bad-noise"])
def test_bad_requests_are_refused(tiny_home, golden_dir, tmp_path, capsys, problem):
    lq_copy = tmp_path / "lq.png"
    lq_copy.write_bytes((golden_dir / "lq.png").read_bytes())
    before = lq_copy.read_bytes()
    args = {
        "overwrite-input": ["restore-face", str(lq_copy), "-o", str(lq_copy)],
        "missing-folder": ["restore-face", str(lq_copy), "-o", str(tmp_path / "nowhere" / "out.png")],
        "bad-image": ["restore-face", str(tmp_path / "bad.png"), "-o", str(tmp_path / "out.png")],
        "bad-noise": ["restore-face", str(lq_copy), "--noise", str(golden_dir / "lq_image.npy"),
                      "-o", str(tmp_path / "out.png")],
    }[problem]
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["--home", str(tiny_home), *args, "--model", "tiny", "--no-progress"]) == 2
    assert "error:" in capsys.readouterr().err
    assert lq_copy.read_bytes() == before
    assert not (tmp_path / "out.png").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def count_unet_calls(model):
    calls = []
    handle = model.unet.register_forward_pre_hook(lambda mod, args: calls.append(args[0].shape[0]))
    return calls, handle


def test_one_batch_for_several_faces_and_one_reference_pass(tiny_model, golden_dir):
    """Faces of one person restore in one batch; references and zero references are computed once."""
    inp = golden(golden_dir, "inputs")
    m = tiny_model
    lq = (inp["lq_image"][0].permute(1, 2, 0).numpy() * 127.5 + 127.5).round().astype(np.uint8)
    faces = np.stack([lq, lq[:, ::-1], lq[::-1]])
    noise = torch.cat([m.initial_noise(1, s) for s in (1, 2, 3)])
    m._zero_kv.clear()
    calls, handle = count_unet_calls(m)
    try:
        refs = m.encode_references(inp["ref_images"])
        batched = m.restore(faces, refs, steps=STEPS, cfg=1.5, noise=noise)
        singles = [m.restore(f, refs, steps=STEPS, cfg=1.5, noise=noise[i:i + 1]) for i, f in enumerate(faces)]
    finally:
        handle.remove()
    # reference pass (3 references at once), zero-reference pass once, then 4 steps of batch
    # 2 x 3 and 3 x 4 steps of batch 2: never a reference pass per step or per face.
    assert calls == [3, 1] + [6] * STEPS + [2] * (3 * STEPS)
    for i in range(3):
        diff = np.abs(batched[i].astype(int) - singles[i][0].astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_reference_cache_is_reusable_and_tied_to_its_model(tiny_model, golden_dir):
    inp = golden(golden_dir, "inputs")
    m = tiny_model
    refs = m.encode_references(inp["ref_images"][:2])
    a = m.sample(m.encode(inp["lq_image"]), refs, STEPS, 1.5, inp["xT"])
    b = m.sample(m.encode(inp["lq_image"]), refs, STEPS, 1.5, inp["xT"])
    assert torch.equal(a, b)
    from dataclasses import replace

    with pytest.raises(ValueError, match="another model"):
        m.sample(m.encode(inp["lq_image"]), replace(refs, owner=0), STEPS, 1.5, inp["xT"])


def test_sample_without_noise_starts_from_the_default_seed(tiny_model, golden_dir):
    # restore() and sample() share one default: no noise means the noise of seed 2024.
    inp = golden(golden_dir, "inputs")
    m = tiny_model
    refs = m.encode_references(inp["ref_images"][:1])
    lq = m.encode(inp["lq_image"])
    assert torch.equal(m.sample(lq, refs, STEPS, 1.5), m.sample(lq, refs, STEPS, 1.5, m.initial_noise(1)))


def test_cancel_stops_and_leaves_the_model_usable(tiny_model, golden_dir):
    inp = golden(golden_dir, "inputs")
    m = tiny_model
    refs = m.encode_references(inp["ref_images"])
    seen = []
    with pytest.raises(RestoreCancelled):
        m.sample(m.encode(inp["lq_image"]), refs, 50, 1.5, inp["xT"], callback=seen.append,
                 cancel=lambda: len(seen) >= 2)
    assert len(seen) == 2
    assert all(p.mode == "off" for p in m._processors.values())
    final = m.sample(m.encode(inp["lq_image"]), refs, STEPS, 1.5, inp["xT"])
    assert matches(final, golden(golden_dir, "golden_main")["final_latent"])


def test_bf16_runs_the_same_code(tiny_home, golden_dir):
    from refldm_desktop.restore.refldm.model import RefLDM

    m = RefLDM.load(tiny_home / "models" / "tiny", device="cpu", precision="bf16")
    assert m.dtype == torch.bfloat16 and m.vq_dtype == torch.bfloat16
    inp = golden(golden_dir, "inputs")
    out = m.restore(png(golden_dir / "lq.png"), m.encode_references([png(golden_dir / "ref0.png")]), steps=STEPS,
                    noise=inp["xT"])
    assert out.shape == (1, 64, 64, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("device", ["cuda:0", "mps", "cpu"])
def test_restore_face_takes_every_device_the_settings_take(tiny_home, golden_dir, tmp_path, capsys, device):
    """`--device` of restore-face accepts what the device setting and `restore --device`
    accept (cuda:N, mps): one that this machine lacks is refused in one line saying why."""
    from refldm_desktop.core.settings import Settings

    assert Settings(device=device).device == device
    status = restore_face(tiny_home, golden_dir, tmp_path / "out.png", "--device", device)
    err = capsys.readouterr().err
    usable = device == "cpu" or (device == "mps" and torch.backends.mps.is_available()) or (
        device.startswith("cuda") and torch.cuda.is_available())
    if usable:
        assert status == 0, err
    else:
        assert status == 2 and "invalid choice" not in err and "Traceback" not in err
        last = err.strip().splitlines()[-1]
        assert last.startswith("refldm-desktop: error: ") and device.split(":")[0].lower() in last.lower()


@pytest.mark.parametrize("verb", ["restore-face", "restore"])
def test_an_unknown_device_is_refused_with_the_choices(tiny_home, tmp_path, capsys, verb):
    args = ["--home", str(tiny_home), verb, str(tmp_path / "x.png"), "--device", "gpu"]
    if verb == "restore-face":
        args += ["-o", str(tmp_path / "out.png")]
    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "unknown device 'gpu': use auto, cpu, cuda, cuda:N or mps" in err
