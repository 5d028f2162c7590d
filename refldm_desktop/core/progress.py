"""One shape of progress and one cancellation token for every long verb: indexing,
reclustering, planning a batch, installing or importing a model, restoring.

A verb takes `progress: Callable[[Progress], None] | None` and `cancel: CancelToken | None`.
Progress is a plain callback (the GUI turns it into a signal); it may be called on any
thread. The token is set from anywhere (a Cancel button, Ctrl-C, another thread) and the
verb looks at it between units of work.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from refldm_desktop.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    stage: str  # what is being done: "index", "rescore", "cluster", "download", "import", "restore", ...
    done: int
    total: int | None  # None while unknown
    message: str = ""  # the item at hand (a file name), or a short sentence

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)


ProgressFn = Callable[[Progress], None]


class CancelToken:
    """Set once, seen by every verb that was handed it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True as soon as it is cancelled."""
        return self._event.wait(timeout)

    def __call__(self) -> bool:
        # Verbs that took a `cancel()` callable before the token existed can take a token.
        return self.cancelled


Cancel = CancelToken | Callable[[], bool]


def is_cancelled(cancel: Cancel | None) -> bool:
    """For verbs that accept a token or a plain callable returning True to stop."""
    if cancel is None:
        return False
    if isinstance(cancel, CancelToken):
        return cancel.cancelled
    return bool(cancel())


def report(progress: ProgressFn | None, stage: str, done: int, total: int | None, message: str = "") -> None:
    if progress is not None:
        progress(Progress(stage, done, total, message))
