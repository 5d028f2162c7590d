"""The ReF-LDM models of a home: list, install (download with progress, cancel, resume),
import, remove, and which one restores by default. The CLI's `models` verbs and the app's
Models dialog both go through ModelManager.

torch is imported only by install and import (through the model store), never by listing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from refldm_desktop.core.changes import LibraryError
from refldm_desktop.errors import Advice, advise
from refldm_desktop.core.home import Home
from refldm_desktop.defaults import DEFAULT_MODEL
from refldm_desktop.core.progress import (
    Cancel,
    Cancelled,
    Progress,
    ProgressFn,
    is_cancelled,
)


class ModelError(LibraryError):
    """A model that cannot be installed, imported, removed or chosen; the message says why."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    size: int | None = None  # bytes on disk
    created: str | None = None
    image_size: int | None = None  # face size the model works at
    source: dict[str, Any] | None = None  # the files it was made from
    problem: str | None = None  # why it cannot be used (damaged); None when fine

    def to_json(self) -> dict[str, Any]:
        if self.problem is not None:
            return {"name": self.name, "path": str(self.path), "problem": self.problem}
        return {
            "name": self.name,
            "path": str(self.path),
            "size": self.size,
            "created": self.created,
            "image_size": self.image_size,
            "source": self.source,
        }


@dataclass(frozen=True)
class ReleaseTerms:
    """What installing a release means, from the manifest the download uses."""

    title: str
    source: str  # the manifest's path, or "built-in release manifest"
    homepage: str | None = None
    license: str | None = None
    download_size: str | None = None  # as the manifest says it ("about 2 GB"), or None
    built_in: bool = True  # the manifest shipped with the app (else a mirror's, named by source)


def model_errors() -> tuple[type[BaseException], ...]:
    from refldm_desktop.restore.refldm.config import ConfigError
    from refldm_desktop.restore.refldm.convert import CheckpointError
    from refldm_desktop.restore.refldm.download import DownloadError
    from refldm_desktop.restore.refldm.release import ReleaseError
    from refldm_desktop.restore.refldm.store import ModelStoreError

    return (ConfigError, CheckpointError, DownloadError, ReleaseError, ModelStoreError)


class ModelManager:
    def __init__(self, home: Home) -> None:
        self.home = home

    @property
    def root(self) -> Path:
        return self.home.models

    @property
    def downloads(self) -> Path:
        return self.home.cache / "downloads"

    # -- what is there --------------------------------------------------------------------

    def list(self) -> list[ModelInfo]:
        """Installed models by name, damaged ones with the problem (no file is hashed)."""
        from refldm_desktop.restore.refldm.store import list_models

        out = []
        for e in list_models(self.root):
            if isinstance(e, tuple):
                out.append(ModelInfo(e[0].name, e[0], problem=e[1]))
                continue
            out.append(ModelInfo(
                e.name, e.path, e.size, e.manifest.get("created"), e.config.image_size,
                {r: e.manifest["source"].get(r, {}).get("file") for r in ("refldm", "vqgan")},
            ))
        return out

    def get(self, name: str) -> ModelInfo:
        for m in self.list():
            if m.name == name or m.path.name == name:
                return m
        raise ModelError(f"no model named {name!r} is installed in {self.root}; {advise(Advice.INSTALL_MODEL)}")

    @property
    def default(self) -> str:
        """The model restorations use unless told otherwise (the `model` setting)."""
        from refldm_desktop.core.settings import load_settings

        return load_settings(self.home).model

    def set_default(self, name: str) -> None:
        from refldm_desktop.core.settings import set_value

        self.get(name)
        set_value(self.home, "model", name)

    def pending_download(self) -> int:
        """Bytes of an unfinished download that the next install resumes from."""
        if not self.downloads.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.downloads.glob("*.part"))

    def release_terms(self, manifest: str | os.PathLike[str] | None = None) -> ReleaseTerms:
        """The title, homepage, licence and size of the release `install` would download:
        from `manifest`, else $REFLDM_DESKTOP_RELEASE_MANIFEST, else the built-in one."""
        from refldm_desktop.restore.refldm.release import BUILT_IN_SOURCE, load_release

        try:
            r = load_release(manifest)
        except model_errors() as exc:
            raise ModelError(str(exc)) from exc
        return ReleaseTerms(r.title, r.source, r.homepage, r.license, r.download_size, r.source == BUILT_IN_SOURCE)

    # -- adding and removing ------------------------------------------------------------------

    def install(
        self,
        progress: ProgressFn | None = None,
        cancel: Cancel | None = None,
        *,
        name: str = DEFAULT_MODEL,
        manifest: str | os.PathLike[str] | None = None,
        force: bool = False,
        keep_downloads: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> ModelInfo:
        """Download the authors' release and import it. Cancelling (or a broken
        connection) keeps what was downloaded: the next install resumes from there.
        Raises Cancelled when cancelled."""
        from refldm_desktop.restore.refldm.release import install, load_release

        self.home.ensure()
        try:
            release = load_release(manifest)
            stored = install(
                release, self.root, self.downloads, name, force=force, progress=False,
                keep_downloads=keep_downloads, log=self._logger(progress, log),
                on_bytes=self._bytes(progress), check_cancelled=self._checker(cancel),
            )
        except model_errors() as exc:
            raise ModelError(str(exc)) from exc
        self._done(progress)
        return self.get(stored.path.name)

    def import_files(
        self,
        refldm: str | os.PathLike[str],
        vqgan: str | os.PathLike[str],
        *,
        config: str | os.PathLike[str] | None = None,
        name: str = DEFAULT_MODEL,
        force: bool = False,
        progress: ProgressFn | None = None,
        cancel: Cancel | None = None,
        log: Callable[[str], None] | None = None,
    ) -> ModelInfo:
        """Convert the authors' refldm.ckpt and vqgan.ckpt into the store (atomically:
        a cancelled or failed import leaves nothing behind)."""
        from refldm_desktop.restore.refldm.config import DEFAULT_CONFIG, load_config
        from refldm_desktop.restore.refldm.listing import load_listing
        from refldm_desktop.restore.refldm.store import import_checkpoints

        for what, f in (("refldm", refldm), ("vqgan", vqgan)):
            if not Path(f).is_file():
                raise ModelError(f"the {what} checkpoint {f} does not exist")
        try:
            cfg = load_config(Path(config)) if config else DEFAULT_CONFIG
            # The released model can also be checked against the official key listing.
            listing = load_listing() if cfg == DEFAULT_CONFIG else None
            stored = import_checkpoints(
                self.root, Path(refldm), Path(vqgan), cfg, name=name, force=force, listing=listing,
                log=self._logger(progress, log), check_cancelled=self._checker(cancel),
            )
        except model_errors() as exc:
            raise ModelError(str(exc)) from exc
        self._done(progress)
        return self.get(stored.path.name)

    def remove(self, name: str) -> ModelInfo:
        """Delete an installed (or damaged) model. It is moved aside first, so a model is
        never found half deleted."""
        from refldm_desktop.restore.refldm.store import ModelStoreError, check_name

        try:
            check_name(name)
        except ModelStoreError as exc:
            raise ModelError(str(exc)) from exc
        path = self.root / name
        if not path.is_dir():
            raise ModelError(f"no model named {name!r} is installed in {self.root}")
        info = self.get(name)
        aside = Path(tempfile.mkdtemp(prefix=f".removing-{name}-", dir=self.root))
        os.replace(path, aside / name)
        shutil.rmtree(aside, ignore_errors=True)
        return info

    # -- progress --------------------------------------------------------------------------

    @staticmethod
    def _checker(cancel: Cancel | None) -> Callable[[], None] | None:
        """What the download and the store call between blocks and steps: raises Cancelled.
        They call it only where stopping leaves nothing half made."""
        if cancel is None:
            return None

        def check() -> None:
            if is_cancelled(cancel):
                raise Cancelled("cancelled; what was downloaded is kept and the next install resumes from there")

        return check

    @staticmethod
    def _logger(progress: ProgressFn | None, log: Callable[[str], None] | None):
        """The store's log lines become progress messages of the import stage."""
        step = 0

        def said(message: str) -> None:
            nonlocal step
            step += 1
            if log is not None:
                log(message)
            if progress is not None:
                progress(Progress("import", step, None, message))

        return said

    @staticmethod
    def _bytes(progress: ProgressFn | None):
        if progress is None:
            return None

        def got(name: str, done: int, total: int | None) -> None:
            progress(Progress("download", done, total, name))

        return got

    @staticmethod
    def _done(progress: ProgressFn | None) -> None:
        if progress is not None:
            progress(Progress("done", 1, 1, ""))
