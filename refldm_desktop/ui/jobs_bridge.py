"""The core's job runner, seen from Qt: its events become a signal on the GUI thread.

The runner is plain threads (refldm_desktop.jobs); this only starts it, forwards what it
reports and passes the user's start/cancel/retry on. The Jobs panel builds on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from PySide6.QtCore import QObject, Qt, Signal

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library
    from refldm_desktop.jobs.runner import Runner


class JobsBridge(QObject):
    # A JobEvent, on the GUI thread. The name hides QObject.event() from Python only: Qt still
    # delivers events to the C++ handler (checked), so the stubs' complaint is moot here.
    event = Signal(object)  # type: ignore[assignment]

    _from_runner = Signal(object)

    def __init__(self, library: "Library", parent: QObject | None = None, *, autostart: bool = True) -> None:
        super().__init__(parent)
        self._library = library
        self._runner: Runner | None = None
        self._autostart = autostart
        self._from_runner.connect(self.event, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        return self._runner is not None and self._runner.running

    @property
    def current_job_id(self) -> int | None:
        """The job being worked on now, or None."""
        return self._runner.current_job_id if self._runner is not None else None

    def start(self) -> None:
        """Run queued jobs in the background from now on (until the window closes)."""
        if self._runner is None:
            self._runner = self._library.jobs.runner(on_event=self._from_runner.emit, poll_interval=0.5)
        self._runner.start()

    def queued(self) -> None:
        """New jobs are in the queue: start the runner or wake it."""
        if self._runner is None or not self._runner.running:
            if self._autostart:
                self.start()
            return
        self._runner.wake()

    def cancel(self, job_ids: Sequence[int]) -> None:
        for job_id in job_ids:
            if self._runner is not None:
                self._runner.cancel(job_id)
            else:
                self._library.jobs.cancel([job_id])

    def retry(self, job_ids: Sequence[int] | None = None) -> None:
        self._library.jobs.resume(job_ids)
        self.queued()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the runner; a job in the middle goes back to the queue for next time."""
        if self._runner is not None:
            self._runner.stop(wait=True, timeout=timeout)
