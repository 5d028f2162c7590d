"""The status bar: what runs in the background (with progress), the restore job running
now (mainwindow.jobs_status) and the device in use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from refldm_desktop.ui.advice import for_app
from refldm_desktop.ui.naming import named

if TYPE_CHECKING:
    from refldm_desktop.ui.context import AppContext
    from refldm_desktop.ui.mainwindow.jobs_status import JobsStatus
    from refldm_desktop.ui.tasks import Task


class StatusBar(QStatusBar):
    def __init__(self, ctx: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("statusBar")
        self.setAccessibleName("Status bar")
        self.task_label = named(QLabel(), "taskLabel", "Background work")
        self.progress = named(QProgressBar(), "taskProgress", "Background progress")
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(False)
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setObjectName("cancelTask")
        self.cancel.setAccessibleName("Cancel background work")
        self.cancel.clicked.connect(self._cancel)
        self.device = QLabel("Looking up the device…")
        self.device.setObjectName("deviceLabel")
        self.device.setAccessibleName("Device used for restoring")
        # The device is looked up once a session (a failed look-up too): asked again here,
        # after installing a driver or plugging in a GPU.
        self.probe_again = QAction("Look Up the Device Again", self)
        self.probe_again.setObjectName("probeDeviceAction")
        self.probe_again.triggered.connect(lambda _checked=False: self.measure_device(probe_again=True))
        self.device.addAction(self.probe_again)
        self.device.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.device.setToolTip("Right-click to look up the device again")
        self._work_widgets = (self.task_label, self.progress, self.cancel)
        for w in self._work_widgets:
            self.addPermanentWidget(w)
            w.hide()
        self.addPermanentWidget(self.device)
        # The running job's progress is made after the first paint: its models and the job
        # runner's types cost the first paint about 10 ms (CPU) for a line that is empty
        # unless a restore runs. It follows the running job from the job's next event on.
        self.jobs: JobsStatus | None = None
        ctx.after_first_paint(self._add_jobs_status)
        ctx.tasks.started.connect(self._update)
        ctx.tasks.progressed.connect(self._update)
        ctx.tasks.finished.connect(self._update)
        # Any line may carry the core's advice (a failed restore's error): said the app's way.
        ctx.status.connect(lambda text: self.showMessage(for_app(text), 8000))
        # A batch makes a version per photo: read the speed again once per burst.
        self._remeasure = QTimer(self)
        self._remeasure.setSingleShot(True)
        self._remeasure.setInterval(2000)
        self._remeasure.timeout.connect(lambda: ctx.when_idle(self.measure_device))
        ctx.changed.connect(self._maybe_remeasure)
        # The label can wait: its probe takes a core for seconds, its speed reads every job.
        ctx.when_idle(self.measure_device)

    def _add_jobs_status(self) -> None:
        from refldm_desktop.ui.mainwindow.jobs_status import JobsStatus

        self.jobs = JobsStatus(self.ctx)
        # After the background work's label, bar and button; before the device.
        self.insertPermanentWidget(len(self._work_widgets), self.jobs)

    def measure_device(self, probe_again: bool = False) -> None:
        from refldm_desktop.ui.device import describe

        lib = self.ctx.library
        if probe_again:
            self.set_device("Looking up the device…")
        # No label: quiet, not shown as background work.
        # Cancelled when the window closes: the probe's child is ended, not waited for.
        self.ctx.tasks.run_long("", lambda task: describe(lib, probe_again, task.cancelled), self.set_device,
                                lambda *_: None)

    def _maybe_remeasure(self, change) -> None:
        if "versions" in change.areas and not self._remeasure.isActive():
            self._remeasure.start()

    def _long_tasks(self) -> list["Task"]:
        return [t for t in self.ctx.tasks.active() if t.long and t.label]

    def _update(self, _task: "Task | None" = None) -> None:
        tasks = self._long_tasks()
        if not tasks:
            for w in (self.task_label, self.progress, self.cancel):
                w.hide()
            return
        task = tasks[0]
        more = f" (+{len(tasks) - 1} more)" if len(tasks) > 1 else ""
        if task.total and task.stage == "download":
            detail = f": {task.done / 2**20:,.0f} of {task.total / 2**20:,.0f} MiB"
        else:
            detail = f": {task.done:,} of {task.total:,}" if task.total else ""
        self.task_label.setText(f"{task.label}{detail}{more}")
        self.task_label.setToolTip(task.message)
        if task.total:
            # Per mille: a download counts bytes, past what a progress bar's int holds.
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(task.done, task.total) / task.total))
        else:
            self.progress.setRange(0, 0)  # busy
        for w in (self.task_label, self.progress, self.cancel):
            w.show()

    def _cancel(self) -> None:
        for task in self._long_tasks():
            task.cancel()

    def set_device(self, text: str) -> None:
        self.device.setText(text)
        self.device.setAccessibleDescription(text)
