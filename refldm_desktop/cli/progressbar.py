"""The core's Progress values drawn as progress bars on stderr (only on a terminal, unless
forced): one bar per stage, and per file while downloading."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from refldm_desktop.core.progress import Progress

if TYPE_CHECKING:
    from tqdm import tqdm

_UNITS = {"index": "photo", "rescore": "photo", "plan": "face", "download": "B"}


class ProgressBar:
    """Call it with Progress values; close() when the verb returns."""

    def __init__(self, disable: bool | None = None) -> None:
        self._disable = disable  # None: draw on a terminal only
        self._bar: tqdm[Any] | None = None
        self._key: tuple[str, str] | None = None

    def __call__(self, p: Progress) -> None:
        from tqdm import tqdm

        key = (p.stage, p.message if p.stage == "download" else "")
        bar = self._bar
        if bar is None or key != self._key or p.done == 0:
            # A new stage (finding faces, then rescoring older faces) starts its own bar.
            self.close()
            unit = _UNITS.get(p.stage, "step")
            bar = self._bar = tqdm(
                total=p.total, unit=unit, unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000,
                desc=p.message if p.stage == "download" else p.stage, file=sys.stderr,
                disable=self._disable, leave=False,
            )
            self._key = key
        bar.total = p.total
        bar.n = p.done
        if p.message and p.stage != "download":
            bar.set_postfix_str(p.message[-30:], refresh=False)
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
