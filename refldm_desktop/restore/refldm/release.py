"""`models install`: fetch the authors' release files, check them, import them.

Where the files live is data (resources/refldm_release.json), not code. Another manifest of the
same form can be given with --manifest or $REFLDM_DESKTOP_RELEASE_MANIFEST (a mirror, or the
tests' local server); its relative paths are read relative to the manifest itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from refldm_desktop.errors import Advice, ReleaseError, advise  # noqa: F401 (ReleaseError also exported here)
from refldm_desktop.restore.refldm.config import DEFAULT_CONFIG, RefLDMConfig, load_config

RELEASE_ENV = "REFLDM_DESKTOP_RELEASE_MANIFEST"
RELEASE_FORMAT = "refldm-desktop/release"
ROLES = ("refldm", "vqgan")
BUILT_IN_SOURCE = "built-in release manifest"  # Release.source of the manifest shipped here


@dataclass(frozen=True)
class ReleaseFile:
    url: str
    filename: str
    sha256_reported: str | None = None
    reported_by: str | None = None


@dataclass(frozen=True)
class Release:
    title: str
    config: RefLDMConfig
    listing: Path | None  # compact key listing the files must match; None: no listing check
    files: dict[str, ReleaseFile]
    source: str  # where this manifest came from
    # What the user agrees to before downloading (shown as the manifest gives them).
    homepage: str | None = None
    license: str | None = None
    download_size: str | None = None  # e.g. "about 2 GB"; None: not given


def load_release(given: str | os.PathLike[str] | None = None) -> Release:
    path = given or os.environ.get(RELEASE_ENV) or None
    if path is None:
        base = resources.files("refldm_desktop").joinpath("resources")
        text, source = base.joinpath("refldm_release.json").read_text("utf-8"), BUILT_IN_SOURCE
        folder = None
    else:
        path = Path(path)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ReleaseError(f"cannot read release manifest {path}: {exc.strerror or exc}") from None
        source, folder = str(path), path.parent
    try:
        data: dict[str, Any] = json.loads(text)
        if data.get("format") != RELEASE_FORMAT:
            raise ValueError("not a refldm-desktop release manifest")
        files = {role: ReleaseFile(**data["files"][role]) for role in ROLES}
    except (ValueError, KeyError, TypeError) as exc:
        raise ReleaseError(f"{source}: malformed release manifest ({exc})") from None

    def beside(name: str) -> Path:
        if folder is None:  # a resource shipped next to the built-in manifest
            return Path(str(resources.files("refldm_desktop").joinpath("resources", name)))
        return folder / name

    def local(name: str | None) -> Path | None:
        return None if name is None else beside(name)

    config = DEFAULT_CONFIG if data.get("config") is None else load_config(beside(data["config"]))
    return Release(data.get("title", "ReF-LDM"), config, local(data.get("key_listing")), files, source,
                   data.get("homepage"), data.get("license"), data.get("download_size"))


def install(
    release: Release,
    models_root: Path,
    downloads: Path,
    name: str,
    force: bool = False,
    progress: bool = True,
    keep_downloads: bool = False,
    log: Callable[[str], None] = print,
    on_bytes: Callable[[str, int, int | None], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
):
    """Download (resuming), verify structure against the key listing, import. Returns StoredModel.

    `on_bytes` and `check_cancelled` are handed to each download and `check_cancelled` to
    the import (see download.download and store.import_checkpoints)."""
    from refldm_desktop.restore.refldm.convert import CheckpointError
    from refldm_desktop.restore.refldm.download import download
    from refldm_desktop.restore.refldm.listing import load_listing
    from refldm_desktop.restore.refldm.store import ModelStoreError, check_name, import_checkpoints

    check_name(name)
    if (models_root / name).exists() and not force:
        raise ModelStoreError(f"a model named {name!r} is already installed; {advise(Advice.REPLACE_MODEL)}")
    log(f"installing {release.title} ({release.source})")
    paths = {}
    for role in ROLES:
        f = release.files[role]
        dest = downloads / f.filename
        if dest.exists():
            log(f"{f.filename}: already downloaded")
        else:
            log(f"downloading {f.url}")
            download(f.url, dest, progress=progress, on_bytes=on_bytes, check_cancelled=check_cancelled)
        paths[role] = dest
    try:
        stored = import_checkpoints(
            models_root, paths["refldm"], paths["vqgan"], release.config, name=name, force=force,
            source={"release": release.title, "urls": {r: release.files[r].url for r in ROLES}},
            log=log, listing=load_listing(release.listing) if release.listing else None,
            check_cancelled=check_cancelled,
        )
    except CheckpointError:
        for p in paths.values():  # a wrong download must not be reused by the next attempt
            p.unlink(missing_ok=True)
        log("the downloaded files were removed")
        raise
    for role in ROLES:
        reported, got = release.files[role].sha256_reported, stored.manifest["source"][role]["sha256"]
        if reported and reported != got:
            log(
                f"warning: {release.files[role].filename} has sha256 {got}, but {release.files[role].reported_by} "
                f"reports {reported}. Its structure matches the official listing, so it was installed."
            )
    if not keep_downloads:
        for p in paths.values():
            p.unlink(missing_ok=True)
    return stored
