"""The reference pass stops at the UNet's last attention layer: what follows would be
discarded. (The golden tests check the keys and values it keeps give the authors' output.)"""

from __future__ import annotations

from refldm_testlib import golden

from refldm_desktop.restore.refldm.model import RefLDM


def test_the_reference_pass_skips_the_layers_after_the_last_attention(tiny_home, golden_dir):
    model = RefLDM.load(tiny_home / "models" / "tiny", device="cpu", precision="fp32")
    ran = []
    model.unet.conv_out.register_forward_hook(lambda *a: ran.append("conv_out"))
    model.unet.up_blocks[-1].register_forward_hook(lambda *a: ran.append("last level"))
    cache = model.encode_references(golden(golden_dir, "inputs")["ref_images"][:2])
    assert ran == []
    assert set(cache.layers) == set(model._processors)  # every attention layer kept its k/v
    for p in model._processors.values():
        assert p.mode == "off" and p.counter is None  # released for the steps that follow
    model.sample(model.encode(golden(golden_dir, "inputs")["lq_image"]), cache, 1, 1.5,
                 golden(golden_dir, "inputs")["xT"])
    assert "conv_out" in ran  # a denoising step runs the whole UNet
