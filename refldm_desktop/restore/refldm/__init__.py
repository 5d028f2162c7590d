"""The ReF-LDM model. torch and diffusers are imported inside this package only, lazily.

- config:    RefLDMConfig (our JSON; reads the authors' yaml), DEFAULT_CONFIG = the release
- convert:   the authors' checkpoints -> diffusers UNet2DModel / VQModel state dicts
- attention: CacheKVProcessor, the reference key/value attention
- schedule:  noise schedule and DDIM "uniform_trailing" steps
- model:     RefLDM (load, encode_references -> ReferenceCache, restore), the inference
- store:     home/models/<name>/ (safetensors + config + manifest with sha256), import
- listing, download, release: `models install` (official key listing, resumable download)

Typical use (the photo pipeline):

    model = RefLDM.load(home.models / "refldm", device="auto", precision="auto")
    refs = model.encode_references([ref1, ref2])     # uint8 HxWx3 crops; reuse for many faces
    restored = model.restore([lq1, lq2], refs, steps=50, cfg=1.5, seed=2024)  # uint8 [B, H, W, 3]
"""
