"""The "restore_photo" job: restore the faces of one photo and write it as a new file.

For each face of the photo (those the job names, for a batch): a face with a person gets the
references the library chooses for it; a face without a person, or without references, is
skipped with a reason unless the job allows reference-free restoration. A face may have its
own steps, guidance and seed (the job option core.restoring.FACE_SETTINGS); the version
records each face's. The photo is then restored in memory (restore.photo: upscale, align,
restore per person and settings, paste back), encoded like the original (a JPEG keeps its
untouched blocks bit for bit, library.jpeg_splice), staged with the runner and written as a
new file in the output folder, which mirrors the library's folders. The runner records the
Version in the transaction that marks the job done, so a killed process never leaves an
output without a record, nor a record twice.

Kept for the runner's lifetime in `ctx.shared`: the restorer (a loaded model), and the
reference crops of recent jobs (a person's references are mostly the same from photo to
photo; a reference-based restorer also keeps their encoded keys and values).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Hashable, Sequence

import numpy as np

from refldm_desktop.core.changes import LibraryError
from refldm_desktop.errors import Advice, advise
from refldm_desktop.core.outcomes import FaceOutcome, FaceStatus
from refldm_desktop.defaults import DEFAULT_REFERENCES, DEFAULT_RESTORER
from refldm_desktop.core.restoring import (
    FACE_SETTINGS,
    FaceRecord,
    FaceSettings,
    PhotoRecord,
    known_embeddings,
    Reference,
    create_restorer,
    face_records,
    face_settings,
    photo_record,
    preview_plan,
    references_for,
    restorer_options,
)
from refldm_desktop.jobs.queue import JobResult, VersionRecord
from refldm_desktop.jobs.runner import FULL_STAGE, PREVIEW_STAGE, JobCancelled, JobContext
from refldm_desktop.restore.identity import DRIFTED, FLAG, KEEP_ORIGINAL, NO_FACE
from refldm_desktop.words import counted

log = logging.getLogger(__name__)

_REFERENCE_CROPS_KEPT = 64  # about 50 MB at 512 px
# An upscaled photo is held several times over in memory while it is pasted and encoded.
MAX_OUTPUT_PIXELS = 150_000_000


@dataclass
class _Face:
    record: FaceRecord
    status: FaceStatus = FaceStatus.RESTORED
    reason: str = ""
    references: list[int] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    identity: dict[str, Any] | None = None  # restore.identity.IdentityCheck.to_json()
    lacks_references: bool = False  # skipped: no reference photos and reference-free not allowed

    def skip(self, status: FaceStatus, reason: str) -> None:
        self.status, self.reason = status, reason

    def outcome(self) -> FaceOutcome:
        f = self.record
        return FaceOutcome(
            face_id=f.id,
            box=tuple(round(float(v), 2) for v in f.box),
            person_id=f.person_id,
            status=self.status,
            reason=self.reason,
            references=tuple(self.references),
            identity=self.identity,
        )


def restore_photo_job(ctx: JobContext) -> JobResult:
    lib = ctx.library
    if lib is None:
        raise LibraryError("restore_photo jobs run through the Library's runner (library.jobs.run)")
    payload = ctx.payload
    opts = dict(payload.get("options") or {})
    if ctx.photo_id is None:
        raise LibraryError(f"this restore job names no photo; {advise(Advice.RESTORE_AGAIN)}")
    photo = photo_record(lib, ctx.photo_id)
    problem = photo.changed_on_disk()
    if problem:
        raise LibraryError(problem)

    restorer = _restorer(ctx, lib, payload)
    res = int(restorer.resolution)
    k = int(opts.get("references", DEFAULT_REFERENCES))
    no_refs_ok = bool(opts.get("no_refs_ok"))
    wanted = opts.get("face_ids")
    wanted = None if wanted is None else {int(i) for i in wanted}

    not_chosen = dict(opts.get("not_chosen") or {})
    # The user's own choice for some faces (the app's "Restore with options"): these
    # reference faces, or none at all (reference-free, on purpose).
    chosen_refs = {int(k): [int(r) for r in v] for k, v in dict(opts.get("face_references") or {}).items()}
    # ... and their own steps, guidance or seed.
    own_settings = face_settings(opts.get(FACE_SETTINGS))
    faces = [_Face(f) for f in face_records(lib, photo_id=photo.id)]
    strangers = sorted(set(own_settings) - {f.record.id for f in faces})
    if strangers:
        ctx.note(f"{FACE_SETTINGS} names faces not in this photo (found again since?): {strangers}")
    for face in faces:
        face.status, face.reason = _why_not(face.record, wanted, not_chosen)
    ctx.check_cancelled()
    for face in faces:
        if face.status is not FaceStatus.RESTORED:
            continue
        f = face.record
        if f.id in chosen_refs:
            if chosen_refs[f.id]:
                refs = [Reference(r, 0, Path()) for r in chosen_refs[f.id] if r != f.id]
                face.crops, face.references, problems = _reference_crops(ctx, lib, refs, res)
                for p in problems:
                    ctx.note(f"face {f.id}: {p}")
            if not chosen_refs[f.id] or face.references:
                continue  # reference-free when the user asked for it; else as chosen
        if f.person_id is not None and k > 0:
            refs = references_for(lib, f.id, k)
            face.crops, face.references, problems = _reference_crops(ctx, lib, refs, res)
            for p in problems:
                ctx.note(f"face {f.id}: {p}")
        if not face.references and not no_refs_ok:
            face.lacks_references = True
            if f.person_id is None:
                face.skip(FaceStatus.SKIPPED, f"no person (put this face into a person, or {advise(Advice.NO_REFS_OK)})")
            else:
                face.skip(FaceStatus.SKIPPED, f"no usable reference photos of person {f.person_id} "
                          f"(add sharp photos of them, or {advise(Advice.NO_REFS_OK)})")
    todo = [f for f in faces if f.status is FaceStatus.RESTORED]
    summary: dict[str, Any] = {"faces": [f.outcome().to_json() for f in faces], "output": None}
    if not todo:
        reason = "no face to restore" if not faces else "no face could be restored"
        unreferenced = [f for f in faces if f.status is FaceStatus.SKIPPED and f.lacks_references]
        if unreferenced:
            # Say why, and the way out: the usual first restore of a photo of strangers.
            one = len(unreferenced) == 1
            reason += (f": {'this face has' if one else 'these faces have'} no reference photos "
                       f"(name {'its' if one else 'their'} person and give them other sharp photos, "
                       f"or {advise(Advice.NO_REFS_OK)})")
        return JobResult(version=None, summary=summary, message=reason)

    from refldm_desktop.library.imageio import ImageError, load_rgb
    from refldm_desktop.restore.photo import FaceToRestore, restore_photo
    from refldm_desktop.restore.protocol import RestoreCancelled, RestoreOptions

    try:
        image, _ = load_rgb(photo.path)
    except ImageError as exc:
        raise LibraryError(f"cannot read {photo.path}: {exc.reason}") from exc
    upscale = int(opts.get("upscale", 1))
    pixels = image.shape[0] * image.shape[1] * upscale * upscale
    if pixels > MAX_OUTPUT_PIXELS:
        raise LibraryError(
            f"upscaling this {image.shape[1]}x{image.shape[0]} photo {upscale} times would make "
            f"{pixels / 1e6:.0f} megapixels (at most {MAX_OUTPUT_PIXELS / 1e6:.0f}); {advise(Advice.SMALLER_UPSCALE)}"
        )
    # Where the model runs, for the runner's out-of-memory notes and fall-back.
    ctx.device = str(getattr(restorer, "device", "") or ctx.device)
    options = RestoreOptions(
        steps=int(payload.get("steps") or RestoreOptions.steps),
        cfg=float(RestoreOptions.cfg if payload.get("cfg") is None else payload["cfg"]),
        seed=int(payload.get("seed") or 0),
        device=ctx.device,
        batch_size=ctx.batch_size,
    )
    groups = [(f.record.person_id, tuple(f.references)) for f in todo]
    # Each face's own options; faces of one person and the same options are restored together.
    face_options = [own_settings.get(f.record.id, FaceSettings()).over(options) for f in todo]
    references: dict[Hashable, Sequence[np.ndarray]] = {g: f.crops for g, f in zip(groups, todo, strict=True)}
    plan = preview_plan({**payload, "steps": options.steps})
    stage = PREVIEW_STAGE if plan else None
    ctx.progress(faces_done=0, faces_total=len(todo), message=f"restoring {counted(len(todo), 'face')}", stage=stage)

    def progress(p) -> None:
        ctx.progress(faces_done=p.faces_done, faces_total=p.faces, step=p.step, steps=p.steps, stage=stage)

    from refldm_desktop.restore.paste import PasteOptions

    parser = _face_parser(ctx, lib)

    def faces_at(steps: int | None = None) -> list[FaceToRestore]:
        # A preview never gives a face more steps than its final result will have: a face set to
        # few steps of its own is previewed at those. The plan itself reads only the photo's steps.
        return [FaceToRestore(f.record.landmarks, g, o if steps is None else replace(o, steps=min(o.steps, steps)))
                for f, g, o in zip(todo, groups, face_options, strict=True)]
    try:
        if plan:
            quick_steps = plan[0]
            ctx.progress(faces_done=0, faces_total=len(todo), step=0, steps=quick_steps,
                         message=f"making a quick preview ({quick_steps} steps)", stage=stage)
            # Same seed, fewer steps: the same face, less detailed. The references' keys and
            # values the restorer caches now serve the full run as well.
            quick = restore_photo(image, faces_at(quick_steps), restorer, references, upscale=upscale,
                                  options=replace(options, steps=quick_steps), progress=progress,
                                  cancelled=ctx.is_cancelled)
            shown = _write_preview(ctx, lib, quick.image)
            stage = FULL_STAGE
            ctx.progress(faces_done=0, faces_total=len(todo), step=0, steps=options.steps,
                         message=f"{'preview ready; ' if shown else ''}making the full result ({options.steps} steps)",
                         stage=stage)
        result = restore_photo(
            image,
            faces_at(),
            restorer,
            references,
            options=options,
            upscale=upscale,
            paste_options=PasteOptions(parser=parser),
            progress=progress,
            cancelled=ctx.is_cancelled,
        )
    except RestoreCancelled as exc:
        raise JobCancelled("cancelled") from exc
    # Recorded as the device used; a restorer that does not say where it ran records
    # none rather than the wish in the payload ("auto" is no device).
    device = str(getattr(restorer, "device", "") or "") or None
    ctx.device = device or ctx.device
    ctx.check_cancelled()

    policy = str(opts.get("identity_policy") or FLAG)
    result = _guard_identity(ctx, lib, todo, result, policy)
    summary["faces"] = [f.outcome().to_json() for f in faces]
    kept = [f for f in todo if f.status is FaceStatus.RESTORED]
    if not kept:
        return JobResult(
            version=None, summary=summary,
            message="no face kept: every restored face no longer looked like its person, so the photo stays as it was",
        )
    ctx.check_cancelled()

    data, extension, blocks_kept = _encode(photo.path, image, result)
    out_dir = _output_dir(lib, photo, Path(payload["output_dir"]), bool(opts.get("inside_library")))
    from refldm_desktop.library.output import candidate_names, write_new_file

    sha = ctx.stage_output(out_dir, data)
    # A name an earlier version recorded stays that version's, even after its file was
    # deleted or discarded: a new result takes the next free name.
    recorded = lib.jobs.queue.output_paths()
    names = (n for n in candidate_names(photo.path.stem, extension) if str((out_dir / n).absolute()) not in recorded)
    out = write_new_file(out_dir, names, data)
    summary["output"] = str(out)
    parameters = {
        "steps": options.steps,
        "cfg": options.cfg,
        "upscale": upscale,
        "device": device,
        "batch_size": ctx.batch_size,
        "resolution": res,
        "references": k,
        "no_refs_ok": no_refs_ok,
        "jpeg_blocks_kept": blocks_kept,
        "identity_policy": policy,
        "paste_mask": "ellipse" if parser is None else "face parsing (bisenet)",
        "tone": result.paste_options.tone.to_json() if result.paste_options.tone else None,
    }
    version = VersionRecord(
        output_path=out,
        output_sha256=sha,
        restorer=restorer.name,
        model=getattr(restorer, "model", None),
        parameters=parameters,
        seed=options.seed,
        # How each face was restored: its references and its own sampling settings.
        references_used=[
            {"face_id": f.record.id, "references": list(f.references), "steps": o.steps, "cfg": o.cfg, "seed": o.seed}
            for f, o in zip(todo, face_options, strict=True)
        ],
        face_status=summary["faces"],
        original_path=photo.path,
        original_sha256=photo.content_hash,
    )
    message = f"restored {len(kept)} of {counted(len(faces), 'face')}"
    flagged = sum(1 for f in kept if (f.identity or {}).get("verdict") in (DRIFTED, NO_FACE))
    if flagged:
        message += f" ({flagged} flagged: may not look like the person)"
    return JobResult(version=version, summary=summary, message=message)


def _face_parser(ctx: JobContext, lib):
    """The face-parsing model for paste masks when one is installed (restore.parsing), made
    once per runner; None (the feathered ellipse) when none is installed or it cannot load."""
    from refldm_desktop.restore import parsing

    path = parsing.installed(lib.home.models)
    if path is None:
        return None
    device = "cuda" if str(ctx.device).startswith("cuda") else "cpu"
    key = (str(path), path.stat().st_mtime_ns, device)
    cached = ctx.shared.get("face_parser")
    if cached is not None and cached[0] == key:
        return cached[1]
    parser = parsing.ParsingModel(path, device=device)
    try:
        parser.face_mask(np.zeros((64, 64, 3), np.uint8))  # loads it now, so a bad file is noted once
    except parsing.FaceParsingError as exc:
        ctx.note(f"the face-parsing model is not used: {exc}")
        ctx.shared["face_parser"] = (key, None)
        return None
    ctx.shared["face_parser"] = (key, parser)
    return parser


def _guard_identity(ctx: JobContext, lib, todo: list[_Face], result, policy: str):
    """Check each restored face against its person (restore.identity); store the verdicts
    on the faces. With the keep-original policy a drifted face gets its original pixels back
    (the photo is pasted again without it) and its status says so. Without a usable face
    backend the faces go unchecked, with a note."""
    from refldm_desktop.restore.identity import IdentityGuard

    try:
        backend = lib.backend()
    except LibraryError as exc:
        ctx.note(f"identity not checked: {exc}")
        return result
    guard = IdentityGuard(backend)
    model_id = guard.space.model_id
    ctx.progress(message=f"checking that {len(todo)} restored faces still look like their people")
    keep: list[bool] = []
    for i, face in enumerate(todo):
        ctx.check_cancelled()
        known, against, stored = known_embeddings(lib, face.record, face.references, model_id)
        check = guard.check(result.crops[i], result.restored[i], known, against, stored)
        face.identity = check.to_json()
        drifted = check.verdict == DRIFTED
        if drifted and policy == KEEP_ORIGINAL:
            face.skip(FaceStatus.KEPT_ORIGINAL, f"the restored face {check.describe()}")
        keep.append(not (drifted and policy == KEEP_ORIGINAL))
    if not all(keep):
        result = result.keeping(keep)
    return result


def _write_preview(ctx: JobContext, lib, image: np.ndarray) -> bool:
    """The preview as a JPEG in the home's cache (one per job, replaced atomically); a disk
    problem costs the preview only. Whether it was written and announced."""
    import contextlib
    import io
    import os

    from PIL import Image

    folder = lib.home.cache / "previews"
    path = folder / f"job-{ctx.id}.jpg"
    tmp = folder / f".job-{ctx.id}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=90)
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        ctx.note(f"no preview: {exc.strerror or exc}")
        return False
    ctx.preview(path)
    return True


def _why_not(f: FaceRecord, wanted: set[int] | None, not_chosen: dict[str, str]) -> tuple[FaceStatus, str]:
    """(RESTORED, "") when the face is to be restored, else its status and why not."""
    from refldm_desktop.faces.align import ffhq_transform

    if wanted is not None and f.id not in wanted:
        return FaceStatus.NOT_CHOSEN, not_chosen.get(str(f.id), "it was found after the batch was planned")
    if f.person_hidden:
        return FaceStatus.SKIPPED, f"person {f.person_id} is hidden"
    try:
        ffhq_transform(f.landmarks, 64)
    except ValueError:
        return FaceStatus.SKIPPED, "its landmarks cannot be aligned"
    return FaceStatus.RESTORED, ""


def _restorer(ctx: JobContext, lib, payload) -> Any:
    """The job's restorer, made once per runner (loading a model is slow)."""
    name = str(payload.get("restorer") or DEFAULT_RESTORER)
    model = payload.get("model")
    precision = str((payload.get("options") or {}).get("precision") or "auto")
    key = (name, model, ctx.device, precision)
    cache = ctx.shared.setdefault("restorers", {})
    restorer = cache.get(key)
    if restorer is None:
        # The same restorer on another device (before an out-of-memory fall-back to the
        # CPU) lets its memory go first.
        for old in [k for k in cache if k[0] == name]:
            del cache[old]
        restorer = create_restorer(name, **restorer_options(lib, model, ctx.device, precision))
        ok, why = restorer.available()
        if not ok:
            raise LibraryError(f"the restorer {name!r} cannot run: {why}")
        cache[key] = restorer
    return restorer


def _reference_crops(
    ctx: JobContext, lib, refs: list[Reference], size: int
) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Aligned crops of the references at the restorer's size, from their photos.

    A reference whose photo is gone or changed since it was indexed is left out (its
    landmarks no longer fit) with a note. Crops are kept in memory across jobs.
    """
    from refldm_desktop.faces.align import ffhq_transform, warp_to_crop
    from refldm_desktop.library.imageio import ImageError, load_rgb

    cache: OrderedDict = ctx.shared.setdefault("reference_crops", OrderedDict())
    records = {f.id: f for f in face_records(lib, face_ids=[r.face_id for r in refs])}
    crops: list[np.ndarray] = []
    used: list[int] = []
    problems: list[str] = []
    images: dict[int, np.ndarray] = {}
    for r in refs:
        face = records.get(r.face_id)
        if face is None:
            problems.append(f"reference face {r.face_id} no longer exists")
            continue
        photo = photo_record(lib, face.photo_id)
        key = (photo.content_hash, face.landmarks.tobytes(), size)
        crop = cache.get(key)
        if crop is None:
            problem = photo.changed_on_disk()
            if problem:
                problems.append(f"reference face {r.face_id} left out: {problem}")
                continue
            if photo.id not in images:
                try:
                    images[photo.id] = load_rgb(photo.path)[0]
                except ImageError as exc:
                    problems.append(f"reference face {r.face_id} left out: {exc.reason}")
                    continue
            try:
                crop = warp_to_crop(images[photo.id], ffhq_transform(face.landmarks, size))
            except ValueError as exc:
                problems.append(f"reference face {r.face_id} left out: {exc}")
                continue
            cache[key] = crop
            while len(cache) > _REFERENCE_CROPS_KEPT:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        crops.append(crop)
        used.append(r.face_id)
    return crops, used, problems


def _encode(original: Path, image: np.ndarray, result) -> tuple[bytes, str, bool]:
    """The new file's bytes and extension, and whether a JPEG's untouched blocks were kept.

    At the original size a JPEG keeps every block no face touched; otherwise (other
    formats, an upscaled photo) the photo is encoded whole, like the original.
    """
    from refldm_desktop.library.output import encode

    upright = (image.shape[1], image.shape[0])
    if result.upscale == 1:
        from refldm_desktop.library.jpeg_splice import splice_jpeg

        data = splice_jpeg(original, result.image, result.paste.touched())
        if data is not None:
            ext = original.suffix if original.suffix.lower() in (".jpg", ".jpeg", ".jpe", ".jfif") else ".jpg"
            return data, ext, True
    data, plan = encode(original, result.image, upright)
    return data, plan.extension, False


def _output_dir(lib, photo: PhotoRecord, out_root: Path, inside_library: bool) -> Path:
    """The output folder for a photo: out_root, mirroring the photo's library folder."""
    from refldm_desktop.library.output import OutputError, check_destination, mirrored_dir

    out_dir = out_root
    if photo.root is not None:
        try:
            out_dir = mirrored_dir(photo.path, photo.root, out_root)
        except OutputError:
            out_dir = out_root
    # The app's home is never indexed, so its Restored folder is safe wherever it is.
    ours = lib.home.root == out_dir or lib.home.root in out_dir.parents
    check_destination(out_dir, lib.folders(), inside_library or ours)
    return out_dir
