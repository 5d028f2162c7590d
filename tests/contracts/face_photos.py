"""Where the shared real photos are, and how tests load them (upright RGB, like the app).

The app's own loader (library.imageio.load_rgb) is written in parallel; until then tests
use Pillow directly with the same rules: EXIF orientation applied, alpha over white.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
FACES = REPO.parent / "shared" / "data" / "faces"


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))
