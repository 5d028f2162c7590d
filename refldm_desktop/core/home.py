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

    def ensure(self) -> "Home":
        for p in (self.root, self.models, self.cache):
            p.mkdir(parents=True, exist_ok=True)
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
