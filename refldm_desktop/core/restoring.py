"""Restoring photos: the Library verbs behind `restore` and `batch` (`library.restoring`).

What a job needs from the database is read here (a photo, its faces and their people, the
references for a face); the job itself (core/restore_job.py) restores and writes. Verbs:

- `photo_ids(paths)`: the photos to restore; photos not yet indexed, or changed since, are
  indexed first (those files alone; their faces join the people already known).
- `check_restorer(settings)`: fail early, with a reason, when the restorer cannot run.
- `enqueue(photo_ids, settings)`: one "restore_photo" job per photo, in one batch.
- `plan_batch(scope, min_need, settings)`: the faces that need restoring (blurry, tiny,
  noisy, blocky, grainy, scratched, faded) and can be restored (a person with references,
  or any face with --no-refs-ok), with every other face counted by why it was left out,
  under a batch id that is the same each time the same batch is asked for, so running it
  again finishes what remains.
- `outcomes(batch_id)`: per photo, the output and what happened to each face.
- `write_report(batch_id)`: the HTML contact sheet of a batch (core/report.py).
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import json
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from sqlalchemy import and_, select

from refldm_desktop.core.changes import LibraryError, NotFound
from refldm_desktop.errors import NO_REFS_FLAG, Advice, advise
from refldm_desktop.core.outcomes import FaceOutcome, FaceStatus, PhotoOutcome
from refldm_desktop.core.people import LIVE
from refldm_desktop.core.progress import Cancel, Cancelled, ProgressFn, is_cancelled, report
from refldm_desktop.db.models import Face, FaceAssignment, JobState, LibraryFolder, Person, Photo, PhotoState
from refldm_desktop.defaults import (
    DEFAULT_MIN_NEED,
    DEFAULT_MIN_QUALITY,
    DEFAULT_REFERENCES,
    DEFAULT_RESTORER,
    DEFAULT_STEPS,
    PRECISIONS,
    RESTORERS_GROUP,
    UPSCALE_CHOICES,
)
from refldm_desktop.jobs.queue import JobsEnqueued

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library
    from refldm_desktop.restore.protocol import RestoreOptions
    from refldm_desktop.core.settings import Settings



@dataclass(frozen=True)
class RestoreSettings:
    """How to restore: the same for every photo of one `restore` or `batch` run."""

    restorer: str = DEFAULT_RESTORER
    model: str | None = None  # the restorer's default when None
    steps: int | None = None
    cfg: float | None = None
    seed: int | None = None  # a random one is drawn (and recorded) when None
    device: str = "auto"
    upscale: int = 1
    output_dir: Path | None = None  # home/Restored when None
    no_refs_ok: bool = False  # restore faces without a person or references too
    inside_library: bool = False  # allow an output folder inside a library folder
    references: int = DEFAULT_REFERENCES
    # What the identity guard does with a face that no longer looks like its person:
    # "flag" keeps the result and marks it, "keep-original" leaves the original pixels there.
    identity_policy: str = "flag"
    # A quick result of this many steps is made first and shown while the full one runs
    # (0: none). Not part of a batch's identity: it changes what a user sees, not the output.
    preview_steps: int = 0
    # auto: bf16 where a trial on this device found it faster and close to fp32 (ReF-LDM only).
    precision: str = "auto"

    def __post_init__(self) -> None:
        from refldm_desktop.restore.identity import POLICIES

        if self.identity_policy not in POLICIES:
            raise LibraryError(
                f"the identity policy must be one of {', '.join(POLICIES)}, got {self.identity_policy!r}"
            )
        if self.precision not in PRECISIONS:
            raise LibraryError(f"the precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.preview_steps < 0:
            raise LibraryError(f"preview steps must be 0 (none) or more, got {self.preview_steps}")
        if self.upscale not in UPSCALE_CHOICES:
            raise LibraryError(f"upscale must be one of {', '.join(map(str, UPSCALE_CHOICES))}, got {self.upscale}")
        if not 0 <= self.references <= 16:
            raise LibraryError(f"the number of references must be between 0 and 16, got {self.references}")

    @classmethod
    def from_settings(cls, settings: "Settings", **flags: Any) -> "RestoreSettings":
        """The user's settings with the flags that were given (not None) over them."""
        base: dict[str, Any] = {
            "restorer": settings.restorer,
            "model": settings.model,
            "steps": settings.steps,
            "cfg": settings.guidance,
            "device": settings.device,
            "upscale": settings.upscale,
            "output_dir": settings.output_folder,
            "no_refs_ok": settings.reference_free,
            "references": settings.references,
            "identity_policy": settings.identity_policy,
            "precision": settings.precision,
        }
        base.update({k: v for k, v in flags.items() if v is not None})
        return cls(**base)

    def job_options(self) -> dict[str, Any]:
        return {
            "upscale": self.upscale,
            "no_refs_ok": self.no_refs_ok,
            "inside_library": self.inside_library,
            "references": self.references,
            "identity_policy": self.identity_policy,
            **({"preview_steps": self.preview_steps} if self.preview_steps else {}),
            **({"precision": self.precision} if self.precision != "auto" else {}),
        }


# The job option that gives some faces of a photo their own sampling settings (the app's
# "Restore with options"): {face id: {"steps": int, "cfg": float, "seed": int}}, each key
# optional; what a face leaves out is the photo's. Upscaling is the photo's alone: it
# enlarges the whole photo before any face is restored.
FACE_SETTINGS = "face_settings"
SEED_LIMIT = 2**63  # seeds are stored as SQLite integers (signed 64-bit)


@dataclass(frozen=True)
class FaceSettings:
    """A face's own sampling settings; None keeps the photo's."""

    steps: int | None = None
    cfg: float | None = None
    seed: int | None = None

    def over(self, options: "RestoreOptions") -> "RestoreOptions":
        """The photo's options with this face's own settings in their place."""
        from dataclasses import replace

        own = self.to_json()
        return replace(options, **own) if own else options

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("steps", self.steps), ("cfg", self.cfg), ("seed", self.seed)) if v is not None}


def face_settings(raw: Any) -> dict[int, FaceSettings]:
    """The FACE_SETTINGS job option checked: per face id, its own settings. Anything else
    (an unknown key, a wrong type, a value out of range) raises LibraryError in one line."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise LibraryError(f"{FACE_SETTINGS} must map face ids to settings, got {type(raw).__name__}")
    out: dict[int, FaceSettings] = {}
    for key, value in raw.items():
        try:
            if isinstance(key, bool):
                raise ValueError
            face_id = int(key)
        except (TypeError, ValueError):
            raise LibraryError(f"{FACE_SETTINGS}: {key!r} is not a face id") from None
        where = f"{FACE_SETTINGS} of face {face_id}"
        if not isinstance(value, Mapping):
            raise LibraryError(f"{where} must be a mapping of steps, cfg and seed, got {type(value).__name__}")
        unknown = sorted(str(k) for k in value if k not in ("steps", "cfg", "seed"))
        if unknown:
            raise LibraryError(f"{where}: unknown setting {', '.join(map(repr, unknown))} (use steps, cfg or seed)")
        cfg = value.get("cfg")
        if cfg is not None and (isinstance(cfg, bool) or not isinstance(cfg, (int, float))
                                or not math.isfinite(cfg) or cfg < 0):
            raise LibraryError(f"{where}: cfg must be a number >= 0, got {cfg!r}")
        out[face_id] = FaceSettings(_whole(value, "steps", 1, None, where), None if cfg is None else float(cfg),
                                    _whole(value, "seed", 0, SEED_LIMIT, where))
    return out


def _whole(value: Mapping[str, Any], name: str, lo: int, hi: int | None, where: str) -> int | None:
    """value[name] when it is a whole number in [lo, hi), None when not given."""
    v = value.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v >= hi):
        limit = f"between {lo} and {hi - 1}" if hi is not None else f"at least {lo}"
        raise LibraryError(f"{where}: {name} must be a whole number {limit}, got {v!r}")
    return v


def preview_plan(payload: Mapping[str, Any]) -> tuple[int, int] | None:
    """(preview steps, full steps) of a restore job that makes a quick preview first, else
    None. The job and the app's Jobs panel both read it, so they agree on the phases."""
    opts = payload.get("options") or {}
    quick = int(opts.get("preview_steps") or 0)
    full = int(payload.get("steps") or DEFAULT_STEPS)
    return (quick, full) if 0 < quick < full else None


# -- what jobs read from the database ------------------------------------------------------


@dataclass(frozen=True)
class PhotoRecord:
    id: int
    path: Path
    state: str
    size: int
    mtime_ns: int
    content_hash: str | None
    root: Path | None  # the library folder it was indexed under
    error: str | None = None  # why it could not be read, when its state is error

    def changed_on_disk(self) -> str | None:
        """Why the file no longer is what was indexed, or None when it still is."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return f"{self.path} is missing; it was moved or deleted since it was indexed"
        except OSError as exc:
            return f"cannot read {self.path}: {exc.strerror or exc}"
        if (st.st_size, st.st_mtime_ns) != (self.size, self.mtime_ns):
            return f"{self.path} changed since it was indexed; {advise(Advice.INDEX_FOLDER)}"
        return None


@dataclass(frozen=True, eq=False)
class FaceRecord:
    id: int
    photo_id: int
    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float
    backend: str
    person_id: int | None
    person_hidden: bool = False


@dataclass(frozen=True)
class Reference:
    """One reference face chosen for a target face."""

    face_id: int
    photo_id: int
    photo: Path


def photo_record(lib: "Library", photo_id: int) -> PhotoRecord:
    with lib._Session() as s:
        row = s.execute(
            select(Photo, LibraryFolder.path)
            .outerjoin(LibraryFolder, LibraryFolder.id == Photo.folder_id)
            .where(Photo.id == photo_id)
        ).first()
    if row is None:
        raise NotFound(f"no photo with id {photo_id}")
    p, root = row
    return PhotoRecord(
        p.id, Path(p.path), p.state, p.size, p.mtime_ns, p.content_hash, None if root is None else Path(root),
        p.error,
    )


def face_records(lib: "Library", *, photo_id: int | None = None, face_ids: Iterable[int] | None = None) -> list[FaceRecord]:
    """Faces with their live person (if any), by photo or by id, in id order."""
    live = and_(FaceAssignment.face_id == Face.id, FaceAssignment.state.in_(LIVE))
    q = (
        select(Face, FaceAssignment.person_id, Person.hidden)
        .outerjoin(FaceAssignment, live)
        .outerjoin(Person, Person.id == FaceAssignment.person_id)
        .order_by(Face.id)
    )
    if photo_id is not None:
        q = q.where(Face.photo_id == photo_id)
    if face_ids is not None:
        q = q.where(Face.id.in_(list(face_ids)))
    with lib._Session() as s:
        return [
            FaceRecord(
                f.id, f.photo_id, f.box, f.landmarks_array().astype(np.float64), f.score, f.backend,
                person_id, bool(hidden),
            )
            for f, person_id, hidden in s.execute(q)
        ]


def references_for(lib: "Library", face_id: int, k: int) -> list[Reference]:
    """The references the library chooses for restoring a face of a person (Library.
    references_for_face: pins first, never the face's own photo or a copy of it). None when
    k is 0, or when the library cannot choose (the face lost its person meanwhile, or its
    person's faces come from another face backend)."""
    if k <= 0:
        return []
    try:
        choices = lib.references_for_face(face_id, k)
    except LibraryError:
        return []
    return [Reference(c.face_id, c.photo_id, Path(c.photo_path)) for c in choices]


def known_embeddings(
    lib: "Library", face: FaceRecord, references: Sequence[int], model_id: str, limit: int = 20
) -> tuple[np.ndarray | None, str, np.ndarray | None]:
    """What the identity guard compares a restored face with: (embeddings, what they are,
    the face's own stored embedding). The references used when there are any, else up to
    `limit` of the person's faces from other photos, else none ("original": the guard then
    compares the face with itself before restoration). Embeddings of another face backend
    are left out (their distances mean nothing here)."""
    with lib._Session() as s:
        own = s.execute(select(Face.embedding, Face.model_id).where(Face.id == face.id)).first()
        stored = None if own is None or own[0] is None or own[1] != model_id else np.frombuffer(own[0], np.float32)
        rows: list = []
        what = "original"
        if references:
            rows = list(s.execute(
                select(Face.embedding).where(Face.id.in_(list(references)), Face.model_id == model_id)
            ))
            what = "references"
        elif face.person_id is not None:
            live = and_(FaceAssignment.face_id == Face.id, FaceAssignment.state.in_(LIVE))
            rows = list(s.execute(
                select(Face.embedding)
                .join(FaceAssignment, live)
                .where(
                    FaceAssignment.person_id == face.person_id,
                    Face.photo_id != face.photo_id,
                    Face.model_id == model_id,
                    Face.embedding.is_not(None),
                )
                .order_by(Face.quality_score.desc().nulls_last(), Face.id)
                .limit(limit)
            ))
            what = "person"
    known = [np.frombuffer(r[0], np.float32) for r in rows if r[0] is not None]
    if not known:
        return None, "original", stored
    return np.stack(known), what, stored


# -- restorers -------------------------------------------------------------------------


def create_restorer(name: str, **options: Any):
    """A restorer plugin, given the options its factory takes (others are left out: the
    passthrough restorer knows nothing of models or devices)."""
    from refldm_desktop.core.plugins import PluginError, Registry

    try:
        factory = Registry(RESTORERS_GROUP).factory(name)
    except PluginError as exc:
        raise LibraryError(str(exc)) from exc
    except ImportError as exc:
        raise LibraryError(f"the restorer {name!r} cannot be loaded: {exc}") from exc
    options = {k: v for k, v in options.items() if v is not None}
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        params = []
    if params and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        names = {p.name for p in params}
        options = {k: v for k, v in options.items() if k in names}
    try:
        return factory(**options)
    except (ValueError, TypeError) as exc:
        raise LibraryError(f"the restorer {name!r} cannot be set up: {exc}") from exc


def restorer_options(lib: "Library", model: str | None, device: str, precision: str = "auto") -> dict[str, Any]:
    return {"model": model, "models_dir": str(lib.home.models), "device": device, "precision": precision}


# -- batches ---------------------------------------------------------------------------


class LeftOut(enum.StrEnum):
    """Why a batch left a face alone."""

    SHARP = "already sharp"  # nothing restoration would repair
    NO_REFERENCES = "no references"  # its person has no good other photo (--no-refs-ok)
    NOT_A_PERSON = "not a person"  # the face belongs to no person yet (--no-refs-ok)
    EXCLUDED = "excluded by the user"  # its person is hidden
    UNMEASURED = "not measured"  # its quality could not be measured


# What includes the faces a batch left out for want of references, without them.


@dataclass(frozen=True)
class BatchFace:
    face_id: int
    photo_id: int
    person_id: int | None
    quality: float  # as a reference, 0..1
    reasons: tuple[str, ...]  # the reference score's reasons
    need: float | None = None  # how much it needs restoring, 0..1
    need_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A face a batch left out, and why."""

    face_id: int
    photo_id: int
    why: LeftOut
    detail: str  # one line a user reads


@dataclass(frozen=True)
class BatchPlan:
    """What a batch would restore, and what it leaves out and why; the same value serves the
    CLI and the app's cleanup dialog, which shows `counts` and offers --no-refs-ok."""

    batch_id: str
    faces: tuple[BatchFace, ...]  # to restore, by photo
    photos: tuple[int, ...]
    left_out: tuple[tuple[int, int, str], ...]  # (photo id, face id, why) on the photos it touches
    considered: int  # faces looked at
    skipped: tuple[Skipped, ...] = ()  # every face left out, on any photo
    min_need: float | None = None  # the threshold used (None: the deprecated min_quality)

    def count(self, why: LeftOut) -> int:
        return sum(1 for x in self.skipped if x.why == why)

    @property
    def counts(self) -> dict[LeftOut, int]:
        """Faces left out, by reason (every reason, zero included)."""
        return {w: self.count(w) for w in LeftOut}

    @property
    def without_refs(self) -> int:
        """Faces that need restoring but have no references (a person without good other
        photos, or no person): NO_REFS_FLAG restores them without."""
        return self.count(LeftOut.NO_REFERENCES) + self.count(LeftOut.NOT_A_PERSON)

    # The names of the first batch planner, still read by callers.
    @property
    def good_enough(self) -> int:
        return self.count(LeftOut.SHARP)

    @property
    def without_person(self) -> int:
        return self.count(LeftOut.NOT_A_PERSON)

    @property
    def without_references(self) -> int:
        return self.count(LeftOut.NO_REFERENCES)


def batch_id_for(
    scope: str, min_quality: float | None, settings: RestoreSettings, out_root: Path, *, min_need: float | None = None
) -> str:
    """The same id whenever the same batch is asked for (scope, threshold and settings), so
    a second run finds the jobs of the first and does only what remains. A random seed
    (none given) is not part of it: the first run's seed stays with its jobs."""
    spec = {
        "scope": scope,
        "restorer": settings.restorer,
        "model": settings.model,
        "steps": settings.steps,
        "cfg": settings.cfg,
        "seed": settings.seed,
        "upscale": settings.upscale,
        "no_refs_ok": settings.no_refs_ok,
        "references": settings.references,
        "output": str(out_root),
    }
    if min_need is not None:
        spec["min_need"] = round(float(min_need), 4)
    else:
        spec["min_quality"] = round(float(min_quality if min_quality is not None else DEFAULT_MIN_QUALITY), 4)
    if settings.identity_policy != "flag":
        spec["identity_policy"] = settings.identity_policy
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return f"batch-{digest[:16]}"


ScoreFn = Callable[["Library", Sequence[FaceRecord]], Mapping[int, tuple[float, tuple[str, ...]]]]
QualityFn = ScoreFn  # the first name, kept for callers


def _stored(lib: "Library", faces: Sequence[FaceRecord], score, reasons) -> dict[int, tuple[float, tuple[str, ...]]]:
    ids = [f.id for f in faces]
    if not ids:
        return {}
    lib.rescore(ids)
    out: dict[int, tuple[float, tuple[str, ...]]] = {}
    with lib._Session() as s:
        for i in range(0, len(ids), 500):
            for fid, value, why in s.execute(select(Face.id, score, reasons).where(Face.id.in_(ids[i : i + 500]))):
                if value is not None:
                    out[fid] = (float(value), tuple(why or ()))
    return out


def stored_quality(lib: "Library", faces: Sequence[FaceRecord]) -> dict[int, tuple[float, tuple[str, ...]]]:
    """Reference score (0..1) and reasons per face, as the library stores them (measured when
    the face was found; faces scored by another QUALITY_VERSION are scored again first).
    Faces that could not be measured are left out."""
    return _stored(lib, faces, Face.quality_score, Face.quality_reasons)


def stored_need(lib: "Library", faces: Sequence[FaceRecord]) -> dict[int, tuple[float, tuple[str, ...]]]:
    """Restoration need (0..1) and its reasons per face, as the library stores them (stale
    ones worked out again first). Faces that could not be measured are left out."""
    return _stored(lib, faces, Face.need_score, Face.need_reasons)


class Restoring:
    def __init__(self, library: "Library") -> None:
        self._lib = library

    # -- which photos -----------------------------------------------------------------

    def photo_ids(self, photos: Sequence[str | os.PathLike[str] | int], *, index: bool = True) -> list[int]:
        """Ids of the given photos (paths or ids). Photos not yet indexed, or changed since,
        are indexed first (only those files) when `index`."""
        lib = self._lib
        ids: list[int | None] = []
        stale: list[Path] = []
        for p in photos:
            if isinstance(p, int) or (isinstance(p, str) and p.isdigit()):
                ids.append(lib.jobs.photo_id(p))
                continue
            path = Path(p).expanduser()
            if not path.exists():
                raise LibraryError(f"no such photo: {path}")
            if path.is_dir():
                raise LibraryError(f"{path} is a folder; give photos (or use `batch` for a folder)")
            try:
                pid = lib.jobs.photo_id(path)
            except NotFound:
                pid = None
            if pid is None or photo_record(lib, pid).changed_on_disk():
                stale.append(path.absolute())
            ids.append(pid)
        if stale and index:
            result = lib.index_photos(stale)
            if result.cancelled:
                raise LibraryError("indexing was interrupted; nothing was queued")
        out: list[int] = []
        for p, pid in zip(photos, ids, strict=True):
            if pid is None:
                assert not isinstance(p, int)  # ids were looked up in the first pass
                try:
                    pid = lib.jobs.photo_id(Path(p).expanduser().absolute())
                except NotFound:
                    raise LibraryError(f"{p} is not a photo this app can read") from None
            rec = photo_record(lib, pid)
            if rec.state == PhotoState.MISSING:
                raise LibraryError(f"{rec.path} cannot be restored: the file is missing (moved or deleted)")
            if rec.state != PhotoState.OK:
                why = rec.error or "it could not be read when it was indexed"
                raise LibraryError(f"{rec.path} cannot be restored: {why}")
            out.append(pid)
        return list(dict.fromkeys(out))

    # -- the restorer -----------------------------------------------------------------

    def check_restorer(self, settings: RestoreSettings) -> str:
        """Raise LibraryError when the restorer cannot run now; returns its model name."""
        r = create_restorer(settings.restorer, **restorer_options(self._lib, settings.model, settings.device, settings.precision))
        ok, why = r.available()
        if not ok:
            raise LibraryError(f"the restorer {settings.restorer!r} cannot run: {why}")
        return getattr(r, "model", "")

    def output_root(self, settings: RestoreSettings) -> Path:
        return Path(settings.output_dir).expanduser().absolute() if settings.output_dir else self._lib.home.restored

    # -- queueing ---------------------------------------------------------------------

    def enqueue(
        self,
        photo_ids: Sequence[int],
        settings: RestoreSettings,
        *,
        batch_id: str | None = None,
        per_photo: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> JobsEnqueued:
        """One job per photo. `per_photo` adds job options to a photo's job (a batch names
        the faces to restore: {"face_ids": [...]}). All or nothing: a photo whose options are
        wrong is named in the error, and no photo is queued."""
        out_root = self.output_root(settings)
        if not settings.inside_library and out_root != self._lib.home.restored:
            from refldm_desktop.library.output import OutputError, check_destination

            try:
                check_destination(out_root, self._lib.folders(), False)
            except OutputError as exc:
                raise LibraryError(f"{exc.reason} ({advise(Advice.INSIDE_LIBRARY)})") from exc
        base = settings.job_options()
        # One seed for the whole run, recorded with every job.
        seed = secrets.randbelow(2**31) if settings.seed is None else settings.seed
        return self._lib.jobs.enqueue_restore(
            list(photo_ids), restorer=settings.restorer, model=settings.model, steps=settings.steps,
            cfg=settings.cfg, seed=seed, device=settings.device, output_dir=out_root,
            options=base, batch_id=batch_id, per_photo=per_photo,
        )

    # -- batches ----------------------------------------------------------------------

    def plan_batch(
        self,
        scope: str | os.PathLike[str] | None,
        *,
        min_need: float | None = None,
        min_quality: float | None = None,
        settings: RestoreSettings = RestoreSettings(),
        quality: ScoreFn | None = None,
        need: ScoreFn | None = None,
        index: bool = True,
        progress: ProgressFn | None = None,
        cancel: Cancel | None = None,
    ) -> BatchPlan:
        """Faces under `scope` (a folder or photo; None: the whole library) whose need is at
        least `min_need` (default DEFAULT_MIN_NEED) and that belong to a person with
        references (any face of a person not hidden, with --no-refs-ok). Every other face is
        counted by why it was left out.

        `min_quality` (deprecated) chooses the old way instead: faces whose reference score
        is below it. `quality` and `need` replace the stored scores (for tests). Reports
        Progress ("index", then "plan" per face); raises Cancelled when cancelled."""

        lib = self._lib
        if min_need is not None and min_quality is not None:
            raise LibraryError("give --min-need or the deprecated --min-quality, not both")
        if min_quality is not None and not 0.0 <= min_quality <= 1.0:
            raise LibraryError(f"--min-quality is a score between 0 and 1, got {min_quality}")
        if min_quality is None:
            min_need = DEFAULT_MIN_NEED if min_need is None else float(min_need)
            if not 0.0 <= min_need <= 1.0:
                raise LibraryError(f"--min-need is a score between 0 and 1, got {min_need}")
        if scope is None:
            scope_key = "--all"
            prefix = None
        else:
            path = Path(scope).expanduser().absolute()
            if not path.exists():
                raise LibraryError(f"no such folder or photo: {path}")
            if path.is_dir() and index:
                result = lib.index([path], progress=progress, cancel=cancel)
                if result.cancelled:
                    raise LibraryError("indexing was interrupted; nothing was queued")
            elif path.is_file():
                self.photo_ids([path], index=index)
            scope_key = str(path.resolve())
            prefix = path.resolve()
        from refldm_desktop.core.queries import PhotoOrder, PhotoQuery

        if prefix is not None and prefix.is_file():
            photo_ids = [p for p in [lib.jobs.photo_id(prefix)] if lib.photo(p).state == PhotoState.OK]
        else:
            # Ids only: a library of 100,000 photos is never loaded whole.
            photo_ids = lib.photo_ids(
                PhotoQuery(folder=prefix, has_faces=True, state=PhotoState.OK, order=PhotoOrder.PATH)
            )
        faces = [f for pid in photo_ids for f in face_records(lib, photo_id=pid)]
        qualities = (quality or stored_quality)(lib, faces)
        needs = (need or stored_need)(lib, faces) if min_quality is None else {}
        chosen: list[BatchFace] = []
        skipped: list[Skipped] = []

        def skip(f: FaceRecord, why: LeftOut, detail: str) -> None:
            skipped.append(Skipped(f.id, f.photo_id, why, detail))

        for i, f in enumerate(faces):
            if is_cancelled(cancel):
                raise Cancelled("planning the batch was cancelled; nothing was queued")
            report(progress, "plan", i, len(faces))
            if f.id not in qualities or (min_quality is None and f.id not in needs):
                skip(f, LeftOut.UNMEASURED, "its quality could not be measured")
                continue
            score, reasons = qualities[f.id]
            n, n_reasons = needs.get(f.id, (None, ()))
            if min_quality is not None:
                if score >= min_quality:
                    skip(f, LeftOut.SHARP, f"its quality {score:.2f} is at least {min_quality:g}")
                    continue
            elif n is not None and min_need is not None and n < min_need:  # both set: see above
                skip(f, LeftOut.SHARP, f"already sharp: restoration need {n:.2f} is below {min_need:g}")
                continue
            if f.person_hidden:
                skip(f, LeftOut.EXCLUDED, f"excluded by the user: person {f.person_id} is hidden")
                continue
            if f.person_id is None:
                if not settings.no_refs_ok:
                    skip(f, LeftOut.NOT_A_PERSON, f"not a person: it belongs to no person ({advise(Advice.NO_REFS_RESTORES)})")
                    continue
            elif not settings.no_refs_ok and not references_for(lib, f.id, settings.references):
                skip(f, LeftOut.NO_REFERENCES,
                     f"no references: person {f.person_id} has no usable reference photos ({advise(Advice.NO_REFS_RESTORES)})")
                continue
            chosen.append(BatchFace(f.id, f.photo_id, f.person_id, float(score), tuple(reasons),
                                    None if n is None else float(n), tuple(n_reasons)))
        report(progress, "plan", len(faces), len(faces))
        out_root = self.output_root(settings)
        bid = batch_id_for(scope_key, min_quality, settings, out_root, min_need=min_need if min_quality is None else None)
        touched = tuple(dict.fromkeys(f.photo_id for f in chosen))
        # Only the photos the batch touches get a note per face in their job.
        left = tuple((x.photo_id, x.face_id, x.detail) for x in skipped if x.photo_id in touched)
        return BatchPlan(
            bid, tuple(chosen), touched, left, len(faces), tuple(skipped),
            min_need if min_quality is None else None,
        )

    def enqueue_batch(self, plan: BatchPlan, settings: RestoreSettings) -> JobsEnqueued:
        """Queue the plan's photos under its batch id; photos with a job in that batch keep
        it (done ones are never redone), and failed ones are queued again."""
        per_photo: dict[int, dict[str, Any]] = {}
        for f in plan.faces:
            o = per_photo.setdefault(f.photo_id, {"face_ids": [], "quality": {}, "not_chosen": {}})
            o["face_ids"].append(f.face_id)
            o["quality"][str(f.face_id)] = {"score": round(f.quality, 4), "reasons": list(f.reasons)}
            if f.need is not None:
                o.setdefault("need", {})[str(f.face_id)] = {"score": round(f.need, 4), "reasons": list(f.need_reasons)}
        for photo_id, face_id, why in plan.left_out:
            per_photo[photo_id]["not_chosen"][str(face_id)] = why
        r = self.enqueue(plan.photos, settings, batch_id=plan.batch_id, per_photo=per_photo)
        failed = [j.id for j in self._lib.jobs.list(states=[JobState.FAILED], batch_id=plan.batch_id)]
        if failed:
            self._lib.jobs.resume(failed)
        return r

    # -- results ----------------------------------------------------------------------

    def outcomes(self, batch_id: str) -> list[PhotoOutcome]:
        """Per photo of a batch: its job, its new file and what happened to each face."""
        out = []
        for j in self._lib.jobs.list(all=True, batch_id=batch_id):
            summary = dict(j.result or {})
            stored = summary.get("faces")
            if stored is not None:
                faces = tuple(FaceOutcome.from_json(f) for f in stored)
            elif j.photo_id is None:
                faces = ()
            else:
                why = f"the job is {j.state}" + (f" ({j.error})" if j.error else "")
                faces = tuple(
                    FaceOutcome(f.id, tuple(f.box), f.person_id, FaceStatus.NOT_RESTORED, why)
                    for f in face_records(self._lib, photo_id=j.photo_id)
                )
            out.append(PhotoOutcome(j.photo, j.output, j.id, JobState(j.state), j.error, faces))
        return out

    def write_report(self, batch_id: str, out_root: Path | None = None) -> Path:
        from refldm_desktop.core.report import write_batch_report

        return write_batch_report(self._lib, batch_id, out_root or self._lib.home.restored)


__all__ = [
    "BatchFace",
    "BatchPlan",
    "LeftOut",
    "NO_REFS_FLAG",
    "Skipped",
    "stored_need",
    "DEFAULT_MIN_QUALITY",
    "DEFAULT_RESTORER",
    "FACE_SETTINGS",
    "FaceRecord",
    "FaceSettings",
    "PhotoRecord",
    "Reference",
    "RestoreSettings",
    "Restoring",
    "batch_id_for",
    "create_restorer",
    "face_records",
    "face_settings",
    "stored_quality",
    "photo_record",
    "references_for",
]
