"""The HTML report of a batch: a contact sheet of every restored face, before and after,
with the reference faces it was restored from, and the faces and photos left out with why.

One HTML file per batch in the output folder ("<batch id>.html") and its thumbnails in a
folder next to it; every link is relative, so the folder can be moved or shared as a whole.
Every file is written atomically (a temporary file in the same folder, then renamed), and
running the batch again rewrites the report with everything done so far.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from refldm_desktop.library.atomic import write_atomic

if TYPE_CHECKING:
    from refldm_desktop.core.library import Library

THUMB = 160  # side of a before/after thumbnail
REF_THUMB = 80


def _link(target: Path, base: Path) -> str:
    return quote(Path(os.path.relpath(target, base)).as_posix())


def write_batch_report(lib: "Library", batch_id: str, out_root: Path) -> Path:
    from refldm_desktop.core.changes import LibraryError
    from refldm_desktop.core.outcomes import FaceStatus
    from refldm_desktop.db.models import JobState
    from refldm_desktop.library.imageio import ImageError, probe
    from refldm_desktop.library.scan import content_hash
    from refldm_desktop.restore.identity import DRIFTED, NO_FACE, IdentityCheck

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

    def copy(cached: Path, name: Path) -> str:
        # The report's folder holds its own copies, so it can be moved or shared whole.
        write_atomic(name, cached.read_bytes())
        return _link(name, out_root)

    def ref_thumb(face_id: int) -> str | None:
        if face_id not in ref_thumbs:
            try:
                ref_thumbs[face_id] = copy(lib.thumbnail("face", face_id, REF_THUMB), thumbs / f"ref-face{face_id}.jpg")
            except (LibraryError, OSError):
                ref_thumbs[face_id] = None
        return ref_thumbs[face_id]

    for job in jobs:
        photo = job.photo
        label = esc(photo.name if photo else f"job {job.id}")
        v = versions.get(job.id)
        summary = dict(job.result or {})
        options = job.payload.get("options") or {}
        quality = dict(options.get("quality") or {})
        need = dict(options.get("need") or {})
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
            original = probe(v.original)
            before_key = f"sha256:{v.original_sha256 or content_hash(v.original)}"
        except (ImageError, OSError) as exc:
            left_out.append(f"<li>{label}: cannot show it ({esc(getattr(exc, 'reason', str(exc)))})</li>")
            continue
        refs_of = {r["face_id"]: r.get("references", []) for r in v.references_used}
        for f in faces:
            fid = f.get("face_id")
            status, _ = FaceStatus.parse(f["status"])
            if status is not FaceStatus.RESTORED:
                if status is not FaceStatus.NOT_CHOSEN:
                    left_out.append(f"<li>{label}, face {fid}: {esc(str(f['status']))}</li>")
                continue
            restored_faces += 1
            box = tuple(f["box"])
            try:
                b_link = copy(
                    lib.thumbnails.image(v.original, before_key, THUMB, box=box),
                    thumbs / f"job{job.id}-face{fid}-before.jpg",
                )
                a_link = copy(
                    lib.thumbnails.image(
                        v.output, f"sha256:{v.output_sha256}", THUMB, box=box,
                        box_space=(original.width, original.height),
                    ),
                    thumbs / f"job{job.id}-face{fid}-after.jpg",
                )
            except (LibraryError, OSError) as exc:
                left_out.append(f"<li>{label}, face {fid}: cannot show it ({esc(str(exc))})</li>")
                continue
            refs = [ref_thumb(r) for r in refs_of.get(fid, [])]
            ref_html = "".join(
                f'<img src="{r}" width="{REF_THUMB}" alt="reference">' for r in refs if r
            ) or "<em>none</em>"
            why = ""
            # Both scores: why it was restored (need) and how good a reference it is.
            for label_, scores in (("restoration need", need), ("reference quality", quality)):
                q = scores.get(str(fid))
                if q:
                    why += f"<br>{label_} {q['score']:.2f}" + (
                        f": {esc(', '.join(q['reasons'][:3]))}" if q["reasons"] else ""
                    )
            who = f"person {f['person_id']}" if f.get("person_id") is not None else "no person"
            ident = "<em>not checked</em>"
            if f.get("identity"):
                check = IdentityCheck.from_json(f["identity"])
                flagged = check.verdict in (DRIFTED, NO_FACE)
                ident = (f'<span class="{"flag" if flagged else "ok"}">{esc(check.verdict.replace("_", " "))}</span>'
                         f"<br>{esc(check.describe())}")
            rows.append(
                "<tr>"
                f'<td><a href="{_link(v.output, out_root)}">{label}</a><br>face {fid}, {esc(who)}{why}</td>'
                f'<td><img src="{b_link}" alt="before"></td>'
                f'<td><img src="{a_link}" alt="after"></td>'
                f"<td>{ref_html}</td>"
                f"<td>{ident}</td>"
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
.flag {{ color: #b00; font-weight: bold; }}
.ok {{ color: #070; }}
</style></head><body>
<h1>Restored faces</h1>
<p>Batch {esc(batch_id)}: {done} of {len(jobs)} photos done, {restored_faces} faces restored.
The originals were not changed; each restored photo is a new file (follow its name).</p>
<table>
<tr><th>photo and face</th><th>before</th><th>after</th><th>references used</th><th>same person?</th></tr>
{chr(10).join(rows)}
</table>
{"<h2>Left out</h2><ul>" + chr(10).join(left_out) + "</ul>" if left_out else ""}
</body></html>
"""
    write_atomic(report, page.encode("utf-8"))
    return report
