"""The shape of a ReF-LDM model, as plain numbers.

This is our own description (stored as JSON next to the converted weights), not the authors'
yaml. `from_authors_yaml` reads their format (configs/refldm.yaml and the tiny golden one) and
refuses the options our diffusers-based modules do not implement, so that a config we accept
always describes a model we reproduce exactly. No torch here: the CLI reads configs cheaply.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from refldm_desktop.errors import ConfigError  # noqa: F401 (also exported here)

CONFIG_FORMAT = "refldm-desktop/config"
CONFIG_VERSION = 1


@dataclass(frozen=True)
class VQConfig:
    """The first stage: taming's VQGAN encoder/decoder with a codebook (f = 2**(levels-1))."""

    resolution: int = 512
    in_channels: int = 3
    out_channels: int = 3
    base_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 1, 2, 4)
    res_blocks: int = 2
    z_channels: int = 8
    embed_dim: int = 8
    codebook_size: int = 8192

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)


@dataclass(frozen=True)
class UNetConfig:
    """The denoiser: an openai/ADM UNet with legacy QKV attention of fixed head width."""

    in_channels: int = 16
    out_channels: int = 8
    base_channels: int = 160
    channel_mult: tuple[int, ...] = (1, 2, 2, 4)
    res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (2, 4, 8)
    head_channels: int = 32

    def has_attention(self, level: int) -> bool:
        return 2**level in self.attention_resolutions


@dataclass(frozen=True)
class DiffusionConfig:
    timesteps: int = 1000
    linear_start: float = 0.0015
    linear_end: float = 0.0155


@dataclass(frozen=True)
class RefLDMConfig:
    """The released full-size model by default (configs/refldm.yaml of the authors)."""

    vq: VQConfig = field(default_factory=VQConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def image_size(self) -> int:
        return self.vq.resolution

    @property
    def latent_size(self) -> int:
        return self.vq.resolution // self.vq.downsample_factor

    @property
    def latent_channels(self) -> int:
        return self.vq.embed_dim

    def validate(self) -> None:
        vq, un = self.vq, self.unet
        if vq.resolution % vq.downsample_factor:
            raise ConfigError(
                f"image resolution {vq.resolution} is not divisible by the VQ factor {vq.downsample_factor}"
            )
        if un.in_channels != 2 * vq.embed_dim or un.out_channels != vq.embed_dim:
            raise ConfigError(
                f"the UNet takes {un.in_channels} channels and predicts {un.out_channels}, but ReF-LDM "
                f"needs {2 * vq.embed_dim} in (noisy latent + LQ latent) and {vq.embed_dim} out"
            )
        for level, mult in enumerate(un.channel_mult):
            width = un.base_channels * mult
            if un.has_attention(level) and width % un.head_channels:
                raise ConfigError(f"UNet width {width} is not a multiple of {un.head_channels} channels per head")
        if un.base_channels * un.channel_mult[-1] % un.head_channels:
            raise ConfigError("the UNet middle block width is not a multiple of the head width")
        for widths in (vq.base_channels * m for m in vq.channel_mult):
            if widths % 32:
                raise ConfigError(f"VQ width {widths} is not divisible into 32 normalisation groups")

    # --- JSON (ours) -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RefLDMConfig":
        if data.get("format") != CONFIG_FORMAT:
            raise ConfigError("not a refldm-desktop model config (no 'format' field)")
        if data.get("version") != CONFIG_VERSION:
            raise ConfigError(f"config version {data.get('version')} is not supported (expected {CONFIG_VERSION})")
        try:
            return cls(
                vq=_build(VQConfig, data["vq"]),
                unet=_build(UNetConfig, data["unet"]),
                diffusion=_build(DiffusionConfig, data["diffusion"]),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"malformed model config: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> "RefLDMConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    # --- diffusers constructor arguments ------------------------------------------------

    def unet_kwargs(self) -> dict[str, Any]:
        un = self.unet
        levels = range(len(un.channel_mult))
        return dict(
            sample_size=self.latent_size,
            in_channels=un.in_channels,
            out_channels=un.out_channels,
            block_out_channels=tuple(un.base_channels * m for m in un.channel_mult),
            layers_per_block=un.res_blocks,
            down_block_types=tuple("AttnDownBlock2D" if un.has_attention(i) else "DownBlock2D" for i in levels),
            up_block_types=tuple(
                "AttnUpBlock2D" if un.has_attention(i) else "UpBlock2D" for i in reversed(levels)
            ),
            attention_head_dim=un.head_channels,
            # ADM's sinusoidal embedding is [cos, sin] with frequencies exp(-ln(1e4) * i / half).
            time_embedding_type="positional",
            flip_sin_to_cos=True,
            freq_shift=0,
            downsample_padding=1,
            norm_num_groups=32,
            norm_eps=1e-5,
            act_fn="silu",
        )

    def vq_kwargs(self) -> dict[str, Any]:
        vq = self.vq
        n = len(vq.channel_mult)
        return dict(
            in_channels=vq.in_channels,
            out_channels=vq.out_channels,
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=tuple(vq.base_channels * m for m in vq.channel_mult),
            layers_per_block=vq.res_blocks,
            latent_channels=vq.z_channels,
            sample_size=vq.resolution,
            num_vq_embeddings=vq.codebook_size,
            vq_embed_dim=vq.embed_dim,
            norm_num_groups=32,
            # ReF-LDM feeds the raw pre-quantisation latent to the UNet: no scaling at all.
            scaling_factor=1.0,
        )


DEFAULT_CONFIG = RefLDMConfig()


def _build(kind: type, data: dict[str, Any]) -> Any:
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return kind(**values)


# --- the authors' yaml ------------------------------------------------------------------


def load_config(path: str | Path) -> RefLDMConfig:
    """Read our JSON config or the authors' yaml (decided by content, not by file name)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    if text.lstrip().startswith("{"):
        return RefLDMConfig.from_json(text)
    return from_authors_yaml(text, source=str(path))


def from_authors_yaml(text: str, source: str = "config") -> RefLDMConfig:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid yaml ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a yaml mapping with a 'model' section")
    model = doc.get("model", doc)
    p = _section(model, "params", source)
    _expect(model.get("target", ""), "ldm.models.diffusion.ddpm.LatentDiffusion", "model.target", source)
    _refuse_unless(p.get("parameterization", "eps") == "eps", "only eps-prediction models are supported", source)
    _refuse_unless(p.get("beta_schedule", "linear") == "linear", "only the 'linear' beta schedule is supported", source)
    _refuse_unless(bool(p.get("use_cache_kv", False)), "this is not a ReF-LDM config (use_cache_kv is not true)", source)
    _check_conditioning(p.get("cond_stage_config"), source)

    fs = _section(p.get("first_stage_config", {}), "params", source, "first_stage_config")
    dd = _section(fs, "ddconfig", source, "first_stage_config.params")
    _refuse_unless(not dd.get("double_z", False), "the first stage must be a VQ model (double_z false)", source)
    _refuse_unless(
        not dd.get("attn_resolutions"),
        "attention inside the VQ encoder/decoder levels (attn_resolutions) is not supported",
        source,
    )
    vq = VQConfig(
        resolution=int(dd["resolution"]),
        in_channels=int(dd.get("in_channels", 3)),
        out_channels=int(dd.get("out_ch", 3)),
        base_channels=int(dd["ch"]),
        channel_mult=tuple(int(m) for m in dd["ch_mult"]),
        res_blocks=int(dd["num_res_blocks"]),
        z_channels=int(dd["z_channels"]),
        embed_dim=int(fs["embed_dim"]),
        codebook_size=int(fs["n_embed"]),
    )

    un = _section(p.get("unet_config", {}), "params", source, "unet_config")
    for key, ok in (
        ("use_spatial_transformer", False),
        ("use_scale_shift_norm", False),
        ("resblock_updown", False),
        ("use_new_attention_order", False),
        ("use_ref_emb", False),
    ):
        _refuse_unless(bool(un.get(key, False)) == ok, f"unet option {key}={un.get(key)} is not supported", source)
    _refuse_unless(un.get("num_classes") is None, "class-conditional UNets are not supported", source)
    _refuse_unless(un.get("conv_resample", True), "conv_resample false is not supported", source)
    _refuse_unless(int(un.get("dims", 2)) == 2, "only 2-D UNets are supported", source)
    head = int(un.get("num_head_channels", -1))
    _refuse_unless(head > 0, "only num_head_channels (fixed head width) attention is supported", source)
    unet = UNetConfig(
        in_channels=int(un["in_channels"]),
        out_channels=int(un["out_channels"]),
        base_channels=int(un["model_channels"]),
        channel_mult=tuple(int(m) for m in un["channel_mult"]),
        res_blocks=int(un["num_res_blocks"]),
        attention_resolutions=tuple(int(r) for r in un["attention_resolutions"]),
        head_channels=head,
    )
    diffusion = DiffusionConfig(
        timesteps=int(p.get("timesteps", 1000)),
        linear_start=float(p.get("linear_start", 1e-4)),
        linear_end=float(p.get("linear_end", 2e-2)),
    )
    try:
        cfg = RefLDMConfig(vq=vq, unet=unet, diffusion=diffusion)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if "image_size" in p and int(p["image_size"]) != cfg.latent_size:
        raise ConfigError(
            f"{source}: model.params.image_size {p['image_size']} does not match the latent size "
            f"{cfg.latent_size} of a {vq.resolution}px image"
        )
    if "channels" in p and int(p["channels"]) != vq.embed_dim:
        raise ConfigError(f"{source}: model.params.channels {p['channels']} != VQ embed_dim {vq.embed_dim}")
    return cfg


def _section(d: Any, key: str, source: str, where: str = "model") -> dict[str, Any]:
    value = d.get(key) if isinstance(d, dict) else None
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: missing section {where}.{key}")
    return value


def _expect(value: str, wanted: str, what: str, source: str) -> None:
    if value != wanted:
        raise ConfigError(f"{source}: {what} is {value!r}, expected {wanted!r}")


def _refuse_unless(ok: bool, message: str, source: str) -> None:
    if not ok:
        raise ConfigError(f"{source}: {message}")


def _check_conditioning(conds: Any, source: str) -> None:
    """ReF-LDM conditions on the LQ latent (concat) and the reference latents (cache_kv)."""
    wanted = {("lq_image", "concat"), ("ref_image", "cache_kv")}
    if not isinstance(conds, list):
        raise ConfigError(f"{source}: model.params.cond_stage_config must list lq_image and ref_image")
    found = set()
    for c in conds:
        if not isinstance(c, dict):
            raise ConfigError(f"{source}: malformed cond_stage_config entry {c!r}")
        if c.get("cond_model_config") != "__is_first_stage__":
            raise ConfigError(f"{source}: conditioning {c.get('cond_stage_key')} must use the first stage encoder")
        found.add((c.get("cond_stage_key"), c.get("conditioning_key")))
    if found != wanted:
        raise ConfigError(
            f"{source}: conditioning is {sorted(found)}, expected lq_image/concat and ref_image/cache_kv"
        )
