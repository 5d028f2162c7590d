"""The model store: home/models/<name>/ holds one converted model.

    unet.safetensors   EMA UNet weights under diffusers' UNet2DModel names (float32)
    vq.safetensors     VQ autoencoder under diffusers' VQModel names (float32)
    config.json        our RefLDMConfig
    manifest.json      sha256 and size of the three files above, where they came from, and what
                       the conversion dropped; written last

An import is built in a hidden temporary folder next to the final one and renamed into place,
so a failed or interrupted import leaves nothing behind. Every load re-hashes the files and
refuses one that changed since it was stored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from refldm_desktop import __version__
from refldm_desktop.defaults import DEFAULT_MODEL
from refldm_desktop.errors import Advice, ModelStoreError, advise  # noqa: F401 (ModelStoreError also exported here)
from refldm_desktop.library.scan import content_hash
from refldm_desktop.restore.refldm.config import ConfigError, RefLDMConfig

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "refldm-desktop/model"
UNET_FILE, VQ_FILE, CONFIG_FILE = "unet.safetensors", "vq.safetensors", "config.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class StoredModel:
    name: str
    path: Path
    config: RefLDMConfig
    manifest: dict[str, Any]

    @property
    def unet_file(self) -> Path:
        return self.path / UNET_FILE

    @property
    def vq_file(self) -> Path:
        return self.path / VQ_FILE

    @property
    def size(self) -> int:
        return sum(f["size"] for f in self.manifest["files"].values())


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ModelStoreError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' or '-' (up to 64), not starting with '.'"
        )
    return name


def open_model(path: Path, verify: bool = True) -> StoredModel:
    """Read a stored model's manifest and config; with verify, re-hash every file."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ModelStoreError(f"{path} is not an installed model (no {MANIFEST}); import or install it first")
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        files = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
            raise ValueError("not a model manifest")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelStoreError(f"{manifest_path} is damaged ({exc}); import the model again") from None
    for fname in (UNET_FILE, VQ_FILE, CONFIG_FILE):
        if fname not in files:
            raise ModelStoreError(f"{manifest_path} does not list {fname}; import the model again")
    if verify:
        for fname, meta in files.items():
            f = path / fname
            if not f.is_file():
                raise ModelStoreError(f"{f} is missing; import the model again")
            if f.stat().st_size != meta["size"] or content_hash(f) != meta["sha256"]:
                raise ModelStoreError(
                    f"{f} has changed since it was stored (sha256 differs from the manifest); "
                    "refusing to load it. Import or install the model again."
                )
    try:
        config = RefLDMConfig.from_json((path / CONFIG_FILE).read_text("utf-8"))
    except (OSError, ConfigError) as exc:
        raise ModelStoreError(f"{path / CONFIG_FILE}: {exc}") from None
    return StoredModel(manifest.get("name", path.name), path, config, manifest)


def list_models(models_root: Path) -> list[StoredModel | tuple[Path, str]]:
    """Installed models (without re-hashing), plus (path, problem) for damaged folders."""
    out: list[StoredModel | tuple[Path, str]] = []
    if not models_root.is_dir():
        return out
    # Other kinds of models share the folder (restore.parsing's "face-parsing").
    others = {"face-parsing"}
    for path in sorted(p for p in models_root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in others):
        try:
            out.append(open_model(path, verify=False))
        except ModelStoreError as exc:
            out.append((path, str(exc)))
    return out


def import_checkpoints(
    models_root: Path,
    refldm_path: Path,
    vqgan_path: Path,
    config: RefLDMConfig,
    name: str = DEFAULT_MODEL,
    force: bool = False,
    source: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    use_ema: bool = True,
    listing: tuple[dict, dict] | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> StoredModel:
    """Convert the authors' two files into models_root/<name>, atomically.

    With a key listing (refldm, vqgan), the files must also match it tensor for tensor.
    `check_cancelled()` is called between steps, never after the model is in place; it
    raises to stop, and then nothing is left behind.
    """
    check = check_cancelled or (lambda: None)
    from safetensors.torch import save_file

    from refldm_desktop.restore.refldm.convert import convert, read_checkpoint

    check_name(name)
    final = models_root / name
    if final.exists() and not force:
        raise ModelStoreError(f"a model named {name!r} already exists at {final}; {advise(Advice.REPLACE_MODEL)}")
    refldm_path, vqgan_path = Path(refldm_path), Path(vqgan_path)
    if refldm_path.resolve() == vqgan_path.resolve():
        raise ModelStoreError("--refldm and --vqgan name the same file")
    check()
    log(f"reading {refldm_path}")
    refldm = read_checkpoint(refldm_path, "refldm")
    check()
    log(f"reading {vqgan_path}")
    vqgan = read_checkpoint(vqgan_path, "vqgan")
    check()
    if listing is not None:
        from refldm_desktop.restore.refldm.convert import SCHEDULE_BUFFERS
        from refldm_desktop.restore.refldm.listing import check_structure

        # The cond-stage copies and schedule buffers are redundant; a file without them is fine.
        check_structure(refldm, listing[0], f"{refldm_path.name}", optional=("cond_stage_model.", *SCHEDULE_BUFFERS))
        check_structure(vqgan, listing[1], f"{vqgan_path.name}")
    converted = convert(refldm, vqgan, config, use_ema=use_ema)
    for w in converted.warnings:
        log(f"warning: {w}")
    check()

    models_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".importing-{name}-", dir=models_root))
    try:
        # One metadata key only: safetensors writes several in random order, and equal weights
        # should give byte-identical files (and so the same sha256) on every import.
        save_file(_contiguous(converted.unet), tmp / UNET_FILE, metadata={"format": "pt"})
        save_file(_contiguous(converted.vq), tmp / VQ_FILE, metadata={"format": "pt"})
        (tmp / CONFIG_FILE).write_text(config.to_json() + "\n", "utf-8")
        files = {f: {"sha256": content_hash(tmp / f), "size": (tmp / f).stat().st_size} for f in (UNET_FILE, VQ_FILE, CONFIG_FILE)}
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": 1,
            "name": name,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "app_version": __version__,
            "files": files,
            "source": {
                "refldm": _describe(refldm_path),
                "vqgan": _describe(vqgan_path),
                **(source or {}),
            },
            "conversion": {
                "unet_weights": "ema" if use_ema else "live",
                "dropped": converted.dropped,
                "ema": converted.info,
                "warnings": converted.warnings,
            },
        }
        _write_json(tmp / MANIFEST, manifest)
        check()
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"stored model {name!r} in {final}")
    return open_model(final, verify=False)


def _contiguous(sd: dict) -> dict:
    return {k: v.contiguous() for k, v in sd.items()}


def _describe(path: Path) -> dict[str, Any]:
    return {"file": path.name, "size": path.stat().st_size, "sha256": content_hash(path)}


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename tmp to final; an existing final is moved aside first and removed afterwards."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".replaced-{final.name}-", dir=final.parent))
        os.replace(final, old / final.name)
    try:
        os.replace(tmp, final)
    except OSError:
        if old is not None:
            os.replace(old / final.name, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
