"""Our model config: the authors' yaml in, plain JSON out, unsupported options refused."""

from __future__ import annotations

import json

import pytest
import yaml

from refldm_desktop.restore.refldm.config import (
    DEFAULT_CONFIG,
    ConfigError,
    RefLDMConfig,
    from_authors_yaml,
    load_config,
)


def full_size_yaml(golden_dir) -> dict:
    """configs/refldm.yaml's numbers on the golden yaml's structure."""
    doc = yaml.safe_load((golden_dir / "config.yaml").read_text())
    p = doc["model"]["params"]
    p["image_size"] = 64
    fs = p["first_stage_config"]["params"]
    fs["n_embed"] = 8192
    fs["ddconfig"].update(resolution=512, ch=128, num_res_blocks=2)
    un = p["unet_config"]["params"]
    un.update(image_size=64, model_channels=160, num_head_channels=32)
    return doc


def test_golden_yaml_gives_the_numbers_of_its_json(golden_dir):
    cfg = load_config(golden_dir / "config.yaml")
    ref = json.loads((golden_dir / "config.json").read_text())
    assert cfg.vq.base_channels == ref["vq"]["ch"] and cfg.vq.codebook_size == ref["vq"]["n_embed"]
    assert cfg.vq.channel_mult == tuple(ref["vq"]["ch_mult"]) and cfg.vq.res_blocks == ref["vq"]["num_res_blocks"]
    assert cfg.image_size == ref["image"]["resolution"] and cfg.latent_size == ref["unet"]["image_size"]
    assert cfg.unet.base_channels == ref["unet"]["model_channels"]
    assert cfg.unet.head_channels == ref["unet"]["num_head_channels"]
    assert cfg.unet.attention_resolutions == tuple(ref["unet"]["attention_resolutions"])
    assert cfg.diffusion.linear_start == ref["diffusion"]["linear_start"]


def test_default_config_is_the_released_full_size_model(golden_dir):
    assert from_authors_yaml(yaml.safe_dump(full_size_yaml(golden_dir))) == DEFAULT_CONFIG
    assert DEFAULT_CONFIG.image_size == 512 and DEFAULT_CONFIG.latent_size == 64


def test_json_round_trip_and_detection(tmp_path, golden_dir):
    cfg = load_config(golden_dir / "config.yaml")
    assert RefLDMConfig.from_json(cfg.to_json()) == cfg
    (tmp_path / "c.json").write_text(cfg.to_json())
    assert load_config(tmp_path / "c.json") == cfg


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda p: p["unet_config"]["params"].update(use_scale_shift_norm=True), "use_scale_shift_norm"),
        (lambda p: p["unet_config"]["params"].update(num_head_channels=-1, num_heads=8), "num_head_channels"),
        (lambda p: p["first_stage_config"]["params"]["ddconfig"].update(attn_resolutions=[16]), "attn_resolutions"),
        (lambda p: p.update(use_cache_kv=False), "use_cache_kv"),
        (lambda p: p["cond_stage_config"].pop(), "conditioning"),
        (lambda p: p.update(image_size=16), "image_size"),
        (lambda p: p["unet_config"]["params"].update(in_channels=8), "channels"),
    ],
)
def test_unsupported_or_inconsistent_yaml_is_refused(golden_dir, edit, message):
    doc = yaml.safe_load((golden_dir / "config.yaml").read_text())
    edit(doc["model"]["params"])
    with pytest.raises(ConfigError, match=message):
        from_authors_yaml(yaml.safe_dump(doc))


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="yaml"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match="not a refldm-desktop"):
        load_config(tmp_path / "other.json")
