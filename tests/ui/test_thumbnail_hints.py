"""The thumbnail cache's path hints: the grid hints every row it paints, so scrolling
through a large library must not keep them all, and a hint for a tile in view still works."""

from __future__ import annotations

from PIL import Image

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def test_path_hints_stay_bounded_while_the_newest_still_work(qtbot, tmp_path):
    from refldm_desktop.ui.app import make_qapp
    from refldm_desktop.ui.thumbnails import ThumbnailCache

    make_qapp()
    pic = tmp_path / "shown.jpg"
    Image.new("RGB", (80, 60), (200, 40, 40)).save(pic)
    cache = ThumbnailCache(None, capacity=10, max_pending=5)  # a library that makes no thumbnails
    for pid in range(100_000):  # a long scroll: every row painted hints its photo's path
        cache.hint_path(("photo", pid, 64), tmp_path / f"gone{pid}.jpg")
    shown = ("photo", 100_000, 64)
    cache.hint_path(shown, pic)
    assert len(cache._paths) <= 15  # the cache's pictures and its queue, not every row seen

    with qtbot.waitSignal(cache.ready, timeout=30_000, check_params_cb=lambda key: key == shown):
        assert cache.get(shown) is None  # asked of the worker
    assert cache.cached(shown) is not None
    cache.close()
