"""Where the app keeps its database, caches and models.

Order of precedence: an explicit path (the CLI's --home), then REFLDM_DESKTOP_HOME, then the
platform's per-user data folder. The folder is created on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "REFLDM_DESKTOP_HOME"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "library.sqlite3"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def restored(self) -> Path:
        return self.root / "Restored"

    @property
    def backups(self) -> Path:
        """Copies of the database taken before each schema upgrade (and by `db backup`)."""
        return self.root / "backups"

    @property
    def logs(self) -> Path:
        """Tracebacks of unexpected errors, for bug reports."""
        return self.root / "logs"

    def ensure(self) -> "Home":
        from refldm_desktop.errors import LibraryError, os_error_message

        if self.root.exists() and not self.root.is_dir():
            raise LibraryError(f"the home folder {self.root} is a file, not a folder: choose another with --home")
        for p in (self.root, self.models, self.cache):
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                why = os_error_message(exc, str(p)) or f"{p}: cannot create the folder ({exc.strerror})"
                raise LibraryError(f"the home folder cannot be used: {why}") from exc
        return self


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Home:
    if explicit:
        root = Path(explicit)
    elif os.environ.get(ENV_VAR):
        root = Path(os.environ[ENV_VAR])
    else:
        import platformdirs

        root = Path(platformdirs.user_data_dir("refldm-desktop", appauthor=False))
    return Home(root.expanduser().resolve())


def library_folder_of(home: Home, path: Path) -> tuple[Path | None, bool]:
    """(the indexed library folder that holds `path` or None, whether `path` is an indexed
    photo), read without opening the library: no schema upgrade, no lock, no write."""
    import sqlite3

    from refldm_desktop.db.engine import connect_readonly

    if not home.database.is_file():
        return None, False
    spellings = list(dict.fromkeys([str(Path(path).absolute()), os.path.realpath(path)]))
    try:
        db = connect_readonly(home.database)
        try:
            folders = [Path(r[0]) for r in db.execute("SELECT path FROM library_folders")]
            marks = ",".join("?" * len(spellings))
            is_photo = db.execute(f"SELECT 1 FROM photos WHERE path IN ({marks})", spellings).fetchone() is not None
        finally:
            db.close()
    except sqlite3.Error:
        return None, False  # no library yet (or not readable: opening it will say why)
    real = Path(os.path.realpath(path))
    inside = [f for f in folders if f in real.parents or Path(os.path.realpath(f)) in real.parents]
    return (max(inside, key=lambda f: len(f.parts)) if inside else None), is_photo
