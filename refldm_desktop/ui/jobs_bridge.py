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

    left_over_resumed = Signal()  # the user chose to run the jobs an earlier session left

    _from_runner = Signal(object)

    def __init__(self, library: "Library", parent: QObject | None = None, *, autostart: bool = True) -> None:
        super().__init__(parent)
        self._library = library
        self._autostart = autostart
        self._from_runner.connect(self.event, Qt.ConnectionType.QueuedConnection)
        # Made now (no thread yet, nothing read): it runs only the jobs this window hands
        # it, so jobs left from an earlier session wait until the user chooses Resume. While
        # it has nothing it may run it leaves the runner lock free: `jobs run` in a terminal
        # can finish those jobs meanwhile.
        self._runner: Runner = library.jobs.runner(on_event=self._from_runner.emit, poll_interval=0.5,
                                                   only_released=True)

    @property
    def running(self) -> bool:
        return self._runner.running

    @property
    def current_job_id(self) -> int | None:
        """The job being worked on now, or None."""
        return self._runner.current_job_id

    def left_over(self, job_id: int) -> bool:
        """Whether this job is one an earlier session left, waiting for the user's Resume."""
        return self._runner.held(job_id)

    def start(self) -> None:
        """Run the jobs handed over by queued() in the background from now on (until the
        window closes)."""
        self._runner.start()

    def queued(self, job_ids: Sequence[int]) -> None:
        """The user queued these jobs now: they may run; start the runner or wake it."""
        self._runner.release(job_ids)
        if not self._runner.running and self._autostart:
            self.start()

    def run_now(self, job_ids: Sequence[int]) -> None:
        """The user asked for these jobs (Retry): run them even where jobs do not start by
        themselves."""
        self._runner.release(job_ids)
        self.start()

    def resume_left_over(self) -> None:
        """The user chose Resume: every queued job runs, an earlier session's too."""
        self._runner.release_all()
        self.start()
        self.left_over_resumed.emit()

    def cancel(self, job_ids: Sequence[int]) -> None:
        for job_id in job_ids:
            if self._runner.running:
                self._runner.cancel(job_id)
            else:
                self._library.jobs.cancel([job_id])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the runner; a job in the middle goes back to the queue for next time."""
        self._runner.stop(wait=True, timeout=timeout)
