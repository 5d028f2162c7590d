"""What every part of the window shares, handed to each page and dialog (no globals).

`ctx.library` is the core; `ctx.tasks` runs its calls off the GUI thread; `ctx.jobs` is the
job runner's bridge; `ctx.changed` tells views what changed, so they refresh themselves
instead of polling the database. The core announces its changes through
`Library.subscribe` when it has it; a view that changes something through a verb without
events calls `ctx.notify(...)` after it.
"""

from __future__ import annotations

import gc
import logging
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from refldm_desktop.ui.jobs_bridge import JobsBridge
from refldm_desktop.ui.tasks import TaskRunner

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library
    from refldm_desktop.ui.job_follow import JobFollower
    from refldm_desktop.ui.thumbnails import ThumbnailCache


AFTER_PAINT_MS = 1500  # at the latest, work waiting for the first paint starts then
IDLE_MS = 1500  # no scrolling for this long: the app is idle


# gc.freeze is global to the process: what exists stays frozen while any context is open.
_open_contexts = 0


def _opened() -> None:
    global _open_contexts
    _open_contexts += 1
    gc.freeze()


def _closed() -> None:
    global _open_contexts
    _open_contexts = max(0, _open_contexts - 1)
    if not _open_contexts:
        gc.unfreeze()


class UiChange(NamedTuple):
    """The shape of the core's Change (areas, ids per area, external), for changes the
    app announces itself. (A NamedTuple: see models.photo_source.PhotoFilter.)"""

    areas: frozenset[str]
    ids: Mapping[str, tuple[int, ...]] = MappingProxyType({})
    external: bool = False


class AppContext(QObject):
    changed = Signal(object)  # a core Change or a UiChange; `"people" in change.areas`
    status = Signal(str)  # a short message for the status bar
    navigate = Signal(str, object)  # page key, argument (a folder path, a person id...)

    _from_core = Signal(object)

    def __init__(self, library: "Library", parent: QObject | None = None, *, start_jobs: bool = True) -> None:
        super().__init__(parent)
        # What exists now (modules, Qt's types, the library) lives as long as the app: the
        # garbage collector leaves it alone from here on. A full collection over it took
        # 50-150 ms of the GUI thread: once while the window was being made, before its
        # first paint, and now and then while the grid scrolled. After the first paint,
        # what the window made joins it; closing the app gives it all back.
        _opened()
        self._frozen = True
        self.library = library
        self.tasks = TaskRunner(self)
        self.jobs = JobsBridge(library, self, autostart=start_jobs)
        self._from_core.connect(self.changed, Qt.ConnectionType.QueuedConnection)
        subscribe = getattr(library, "subscribe", None)
        self._unsubscribe = subscribe(self._from_core.emit) if callable(subscribe) else None
        self._closers: list = []
        self.people_thumbs: ThumbnailCache | None = None  # made by the first people page
        self._running_job: JobFollower | None = None
        self._after_paint: list | None = []  # None once the window has painted
        self._closing = False
        self._when_idle: list = []
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(IDLE_MS)
        self._idle.timeout.connect(self._run_idle)
        QTimer.singleShot(AFTER_PAINT_MS, self, self.first_paint_done)  # a window with no grid painting

    @property
    def running_job(self) -> "JobFollower":
        """The one follower of the running job, for every view that shows its progress."""
        if self._running_job is None:
            from refldm_desktop.ui.job_follow import JobFollower

            self._running_job = JobFollower(self, self)
        return self._running_job

    def after_first_paint(self, fn) -> None:
        """Call `fn()` on the GUI thread once the window's first page has painted. Work the
        first paint does not need (the sidebar's folders, the device, the undo state) waits
        for it, instead of taking the worker and the GIL from it."""
        if self._closing:
            return
        if self._after_paint is None:
            fn()
        else:
            self._after_paint.append(fn)

    def when_idle(self, fn) -> None:
        """Call `fn()` on the GUI thread once the window has painted and nobody has scrolled
        for IDLE_MS: for work nobody waits for (the device label), which would otherwise take
        the cores and the GIL from a scrolling grid. Asked twice before it runs, it runs once."""
        if self._closing:
            return
        if fn not in self._when_idle:
            self._when_idle.append(fn)
        if self._after_paint is None and not self._idle.isActive():
            self._idle.start()

    def user_active(self, *_args: object) -> None:
        """The user is scrolling: work waiting for the app to be idle waits longer."""
        if self._when_idle and self._after_paint is None:  # idle work never goes before the first paint
            self._idle.start()

    def _run_idle(self) -> None:
        waiting, self._when_idle = self._when_idle, []
        for fn in waiting:
            if not self._closing:
                fn()

    def first_paint_done(self) -> None:
        """The window has painted (called from inside a paint): what waited for it runs
        once this paint is on screen."""
        waiting, self._after_paint = self._after_paint, None
        if waiting is None or self._closing:  # a context closed before it painted stays closed
            return
        gc.freeze()  # the window, too, lives as long as the app (see __init__)
        if self._when_idle:
            self._idle.start()
        if waiting:
            QTimer.singleShot(0, self, lambda: self._run_after_paint(waiting))

    def _run_after_paint(self, waiting: list) -> None:
        # Each on its own: one that fails must not keep the rest (turning the garbage
        # collector back on among them) from running.
        for fn in waiting:
            if self._closing:
                return
            try:
                fn()
            except Exception:
                log.exception("after the first paint: %r failed", fn)

    def on_close(self, fn) -> None:
        """Call `fn()` when the app closes, before the library does (stop a worker)."""
        self._closers.append(fn)

    @property
    def core_events(self) -> bool:
        """Whether the core announces its own changes (else views rely on notify())."""
        return self._unsubscribe is not None

    def notify(self, *areas: str, ids: Mapping[str, Iterable[int]] | None = None) -> None:
        """Announce a change the app made, when the core does not announce it itself."""
        if self.core_events:
            return
        self.changed.emit(UiChange(frozenset(areas), {k: tuple(v) for k, v in (ids or {}).items()}))

    def call(self, fn, on_success=None, *areas: str, label: str = "") -> Any:
        """Run a core verb on the worker; afterwards announce `areas` and call on_success."""

        def done(result: Any) -> None:
            if areas:
                self.notify(*areas)
            if on_success is not None:
                on_success(result)

        return self.tasks.run(fn, done, label=label)

    def close(self) -> None:
        """Stop background work, then the library; in this order, so nothing writes to a
        closed database. Closing again does nothing."""
        if self._closing:
            return
        self._closing = True  # nothing waiting for the first paint starts any more
        self._idle.stop()
        if self._frozen:
            _closed()  # what the app made can be collected again (tests open many windows)
            self._frozen = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.jobs.stop()
        self.tasks.close()
        for fn in reversed(self._closers):
            fn()
        self._closers.clear()
        self.library.close()
