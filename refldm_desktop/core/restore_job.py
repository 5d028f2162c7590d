"""The "restore_photo" job: restore the faces of one photo and write it as a new file.

For each face of the photo (those the job names, for a batch): a face with a person gets the
references the library chooses for it; a face without a person, or without references, is
skipped with a reason unless the job allows reference-free restoration. The photo is then
restored in memory (restore.photo: upscale, align, restore per person, paste back), encoded
like the original (a JPEG keeps its untouched blocks bit for bit, library.jpeg_splice),
staged with the runner and written as a new file in the output folder, which mirrors the
library's folders. The runner records the Version in the transaction that marks the job
done, so a killed process never leaves an output without a record, nor a record twice.

Kept for the runner's lifetime in `ctx.shared`: the restorer (a loaded model), and the
reference crops of recent jobs (a person's references are mostly the same from photo to
photo; a reference-based restorer also keeps their encoded keys and values).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from refldm_desktop.core.changes import LibraryError
from refldm_desktop.core.outcomes import FaceOutcome, FaceStatus
from refldm_desktop.defaults import DEFAULT_REFERENCES, DEFAULT_RESTORER
from refldm_desktop.core.restoring import (
    FaceRecord,
    PhotoRecord,
    Reference,
    create_restorer,
    face_records,
    photo_record,
    references_for,
    restorer_options,
)
from refldm_desktop.jobs.queue import JobResult, VersionRecord
from refldm_desktop.jobs.runner import JobCancelled, JobContext

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
        )


def restore_photo_job(ctx: JobContext) -> JobResult:
    lib = ctx.library
    if lib is None:
        raise LibraryError("restore_photo jobs run through the Library's runner (library.jobs.run)")
    payload = ctx.payload
    opts = dict(payload.get("options") or {})
    photo = photo_record(lib, int(ctx.photo_id))
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
    faces = [_Face(f) for f in face_records(lib, photo_id=photo.id)]
    for face in faces:
        face.status, face.reason = _why_not(face.record, wanted, not_chosen)
    ctx.check_cancelled()
    for face in faces:
        if face.status is not FaceStatus.RESTORED:
            continue
        f = face.record
        if f.person_id is not None and k > 0:
            refs = references_for(lib, f.id, k)
            face.crops, face.references, problems = _reference_crops(ctx, lib, refs, res)
            for p in problems:
                ctx.note(f"face {f.id}: {p}")
        if not face.references and not no_refs_ok:
            if f.person_id is None:
                face.skip(FaceStatus.SKIPPED, "no person (put this face into a person, or allow reference-free "
                          "restoration: --no-refs-ok)")
            else:
                face.skip(FaceStatus.SKIPPED, f"no usable reference photos of person {f.person_id} "
                          "(add sharp photos of them, or allow reference-free restoration: --no-refs-ok)")
    todo = [f for f in faces if f.status is FaceStatus.RESTORED]
    summary: dict[str, Any] = {"faces": [f.outcome().to_json() for f in faces], "output": None}
    if not todo:
        reason = "no face to restore" if not faces else "no face could be restored"
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
            f"{pixels / 1e6:.0f} megapixels (at most {MAX_OUTPUT_PIXELS / 1e6:.0f}); use a smaller --upscale"
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
    references = {g: f.crops for g, f in zip(groups, todo, strict=True)}
    ctx.progress(faces_done=0, faces_total=len(todo), message=f"restoring {len(todo)} faces")

    def progress(p) -> None:
        ctx.progress(faces_done=p.faces_done, faces_total=p.faces, step=p.step, steps=p.steps)

    to_restore = [FaceToRestore(f.record.landmarks, g) for f, g in zip(todo, groups, strict=True)]
    try:
        preview_steps = int(opts.get("preview_steps") or 0)
        if 0 < preview_steps < options.steps:
            ctx.progress(faces_done=0, faces_total=len(todo), message=f"a quick preview ({preview_steps} steps)")
            # Same seed, fewer steps: the same face, less detailed. The references' keys and
            # values the restorer caches now serve the full run as well.
            quick = restore_photo(image, to_restore, restorer, references, upscale=upscale,
                                  options=replace(options, steps=preview_steps), cancelled=ctx.is_cancelled)
            _write_preview(ctx, lib, quick.image)
        result = restore_photo(
            image,
            to_restore,
            restorer,
            references,
            options=options,
            upscale=upscale,
            progress=progress,
            cancelled=ctx.is_cancelled,
        )
    except RestoreCancelled as exc:
        raise JobCancelled("cancelled") from exc
    device = str(getattr(restorer, "device", "") or ctx.device)
    ctx.device = device
    ctx.check_cancelled()

    data, extension, blocks_kept = _encode(photo.path, image, result)
    out_dir = _output_dir(lib, photo, Path(payload["output_dir"]), bool(opts.get("inside_library")))
    from refldm_desktop.library.output import candidate_names, write_new_file

    sha = ctx.stage_output(out_dir, data)
    # A discarded version keeps its record and name: a new result never takes it.
    recorded = lib.jobs.queue.output_paths()
    names = (n for n in candidate_names(photo.path.stem, extension) if str(out_dir / n) not in recorded)
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
    }
    version = VersionRecord(
        output_path=out,
        output_sha256=sha,
        restorer=restorer.name,
        model=getattr(restorer, "model", None),
        parameters=parameters,
        seed=options.seed,
        references_used=[{"face_id": f.record.id, "references": list(f.references)} for f in todo],
        face_status=summary["faces"],
        original_path=photo.path,
        original_sha256=photo.content_hash,
    )
    return JobResult(version=version, summary=summary, message=f"restored {len(todo)} of {len(faces)} faces")


def _write_preview(ctx: JobContext, lib, image: np.ndarray) -> None:
    """The preview as a JPEG in the home's cache (one per job, replaced atomically); a disk
    problem costs the preview only."""
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
        return
    ctx.preview(path)


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
    key = (name, model, ctx.device)
    cache = ctx.shared.setdefault("restorers", {})
    restorer = cache.get(key)
    if restorer is None:
        # The same restorer on another device (before an out-of-memory fall-back to the
        # CPU) lets its memory go first.
        for old in [k for k in cache if k[0] == name]:
            del cache[old]
        restorer = create_restorer(name, **restorer_options(lib, model, ctx.device))
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

        data = splice_jpeg(original, result.image, result.paste.coverage() > 0)
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
