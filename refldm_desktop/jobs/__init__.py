"""The persistent job queue and its single GPU-owning worker (plain threads, no Qt).

- queue.JobQueue: jobs in the database (enqueue, claim, progress, complete with its Version
  in one transaction, fail, cancel, resume, recovery after a crash).
- runner.Runner: one worker that calls the handler registered for each job kind:
  `handler(ctx: JobContext) -> JobResult | None`.
- lock.RunnerLock: at most one runner per library, across processes.

The UI and CLI reach all of this through `Library.jobs` (core/jobs.py).
"""
