"""Verbs of the ReF-LDM model: `models import|list|install` and `restore-face`.

torch and diffusers are imported inside the verbs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from refldm_desktop.cli import CliError
from refldm_desktop.core.home import resolve_home
from refldm_desktop.defaults import DEFAULT_CFG, DEFAULT_MODEL, DEFAULT_STEPS

MANY_REFS = 8


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="install, import and list ReF-LDM models")
    msub = models.add_subparsers(dest="models_verb", metavar="ACTION", required=True)
    # Every verb goes through core.models.ModelManager, as the app's Models dialog does.

    imp = msub.add_parser("import", help="convert the authors' refldm.ckpt + vqgan.ckpt into the model store")
    imp.add_argument("--refldm", required=True, type=Path, metavar="FILE", help="the authors' refldm.ckpt")
    imp.add_argument("--vqgan", required=True, type=Path, metavar="FILE", help="the authors' vqgan.ckpt")
    imp.add_argument("--config", type=Path, metavar="FILE",
                     help="the authors' yaml (or our JSON) config; default: the released full-size model")
    imp.add_argument("--name", default=DEFAULT_MODEL, help=f"name in the store (default: {DEFAULT_MODEL})")
    imp.add_argument("--force", action="store_true", help="replace a model of the same name")
    imp.set_defaults(func=_import)

    lst = msub.add_parser("list", help="show the installed models")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=_list)

    ins = msub.add_parser("install", help="download the authors' release files and import them (resumable)")
    ins.add_argument("--name", default=DEFAULT_MODEL, help=f"name in the store (default: {DEFAULT_MODEL})")
    ins.add_argument("--manifest", type=Path, metavar="FILE",
                     help="release manifest to use instead of the built-in one (also $REFLDM_DESKTOP_RELEASE_MANIFEST)")
    ins.add_argument("--force", action="store_true", help="replace a model of the same name")
    ins.add_argument("--keep-downloads", action="store_true", help="keep the original .ckpt files after importing")
    ins.add_argument("--no-progress", action="store_true", help="no progress bar")
    ins.set_defaults(func=_install)

    rm = msub.add_parser("remove", help="delete an installed model")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=_remove)

    df = msub.add_parser("default", help="show (or, given a name, choose) the model restorations use")
    df.add_argument("name", nargs="?", metavar="NAME")
    df.set_defaults(func=_default)

    rf = sub.add_parser("restore-face", help="restore one aligned face crop with ReF-LDM, using reference photos")
    rf.add_argument("lq", type=Path, metavar="LQ.png", help="the low-quality aligned face")
    rf.add_argument("--refs", nargs="*", type=Path, default=[], metavar="REF",
                    help="aligned good photos of the same person (none: restore without references)")
    rf.add_argument("--output", "-o", required=True, type=Path, metavar="OUT.png")
    rf.add_argument("--model", default=DEFAULT_MODEL, help=f"model name in the store (default: {DEFAULT_MODEL})")
    rf.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"DDIM steps (default {DEFAULT_STEPS})")
    rf.add_argument("--cfg", type=float, default=DEFAULT_CFG,
                    help=f"guidance scale; 1 turns guidance off (default {DEFAULT_CFG})")
    noise = rf.add_mutually_exclusive_group()
    noise.add_argument("--seed", type=int, default=2024, help="seed of the initial noise (default 2024)")
    noise.add_argument("--noise", type=Path, metavar="FILE.npy", help="initial noise (1, C, h, w) from a .npy file")
    rf.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    rf.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                    help="auto: bf16 (or fp16) on CUDA, fp32 on the CPU")
    rf.add_argument("--cuda-graphs", action="store_true", help="replay denoising steps as CUDA graphs")
    rf.add_argument("--no-progress", action="store_true", help="no progress bar")
    rf.set_defaults(func=_restore_face)


def _models_root(args) -> Path:
    return resolve_home(args.home).models


def _errors():
    from refldm_desktop.core.models import model_errors

    return model_errors()


def _manager(args):
    from refldm_desktop.core.models import ModelManager

    return ModelManager(resolve_home(args.home))


def _call(fn, *a, **kw):
    """A facade call with its errors (and a cancel by Ctrl-C) as one line for the user."""
    from refldm_desktop.core.changes import LibraryError

    try:
        return fn(*a, **kw)
    except LibraryError as exc:
        raise CliError(str(exc)) from None


def _import(args) -> int:
    stored = _call(
        _manager(args).import_files, args.refldm, args.vqgan, config=args.config, name=args.name,
        force=args.force, log=_log,
    )
    print(f"{stored.name}: {_mib(stored.size)} in {stored.path}")
    return 0


def _list(args) -> int:
    models = _manager(args).list()
    if args.json:
        print(json.dumps([m.to_json() for m in models], indent=1))
        return 0
    if not models:
        print(f"no models installed in {_models_root(args)}; run `refldm-desktop models install`")
        return 0
    for m in models:
        if m.problem is not None:
            print(f"{m.name}\tDAMAGED\t{m.path}\t{m.problem}")
        else:
            print(f"{m.name}\t{_mib(m.size)}\t{m.image_size}px\t{m.path}\t(created {m.created})")
    return 0


def _install(args) -> int:
    from refldm_desktop.cli.progressbar import ProgressBar

    bar = ProgressBar(disable=True if args.no_progress else None)
    try:
        stored = _call(
            _manager(args).install, bar, name=args.name, manifest=args.manifest, force=args.force,
            keep_downloads=args.keep_downloads, log=_log,
        )
    finally:
        bar.close()
    print(f"{stored.name}: {_mib(stored.size)} in {stored.path}")
    return 0


def _remove(args) -> int:
    removed = _call(_manager(args).remove, args.name)
    print(f"removed {removed.name} ({removed.path})")
    return 0


def _default(args) -> int:
    manager = _manager(args)
    if args.name:
        _call(manager.set_default, args.name)
    print(_call(lambda: manager.default))
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


# --- restore-face -----------------------------------------------------------------------


def read_face(path: Path, size: int) -> tuple["object", bool]:
    """RGB uint8 array of the model's size; resized as the authors do (PIL bicubic)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            resized = im.size != (size, size)
            if resized:
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(im, dtype=np.uint8).copy(), resized
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise CliError(f"{path}: cannot read the image ({exc})") from None


def write_png_atomic(array, path: Path) -> None:
    from PIL import Image

    folder = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(array).save(fh, format="PNG")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_noise(path: Path, shape: tuple[int, ...]):
    import numpy as np

    try:
        noise = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: cannot read the noise array ({exc})") from None
    if noise.shape == shape[1:]:
        noise = noise[None]
    if noise.shape != shape or not np.issubdtype(noise.dtype, np.floating):
        raise CliError(f"{path}: expected float noise of shape {shape}, found {noise.dtype} {noise.shape}")
    return noise.astype(np.float32)


def _restore_face(args) -> int:
    inputs = [args.lq, *args.refs]
    out = args.output.resolve()
    if any(out == p.resolve() for p in inputs):
        raise CliError("--output must not overwrite one of the input images")
    if args.steps < 1:
        raise CliError("--steps must be at least 1")
    if not out.parent.is_dir():
        raise CliError(f"{args.output}: the folder {out.parent} does not exist")
    n = len(args.refs)
    if n == 0:
        print("no references: restoring without identity guidance (the model sees zeroed reference latents)",
              file=sys.stderr)
    elif n > MANY_REFS:
        print(f"warning: {n} references; memory grows with each (the authors trained with up to 5)", file=sys.stderr)

    from refldm_desktop.restore.refldm.model import RefLDM

    try:
        model = RefLDM.load(_models_root(args) / args.model, args.device, args.precision, cuda_graphs=args.cuda_graphs)
    except _errors() as exc:
        raise CliError(f"model {args.model!r}: {exc}") from None
    except ValueError as exc:  # an unusable --device/--precision
        raise CliError(str(exc)) from None
    size = model.config.image_size
    images = []
    for p in inputs:
        img, resized = read_face(p, size)
        if resized:
            print(f"{p}: resized to {size}x{size}", file=sys.stderr)
        images.append(img)

    c, n_lat = model.config.latent_channels, model.config.latent_size
    noise = load_noise(args.noise, (1, c, n_lat, n_lat)) if args.noise else model.initial_noise(1, args.seed)

    from tqdm import tqdm

    with tqdm(desc="denoising", unit="step", file=sys.stderr, disable=args.no_progress) as bar:
        def step(s) -> None:
            bar.total = s.total
            bar.update(1)

        refs = model.encode_references(images[1:])
        result = model.restore(images[0], refs, steps=args.steps, cfg=args.cfg, noise=noise, callback=step)
    write_png_atomic(result[0], args.output)
    print(f"wrote {args.output} ({n} reference{'s' if n != 1 else ''}, {args.steps} steps, cfg {args.cfg}, "
          f"{model.device.type} {str(model.dtype).removeprefix('torch.')})")
    return 0
