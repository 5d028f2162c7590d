"""Helpers for the end-to-end restore tests (a module with a unique name, not a conftest).

The libraries are copies of folders of ../shared/data/faces in a temporary folder, indexed
with the real dlib backend; tests run the CLI in this process (`refldm_desktop.cli.main`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from refldm_desktop.restore.torch_threads import one_torch_thread  # noqa: F401  (re-exported for the tests)
from musthave import FACES, GOLDEN, REPO, require_dlib_backend, require_faces, require_golden  # noqa: F401


def require_dlib() -> None:
    require_dlib_backend()


def copy_photos(root: Path, parts: list[str]) -> Path:
    """Copy folders or files of ../shared/data/faces (e.g. "groups", "edge_cases/r90.jpg")
    under root, keeping their relative paths."""
    for part in parts:
        src = FACES / part
        dst = root / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    return root


@dataclass
class CliRun:
    rc: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def cli(home: Path, *args: str | Path) -> CliRun:
    from refldm_desktop.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--home", str(home), *map(str, args)])
    return CliRun(rc, out.getvalue(), err.getvalue())


def sha256_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def load(path: Path) -> np.ndarray:
    from refldm_desktop.library.imageio import load_rgb

    return load_rgb(path)[0]


def far_from_faces(shape: tuple[int, ...], boxes: list[list[float]], scale: float = 1.0) -> np.ndarray:
    """True where a pixel is farther than one face width from every face box."""
    h, w = shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    far = np.ones((h, w), bool)
    for box in boxes:
        x0, y0, x1, y1 = (v * scale for v in box)
        width = max(x1 - x0, y1 - y0)
        near = (xs >= x0 - width) & (xs < x1 + width) & (ys >= y0 - width) & (ys < y1 + width)
        far &= ~near
    return far


def outputs_under(root: Path) -> list[Path]:
    """Restored photos under an output folder (not the batch report and its thumbnails)."""
    if not root.exists():
        return []
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and "(restored" in p.name and " thumbnails" not in str(p.parent)
    )


_indexed: dict[tuple[str, ...], SimpleNamespace] = {}

# The parts of ../shared/data/faces the end-to-end tests share: old and group photos, the
# edge cases (EXIF rotation, PNG named .jpg, no face), and three people with several photos.
LIBRARY_PARTS = [
    "old_photos", "groups", "edge_cases", "identities/obama", "identities/biden", "identities/john_salley",
]


def indexed_library(parts: list[str]) -> SimpleNamespace:
    """Copies of these parts of ../shared/data/faces, indexed with dlib once per test
    process and shared by the test modules that ask for the same parts (each test writes
    into its own output folder and batch). Fields: root, lib, home, photos, before."""
    key = tuple(parts)
    if key not in _indexed:
        require_faces()
        require_dlib()
        root = Path(tempfile.mkdtemp(prefix="refldm-restore-tests-"))
        atexit.register(shutil.rmtree, root, True)
        lib = copy_photos(root / "Pictures", parts)
        home = root / "home"
        r = cli(home, "index", lib)
        assert r.rc == 0, r.err
        photos = sorted(p for p in lib.rglob("*") if p.is_file())
        _indexed[key] = SimpleNamespace(root=root, lib=lib, home=home, photos=photos, before=sha256_tree(lib))
    return _indexed[key]


_golden_home: list[Path] = []


def golden_models_dir() -> Path:
    """A models folder holding the tiny golden ReF-LDM (64 px crops) as "refldm", imported
    with `models import` once per test process."""
    require_golden()
    if not _golden_home:
        home = Path(tempfile.mkdtemp(prefix="refldm-golden-home-"))
        atexit.register(shutil.rmtree, home, True)
        r = cli(home, "models", "import", "--refldm", GOLDEN / "refldm.ckpt", "--vqgan", GOLDEN / "vqgan.ckpt",
                "--config", GOLDEN / "config.yaml", "--name", "refldm")
        assert r.rc == 0, r.err
        _golden_home.append(home)
    return _golden_home[0] / "models"


def install_golden_model(home: Path) -> None:
    """The golden model as the default model of another home (a copy of the store entry)."""
    target = home / "models" / "refldm"
    if not (target / "manifest.json").is_file():
        shutil.copytree(golden_models_dir() / "refldm", target)


