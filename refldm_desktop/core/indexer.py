"""Indexing: bring the photos table in line with the folders on disk.

Cheap first: one walk (one stat per file), one bulk read of the known photos, and a dict
lookup per file; a file whose size and mtime are unchanged costs nothing more. Only new or
changed files are hashed, and only new content is decoded and sent to the face backend.
Each photo is committed on its own, and its decoding and face detection happen before its
write transaction starts: SQLite's write lock is held for milliseconds at a time, so the
user's renames and pins (and the job runner) go through while a long index runs. An
interrupted run leaves every finished photo in place and the next run picks up the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterable, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from refldm_desktop.core import scoring
from refldm_desktop.core.changes import IndexResult, LibraryError, Problem
from refldm_desktop.core.progress import Cancel, ProgressFn, is_cancelled, report
from refldm_desktop.db.models import Face, LibraryFolder, Photo, PhotoState, Version, pack_array, utcnow
from refldm_desktop.faces.types import FaceBackend

if TYPE_CHECKING:
    from refldm_desktop.library.imageio import ImageInfo


CHUNK = 500  # ids per bulk UPDATE, under SQLite's bound-parameter limit
_QUALITY_COLUMNS = (
    "quality", "quality_version", "quality_score", "quality_reasons", "yaw", "pitch", "roll",
    "need_version", "need_score", "need_reasons",
)


@dataclass(frozen=True)
class _Detected:
    """What detection found in one photo, ready to be written."""

    info: ImageInfo
    taken_at: datetime | None  # naive camera time
    backend: str
    model_id: str
    fingerprint: bytes | None
    faces: list  # (DetectedFace, scoring.Scored)


class _Known(NamedTuple):
    id: int
    path: str
    size: int
    mtime_ns: int
    state: str
    error: str | None


@dataclass
class _Tally:
    new: int = 0
    duplicates: int = 0
    unchanged: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0
    reappeared: int = 0
    faces_found: int = 0
    faces_kept: int = 0
    faces_lost: int = 0
    problems: list[Problem] = field(default_factory=list)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return path.startswith(prefixes)


def _prefix(root: Path) -> str:
    s = str(root)
    return s if s.endswith(os.sep) else s + os.sep


def _gone(path: str) -> bool:
    """True only when the file is really not there (not merely unreadable)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _storable(path: str) -> bool:
    """SQLite text must be UTF-8; POSIX names may be any bytes (seen as surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


class Indexer:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        backend: Callable[[], FaceBackend],
        *,
        exclude: Iterable[Path] = (),
        progress: ProgressFn | None = None,
        cancel: Cancel | None = None,
        on_commit: Callable[[set[int]], None] | None = None,
    ) -> None:
        self._Session = session_factory
        self._on_commit = on_commit
        self._touched: list[Photo] = []
        self._get_backend = backend
        self._exclude = tuple(_prefix(p) for p in exclude)
        self._progress = progress
        self._cancel = cancel
        self._t = _Tally()
        self._seen: set[str] = set()
        self._gone_now: set[int] = set()
        self._outputs: set[str] = set()
        self._output_hashes: set[str] = set()

    # -- the run ----------------------------------------------------------------------------

    def run(self, roots: list[Path], folders: list[Path] | None = None) -> IndexResult:
        """Index `roots` (folders, or single photo files); `folders` are the library folders
        they belong to (default: the roots themselves)."""
        from refldm_desktop.library.scan import FileEntry, ScanProblem, walk

        self._add_folders(roots if folders is None else folders)
        prefixes = tuple(_prefix(r) for r in roots)
        with self._Session() as s:
            known = {
                r.path: _Known(*r)
                for r in s.execute(
                    select(Photo.id, Photo.path, Photo.size, Photo.mtime_ns, Photo.state, Photo.error)
                )
            }
            self._folders = sorted(
                ((f.path, f.id) for f in s.execute(select(LibraryFolder.path, LibraryFolder.id))),
                key=lambda pf: -len(pf[0]),
            )
            # Our own restored files, wherever the user put them: indexed, they would become
            # faces of their person and then that person's references (the model learning
            # from its own output). Known by path, and by content once moved or copied.
            self._outputs = set(s.scalars(select(Version.output_path)))
            self._output_hashes = set(s.scalars(select(Version.output_sha256)))

        work: list[tuple[object, _Known | None]] = []
        back: list[_Known] = []
        # A root inside another root given in the same run would be walked twice.
        outer = [r for r in roots if not any(o != r and r.is_relative_to(o) for o in roots)]
        for item in walk(outer):
            path = str(item.path)
            if self._exclude and _under(path, self._exclude):
                continue  # the app's own home inside the library: never index our files
            if path in self._seen:
                continue  # reached twice (through a link): one photo
            if path in self._outputs:
                continue
            self._seen.add(path)
            if not _storable(path):
                self._t.problems.append(
                    Problem(Path(item.path), "the file name is not valid UTF-8; rename it to index it")
                )
                continue
            if isinstance(item, ScanProblem):
                self._t.problems.append(Problem(Path(item.path), item.reason))
                continue
            assert isinstance(item, FileEntry)
            row = known.get(path)
            if row is None:
                work.append((item, None))
            elif row.size == item.size and row.mtime_ns == item.mtime_ns:
                if row.state == PhotoState.MISSING:
                    back.append(row)
                else:
                    self._t.unchanged += 1
            else:
                work.append((item, row))

        gone = [
            r.id
            for r in known.values()
            if r.state != PhotoState.MISSING
            and r.path not in self._seen
            and _under(r.path, prefixes)
            and _gone(r.path)
        ]
        self._bulk_states(gone, back)

        cancelled = self._process(work)
        t = self._t
        return IndexResult(
            new=t.new,
            duplicates=t.duplicates,
            unchanged=t.unchanged,
            changed=t.changed,
            moved=t.moved,
            missing=t.missing,
            reappeared=t.reappeared,
            errors=len(t.problems),
            faces_found=t.faces_found,
            faces_kept=t.faces_kept,
            faces_lost=t.faces_lost,
            cancelled=cancelled,
            problems=tuple(t.problems),
        )

    def _add_folders(self, roots: list[Path]) -> None:
        with self._Session.begin() as s:
            have = set(s.scalars(select(LibraryFolder.path)))
            for r in roots:
                if str(r) not in have:
                    s.add(LibraryFolder(path=str(r)))
                    have.add(str(r))

    def _folder_for(self, path: str) -> int | None:
        for root, fid in self._folders:
            if path == root or path.startswith(_prefix(Path(root))):
                return fid
        return None

    def _bulk_states(self, gone: list[int], back: list[_Known]) -> None:
        """Mark vanished files missing, and bring back unchanged files that reappeared."""
        with self._Session.begin() as s:
            for i in range(0, len(gone), CHUNK):
                s.execute(
                    update(Photo)
                    .where(Photo.id.in_(gone[i : i + CHUNK]))
                    .values(state=PhotoState.MISSING)
                )
            for r in back:
                s.execute(
                    update(Photo)
                    .where(Photo.id == r.id)
                    .values(state=PhotoState.ERROR if r.error else PhotoState.OK)
                )
        self._t.missing += len(gone)
        self._t.reappeared += len(back)
        self._gone_now = set(gone)
        if self._on_commit and (gone or back):
            self._on_commit(set(gone) | {r.id for r in back})

    def _process(self, work: list) -> bool:
        total = len(work)
        report(self._progress, "index", 0, total)
        with self._Session() as s:
            for done, (entry, row) in enumerate(work, 1):
                if is_cancelled(self._cancel):
                    return True
                self._one(s, entry, row)
                self._commit(s)
                report(self._progress, "index", done, total, str(entry.path))
        return False

    def _commit(self, s: Session) -> None:
        s.commit()
        touched, self._touched = self._touched, []
        if self._on_commit and touched:
            self._on_commit({p.id for p in touched})

    # -- one file -----------------------------------------------------------------------

    def _one(self, s: Session, entry, row: _Known | None) -> None:
        from refldm_desktop.library.scan import content_hash

        try:
            digest = content_hash(entry.path)
        except OSError as exc:
            self._unreadable(s, entry, row, _os_reason(exc))
            return
        if row is None and digest in self._output_hashes:
            return  # a restored version of ours (moved or copied): not a new photo
        if row is not None:
            photo = s.get_one(Photo, row.id)  # photo rows are never deleted
            self._touched.append(photo)
            if photo.content_hash == digest:
                # Touched, not changed: remember the new mtime, keep everything else.
                photo.size, photo.mtime_ns = entry.size, entry.mtime_ns
                if photo.state == PhotoState.MISSING:
                    photo.state = PhotoState.ERROR if photo.error else PhotoState.OK
                    self._t.reappeared += 1
                else:
                    self._t.unchanged += 1
                return
            found = self._detect(entry)  # before any write: the write lock is not held meanwhile
            said = _user_say(s, photo)
            s.execute(delete(Face).where(Face.photo_id == photo.id))
            s.expire(photo, ["faces"])
            self._analyse(s, photo, entry, digest, found)
            if said:
                s.flush()
                kept = _give_back(s, photo, said)
                self._t.faces_kept += kept
                self._t.faces_lost += len(said) - kept
            self._t.changed += 1
            return

        path = str(entry.path)
        twins = s.scalars(
            select(Photo).where(Photo.content_hash == digest).order_by(Photo.id)
        ).all()
        for twin in twins:
            if twin.state == PhotoState.MISSING or (twin.path not in self._seen and _gone(twin.path)):
                # Moved or renamed: the same row, so its faces and people stay.
                twin.path = path
                twin.folder_id = self._folder_for(path)
                twin.size, twin.mtime_ns = entry.size, entry.mtime_ns
                twin.state = PhotoState.ERROR if twin.error else PhotoState.OK
                self._touched.append(twin)
                self._t.moved += 1
                if twin.id in self._gone_now:
                    self._t.missing -= 1  # marked missing a moment ago: it moved instead
                return
        fresh = None if twins else self._detect(entry)
        photo = Photo(path=path, folder_id=self._folder_for(path))
        s.add(photo)
        self._touched.append(photo)
        self._t.new += 1
        if fresh is None:
            self._copy(s, photo, twins[0], entry, digest)
            self._t.duplicates += 1
        else:
            self._analyse(s, photo, entry, digest, fresh)

    def _stamp(self, photo: Photo, entry, digest: str | None) -> None:
        photo.size, photo.mtime_ns = entry.size, entry.mtime_ns
        photo.content_hash = digest
        photo.indexed_at = utcnow()
        photo.state, photo.error, photo.backend = PhotoState.OK, None, None
        photo.width = photo.height = photo.format = photo.taken_at = photo.orientation = None

    def _fail(self, photo: Photo, reason: str) -> None:
        photo.state, photo.error = PhotoState.ERROR, reason
        self._t.problems.append(Problem(Path(photo.path), reason))

    def _unreadable(self, s: Session, entry, row: _Known | None, reason: str) -> None:
        if row is None:
            photo = Photo(path=str(entry.path), folder_id=self._folder_for(str(entry.path)))
            s.add(photo)
            self._t.new += 1
        else:
            photo = s.get_one(Photo, row.id)
            s.execute(delete(Face).where(Face.photo_id == photo.id))
            s.expire(photo, ["faces"])
            self._t.changed += 1
        self._touched.append(photo)
        self._stamp(photo, entry, None)
        self._fail(photo, reason)

    def _detect(self, entry) -> "_Detected | str":
        """Decode a photo, find and score its faces; or why it cannot be read. Touches no
        database, so no write lock is held while the (slow) backend runs."""
        from refldm_desktop.library.imageio import ImageError, load_rgb

        try:
            image, info = load_rgb(entry.path)
        except ImageError as exc:
            return exc.reason
        except OSError as exc:
            return _os_reason(exc)
        except MemoryError:
            return "not enough memory to decode this image"
        backend = self._get_backend()
        try:
            found = backend.detect(image)
        except Exception as exc:  # a backend bug on one photo must not stop the whole run
            return f"face detection failed: {type(exc).__name__}: {exc}"
        taken = info.taken_at
        return _Detected(
            info=info,
            taken_at=taken.replace(tzinfo=None) if taken and taken.tzinfo else taken,
            backend=backend.name,
            model_id=backend.space.model_id,
            # Scored now, while the photo is decoded: rescoring later would decode it again.
            fingerprint=scoring.photo_fingerprint(image) if found else None,
            faces=[(f, scoring.score_face(image, f.landmarks, f.score, backend.name)) for f in found],
        )

    def _analyse(self, s: Session, photo: Photo, entry, digest: str, found: "_Detected | str") -> None:
        self._stamp(photo, entry, digest)
        if isinstance(found, str):
            self._fail(photo, found)
            return
        info = found.info
        photo.width, photo.height = info.width, info.height
        photo.format, photo.orientation = info.format, info.orientation
        photo.taken_at = found.taken_at
        photo.backend = found.backend
        photo.fingerprint = found.fingerprint
        for f, scored in found.faces:
            x0, y0, x1, y1 = (float(v) for v in f.box)
            face = Face(
                photo=photo,
                x0=x0, y0=y0, x1=x1, y1=y1,
                score=float(f.score),
                landmarks=pack_array(f.landmarks),
                embedding=None if f.embedding is None else pack_array(f.embedding),
                backend=found.backend,
                model_id=found.model_id,
            )
            scored.apply(face)
            s.add(face)
        self._t.faces_found += len(found.faces)

    def _copy(self, s: Session, photo: Photo, twin: Photo, entry, digest: str) -> None:
        """Same bytes as a photo already indexed: the faces would be the same, so copy them
        instead of running detection again."""
        self._stamp(photo, entry, digest)
        for name in (
            "width", "height", "format", "taken_at", "orientation", "state", "error", "backend", "fingerprint",
        ):
            setattr(photo, name, getattr(twin, name))
        if photo.state == PhotoState.MISSING:
            photo.state = PhotoState.ERROR if photo.error else PhotoState.OK
        if photo.state == PhotoState.ERROR:
            self._t.problems.append(Problem(Path(photo.path), photo.error or "unreadable"))
        for f in s.scalars(select(Face).where(Face.photo_id == twin.id).order_by(Face.id)):
            s.add(
                Face(
                    photo=photo,
                    x0=f.x0, y0=f.y0, x1=f.x1, y1=f.y1,
                    score=f.score,
                    landmarks=f.landmarks,
                    embedding=f.embedding,
                    backend=f.backend,
                    model_id=f.model_id,
                    # Same pixels, same scores (stale ones are rescored with the twin's).
                    **{c: getattr(f, c) for c in _QUALITY_COLUMNS},
                )
            )
            self._t.faces_found += 1


def check_roots(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    roots = []
    for p in paths:
        root = Path(p).expanduser()
        if not root.exists():
            raise LibraryError(f"no such folder: {root}")
        if not root.is_dir():
            raise LibraryError(f"not a folder: {root} (give the folder that holds your photos)")
        roots.append(root.resolve())
    if not roots:
        raise LibraryError("give at least one folder to index")
    return list(dict.fromkeys(roots))


# A changed photo's faces are found again (new rows): what the user said of the old ones
# (the person, rejections, a pin or an exclusion) goes to the new face in the same place,
# so re-tagging a photo in another program does not lose the names given to it. "Same
# place": boxes relative to the photo's size (a resized copy keeps them) that overlap by
# at least this much of their union, each old face to one new face at most.
SAME_PLACE_IOU = 0.5


class _Said(NamedTuple):
    box: tuple[float, float, float, float]  # relative to the photo's width and height
    model_id: str
    assignments: list[tuple[int, str]]  # (person id, state)
    decision: tuple[str, datetime] | None


def _relative(face, photo: Photo) -> tuple[float, float, float, float]:
    w, h = max(photo.width or 1, 1), max(photo.height or 1, 1)
    return face.x0 / w, face.y0 / h, face.x1 / w, face.y1 / h


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _user_say(s: Session, photo: Photo) -> list[_Said]:
    """What the user (or clustering) said of the photo's faces, before they are deleted.
    Read as plain rows, not ORM objects: SQLite may give the new faces the deleted ones'
    ids, and stale objects of those ids in the session would clash with them."""
    from refldm_desktop.db.models import FaceAssignment, FaceRefDecision

    said = []
    for face in s.execute(select(Face.id, Face.x0, Face.y0, Face.x1, Face.y1, Face.model_id)
                          .where(Face.photo_id == photo.id).order_by(Face.id)):
        assignments = [(int(p), str(st)) for p, st in s.execute(
            select(FaceAssignment.person_id, FaceAssignment.state)
            .where(FaceAssignment.face_id == face.id).order_by(FaceAssignment.id))]
        d = s.execute(select(FaceRefDecision.decision, FaceRefDecision.decided_at)
                      .where(FaceRefDecision.face_id == face.id)).first()
        if assignments or d is not None:
            said.append(_Said(_relative(face, photo), face.model_id, assignments,
                              None if d is None else (d.decision, d.decided_at)))
    return said


def _give_back(s: Session, photo: Photo, said: list[_Said]) -> int:
    """Give each new face what was said of the old face in its place; how many got it."""
    from refldm_desktop.db.models import FaceAssignment, FaceRefDecision

    faces = list(s.scalars(select(Face).where(Face.photo_id == photo.id).order_by(Face.id)))
    pairs = sorted(
        ((_iou(old.box, _relative(new, photo)), i, j)
         for i, old in enumerate(said) for j, new in enumerate(faces) if old.model_id == new.model_id),
        reverse=True,
    )
    used_old: set[int] = set()
    used_new: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < SAME_PLACE_IOU:
            break
        if i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        old, new = said[i], faces[j]
        for person_id, state in old.assignments:
            s.add(FaceAssignment(face_id=new.id, person_id=person_id, state=state))
        if old.decision is not None:
            s.add(FaceRefDecision(face_id=new.id, decision=old.decision[0], decided_at=old.decision[1]))
    return len(used_new)
