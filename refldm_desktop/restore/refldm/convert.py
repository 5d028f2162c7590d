"""Turn the authors' checkpoints into state dicts of diffusers' UNet2DModel and VQModel.

The authors ship `refldm.ckpt` (the whole LatentDiffusion state dict: noise-schedule buffers,
live UNet weights `model.diffusion_model.*`, EMA UNet weights `model_ema.<name without dots>`,
and three copies of the VQ under `first_stage_model.*` and `cond_stage_model.{lq,ref}_image.*`)
and `vqgan.ckpt` (`{"state_dict": VQ weights}`). Their inference loads the VQ from vqgan.ckpt,
then refldm.ckpt on top, and samples inside `ema_scope()`: so the UNet weights that count are
the EMA ones and the VQ weights that count are those inside refldm.ckpt.

Every source key is either used or dropped for a stated reason; anything else is an error, as
is any shape that differs from what the config describes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refldm_desktop.errors import CheckpointError  # noqa: F401 (also exported here)
from refldm_desktop.restore.refldm.config import RefLDMConfig

if TYPE_CHECKING:
    import torch

UNET_PREFIX = "model.diffusion_model."
EMA_PREFIX = "model_ema."
VQ_COPIES = ("first_stage_model.", "cond_stage_model.lq_image.", "cond_stage_model.ref_image.")
SCHEDULE_BUFFERS = (
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
)
EMA_BOOKKEEPING = ("model_ema.decay", "model_ema.num_updates")


# --- reading files ----------------------------------------------------------------------


def read_checkpoint(path: str | Path, role: str) -> dict[str, "torch.Tensor"]:
    """Load one of the authors' files without running pickled code; role is refldm or vqgan."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    label = f"{role} checkpoint {path}"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"{label}: cannot read ({exc.strerror or exc})") from None
    if head[:2] == b"PK":
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{label}: the file is truncated or damaged (its zip directory is missing)")
        _check_zip_crcs(path, label)
    elif head[:1] != b"\x80":
        raise CheckpointError(f"{label}: not a PyTorch checkpoint (it starts with {head!r})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=head[:2] == b"PK")
    except pickle.UnpicklingError:
        # torch's own text advises weights_only=False, which is exactly what must not be done.
        raise CheckpointError(
            f"{label}: holds Python objects other than tensors, and loading those could run code, "
            "so it is refused for safety; use the authors' original file"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{label}: cannot be read as a PyTorch checkpoint; truncated or damaged? ({exc})") from None
    return _state_dict_of(obj, role, label)


def _check_zip_crcs(path: Path, label: str) -> None:
    """Refuse a checkpoint whose bytes changed since it was written (a bad download or
    disk): every zip entry carries a CRC-32 of its data, which zipfile checks as the entry
    is read to its end, and which torch itself never checks."""
    import zipfile
    import zlib

    name = "its zip directory"
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename
                with zf.open(info) as entry:
                    while entry.read(1 << 22):
                        pass
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
        raise CheckpointError(
            f"{label}: the file is damaged (the bytes of {name} do not match their checksum); "
            "download or copy it again"
        ) from None


def _state_dict_of(obj: Any, role: str, label: str) -> dict[str, "torch.Tensor"]:
    import torch

    if not isinstance(obj, dict):
        raise CheckpointError(f"{label}: expected a dict of tensors, found {type(obj).__name__}")
    if isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # vqgan.ckpt and Lightning checkpoints wrap the weights
    sd = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not sd:
        raise CheckpointError(f"{label}: contains no tensors")
    looks_vq = "quantize.embedding.weight" in sd and any(k.startswith("encoder.") for k in sd)
    looks_ldm = any(k.startswith((UNET_PREFIX, EMA_PREFIX)) for k in sd)
    if role == "refldm" and not looks_ldm:
        hint = " It looks like the VQGAN checkpoint (vqgan.ckpt): pass it with --vqgan." if looks_vq else ""
        raise CheckpointError(f"{label}: has no ReF-LDM UNet weights (model.diffusion_model.*).{hint}")
    if role == "vqgan" and not looks_vq:
        hint = " It looks like the ReF-LDM checkpoint (refldm.ckpt): pass it with --refldm." if looks_ldm else ""
        raise CheckpointError(f"{label}: has no VQGAN weights (encoder.*, quantize.embedding.weight).{hint}")
    return sd


# --- name mapping -----------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    source: str  # ADM prefix, relative to model.diffusion_model
    target: str  # diffusers UNet2DModel prefix
    kind: str  # resblock | attention | plain


def unet_layout(cfg: RefLDMConfig) -> list[Layer]:
    """Where each layer of the authors' UNet lives in diffusers' UNet2DModel."""
    un = cfg.unet
    levels = len(un.channel_mult)
    out = [
        Layer("time_embed.0", "time_embedding.linear_1", "plain"),
        Layer("time_embed.2", "time_embedding.linear_2", "plain"),
        Layer("input_blocks.0.0", "conv_in", "plain"),
    ]
    i = 1
    for level in range(levels):
        for r in range(un.res_blocks):
            out.append(Layer(f"input_blocks.{i}.0", f"down_blocks.{level}.resnets.{r}", "resblock"))
            if un.has_attention(level):
                out.append(Layer(f"input_blocks.{i}.1", f"down_blocks.{level}.attentions.{r}", "attention"))
            i += 1
        if level < levels - 1:
            out.append(Layer(f"input_blocks.{i}.0.op", f"down_blocks.{level}.downsamplers.0.conv", "plain"))
            i += 1
    out += [
        Layer("middle_block.0", "mid_block.resnets.0", "resblock"),
        Layer("middle_block.1", "mid_block.attentions.0", "attention"),
        Layer("middle_block.2", "mid_block.resnets.1", "resblock"),
    ]
    i = 0
    for j, level in enumerate(reversed(range(levels))):
        for r in range(un.res_blocks + 1):
            out.append(Layer(f"output_blocks.{i}.0", f"up_blocks.{j}.resnets.{r}", "resblock"))
            sub = 1
            if un.has_attention(level):
                out.append(Layer(f"output_blocks.{i}.1", f"up_blocks.{j}.attentions.{r}", "attention"))
                sub = 2
            if level > 0 and r == un.res_blocks:
                out.append(Layer(f"output_blocks.{i}.{sub}.conv", f"up_blocks.{j}.upsamplers.0.conv", "plain"))
            i += 1
    out += [Layer("out.0", "conv_norm_out", "plain"), Layer("out.2", "conv_out", "plain")]
    return out


def attention_layer_names(cfg: RefLDMConfig) -> dict[str, str]:
    """diffusers attention module name -> the authors' name (as in golden_kv_cache)."""
    return {l.target: f"{l.source}.attention" for l in unet_layout(cfg) if l.kind == "attention"}


_RESBLOCK = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}


def _map_unet_key(key: str, layers: dict[str, Layer]) -> list[tuple[str, Any]] | None:
    """One ADM key -> [(diffusers key, transform)]; None when it belongs to no known layer."""
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        layer = layers.get(".".join(parts[:cut]))
        if layer is None:
            continue
        module, param = ".".join(parts[cut:-1]), parts[-1]
        if layer.kind == "plain" and module == "":
            return [(f"{layer.target}.{param}", None)]
        if layer.kind == "resblock" and module in _RESBLOCK:
            return [(f"{layer.target}.{_RESBLOCK[module]}.{param}", None)]
        if layer.kind == "attention":
            if module == "norm":
                return [(f"{layer.target}.group_norm.{param}", None)]
            if module == "proj_out":
                return [(f"{layer.target}.to_out.0.{param}", "squeeze")]
            if module == "qkv":
                return [(f"{layer.target}.to_{n}.{param}", ("qkv", j)) for j, n in enumerate("qkv")]
        return None
    return None


_VQ_RULES = [
    (re.compile(r"^encoder\.down\.(\d+)\.block\.(\d+)\."), lambda m, n: f"encoder.down_blocks.{m[1]}.resnets.{m[2]}."),
    (re.compile(r"^encoder\.down\.(\d+)\.downsample\.conv\."), lambda m, n: f"encoder.down_blocks.{m[1]}.downsamplers.0.conv."),
    (re.compile(r"^decoder\.up\.(\d+)\.block\.(\d+)\."), lambda m, n: f"decoder.up_blocks.{n - 1 - int(m[1])}.resnets.{m[2]}."),
    (re.compile(r"^decoder\.up\.(\d+)\.upsample\.conv\."), lambda m, n: f"decoder.up_blocks.{n - 1 - int(m[1])}.upsamplers.0.conv."),
    (re.compile(r"^(encoder|decoder)\.mid\.block_(\d)\."), lambda m, n: f"{m[1]}.mid_block.resnets.{int(m[2]) - 1}."),
    (re.compile(r"^(encoder|decoder)\.mid\.attn_1\."), lambda m, n: f"{m[1]}.mid_block.attentions.0."),
    (re.compile(r"^(encoder|decoder)\.norm_out\."), lambda m, n: f"{m[1]}.conv_norm_out."),
    (re.compile(r"^(encoder|decoder)\.(conv_in|conv_out)\."), lambda m, n: f"{m[1]}.{m[2]}."),
    (re.compile(r"^(quant_conv|post_quant_conv|quantize\.embedding)\."), lambda m, n: f"{m[1]}."),
]
_VQ_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


def _map_vq_key(key: str, levels: int) -> tuple[str, Any] | None:
    for pattern, rename in _VQ_RULES:
        m = pattern.match(key)
        if not m:
            continue
        prefix, rest = rename(m, levels), key[m.end():]
        if ".attentions." in prefix:
            module, _, param = rest.rpartition(".")
            if module not in _VQ_ATTN:
                return None
            return f"{prefix}{_VQ_ATTN[module]}.{param}", "squeeze" if param == "weight" and module != "norm" else None
        if ".resnets." in prefix:
            rest = rest.replace("nin_shortcut.", "conv_shortcut.")
        return prefix + rest, None
    return None


def _transform(t: "torch.Tensor", how: Any, head_channels: int) -> "torch.Tensor":
    if how is None:
        return t
    if how == "squeeze":  # 1x1 conv (Conv1d or Conv2d) -> Linear
        return t.reshape(t.shape[0], -1) if t.dim() > 1 else t
    _, j = how
    if t.shape[0] % (3 * head_channels):
        raise CheckpointError(
            f"a qkv weight of shape {list(t.shape)} cannot be split into heads of {head_channels} channels; "
            "wrong --config?"
        )
    # Legacy QKV: output channels are grouped per head as [q, k, v] of head_channels each.
    heads = t.shape[0] // (3 * head_channels)
    per_head = t.reshape(heads, 3, head_channels, *t.shape[1:])
    part = per_head[:, j].reshape(heads * head_channels, *t.shape[1:])
    return part.reshape(part.shape[0], -1) if part.dim() > 1 else part


# --- conversion -------------------------------------------------------------------------


@dataclass
class Converted:
    unet: dict[str, "torch.Tensor"]
    vq: dict[str, "torch.Tensor"]
    warnings: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> number of keys
    info: dict[str, Any] = field(default_factory=dict)


def ema_name(live_key: str) -> str:
    """model.diffusion_model.a.b.weight -> model_ema.diffusion_modelabweight (LitEma's naming)."""
    return EMA_PREFIX + live_key[len("model."):].replace(".", "")


def convert(
    refldm: dict[str, "torch.Tensor"],
    vqgan: dict[str, "torch.Tensor"] | None,
    cfg: RefLDMConfig,
    *,
    use_ema: bool = True,
) -> Converted:
    """Map both files onto diffusers names; `use_ema=False` exists only to show it matters."""
    used: set[str] = set()
    dropped: Counter[str] = Counter()
    warnings: list[str] = []
    info: dict[str, Any] = {}

    def drop(key: str, reason: str) -> None:
        used.add(key)
        dropped[reason] += 1

    # UNet: take the names from the live weights, the values from their EMA twins.
    live = [k for k in refldm if k.startswith(UNET_PREFIX)]
    if use_ema:
        missing = [ema_name(k) for k in live if ema_name(k) not in refldm]
        if missing:
            raise CheckpointError(
                f"refldm checkpoint: {len(missing)} UNet weights have no EMA copy "
                f"(e.g. {missing[0]}); the authors sample with the EMA weights only"
            )
    layers = {l.source: l for l in unet_layout(cfg)}
    unet: dict[str, "torch.Tensor"] = {}
    for key in live:
        targets = _map_unet_key(key[len(UNET_PREFIX):], layers)
        if targets is None:
            raise CheckpointError(
                f"refldm checkpoint: unexpected UNet weight {key} (not in the configured architecture; wrong --config?)"
            )
        source = refldm[ema_name(key)] if use_ema else refldm[key]
        if use_ema and source.shape != refldm[key].shape:
            raise CheckpointError(f"refldm checkpoint: EMA weight for {key} has shape {list(source.shape)}, "
                                  f"the live one {list(refldm[key].shape)}")
        for target, how in targets:
            unet[target] = _transform(source, how, cfg.unet.head_channels)
        if use_ema:
            used.add(ema_name(key))
            drop(key, "live UNet weights (inference uses the EMA copy)")
        else:
            used.add(key)
            if ema_name(key) in refldm:
                drop(ema_name(key), "EMA UNet weights (ignored on request)")
    for key in EMA_BOOKKEEPING:
        if key in refldm:
            if refldm[key].device.type != "meta":
                info[key.split(".")[1]] = refldm[key].item()
            drop(key, "EMA bookkeeping")

    # Schedule buffers: recomputed from the config; check they agree with it.
    for key in SCHEDULE_BUFFERS:
        if key in refldm:
            drop(key, "noise-schedule buffers (recomputed from the config)")
    if "betas" in refldm:
        _check_schedule(refldm["betas"], cfg)

    # VQ: the authors' load order leaves refldm.ckpt's copy in effect; vqgan.ckpt is the fallback.
    copies = {p: {k[len(p):]: v for k, v in refldm.items() if k.startswith(p)} for p in VQ_COPIES}
    first = copies[VQ_COPIES[0]]
    for prefix in VQ_COPIES[1:]:
        other = copies[prefix]
        if other and not _same_tensors(first, other):
            raise CheckpointError(
                f"refldm checkpoint: the VQ copy under {prefix}* differs from first_stage_model.*; in the "
                "authors' model they are one module, so this file has been altered"
            )
        for k in other:
            drop(prefix + k, "duplicate VQ copies (cond stages share the first stage)")
    vqgan = {k: v for k, v in (vqgan or {}).items()}
    for k in [k for k in vqgan if k.startswith("loss.")]:
        del vqgan[k]
        dropped["vqgan loss (training only)"] += 1
    if first:
        vq_source = first
        used.update(VQ_COPIES[0] + k for k in first)
        if vqgan:
            if set(vqgan) != set(first) or any(vqgan[k].shape != first[k].shape for k in first):
                raise CheckpointError(
                    "vqgan checkpoint: its weights do not have the same names and shapes as the VQ inside "
                    "refldm.ckpt; the two files do not belong together"
                )
            if not _same_tensors(first, vqgan):
                warnings.append(
                    "vqgan.ckpt differs in value from the VQ inside refldm.ckpt; like the authors' code we use "
                    "the copy in refldm.ckpt"
                )
            dropped["vqgan.ckpt (superseded by the copy in refldm.ckpt)"] += len(vqgan)
    elif vqgan:
        vq_source = vqgan
    else:
        raise CheckpointError("no VQ weights: refldm.ckpt has no first_stage_model.* and no vqgan.ckpt was given")

    levels = len(cfg.vq.channel_mult)
    vq: dict[str, "torch.Tensor"] = {}
    for key, value in vq_source.items():
        mapped = _map_vq_key(key, levels)
        if mapped is None:
            raise CheckpointError(f"VQ weights: unexpected key {key} (not in the configured architecture)")
        vq[mapped[0]] = _transform(value, mapped[1], 0)

    leftovers = [k for k in refldm if k not in used]
    if leftovers:
        raise CheckpointError(
            f"refldm checkpoint: {len(leftovers)} keys belong to nothing we know, e.g. {leftovers[:3]}"
        )
    _check_against_architecture(unet, vq, cfg)
    return Converted(unet=unet, vq=vq, warnings=warnings, dropped=dict(dropped), info=info)


def _same_tensors(a: dict[str, "torch.Tensor"], b: dict[str, "torch.Tensor"]) -> bool:
    import torch

    if set(a) != set(b):
        return False
    for k, t in a.items():
        u = b[k]
        if t.shape != u.shape:
            return False
        if t.device.type == "meta" or u.device.type == "meta":
            continue  # a structure-only dry run has no values to compare
        if t.data_ptr() != u.data_ptr() and not torch.equal(t, u):
            return False
    return True


def _check_schedule(betas: "torch.Tensor", cfg: RefLDMConfig) -> None:
    import torch

    from refldm_desktop.restore.refldm.schedule import betas as config_betas

    if betas.shape != (cfg.diffusion.timesteps,):
        raise CheckpointError(
            f"refldm checkpoint: {betas.shape[0]} diffusion timesteps, the config says {cfg.diffusion.timesteps}"
        )
    if betas.device.type == "meta":
        return
    ours = torch.from_numpy(config_betas(cfg.diffusion)).float()
    if not torch.allclose(betas.float(), ours, rtol=1e-5, atol=0):
        raise CheckpointError(
            "refldm checkpoint: its noise schedule (betas) differs from the config's linear_start/linear_end"
        )


def expected_shapes(cfg: RefLDMConfig) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Parameter names and shapes of our diffusers modules for this config (no memory used)."""
    from refldm_desktop.restore.refldm.modules import build_modules

    unet, vq = build_modules(cfg, device="meta")
    return (
        {k: tuple(v.shape) for k, v in unet.state_dict().items()},
        {k: tuple(v.shape) for k, v in vq.state_dict().items()},
    )


def _check_against_architecture(unet: dict, vq: dict, cfg: RefLDMConfig) -> None:
    want_unet, want_vq = expected_shapes(cfg)
    for what, got, want in (("UNet", unet, want_unet), ("VQ", vq, want_vq)):
        missing = sorted(set(want) - set(got))
        if missing:
            raise CheckpointError(
                f"{what} weights: {len(missing)} missing for the configured architecture, e.g. {missing[:3]}; "
                "is the file complete and the --config right?"
            )
        extra = sorted(set(got) - set(want))
        if extra:
            raise CheckpointError(f"{what} weights: {len(extra)} unexpected, e.g. {extra[:3]}")
        wrong = [(k, tuple(got[k].shape), want[k]) for k in want if tuple(got[k].shape) != want[k]]
        if wrong:
            k, g, w = wrong[0]
            raise CheckpointError(
                f"{what} weights: {len(wrong)} have the wrong shape for the configured architecture, e.g. {k} "
                f"is {list(g)} in the file but {list(w)} in the config; wrong --config, or files of another model?"
            )

