"""Quality scores as the database keeps them: measured once per face, stored with it, and
measured again only when the face changes (its photo's content changed, so the indexer
found it anew) or when QUALITY_VERSION changes.

New faces are scored by the indexer right after detection, while the photo is decoded
anyway. Faces scored by an older version (or never, in a library made before scoring
existed) are "stale": `rescore` decodes each of their photos once and scores them again.
The index run rescores every stale face; `refs show` rescores the stale faces of the person
it shows, so a new version never waits for a full re-index.

The stored score and reasons are person-independent. Identity consistency (distance to
the person's centre) is not stored: it changes whenever the person gains or loses a face
(clustering, merge, split, confirm), so reference choice works it out on every call, which
costs milliseconds.

The restoration need (faces.need) is stored beside the quality, with its own NEED_VERSION.
It is worked out from the stored measures, so a new NEED_VERSION alone is applied by
`rerate_needs` from the database, without decoding any photo.

`quality` is reached through its module (never `from ... import assess`), so that tests can
count or replace the calls and bump the version.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from refldm_desktop.core.changes import RescoreResult
from refldm_desktop.core.progress import Cancel, ProgressFn, is_cancelled, report
from refldm_desktop.db.models import Face, Photo, PhotoState
from refldm_desktop.faces import need, quality

CHUNK = 500  # ids per IN (...), under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Scored:
    """One face's quality in the shape of its database columns."""

    quality: dict | None  # QualityScores.to_dict(); None when it could not be measured
    version: int
    score: float | None
    reasons: list[str]
    pose: tuple[float, float, float] | None
    need: float | None = None  # need.rate_need(...).score; None when not measured
    need_reasons: list[str] | None = None

    def apply(self, face: Face) -> None:
        face.quality = self.quality
        face.quality_version = self.version
        face.quality_score = self.score
        face.quality_reasons = self.reasons
        face.yaw, face.pitch, face.roll = self.pose or (None, None, None)
        face.need_version = need.NEED_VERSION
        face.need_score = self.need
        face.need_reasons = self.need_reasons if self.need is not None else list(self.reasons)


def score_face(image: np.ndarray, landmarks: np.ndarray, detector_score: float, backend: str) -> Scored:
    """Measure one face of a decoded (upright RGB) photo."""
    try:
        q = quality.assess(
            image, landmarks, detector=quality.detector_confidence(float(detector_score), backend)
        )
    except Exception as exc:  # one odd face (cut by the border, bad landmarks) must not stop a run
        return Scored(None, quality.QUALITY_VERSION, None, [f"could not be measured: {exc}"], None)
    r = quality.rate(q)
    n = need.rate_need(q)
    return Scored(
        quality=q.to_dict(),
        version=q.version,
        score=r.score,
        reasons=list(r.reasons),
        pose=(q.pose.yaw, q.pose.pitch, q.pose.roll),
        need=n.score,
        need_reasons=list(n.reasons),
    )


def photo_fingerprint(image: np.ndarray) -> bytes:
    return np.asarray(quality.photo_fingerprint(image), dtype=np.int8).tobytes()


def unpack_fingerprint(data: bytes | None) -> tuple[int, ...]:
    if not data:
        return ()
    return tuple(int(v) for v in np.frombuffer(data, dtype=np.int8))


def load_quality(face: Face) -> quality.QualityScores | None:
    """The stored measures, or None when missing or unreadable (a format from another
    version): such a face is left out of reference choice rather than guessed at."""
    if not face.quality:
        return None
    try:
        return quality.QualityScores.from_dict(face.quality)
    except (TypeError, KeyError, ValueError):
        return None


def stale():
    """Faces whose stored scores are missing or come from another QUALITY_VERSION."""
    return or_(Face.quality_version.is_(None), Face.quality_version != quality.QUALITY_VERSION)


def _need_stale():
    return (Face.quality_version == quality.QUALITY_VERSION) & or_(
        Face.need_version.is_(None), Face.need_version != need.NEED_VERSION
    )


def needs_stale(session_factory: sessionmaker[Session], face_ids: Sequence[int] | None = None) -> bool:
    """Whether any face (of `face_ids`) has current measures but a need from another
    NEED_VERSION. One query."""
    q = select(Face.id).where(_need_stale()).limit(1)
    with session_factory() as s:
        if face_ids is None:
            return s.execute(q).first() is not None
        ids = list(dict.fromkeys(face_ids))
        return any(
            s.execute(q.where(Face.id.in_(ids[i : i + CHUNK]))).first() is not None for i in range(0, len(ids), CHUNK)
        )


def rerate_needs(session_factory: sessionmaker[Session], face_ids: Sequence[int] | None = None) -> int:
    """Work out the need again for faces whose measures are current but whose need comes
    from another NEED_VERSION (all of them, or those among `face_ids`). Reads the stored
    measures only. Returns how many faces were rated."""
    q = select(Face).where(_need_stale())
    done = 0
    with session_factory() as s:
        if face_ids is None:
            batches = [s.scalars(q).all()]
        else:
            ids = list(dict.fromkeys(face_ids))
            batches = [s.scalars(q.where(Face.id.in_(ids[i : i + CHUNK]))).all() for i in range(0, len(ids), CHUNK)]
        for faces in batches:
            for face in faces:
                measures = load_quality(face)
                face.need_version = need.NEED_VERSION
                if measures is None:
                    face.need_score, face.need_reasons = None, list(face.quality_reasons or [])
                else:
                    n = need.rate_need(measures)
                    face.need_score, face.need_reasons = n.score, list(n.reasons)
                done += 1
        if done:
            s.commit()
    return done


def stale_faces(
    session_factory: sessionmaker[Session], face_ids: Sequence[int] | None = None
) -> dict[int, list[int]]:
    """photo id -> its stale faces (all of them, or those among `face_ids`), on photos
    that are there to be read (missing ones wait until they come back). One query: cheap
    enough to ask before every reference choice."""
    with session_factory() as s:
        q = (
            select(Face.id, Face.photo_id)
            .join(Photo, Photo.id == Face.photo_id)
            .where(stale(), Photo.state == PhotoState.OK)
        )
        if face_ids is None:
            rows = s.execute(q).all()
        else:
            ids = list(dict.fromkeys(face_ids))
            rows = []
            for i in range(0, len(ids), CHUNK):
                rows += s.execute(q.where(Face.id.in_(ids[i : i + CHUNK]))).all()
    by_photo: dict[int, list[int]] = defaultdict(list)
    for fid, pid in rows:
        by_photo[pid].append(fid)
    return dict(by_photo)


def rescore(
    session_factory: sessionmaker[Session],
    face_ids: Sequence[int] | None = None,
    *,
    todo: dict[int, list[int]] | None = None,
    cancel: Cancel | None = None,
    progress: ProgressFn | None = None,
) -> RescoreResult:
    """Score stale faces again (all of them, or the stale ones among `face_ids`, or `todo`
    as stale_faces found them).

    Each photo is decoded once for all its stale faces, and its fingerprint is made again
    with them. A photo that is gone, unreadable or changed since it was indexed is skipped:
    its faces keep their old scores until the next index run finds them again."""
    from refldm_desktop.library.imageio import ImageError, load_rgb

    by_photo = stale_faces(session_factory, face_ids) if todo is None else todo
    if not by_photo:
        return RescoreResult()

    rescored = skipped = photos = 0
    total = len(by_photo)
    report(progress, "rescore", 0, total)
    with session_factory() as s:
        for done, (photo_id, fids) in enumerate(sorted(by_photo.items()), 1):
            if is_cancelled(cancel):
                break
            photo = s.get(Photo, photo_id)
            image = _read(photo, load_rgb, ImageError)
            if photo is None or image is None:
                skipped += len(fids)
                continue
            photos += 1
            # Measured before anything is written, and committed per photo: the write
            # lock is held only for the commit, never while faces are measured.
            faces = [f for f in (s.get(Face, fid) for fid in sorted(fids)) if f is not None]
            scored = [score_face(image, f.landmarks_array(), f.score, f.backend) for f in faces]
            fingerprint = photo_fingerprint(image)
            photo.fingerprint = fingerprint
            for face, sc in zip(faces, scored, strict=True):
                sc.apply(face)
            rescored += len(faces)
            s.commit()
            report(progress, "rescore", done, total, photo.path)
    return RescoreResult(faces_rescored=rescored, photos_read=photos, faces_skipped=skipped)


def _read(photo: Photo | None, load_rgb, image_error) -> np.ndarray | None:
    """The photo's pixels, when the file is still the one that was indexed."""
    if photo is None or photo.state != PhotoState.OK:
        return None
    path = Path(photo.path)
    try:
        st = path.stat()
    except OSError:
        return None
    if (st.st_size, st.st_mtime_ns) != (photo.size, photo.mtime_ns):
        return None  # changed since indexing: the next index run finds its faces again
    try:
        image, _ = load_rgb(path)
    except (image_error, OSError, MemoryError):
        return None
    return image
