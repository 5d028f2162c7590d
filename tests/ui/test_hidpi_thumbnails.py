"""Grid thumbnails on a HiDPI screen: a photo fills the same logical box at any scale, and
a 2x screen gets pictures with twice the pixels (from a bigger core thumbnail, cached apart
from the 1x one)."""

from __future__ import annotations

from PIL import Image

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def _pictures(qtbot, tmp_path, dpr: float) -> dict[str, object]:
    from refldm_desktop.ui.models.photos import THUMB
    from refldm_desktop.ui.thumbnails import ThumbnailCache
    from refldm_desktop.ui.views.photo_grid import THUMB_SIZE

    files = {"big": tmp_path / "big.jpg", "small": tmp_path / "small.jpg", "wide": tmp_path / "wide.jpg"}
    if not files["big"].exists():
        Image.new("RGB", (1200, 900), (200, 120, 40)).save(files["big"])
        Image.new("RGB", (150, 150), (40, 120, 200)).save(files["small"])
        Image.new("RGB", (200, 100), (90, 200, 90)).save(files["wide"])
    names = list(files)
    cache = ThumbnailCache(None, display=THUMB_SIZE, device_pixel_ratio=dpr,
                           source=lambda key: files[names[key[1]]])
    size = cache.source_size(THUMB)
    keys = {name: ("photo", i, size) for i, name in enumerate(names)}
    for key in keys.values():
        cache.get(key)
    qtbot.waitUntil(lambda: all(cache.cached(k) is not None for k in keys.values()), timeout=30_000)
    out = {name: cache.cached(k) for name, k in keys.items()}
    cache.close()
    return out


def test_thumbnails_fill_the_same_logical_box_at_scale_1_and_2(qtbot, tmp_path):
    one, two = _pictures(qtbot, tmp_path, 1.0), _pictures(qtbot, tmp_path, 2.0)
    for name in one:
        assert two[name].deviceIndependentSize().toSize() == one[name].deviceIndependentSize().toSize(), name
    # A big photo fills the box, with twice the pixels each way on the 2x screen: sharp.
    assert one["big"].deviceIndependentSize().toSize().width() == 160
    assert two["big"].width() == 2 * one["big"].width()
    assert two["big"].devicePixelRatio() == 2.0
    # A small one is shown as big as at scale 1 (not at half its size).
    assert one["small"].deviceIndependentSize().toSize().height() == 148


def test_the_1x_core_thumbnail_size_is_unchanged_and_2x_asks_for_a_bigger_one(qtbot):
    from refldm_desktop.ui.models.photos import THUMB
    from refldm_desktop.ui.thumbnails import ThumbnailCache
    from refldm_desktop.ui.views.photo_grid import THUMB_SIZE

    sizes = {dpr: ThumbnailCache(None, display=THUMB_SIZE, device_pixel_ratio=dpr).source_size(THUMB)
             for dpr in (1.0, 1.25, 2.0, 3.0)}
    assert sizes[1.0] == sizes[1.25] == THUMB  # the thumbnails already cached stay in use
    assert sizes[2.0] >= 2 * THUMB_SIZE[0] and sizes[3.0] >= 3 * THUMB_SIZE[0]
