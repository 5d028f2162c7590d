"""`models import` and the model store: wrong files are refused with a reason, nothing half
imported remains, `models list` shows what is there, and a changed stored file is refused."""

from __future__ import annotations

import argparse
import functools
import json
import shutil

import pytest
import torch

from refldm_desktop.cli import main


@functools.cache
def tiny_state_dict(golden_dir):
    return torch.load(golden_dir / "refldm.ckpt", map_location="cpu", weights_only=True)


def run_import(home, refldm, vqgan, *extra):
    return main(["--home", str(home), "models", "import", "--name", "tiny", "--refldm", str(refldm),
                 "--vqgan", str(vqgan), *extra])


def assert_nothing_imported(home):
    models = home / "models"
    assert not models.exists() or list(models.iterdir()) == []


def test_import_list_and_force(tmp_path, golden_dir, capsys):
    home = tmp_path / "home"
    cfg = ["--config", str(golden_dir / "config.yaml")]
    assert run_import(home, golden_dir / "refldm.ckpt", golden_dir / "vqgan.ckpt", *cfg) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    folder = home / "models" / "tiny"
    assert [m["name"] for m in listed] == ["tiny"] and listed[0]["path"] == str(folder)
    assert listed[0]["size"] == sum(f.stat().st_size for f in folder.iterdir() if f.name != "manifest.json")
    assert sorted(f.name for f in folder.iterdir()) == ["config.json", "manifest.json", "unet.safetensors",
                                                        "vq.safetensors"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["conversion"]["unet_weights"] == "ema"
    assert manifest["source"]["refldm"]["size"] == (golden_dir / "refldm.ckpt").stat().st_size

    assert run_import(home, golden_dir / "refldm.ckpt", golden_dir / "vqgan.ckpt", *cfg) == 2
    assert "already exists" in capsys.readouterr().err
    assert run_import(home, golden_dir / "refldm.ckpt", golden_dir / "vqgan.ckpt", *cfg, "--force") == 0
    assert sorted(p.name for p in (home / "models").iterdir()) == ["tiny"]
    assert main(["--home", str(home), "models", "list"]) == 0
    assert "tiny" in capsys.readouterr().out


def make_file(tmp_path, golden_dir, kind):
    """A wrong input file of the given kind, and which argument it replaces."""
    f = tmp_path / f"{kind}.ckpt"
    if kind == "truncated":
        data = (golden_dir / "refldm.ckpt").read_bytes()
        f.write_bytes(data[: len(data) * 2 // 3])
        return f, "refldm"
    if kind == "flipped-bytes":
        import zipfile

        data = bytearray((golden_dir / "refldm.ckpt").read_bytes())
        with zipfile.ZipFile(golden_dir / "refldm.ckpt") as zf:
            big = max(zf.infolist(), key=lambda i: i.file_size)  # the largest tensor's bytes
        middle = big.header_offset + 30 + len(big.filename.encode()) + len(big.extra) + big.file_size // 2
        data[middle : middle + 8] = bytes(b ^ 0x5A for b in data[middle : middle + 8])
        f.write_bytes(bytes(data))
        return f, "refldm"
    if kind == "png":
        shutil.copy(golden_dir / "lq.png", f)
        return f, "refldm"
    if kind == "pickled-code":
        torch.save({"state_dict": {"w": torch.zeros(1)}, "hparams": argparse.Namespace(lr=1)}, f)
        return f, "vqgan"
    if kind == "no-ema":
        sd = {k: v for k, v in tiny_state_dict(golden_dir).items() if not k.startswith("model_ema.diffusion")}
        torch.save(sd, f)
        return f, "refldm"
    if kind == "vqgan-other-model":
        sd = {k[len("first_stage_model."):]: v.clone() for k, v in tiny_state_dict(golden_dir).items()
              if k.startswith("first_stage_model.")}
        sd["quantize.embedding.weight"] = torch.zeros(32, 8)
        torch.save({"state_dict": sd}, f)
        return f, "vqgan"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("truncated", "truncated or damaged"),
        ("flipped-bytes", "damaged"),
        ("png", "not a PyTorch checkpoint"),
        ("pickled-code", "Python objects other than tensors"),
        ("no-ema", "no EMA copy"),
        ("vqgan-other-model", "do not belong together"),
    ],
)
def test_wrong_files_are_refused_and_leave_nothing(tmp_path, golden_dir, capsys, kind, message):
    home = tmp_path / "home"
    bad, role = make_file(tmp_path, golden_dir, kind)
    files = {"refldm": golden_dir / "refldm.ckpt", "vqgan": golden_dir / "vqgan.ckpt", role: bad}
    assert run_import(home, files["refldm"], files["vqgan"], "--config", str(golden_dir / "config.yaml")) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len([x for x in err.splitlines() if x.startswith("refldm-desktop")]) == 1, err
    assert "weights_only" not in err and "Traceback" not in err
    assert_nothing_imported(home)


def test_swapped_files_are_named(tmp_path, golden_dir, capsys):
    home = tmp_path / "home"
    cfg = ["--config", str(golden_dir / "config.yaml")]
    assert run_import(home, golden_dir / "vqgan.ckpt", golden_dir / "refldm.ckpt", *cfg) == 2
    assert "looks like the VQGAN checkpoint" in capsys.readouterr().err
    assert_nothing_imported(home)


def test_files_of_another_size_than_the_config_are_refused(tmp_path, golden_dir, capsys):
    """The tiny files with the default (full-size) config: refused, saying shapes differ."""
    home = tmp_path / "home"
    assert run_import(home, golden_dir / "refldm.ckpt", golden_dir / "vqgan.ckpt") == 2
    err = capsys.readouterr().err
    assert "official key listing" in err and "[128, 32] float32, expected [640, 160] float32" in err
    assert_nothing_imported(home)


def test_interrupted_import_leaves_nothing(tmp_path, golden_dir, monkeypatch):
    from refldm_desktop.restore.refldm import store

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "_write_json", interrupt)
    home = tmp_path / "home"
    assert run_import(home, golden_dir / "refldm.ckpt", golden_dir / "vqgan.ckpt",
                      "--config", str(golden_dir / "config.yaml")) == 130
    assert_nothing_imported(home)


def test_a_changed_stored_file_is_refused(tmp_path, tiny_home, golden_dir, capsys):
    home = tmp_path / "home"
    shutil.copytree(tiny_home / "models" / "tiny", home / "models" / "tiny")
    vq = home / "models" / "tiny" / "vq.safetensors"
    data = bytearray(vq.read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    vq.write_bytes(bytes(data))
    rc = main(["--home", str(home), "restore-face", str(golden_dir / "lq.png"), "--model", "tiny",
               "--steps", "1", "--no-progress", "-o", str(tmp_path / "out.png")])
    assert rc == 2
    assert "changed since it was stored" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_missing_model_says_how_to_get_one(tmp_path, golden_dir, capsys):
    rc = main(["--home", str(tmp_path), "restore-face", str(golden_dir / "lq.png"), "--no-progress",
               "-o", str(tmp_path / "out.png")])
    assert rc == 2
    assert "install" in capsys.readouterr().err
