"""Core calls off the GUI thread, with their results back on it.

Like Anki's CollectionOp/QueryOp: a caller hands over a plain function and what to do with
its result or its error; the function runs on a worker thread, the callbacks run on the GUI
thread. Quick calls (queries, the user's edits) share one worker in order, so an edit and the
refresh after it never race. Long work (indexing, measuring the device) gets its own thread,
reports progress and can be cancelled, so it never holds up the quick lane.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)

# What PySide says when a callback touches a Qt object that has been deleted.
_GONE = ("already deleted", "has been deleted")

Success = Callable[[Any], None]
Failure = Callable[[BaseException, str], None]


@dataclass
class Task:
    """One piece of background work. `progress()` and `cancelled()` are for the worker side."""

    id: int
    label: str
    long: bool
    on_success: Success | None = None
    on_failure: Failure | None = None
    done: int = 0
    total: int = 0
    message: str = ""
    stage: str = ""  # the core's Progress.stage ("download" counts bytes)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _runner: "TaskRunner | None" = None

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, *args: Any) -> None:
        """Accepts the core's Progress value (stage, done, total, message) or the indexer's
        (done, total, path) callback arguments."""
        if len(args) == 1 and hasattr(args[0], "done"):
            p = args[0]
            self.done, self.total = int(p.done), int(p.total or 0)
            self.stage = str(getattr(p, "stage", "") or "")
            self.message = str(getattr(p, "message", "") or self.stage)
        else:
            done, total = args[0], args[1]
            self.done, self.total = int(done), int(total or 0)
            self.message = str(args[2].name) if len(args) > 2 and args[2] is not None else ""
        if self._runner is not None:
            self._runner._progressed.emit(self)


def describe(exc: BaseException) -> str:
    """One readable line for an error: the user-facing message of the core's errors, the
    type and message of anything unexpected."""
    from refldm_desktop.core.changes import LibraryError

    known: tuple[type[BaseException], ...] = (LibraryError,)
    try:
        from refldm_desktop.errors import RefldmError

        known += (RefldmError,)
    except ImportError:  # lands with the safety engineer's work
        pass
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, known) and text:
        from refldm_desktop.ui.advice import for_app

        return for_app(text)
    return f"unexpected error ({type(exc).__name__}): {text}" if text else f"unexpected error ({type(exc).__name__})"


class TaskRunner(QObject):
    """Runs tasks; tells the window when long tasks start, progress and end."""

    started = Signal(object)  # Task (long tasks only)
    progressed = Signal(object)  # Task
    finished = Signal(object)  # Task (long tasks only)
    failed = Signal(object, str, str)  # Task, one line, details; when no on_failure was given

    _progressed = Signal(object)
    _done = Signal(object, object, object, str)  # task, result, error, traceback

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._quick: "queue.Queue[tuple[Task, Callable[[], Any]] | None]" = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._active: dict[int, Task] = {}
        self._closed = False
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._progressed.connect(self.progressed, Qt.ConnectionType.QueuedConnection)
        quick = threading.Thread(target=self._quick_loop, name="refldm-ui-ops", daemon=True)
        quick.start()
        self._quick_thread = quick

    # -- the GUI side --------------------------------------------------------------------

    def run(
        self,
        fn: Callable[[], Any],
        on_success: Success | None = None,
        on_failure: Failure | None = None,
        *,
        label: str = "",
    ) -> Task:
        """A quick call on the shared worker, in submission order."""
        task = Task(next(self._ids), label, False, on_success, on_failure, _runner=self)
        self._active[task.id] = task
        self._quick.put((task, fn))
        return task

    def run_long(
        self,
        label: str,
        fn: Callable[[Task], Any],
        on_success: Success | None = None,
        on_failure: Failure | None = None,
    ) -> Task:
        """Long work on its own thread; `fn(task)` may call task.progress(...) and should
        stop early when task.cancelled()."""
        task = Task(next(self._ids), label, True, on_success, on_failure, _runner=self)
        self._active[task.id] = task
        t = threading.Thread(target=self._call, args=(task, lambda: fn(task)), name=f"refldm-ui-{task.id}", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        self.started.emit(task)
        t.start()
        return task

    def active(self) -> list[Task]:
        return list(self._active.values())

    def busy(self) -> bool:
        return bool(self._active)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel long tasks and wait a while for the workers (the window is closing)."""
        self._closed = True
        for task in self._active.values():
            task.cancel()
        self._quick.put(None)
        self._quick_thread.join(timeout)
        for t in self._threads:
            t.join(timeout)

    @Slot(object, object, object, str)
    def _deliver(self, task: Task, result: Any, error: BaseException | None, details: str) -> None:
        self._active.pop(task.id, None)
        if self._closed:
            return
        try:
            if error is None:
                if task.on_success is not None:
                    task.on_success(result)
            elif task.on_failure is not None:
                task.on_failure(error, details)
            else:
                line = describe(error)
                self.failed.emit(task, f"{task.label}: {line}" if task.label else line, details)
        except RuntimeError as exc:
            # The view or model that asked was closed while its work ran: nobody is left to
            # tell, and its Qt side is gone (any other error still reaches the user).
            if not any(words in str(exc) for words in _GONE):
                raise
            log.debug("%s: its receiver was closed before the result came: %s", task.label or "task", exc)
        finally:
            if task.long:
                self.finished.emit(task)

    # -- the worker side -----------------------------------------------------------------

    def _quick_loop(self) -> None:
        while True:
            item = self._quick.get()
            if item is None:
                return
            self._call(*item)

    def _call(self, task: Task, fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except BaseException as exc:  # every failure goes back to the GUI thread, never lost
            self._done.emit(task, None, exc, traceback.format_exc())
        else:
            self._done.emit(task, result, None, "")
