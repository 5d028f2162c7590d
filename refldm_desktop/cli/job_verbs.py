"""Job and version verbs: list, cancel, resume and run queued jobs; list restored versions."""

from __future__ import annotations

import argparse
import json
import sys

from refldm_desktop.cli import library_verbs


def register(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser(
        "jobs",
        help="list, cancel, resume or run queued restorations",
        description="Restorations wait in a queue kept in the library's database; they survive "
        "a restart and continue where they stopped.",
    )
    jsub = jobs.add_subparsers(dest="jobs_verb", metavar="ACTION", required=True)
    p = jsub.add_parser("list", help="list queued, running and failed jobs")
    p.add_argument("--all", action="store_true", help="include done and cancelled jobs")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=cmd_jobs_list)
    p = jsub.add_parser("cancel", help="cancel jobs (a running one stops at its next check)")
    p.add_argument("ids", type=int, nargs="+", metavar="ID")
    p.set_defaults(func=cmd_jobs_cancel)
    p = jsub.add_parser("resume", help="queue failed or cancelled jobs again")
    p.add_argument("ids", type=int, nargs="*", metavar="ID", help="default: every failed or cancelled job")
    p.set_defaults(func=cmd_jobs_resume)
    p = jsub.add_parser(
        "run",
        help="work through the queue now, in the foreground",
        description="Run queued jobs until none is left. Ctrl-C puts the running job back in "
        "the queue; nothing half-written is left.",
    )
    p.set_defaults(func=cmd_jobs_run)

    versions = sub.add_parser("versions", help="list restored versions of photos")
    vsub = versions.add_subparsers(dest="versions_verb", metavar="ACTION", required=True)
    p = vsub.add_parser("list", help="list restored versions (of one photo, or all)")
    p.add_argument("photo", nargs="?", metavar="PHOTO", help="a photo's id or path")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=cmd_versions_list)
    p = vsub.add_parser("keep", help="record that you keep a restored version (its file stays)")
    p.add_argument("version_id", type=int, metavar="ID")
    p.set_defaults(func=cmd_versions_keep)
    p = vsub.add_parser("discard", help="remove a restored version's file (the original is never touched)")
    p.add_argument("version_id", type=int, metavar="ID")
    p.set_defaults(func=cmd_versions_discard)


def _table(rows: list[list[str]]) -> None:
    library_verbs._table(rows)


def _progress(j) -> str:
    parts = []
    if j.faces_total is not None:
        parts.append(f"{j.faces_done}/{j.faces_total} faces")
    if j.steps:
        parts.append(f"step {j.step or 0}/{j.steps}")
    return ", ".join(parts) or "-"


def cmd_jobs_list(args: argparse.Namespace) -> int:
    jobs = library_verbs._run(args, lambda lib: lib.jobs.list(all=args.all))
    if args.json:
        print(json.dumps([j.to_json() for j in jobs], indent=1))
        return 0
    if not jobs:
        print("no jobs" if args.all else "no queued, running or failed jobs (--all shows finished ones)")
        return 0
    rows = [["ID", "STATE", "KIND", "PROGRESS", "PHOTO", "DETAILS"]]
    for j in jobs:
        state = j.state + (" (stopping)" if j.cancel_requested else "")
        details = j.error or (str(j.output) if j.output else "") or j.message or ""
        if j.note:
            details = (details + "; " if details else "") + j.note.splitlines()[-1]
        rows.append([str(j.id), state, j.kind, _progress(j), str(j.photo or "-"), details])
    _table(rows)
    return 0


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    r = library_verbs._run(args, lambda lib: lib.jobs.cancel(args.ids))
    if r.cancelled:
        print(f"cancelled {', '.join(map(str, r.cancelled))}")
    if r.stopping:
        print(f"stopping {', '.join(map(str, r.stopping))} (running; stops at the next check)")
    for job_id, state in r.unchanged:
        print(f"job {job_id} is already {state}")
    return 0


def cmd_jobs_resume(args: argparse.Namespace) -> int:
    r = library_verbs._run(args, lambda lib: lib.jobs.resume(args.ids or None))
    if r.requeued:
        print(f"queued again: {', '.join(map(str, r.requeued))}; run `refldm-desktop jobs run` to do them now")
    elif not args.ids:
        print("no failed or cancelled jobs")
    for job_id, state in r.unchanged:
        print(f"job {job_id} is {state}; only failed or cancelled jobs are resumed")
    return 0


def _print_event(event) -> None:
    from refldm_desktop.db.models import JobState

    if event.state == JobState.RUNNING and not event.note:
        return  # progress is for the GUI; a terminal gets notes and outcomes
    text = event.error or event.note or event.message or ""
    print(f"job {event.job_id}: {event.state}" + (f": {text}" if text else ""), file=sys.stderr)


def handler_registry():
    """The handlers `jobs run` uses (a seam tests replace with their own)."""
    from refldm_desktop.jobs.runner import default_handlers

    return default_handlers()


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from refldm_desktop.db.models import JobState

    def verb(lib):
        handlers = handler_registry()
        summary = lib.jobs.run(handlers, on_event=_print_event)
        handled = set(handlers.kinds())
        waiting = [j for j in lib.jobs.list(states=[JobState.QUEUED]) if j.kind not in handled]
        return summary, waiting

    try:
        summary, waiting = library_verbs._run(args, verb)
    except KeyboardInterrupt:
        print(
            "\nrefldm-desktop: interrupted; the running job is queued again and finished jobs are "
            "saved; run `refldm-desktop jobs run` to continue",
            file=sys.stderr,
        )
        return 130
    print(
        f"{len(summary.done)} done, {len(summary.failed)} failed, {len(summary.cancelled)} cancelled"
        + (f"; {len(summary.recovered)} interrupted jobs resumed" if summary.recovered else "")
    )
    if waiting:
        kinds = ", ".join(sorted({j.kind for j in waiting}))
        print(f"{len(waiting)} queued jobs need a handler this version does not have ({kinds})", file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_versions_list(args: argparse.Namespace) -> int:
    versions = library_verbs._run(args, lambda lib: lib.jobs.versions(args.photo))
    if args.json:
        print(json.dumps([v.to_json() for v in versions], indent=1))
        return 0
    if not versions:
        print("no restored versions")
        return 0
    from refldm_desktop.restore.identity import summarize

    rows = [["ID", "CREATED", "RESTORER", "MODEL", "SEED", "FACES", "IDENTITY", "ORIGINAL", "OUTPUT"]]
    from refldm_desktop.core.outcomes import FaceOutcome

    for v in versions:
        restored = sum(1 for f in v.face_status if FaceOutcome.from_json(f).restored)
        rows.append([
            str(v.id), v.created_at.strftime("%Y-%m-%d %H:%M"), v.restorer, v.model or "-",
            "-" if v.seed is None else str(v.seed), f"{restored}/{len(v.face_status)}",
            summarize(list(v.identity.values())), str(v.original),
            str(v.output) + (" (file deleted)" if v.output_lost else ""),
        ])
    _table(rows)
    return 0


def cmd_versions_keep(args: argparse.Namespace) -> int:
    v = library_verbs._run(args, lambda lib: lib.jobs.keep_version(args.version_id))
    print(f"version {v.id} kept: {v.output}")
    return 0


def cmd_versions_discard(args: argparse.Namespace) -> int:
    r = library_verbs._run(args, lambda lib: lib.jobs.discard_version(args.version_id))
    if r.file_removed:
        print(f"version {r.version_id} discarded: removed {r.output}")
    else:
        print(f"version {r.version_id} discarded; {r.output} was not removed (it is gone or was replaced)")
    return 0
