"""Restore verbs: `restore PHOTO...` and `batch PATH|--all`.

Both queue jobs in the library's persistent queue and then work through them in the
foreground, progress on stderr. Ctrl-C puts the running job back in the queue: `jobs run`
(or the same `batch` command) finishes the rest later, and nothing is done twice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from refldm_desktop.cli import device_arg, library_verbs
from refldm_desktop.defaults import (
    DEFAULT_CFG,
    DEFAULT_MODEL,
    DEFAULT_REFERENCES,
    DEFAULT_RESTORER,
    DEFAULT_STEPS,
    DEVICES,
    PRECISIONS,
    UPSCALE_CHOICES,
)
from refldm_desktop.words import agree, counted

if TYPE_CHECKING:
    from refldm_desktop.core.outcomes import PhotoOutcome


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("how to restore")
    # Defaults come from the settings (`refldm-desktop config`); a flag wins for one run.
    g.add_argument("--restorer", metavar="NAME",
                   help=f"{DEFAULT_RESTORER} (default) or passthrough (a diagnostic that changes nothing)")
    g.add_argument("--model", metavar="NAME", help=f"installed model to use (default: {DEFAULT_MODEL})")
    g.add_argument("--steps", type=int, metavar="N", help=f"denoising steps (default {DEFAULT_STEPS})")
    g.add_argument("--cfg", type=float, metavar="S", help=f"reference guidance scale (default {DEFAULT_CFG})")
    g.add_argument("--preview-steps", type=int, metavar="N",
                   help="first make a quick preview with N steps (its path is printed), then the full result")
    g.add_argument("--seed", type=int, metavar="N", help="fix the random noise (default: a new seed, recorded)")
    g.add_argument("--device", type=device_arg, metavar="DEV", help=f"{DEVICES} (default: the device setting, else auto)")
    g.add_argument("--precision", choices=PRECISIONS,
                   help="the model's arithmetic; auto: bf16 where a trial on this device found it faster "
                        "than fp32 and close to it (default: the precision setting, else auto)")
    g.add_argument("--upscale", type=int, choices=UPSCALE_CHOICES,
                   help="enlarge the whole photo first so small faces keep their detail (default 1)")
    g.add_argument("--references", type=int, metavar="K",
                   help=f"reference photos per face (default {DEFAULT_REFERENCES}, as ReF-LDM was trained)")
    g.add_argument("--no-refs-ok", action="store_true", default=None,
                   help="also restore faces without a person or without reference photos")
    g.add_argument("--identity-policy", choices=("flag", "keep-original"),
                   help="a restored face that no longer looks like its person: flag keeps it and "
                   "marks it (default), keep-original leaves the original face there")
    o = p.add_argument_group("where the new files go")
    o.add_argument("--output-dir", metavar="DIR",
                   help="folder for the restored files, mirroring the library's folders "
                   "(default: Restored in the app's home)")
    o.add_argument("--inside-library", action="store_true",
                   help="allow an output folder inside a library folder")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "restore",
        help="restore the faces in photos (as new files; originals are never changed)",
        description="Restore every face of the given photos that belongs to a known person, using "
        "that person's best other photos as references, and write each result as a new file. "
        "Photos not yet indexed are indexed first (those files alone). Ctrl-C stops; "
        "`refldm-desktop jobs run` finishes the rest.",
    )
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="a photo file (or a photo id)")
    _common(p)
    p.set_defaults(func=cmd_restore)

    b = sub.add_parser(
        "batch",
        help="restore the faces of a folder (or of the whole library) that need it",
        description="Find the faces that restoration can help (blurry, tiny, noisy, heavy JPEG, film "
        "grain, scratched, faded) and that belong to a person with good reference photos, restore "
        "their photos as new files, and write an HTML report of before/after faces and the "
        "references used. Every face left out is counted with the reason. Running the same "
        "command again finishes what remains; nothing is done twice.",
    )
    b.add_argument("path", nargs="?", metavar="PATH", help="a folder (indexed first) or a photo")
    b.add_argument("--all", action="store_true", help="every photo of the library")
    b.add_argument("--min-need", type=float, default=None, metavar="X",
                   help="restore faces whose restoration need is at least X (0..1; the default, "
                   "0.5, takes any face with one plain flaw)")
    b.add_argument("--min-quality", type=float, default=None, metavar="X",
                   help="deprecated: choose faces whose reference score is below X instead of by need")
    _common(b)
    b.set_defaults(func=cmd_batch)


def _settings(args: argparse.Namespace, lib):
    from refldm_desktop.core.restoring import RestoreSettings

    return RestoreSettings.from_settings(
        lib.settings,
        restorer=args.restorer,
        model=args.model,
        steps=args.steps,
        cfg=args.cfg,
        seed=args.seed,
        device=args.device,
        upscale=args.upscale,
        output_dir=Path(args.output_dir) if args.output_dir else None,
        no_refs_ok=args.no_refs_ok,
        inside_library=args.inside_library,
        references=args.references,
        identity_policy=args.identity_policy,
        preview_steps=args.preview_steps,
        precision=args.precision,
    )


class _Progress:
    """Progress on stderr: a bar on a terminal, one line per finished photo always."""

    def __init__(self, names: dict[int, str]) -> None:
        from tqdm import tqdm

        self.names = names
        self.bar = tqdm(total=len(names), unit="photo", file=sys.stderr, disable=None, leave=False)

    def _say(self, text: str) -> None:
        self.bar.write(text, file=sys.stderr)

    def __call__(self, e) -> None:
        from refldm_desktop.db.models import ENDED, JobState

        name = self.names.get(e.job_id, f"job {e.job_id}")
        if e.state == JobState.RUNNING:
            if e.preview:
                self._say(f"{name}: preview at {e.preview}")
            if e.note:
                self._say(f"{name}: {e.note}")
            if e.faces_total:
                face = min(e.faces_done or 0, e.faces_total)
                text = f"{name[-30:]}: {face}/{e.faces_total} faces"
                if e.steps:
                    text += f", step {e.step or 0}/{e.steps}"
                self.bar.set_postfix_str(text, refresh=True)
            return
        if e.state in ENDED:
            self.bar.update(1)
        text = e.error or e.message or ""
        self._say(f"{name}: {e.state}" + (f": {text}" if text else ""))

    def close(self) -> None:
        self.bar.close()


def _run(lib, batch_id: str):
    from refldm_desktop.cli import job_verbs

    jobs = lib.jobs.list(all=True, batch_id=batch_id)
    progress = _Progress({j.id: (j.photo.name if j.photo else f"job {j.id}") for j in jobs})
    try:
        return lib.jobs.run(job_verbs.handler_registry(), batch_id=batch_id, on_event=progress)
    finally:
        progress.close()


def _print_outcomes(outcomes: list[PhotoOutcome]) -> None:
    from refldm_desktop.db.models import JobState

    for o in outcomes:
        if o.output:
            print(f"{o.photo} -> {o.output} ({o.restored_count} of {counted(len(o.faces), 'face')} restored)")
        elif o.state == JobState.DONE:
            print(f"{o.photo}: nothing restored")
        else:
            print(f"{o.photo}: {o.state}" + (f": {o.error}" if o.error else ""))
        for f in o.faces:
            who = f"person {f.person_id}" if f.person_id is not None else "no person"
            face = "?" if f.face_id is None else f.face_id
            if not f.restored:
                print(f"  face {face} ({who}): {f.status_text}")
            elif f.identity and f.identity["verdict"] in ("drifted", "no_face"):
                print(f"  face {face} ({who}): restored, but {_identity_text(f.identity)}")


def _identity_text(identity: Mapping[str, Any]) -> str:
    from refldm_desktop.restore.identity import IdentityCheck

    return IdentityCheck.from_json(identity).describe()


_INTERRUPTED = (
    "\nrefldm-desktop: interrupted; finished photos are saved and the running one is queued "
    "again; run `refldm-desktop jobs run` to finish"
)


def cmd_restore(args: argparse.Namespace) -> int:
    from refldm_desktop.errors import LibraryError, RunnerBusy

    def verb(lib):
        settings = _settings(args, lib)
        ids = lib.restoring.photo_ids(args.photos)
        lib.restoring.check_restorer(settings)
        queued = lib.restoring.enqueue(ids, settings)
        try:
            summary = _run(lib, queued.batch_id)
        except LibraryError as exc:
            if not isinstance(exc.__cause__, RunnerBusy):
                raise
            # Left queued, a later `jobs run` would make a version nobody asked for any more.
            lib.jobs.queue.withdraw(queued.queued)
            raise LibraryError(f"{exc}; nothing was queued: wait for it to finish, then run this command again") from exc
        return summary, lib.restoring.outcomes(queued.batch_id)

    try:
        summary, outcomes = library_verbs._run(args, verb)
    except KeyboardInterrupt:
        print(_INTERRUPTED, file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps([o.to_json() for o in outcomes], indent=1))
    else:
        _print_outcomes(outcomes)
    return 1 if summary.failed else 0


def _plan_summary(plan) -> str:
    from refldm_desktop.core.restoring import NO_REFS_FLAG, LeftOut

    counts = plan.counts
    parts = [f"{n} {why}" for why, n in counts.items() if n]
    text = (
        f"{counted(len(plan.faces), 'face')} to restore in {counted(len(plan.photos), 'photo')} "
        f"({plan.considered} looked at" + (": " + ", ".join(parts) if parts else "") + ")"
    )
    if plan.without_refs:
        text += (
            f"\n{counted(plan.without_refs, 'face')} {agree(plan.without_refs, 'needs', 'need')} restoring but "
            f"{agree(plan.without_refs, 'has', 'have')} no references "
            f"({counts[LeftOut.NO_REFERENCES]} of people without good other photos, "
            f"{counts[LeftOut.NOT_A_PERSON]} of no person): add {NO_REFS_FLAG} to restore them without"
        )
    return text


def cmd_batch(args: argparse.Namespace) -> int:
    from refldm_desktop.cli import CliError
    from refldm_desktop.core.restoring import LeftOut

    if bool(args.path) == bool(args.all):
        raise CliError("give a folder (or photo) to look at, or --all for the whole library")
    if args.min_quality is not None:
        if args.min_need is not None:
            raise CliError("give --min-need or the deprecated --min-quality, not both")
        print("refldm-desktop: --min-quality is deprecated: batch now chooses faces by how much they "
              "need restoring (--min-need); the reference score is used this time", file=sys.stderr)

    def verb(lib):
        settings = _settings(args, lib)
        lib.restoring.check_restorer(settings)
        plan = lib.restoring.plan_batch(
            None if args.all else args.path, min_need=args.min_need, min_quality=args.min_quality, settings=settings
        )
        print(_plan_summary(plan), file=sys.stderr)
        paths = {p.id: str(p.path) for p in lib.photos()} if plan.skipped else {}
        summary = None
        if plan.photos:
            lib.restoring.enqueue_batch(plan, settings)
            summary = _run(lib, plan.batch_id)
        report = lib.restoring.write_report(plan.batch_id, lib.restoring.output_root(settings))
        return plan, paths, summary, lib.restoring.outcomes(plan.batch_id), report

    try:
        plan, paths, summary, outcomes, report = library_verbs._run(args, verb)
    except KeyboardInterrupt:
        print(_INTERRUPTED.replace("`refldm-desktop jobs run`", "the same command again"), file=sys.stderr)
        return 130
    if args.json:
        left = [
            {"face_id": x.face_id, "photo": paths.get(x.photo_id), "why": str(x.why), "detail": x.detail}
            for x in plan.skipped
        ]
        print(json.dumps({
            "batch": plan.batch_id, "report": str(report), "photos": [o.to_json() for o in outcomes],
            "left_out": left, "counts": {str(k): v for k, v in plan.counts.items()},
        }, indent=1))
    else:
        _print_outcomes(outcomes)
        # Sharp faces are only counted (a library has many); the others say which and why.
        for x in plan.skipped:
            if x.why != LeftOut.SHARP:
                print(f"left out: face {x.face_id} in {paths.get(x.photo_id, x.photo_id)}: {x.detail}")
        print(f"report: {report}")
    return 1 if summary is not None and summary.failed else 0
