"""The HTML report of a batch: a contact sheet of every restored face, before and after,
with the reference faces it was restored from, and the faces and photos left out with why.

One HTML file per batch in the output folder ("<batch id>.html") and its thumbnails in a
folder next to it; every link is relative, so the folder can be moved or shared as a whole.
Every file is written atomically (a temporary file in the same folder, then renamed), and
running the batch again rewrites the report with everything done so far.
"""

from __future__ import annotations

import html
import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library

THUMB = 160  # side of a before/after thumbnail
REF_THUMB = 80
_MARGIN = 0.35  # context around a face box, as a share of its size


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".refldm-", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o644)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _square(box: list[float], scale: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A square around a face box with some context, in an image of `shape`, clipped."""
    x0, y0, x1, y1 = (v * scale for v in box)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * _MARGIN)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = shape[:2]
    a = max(int(cx - side / 2), 0)
    b = max(int(cy - side / 2), 0)
    return a, b, min(int(np.ceil(cx + side / 2)), w), min(int(np.ceil(cy + side / 2)), h)


def _thumb(image: np.ndarray, region: tuple[int, int, int, int], side: int) -> bytes:
    x0, y0, x1, y1 = region
    crop = Image.fromarray(image[y0:y1, x0:x1])
    crop.thumbnail((side, side), Image.Resampling.LANCZOS)
    return _jpeg(crop)


def _link(target: Path, base: Path) -> str:
    return quote(Path(os.path.relpath(target, base)).as_posix())


def write_batch_report(lib: "Library", batch_id: str, out_root: Path) -> Path:
    from refldm_desktop.core.changes import LibraryError
    from refldm_desktop.core.outcomes import FaceStatus
    from refldm_desktop.db.models import JobState
    from refldm_desktop.library.imageio import ImageError, load_rgb

    out_root = Path(out_root)
    report = out_root / f"{batch_id}.html"
    thumbs = out_root / f"{batch_id} thumbnails"
    jobs = lib.jobs.list(all=True, batch_id=batch_id)
    versions = {v.job_id: v for v in lib.jobs.versions() if v.job_id is not None}
    esc = html.escape
    rows: list[str] = []
    left_out: list[str] = []
    restored_faces = 0
    ref_thumbs: dict[int, str | None] = {}

    def ref_thumb(face_id: int) -> str | None:
        if face_id not in ref_thumbs:
            name = thumbs / f"ref-face{face_id}.jpg"
            try:
                crop = Image.open(lib.face_crop(face_id))
                crop.thumbnail((REF_THUMB, REF_THUMB), Image.Resampling.LANCZOS)
                _write_atomic(name, _jpeg(crop))
                ref_thumbs[face_id] = _link(name, out_root)
            except (LibraryError, OSError):
                ref_thumbs[face_id] = None
        return ref_thumbs[face_id]

    for job in jobs:
        photo = job.photo
        label = esc(photo.name if photo else f"job {job.id}")
        v = versions.get(job.id)
        summary = dict(job.result or {})
        quality = dict((job.payload.get("options") or {}).get("quality") or {})
        if job.state != JobState.DONE:
            why = job.error or job.state
            left_out.append(f"<li>{label}: {esc(job.state)}{': ' + esc(why) if job.error else ''}</li>")
            continue
        faces = summary.get("faces") or []
        if v is None:
            reasons = "; ".join(sorted({f["status"] for f in faces})) or "no faces"
            left_out.append(f"<li>{label}: nothing restored ({esc(reasons)})</li>")
            continue
        try:
            before, _ = load_rgb(v.original)
            after, _ = load_rgb(v.output)
        except (ImageError, OSError) as exc:
            left_out.append(f"<li>{label}: cannot show it ({esc(getattr(exc, 'reason', str(exc)))})</li>")
            continue
        scale = after.shape[1] / before.shape[1]
        refs_of = {r["face_id"]: r.get("references", []) for r in v.references_used}
        for f in faces:
            fid = f.get("face_id")
            status, _ = FaceStatus.parse(f["status"])
            if status is not FaceStatus.RESTORED:
                if status is not FaceStatus.NOT_CHOSEN:
                    left_out.append(f"<li>{label}, face {fid}: {esc(str(f['status']))}</li>")
                continue
            restored_faces += 1
            b_name = thumbs / f"job{job.id}-face{fid}-before.jpg"
            a_name = thumbs / f"job{job.id}-face{fid}-after.jpg"
            _write_atomic(b_name, _thumb(before, _square(f["box"], 1.0, before.shape), THUMB))
            _write_atomic(a_name, _thumb(after, _square(f["box"], scale, after.shape), THUMB))
            refs = [ref_thumb(r) for r in refs_of.get(fid, [])]
            ref_html = "".join(
                f'<img src="{r}" width="{REF_THUMB}" alt="reference">' for r in refs if r
            ) or "<em>none</em>"
            q = quality.get(str(fid))
            why = ""
            if q:
                why = f"<br>quality {q['score']:.2f}" + (f": {esc(', '.join(q['reasons'][:3]))}" if q["reasons"] else "")
            who = f"person {f['person_id']}" if f.get("person_id") is not None else "no person"
            rows.append(
                "<tr>"
                f'<td><a href="{_link(v.output, out_root)}">{label}</a><br>face {fid}, {esc(who)}{why}</td>'
                f'<td><img src="{_link(b_name, out_root)}" alt="before"></td>'
                f'<td><img src="{_link(a_name, out_root)}" alt="after"></td>'
                f"<td>{ref_html}</td>"
                "</tr>"
            )
    done = sum(1 for j in jobs if j.state == JobState.DONE)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Restored faces: {esc(batch_id)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 6px; vertical-align: top; }}
td img {{ margin: 2px; }}
</style></head><body>
<h1>Restored faces</h1>
<p>Batch {esc(batch_id)}: {done} of {len(jobs)} photos done, {restored_faces} faces restored.
The originals were not changed; each restored photo is a new file (follow its name).</p>
<table>
<tr><th>photo and face</th><th>before</th><th>after</th><th>references used</th></tr>
{chr(10).join(rows)}
</table>
{"<h2>Left out</h2><ul>" + chr(10).join(left_out) + "</ul>" if left_out else ""}
</body></html>
"""
    _write_atomic(report, page.encode("utf-8"))
    return report
