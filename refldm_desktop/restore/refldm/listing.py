"""The key listing of the authors' checkpoints, stored compactly, and checks against it.

The authors publish no checksums, so a download is verified by structure: every tensor the
official refldm.ckpt / vqgan.ckpt hold, with its shape and dtype. refldm.ckpt repeats a lot
(EMA twins of the UNet, three copies of the VQ), so the shipped listing stores each thing once
and `expand` rebuilds the full listing in the file's order.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refldm_desktop.restore.refldm.convert import (
    EMA_BOOKKEEPING,
    UNET_PREFIX,
    VQ_COPIES,
    CheckpointError,
    ema_name,
)

if TYPE_CHECKING:
    import torch

LISTING_FORMAT = "refldm-desktop/key-listing"
OFFICIAL_LISTING = "refldm_official_keys.json"

Listing = dict[str, tuple[tuple[int, ...], str]]  # key -> (shape, dtype)


def parse_listing_text(text: str) -> Listing:
    """Read `key<TAB>[shape]<TAB>dtype` lines (the golden folder's *_keys.txt)."""
    out: Listing = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            key, shape, dtype = line.split("\t")
            out[key] = (tuple(json.loads(shape)), dtype)
        except ValueError as exc:
            raise ValueError(f"line {n}: not key<TAB>[shape]<TAB>dtype ({exc})") from None
    return out


def make_compact(refldm: Listing, vqgan: Listing, source: str) -> dict[str, Any]:
    """Store each tensor once; `expand(make_compact(a, b)) == (a, b)` is checked here."""
    schedule = [k for k in refldm if "." not in k]
    unet = [[k[len(UNET_PREFIX):], list(refldm[k][0])] for k in refldm if k.startswith(UNET_PREFIX)]
    vq = [[k, list(v[0])] for k, v in vqgan.items()]
    compact = {
        "format": LISTING_FORMAT,
        "version": 1,
        "source": source,
        "dtype": "float32",
        "schedule": {"names": schedule, "shape": list(refldm[schedule[0]][0])},
        "ema_bookkeeping": {k: [list(refldm[k][0]), refldm[k][1]] for k in EMA_BOOKKEEPING},
        "unet": unet,
        "vq": vq,
        "vq_copies": [p for p in VQ_COPIES if any(k.startswith(p) for k in refldm)],
    }
    if [list(d.items()) for d in expand(compact)] != [list(refldm.items()), list(vqgan.items())]:
        raise ValueError("the listing has structure the compact form does not capture")
    return compact


def expand(compact: dict[str, Any]) -> tuple[Listing, Listing]:
    """The full refldm.ckpt and vqgan.ckpt listings, in the order the authors' files hold them."""
    if compact.get("format") != LISTING_FORMAT:
        raise ValueError("not a refldm-desktop key listing")
    f32 = compact["dtype"]
    refldm: Listing = {k: (tuple(compact["schedule"]["shape"]), f32) for k in compact["schedule"]["names"]}
    unet = [(UNET_PREFIX + k, tuple(shape)) for k, shape in compact["unet"]]
    refldm.update((k, (s, f32)) for k, s in unet)
    refldm.update((k, (tuple(s), d)) for k, (s, d) in compact["ema_bookkeeping"].items())
    refldm.update((ema_name(k), (s, f32)) for k, s in unet)
    vqgan: Listing = {k: (tuple(s), f32) for k, s in compact["vq"]}
    for prefix in compact["vq_copies"]:
        refldm.update((prefix + k, v) for k, v in vqgan.items())
    return refldm, vqgan


def load_listing(path: str | Path | None = None) -> tuple[Listing, Listing]:
    """The shipped official listing, or another compact listing file."""
    if path is None:
        text = resources.files("refldm_desktop").joinpath("resources", OFFICIAL_LISTING).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return expand(json.loads(text))


def listing_of(sd: dict[str, "torch.Tensor"]) -> Listing:
    return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in sd.items()}


def _kind(dtype: str) -> str:
    """Weights saved in half precision are still the same weights: compare float vs int only."""
    return "float" if dtype in ("float32", "float16", "bfloat16", "float64") else dtype


def check_structure(sd: dict[str, "torch.Tensor"], expected: Listing, label: str, optional=()) -> None:
    """Refuse a state dict whose keys, shapes or dtypes differ from the listing.

    Keys under an `optional` prefix may be absent (but must match when present); keys under
    loss.* (a training checkpoint's discriminator) may be extra.
    """
    got = listing_of(sd)
    missing = [k for k in expected if k not in got and not k.startswith(tuple(optional))]
    extra = [k for k in got if k not in expected and not k.startswith("loss.")]
    wrong = [k for k in expected if k in got and (got[k][0], _kind(got[k][1])) != (expected[k][0], _kind(expected[k][1]))]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
    if extra:
        problems.append(f"{len(extra)} unexpected tensors (e.g. {extra[0]})")
    if wrong:
        k = wrong[0]
        problems.append(
            f"{len(wrong)} with another shape or dtype (e.g. {k}: {list(got[k][0])} {got[k][1]}, "
            f"expected {list(expected[k][0])} {expected[k][1]})"
        )
    if problems:
        raise CheckpointError(
            f"{label} does not match the official key listing: " + "; ".join(problems)
            + ". Is it another model's file (then give its --config), or damaged?"
        )
