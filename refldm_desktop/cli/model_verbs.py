"""Verbs of the ReF-LDM model: `models import|list|install` and `restore-face`.

torch and diffusers are imported inside the verbs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from refldm_desktop.cli import CliError, add_verb, device_arg
from refldm_desktop.core.home import resolve_home
from refldm_desktop.defaults import DEFAULT_CFG, DEFAULT_MODEL, DEFAULT_STEPS, DEVICES, PRECISIONS

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

    add_verb(msub, "list", _list, "show the installed models", json_help="machine-readable output")

    ins = msub.add_parser("install", help="download the authors' release files and import them (resumable)")
    ins.add_argument("--name", default=DEFAULT_MODEL, help=f"name in the store (default: {DEFAULT_MODEL})")
    ins.add_argument("--manifest", type=Path, metavar="FILE",
                     help="release manifest to use instead of the built-in one (also $REFLDM_DESKTOP_RELEASE_MANIFEST)")
    ins.add_argument("--force", action="store_true", help="replace a model of the same name")
    ins.add_argument("--keep-downloads", action="store_true", help="keep the original .ckpt files after importing")
    ins.add_argument("--no-progress", action="store_true", help="no progress bar")
    ins.set_defaults(func=_install)

    pi = msub.add_parser(
        "install-parsing",
        help="download facexlib's face-parsing model (BiSeNet 51 MiB, or ParseNet 81 MiB; resumable): pasted "
        "faces then keep hair, hands and glasses in front of them from the photo",
    )
    pi.add_argument("--model", choices=("bisenet", "parsenet"), default="bisenet",
                    help="which of facexlib's networks (default bisenet; parsenet is GFPGAN's and CodeFormer's)")
    pi.add_argument("--url", help="download the file from this mirror instead of facexlib's release")
    pi.add_argument("--force", action="store_true", help="replace the installed face-parsing model")
    pi.add_argument("--no-progress", action="store_true", help="no progress bar")
    pi.set_defaults(func=_install_parsing)

    pm = msub.add_parser("import-parsing", help="install the face-parsing model from a file you have "
                         "(facexlib's parsing_bisenet.pth or parsing_parsenet.pth, or a .safetensors of it)")
    pm.add_argument("file", type=Path, metavar="FILE")
    pm.add_argument("--force", action="store_true", help="replace the installed face-parsing model")
    pm.set_defaults(func=_import_parsing)

    add_verb(msub, "remove", _remove, "delete an installed model", "NAME")
    add_verb(msub, "default", _default, "show (or, given a name, choose) the model restorations use", "NAME?")

    rf = sub.add_parser("restore-face", help="restore one aligned face crop with ReF-LDM, using reference photos")
    rf.add_argument("lq", type=Path, metavar="LQ.png", help="the low-quality aligned face")
    rf.add_argument("--refs", nargs="*", type=Path, default=[], metavar="REF",
                    help="aligned good photos of the same person (none: restore without references)")
    rf.add_argument("--output", "-o", required=True, type=Path, metavar="OUT.png",
                    help="the new file (an existing one is refused unless --overwrite)")
    rf.add_argument("--overwrite", action="store_true", help="replace --output if it exists (never a library photo)")
    rf.add_argument("--into-library", action="store_true",
                    help="allow --output inside an indexed library folder (it will not be indexed as a photo)")
    # Defaults come from the settings (`refldm-desktop config`), as for `restore`; a flag wins.
    rf.add_argument("--model", help=f"model name in the store (default: the model setting, else {DEFAULT_MODEL})")
    rf.add_argument("--steps", type=int, help=f"DDIM steps (default: the steps setting, else {DEFAULT_STEPS})")
    rf.add_argument("--cfg", type=float,
                    help=f"guidance scale; 1 turns guidance off (default: the guidance setting, else {DEFAULT_CFG})")
    noise = rf.add_mutually_exclusive_group()
    noise.add_argument("--seed", type=int, default=2024, help="seed of the initial noise (default 2024)")
    noise.add_argument("--noise", type=Path, metavar="FILE.npy", help="initial noise (1, C, h, w) from a .npy file")
    rf.add_argument("--device", type=device_arg, metavar="DEV", help=f"{DEVICES} (default: the device setting, else auto)")
    rf.add_argument("--precision", choices=PRECISIONS,
                    help="auto: bf16 where a trial (run once per device, kept in the home) found it faster "
                         "than fp32 and within 35 dB PSNR of it, else fp32 (default: the precision setting, "
                         "else auto)")
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
    from refldm_desktop.restore import parsing

    parser = parsing.installed(_models_root(args))
    extra: list[dict[str, Any]] = []
    if parser is not None:
        info = parsing.manifest(_models_root(args)) or {}
        extra.append({"name": "face-parsing", "kind": f"face parsing (paste masks, {info.get('model')})", "path": str(parser),
                      "size": parser.stat().st_size, "source": info.get("source")})
    if args.json:
        print(json.dumps([m.to_json() for m in models] + extra, indent=1))
        return 0
    for e in extra:
        print(f"{e['name']}\t{_mib(e['size'])}\t{e['kind']}\t{e['path']}")
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


def _parsing_errors():
    from refldm_desktop.restore.parsing import FaceParsingError
    from refldm_desktop.restore.refldm.download import DownloadError

    return (FaceParsingError, DownloadError)


def _install_parsing(args) -> int:
    from refldm_desktop.restore import parsing

    home = resolve_home(args.home).ensure()
    try:
        path = parsing.install(
            home.models, home.cache / "downloads", parsing.KINDS[args.model], url=args.url, force=args.force,
            progress=not args.no_progress, log=_log,
        )
    except _parsing_errors() as exc:
        raise CliError(str(exc)) from None
    _say_parsing(home.models, path)
    return 0


def _import_parsing(args) -> int:
    from refldm_desktop.restore import parsing

    home = resolve_home(args.home).ensure()
    try:
        path = parsing.import_weights(home.models, args.file, force=args.force)
    except _parsing_errors() as exc:
        raise CliError(str(exc)) from None
    _say_parsing(home.models, path)
    return 0


def _say_parsing(models: Path, path: Path) -> None:
    from refldm_desktop.restore import parsing

    info = parsing.manifest(models) or {}
    src = info.get("source", {})
    published = "facexlib's published file" if src.get("published") else "not the published file"
    print(f"face-parsing ({info.get('model')}): {_mib(path.stat().st_size)} in {path} "
          f"(from {src.get('file')}, sha256 {src.get('sha256')}: {published})")


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
        with Image.open(path) as opened:
            im = opened.convert("RGB")
            resized = im.size != (size, size)
            if resized:
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(im, dtype=np.uint8).copy(), resized
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise CliError(f"{path}: cannot read the image ({exc})") from None


def write_png(array, path: Path, *, replace: bool) -> None:
    """Write a PNG atomically; never over an existing file unless `replace`."""
    import io

    from PIL import Image

    from refldm_desktop.library.output import write_new_file

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    if not replace and path.exists():  # it appeared while we were restoring
        raise CliError(f"{path} appeared while restoring; nothing was written: choose another --output")
    write_new_file(path.resolve().parent, [path.name], buf.getvalue(), replace=replace)


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


def check_output(args, inputs: list[Path]) -> None:
    """Refuse, before any work, an --output that would lose something or cannot be written."""
    out, resolved = args.output, args.output.resolve()
    if any(resolved == p.resolve() for p in inputs):
        raise CliError("--output must not overwrite one of the input images")
    if out.is_dir():
        raise CliError(f"{out} is a folder: give a file name for the restored face, e.g. {out / 'restored.png'}")
    if out.exists() and not out.is_file():
        raise CliError(f"{out} is not a regular file: choose another --output")
    if not resolved.parent.is_dir():
        raise CliError(f"{out}: the folder {resolved.parent} does not exist")
    if not os.access(resolved.parent, os.W_OK):
        raise CliError(f"{out}: the folder {resolved.parent} cannot be written (read-only disk or no permission): "
                       "choose another --output")
    from refldm_desktop.core.home import library_folder_of

    home = resolve_home(args.home)
    root, is_photo = library_folder_of(home, resolved)
    if is_photo:
        raise CliError(f"{out} is a photo of your library; originals are never changed: choose another --output")
    if out.exists() and not args.overwrite:
        raise CliError(f"{out} already exists: choose another --output, or add --overwrite to replace it")
    if root is not None and not args.into_library:
        raise CliError(f"{out} is inside your library folder {root}: choose another --output, "
                       "or add --into-library to write there anyway")


def _with_settings(args) -> None:
    """Fill the flags not given from the user's settings, the way `restore` does."""
    from refldm_desktop.core.restoring import RestoreSettings
    from refldm_desktop.core.settings import SettingsError, load_settings

    try:
        settings = load_settings(resolve_home(args.home))
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    chosen = RestoreSettings.from_settings(settings, model=args.model, steps=args.steps, cfg=args.cfg,
                                           device=args.device)
    args.model, args.steps, args.cfg, args.device = chosen.model, chosen.steps, chosen.cfg, chosen.device
    args.precision = args.precision or settings.precision


def _restore_face(args) -> int:
    from refldm_desktop.restore.protocol import RestoreOptions

    _with_settings(args)
    inputs = [args.lq, *args.refs]
    try:
        RestoreOptions(steps=args.steps, cfg=args.cfg)
    except ValueError as exc:
        raise CliError(f"--{exc}") from None
    check_output(args, inputs)
    n = len(args.refs)
    if n == 0:
        print("no references: restoring without identity guidance (the model sees zeroed reference latents)",
              file=sys.stderr)
    elif n > MANY_REFS:
        print(f"warning: {n} references; memory grows with each (the authors trained with up to 5)", file=sys.stderr)

    from refldm_desktop.restore.refldm.model import RefLDM
    from refldm_desktop.restore.refldm.precision import resolve_stored, store_in

    try:
        model_dir = _models_root(args) / args.model
        precision = resolve_stored(args.precision, model_dir, args.device, store_in(resolve_home(args.home).cache))
        model = RefLDM.load(model_dir, args.device, precision, cuda_graphs=args.cuda_graphs)
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
    write_png(result[0], args.output, replace=args.overwrite)
    print(f"wrote {args.output} ({n} reference{'s' if n != 1 else ''}, {args.steps} steps, cfg {args.cfg}, "
          f"{model.device.type} {str(model.dtype).removeprefix('torch.')})")
    return 0
