"""The Library: one object that owns the identity database and everything done to it.

Like Anki's Collection, it is the only way the UI and the CLI touch the database. Queries
return frozen *Info values; verbs that change something return a small frozen value that
says what changed. Writes are serialised by one lock, so one thread writes at a time
(SQLite allows one writer; WAL lets readers go on meanwhile).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from refldm_desktop.core import people as _people
from refldm_desktop.core import queries as _q
from refldm_desktop.core import references as _refs
from refldm_desktop.core import scoring as _scoring
from refldm_desktop.core import undo as _undo
from refldm_desktop.core.changes import (
    ClusterResult,
    FaceConfirmed,
    FaceInfo,
    FaceRejected,
    FacesNamed,
    IndexResult,
    LibraryError,
    NotFound,
    PeopleMerged,
    PersonHidden,
    PersonInfo,
    PersonRenamed,
    PersonSplit,
    PhotoInfo,
    ReferenceExcluded,
    ReferencePinned,
    ReferencesReset,
    RescoreResult,
)
from refldm_desktop.core.events import Area, Change, ChangeHub
from refldm_desktop.core.home import Home
from refldm_desktop.core.indexer import Indexer, check_roots
from refldm_desktop.core.jobs import Jobs
from refldm_desktop.core.plugins import Registry
from refldm_desktop.core.progress import Cancel, ProgressFn, report
from refldm_desktop.core.queries import PersonOrder, PhotoOrder, PhotoQuery
from refldm_desktop.core.restoring import Restoring
from refldm_desktop.db.engine import open_database
from refldm_desktop.db.models import (
    AssignmentState,
    Face,
    FaceAssignment,
    FaceRefDecision,
    LibraryFolder,
    Person,
    Photo,
)
from refldm_desktop.defaults import DEFAULT_FACE_BACKEND, DEFAULT_REFERENCES, FACE_BACKENDS_GROUP
from refldm_desktop.errors import Advice, LibraryBusy, advise
from refldm_desktop.faces.types import EmbeddingSpace, FaceBackend

if TYPE_CHECKING:
    from refldm_desktop.core.unknown import FaceGroup
    from refldm_desktop.faces.refselect import Choice

CROP_SIZE = 512  # FFHQ / ReF-LDM input size; other sizes are made but not recorded
# Cached crops are references and previews, never outputs: JPEG at high quality keeps a
# large library's cache small (about 60 kB a face instead of 400 kB as PNG).
CROP_FORMAT = "JPEG"


# Best first. insightface's ArcFace separates people better than dlib's ResNet, but its
# models are not on PyPI: it is chosen only when the user has put them in place.
PREFERRED_BACKENDS = ("insightface", DEFAULT_FACE_BACKEND)


def _library_backend(session_factory: sessionmaker[Session]) -> str:
    """The backend a library without an explicit choice uses.

    Embeddings of different models cannot be compared, so a library stays with the backend
    most of its faces came from; switching is an explicit `--backend`.
    """
    with session_factory() as session:
        used = session.execute(
            select(Face.backend).group_by(Face.backend).order_by(func.count().desc(), Face.backend).limit(1)
        ).scalar()
    if used:
        return used
    registry = Registry(FACE_BACKENDS_GROUP)
    installed = set(registry.names())
    for name in PREFERRED_BACKENDS:
        if name not in installed:
            continue
        try:
            ok, _why = registry.create(name).available()
        except Exception:  # a broken plugin must not stop the library from opening
            ok = False
        if ok:
            return name
    return DEFAULT_FACE_BACKEND


def _default_cluster(*args, **kwargs):
    from refldm_desktop.faces.cluster import cluster

    return cluster(*args, **kwargs)


class Library:
    def __init__(
        self,
        home: Home,
        engine,
        session_factory: sessionmaker[Session],
        backend: str | FaceBackend,
        cluster: _people.ClusterFn,
    ) -> None:
        self.home = home
        self._engine = engine
        self._Session = session_factory
        self._backend_choice = backend
        self._backend_chosen = True  # by the caller; open() says when it took the database's
        self._backend: FaceBackend | None = None if isinstance(backend, str) else backend
        self._space: EmbeddingSpace | None = None
        self._cluster = cluster
        # Serialises this process's writes of people and references. Indexing does not take
        # it for its run (only its short commits wait on SQLite), so a rename goes through
        # while an index runs; two index runs wait for each other on `_indexing`.
        self._write = threading.RLock()
        self._indexing = threading.Lock()
        self.events = ChangeHub(engine, home.database)
        self._thumbnails = None
        self._reader = None
        self.jobs = Jobs(self)  # the job queue's verbs: library.jobs.enqueue_restore(...) etc.
        self.restoring = Restoring(self)  # restore and batch: library.restoring.enqueue(...) etc.

    @classmethod
    def open(
        cls,
        home: Home,
        *,
        backend: str | FaceBackend | None = None,
        cluster: _people.ClusterFn | None = None,
    ) -> "Library":
        """Open (creating or upgrading) the library in `home`.

        `backend` is a face backend's entry-point name or a ready object; without one the
        library keeps the backend its faces came from, and a new library takes the best one
        installed (insightface when its models are in place, else dlib). It is created only
        when some photo needs detection, so opening stays fast.
        """
        home.ensure()
        engine, session_factory = open_database(home.database, backups=home.backups)
        choice = backend if backend is not None else _library_backend(session_factory)
        lib = cls(home, engine, session_factory, choice, cluster or _default_cluster)
        lib._backend_chosen = backend is not None
        try:
            # Jobs a killed process left running go back to the queue (not while a live
            # runner, in this or another process, is working on them).
            lib.jobs.recover()
        except BaseException:
            lib.close()
            raise
        return lib

    def close(self) -> None:
        self.events.close()
        self._engine.dispose()

    def reopened(self) -> "Library":
        """This library opened again after its database file was replaced (going back to a
        backup): a new object over the new file, with nothing of this one's state (its
        connections, caches, reader) but the caller's choices: the clustering, and the face
        backend when the caller chose one. Otherwise the backend is the restored database's
        own, as open() takes it: a backup from before the library switched backends keeps
        comparing its faces in the space they were embedded in. Close this one first."""
        backend = self._backend_choice if self._backend_chosen else None
        return type(self).open(self.home, backend=backend, cluster=self._cluster)

    @property
    def settings(self):
        """The user's defaults (core.settings.Settings), read from the home folder."""
        from refldm_desktop.core.settings import load_settings

        return load_settings(self.home)

    # -- change events --------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call `callback(change)` after every change to the library, made here or by
        another process (noticed within a second or two); it may run on any thread.
        Returns the function that unsubscribes."""
        return self.events.subscribe(callback)

    def _emit(self, change: Change) -> None:
        self.events.emit(change)

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- face backend -------------------------------------------------------------------

    @property
    def backend_name(self) -> str:
        if isinstance(self._backend_choice, str):
            return self._backend_choice
        return self._backend_choice.name

    def backend(self) -> FaceBackend:
        if self._backend is None:
            from refldm_desktop.core.plugins import PluginError, Registry

            try:
                backend = Registry(FACE_BACKENDS_GROUP).create(self.backend_name)
            except PluginError as exc:
                raise LibraryError(str(exc)) from exc
            ok, why = backend.available()
            if not ok:
                raise LibraryError(f"face backend {self._backend_choice!r} cannot run: {why}")
            self._backend = backend
        return self._backend

    def space(self) -> EmbeddingSpace:
        """The chosen backend's embedding space. Unlike backend(), this does not need the
        backend's models: choosing references from stored faces works without them."""
        if self._backend is not None:
            return self._backend.space
        if self._space is None:
            from refldm_desktop.core.plugins import PluginError, Registry

            try:
                self._space = Registry(FACE_BACKENDS_GROUP).create(self.backend_name).space
            except PluginError as exc:
                raise LibraryError(str(exc)) from exc
        return self._space

    # -- indexing -----------------------------------------------------------------------

    def index(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: ProgressFn | None = None,
        cancel: Cancel | None = None,
    ) -> IndexResult:
        """Scan folders: add new photos and their faces, follow moves, mark missing files,
        then group new faces into people. Safe to interrupt; the next run continues."""
        roots = check_roots(paths)
        with self._indexing, self._no_other_process_indexing():
            result = self._indexer(progress, cancel).run(roots)
            if not result.cancelled:
                from dataclasses import replace

                # New faces were scored on detection; this catches faces scored by an older
                # QUALITY_VERSION (or before scoring existed), and costs one query otherwise.
                rescored = _scoring.rescore(self._Session, cancel=cancel, progress=progress)
                # A new NEED_VERSION alone is applied from the stored measures.
                _scoring.rerate_needs(self._Session)
                result = replace(result, rescoring=rescored, clustering=self._recluster_if_needed(progress))
        self._emit_indexed(result)
        return result

    def _indexer(self, progress, cancel) -> Indexer:
        def committed(photo_ids: set[int]) -> None:
            # Photos appear in the grid as they are indexed, not only at the end.
            self._emit(Change.of(Area.FACES, photos=photo_ids))

        return Indexer(
            self._Session, self.backend, exclude=[self.home.root], progress=progress, cancel=cancel,
            on_commit=committed,
        )

    def _emit_indexed(self, r: IndexResult) -> None:
        c = r.clustering
        if r.faces_found or r.missing or r.moved or r.changed or r.rescoring.faces_rescored:
            self._emit(Change.of(Area.PHOTOS, Area.FACES, Area.PEOPLE, Area.REFERENCES))
        elif r.new or r.reappeared or r.errors:
            self._emit(Change.of(Area.PHOTOS))
        if c.faces_assigned or c.people_created or c.people_removed:
            self._emit(Change.of(Area.PEOPLE, Area.FACES))

    def index_photos(
        self,
        files: Iterable[str | os.PathLike[str]],
        progress: ProgressFn | None = None,
        cancel: Cancel | None = None,
    ) -> IndexResult:
        """Index single photos, not the rest of their folders (`restore` of a photo not yet
        indexed). A photo belongs to the library folder it lies in; outside every library
        folder, its own folder becomes one. Then new faces are grouped into people."""
        photos = []
        for f in files:
            path = Path(f).expanduser()
            if not path.is_file():
                raise LibraryError(f"no such photo: {path}")
            photos.append(path.resolve())
        if not photos:
            raise LibraryError("give at least one photo to index")
        # A file that is not a photo (notes.txt dropped on the window) is reported, and its
        # folder does not become a library folder for it.
        from refldm_desktop.core.changes import Problem
        from refldm_desktop.library.scan import ScanProblem, walk

        not_photos = {Path(x.path): x.reason for x in walk(photos) if isinstance(x, ScanProblem)}
        photos = [p for p in photos if p not in not_photos]
        refused = tuple(Problem(p, why) for p, why in not_photos.items())
        if not photos:
            return IndexResult(errors=len(refused), problems=refused)
        known = [Path(p) for p in self.folders()]
        folders = []
        for p in photos:
            inside = [k for k in known if k in p.parents]
            folders.append(max(inside, key=lambda k: len(k.parts)) if inside else p.parent)
        with self._indexing, self._no_other_process_indexing():
            indexer = self._indexer(progress, cancel)
            result = indexer.run(list(dict.fromkeys(photos)), folders=list(dict.fromkeys(folders)))
            if not result.cancelled:
                from dataclasses import replace

                result = replace(result, clustering=self._recluster_if_needed(progress))
        if refused:
            from dataclasses import replace

            result = replace(result, errors=result.errors + len(refused), problems=result.problems + refused)
        self._emit_indexed(result)
        return result

    @contextmanager
    def _no_other_process_indexing(self):
        """One index run per library at a time across processes too (threads of this one
        wait on `_indexing`): two would both add the same new files. The OS lock goes with
        the process, however it ends."""
        from refldm_desktop.jobs.lock import RunnerLock

        lock = RunnerLock(self.home.root / "index.lock")
        if not lock.acquire():
            raise LibraryBusy(
                f"{lock.holder()} is already indexing this library: wait for it to finish, then run this again"
            )
        try:
            yield
        finally:
            lock.release()

    def _recluster_if_needed(self, progress: ProgressFn | None = None) -> ClusterResult:
        with self._Session() as s:
            pending = s.scalars(
                select(Face.model_id).where(Face.needs_clustering.is_(True)).distinct()
            ).all()
        if not pending:
            return ClusterResult()
        space = self.backend().space
        if space.model_id not in pending:
            return ClusterResult()  # faces of another backend wait until it is chosen again
        return self.recluster(progress, full=False)

    def recluster(self, progress: ProgressFn | None = None, full: bool = True) -> ClusterResult:
        """Give unassigned faces a person where one is close enough, or found new people.
        Never moves a face that already has a person or was rejected from one.

        After indexing (`full=False`) only new and newly unassigned faces look for their
        nearest faces; `full` lets every unassigned face look again."""
        space = self.backend().space
        report(progress, "cluster", 0, 1, "grouping faces into people")
        with self._write, self._Session.begin() as s:
            result = _people.recluster(s, space, self._cluster, full=full)
        report(progress, "cluster", 1, 1)
        if result.faces_assigned or result.people_created or result.people_removed:
            self._emit(Change.of(Area.PEOPLE, Area.FACES))
        return result

    # -- queries ------------------------------------------------------------------------

    def _face_query(self):
        live = and_(
            FaceAssignment.face_id == Face.id,
            FaceAssignment.state.in_(_people.LIVE),
        )
        return (
            select(
                Face, Photo.path, Photo.state, FaceAssignment.person_id, FaceAssignment.state, Person.name,
                FaceRefDecision.decision,
            )
            .join(Photo, Photo.id == Face.photo_id)
            .outerjoin(FaceAssignment, live)
            .outerjoin(Person, Person.id == FaceAssignment.person_id)
            .outerjoin(FaceRefDecision, FaceRefDecision.face_id == Face.id)
            .order_by(Face.id)
        )

    @staticmethod
    def _face_info(row) -> FaceInfo:
        face, path, photo_state, person_id, state, name, decision = row
        return FaceInfo(
            id=face.id,
            photo_id=face.photo_id,
            photo=Path(path),
            photo_state=photo_state,
            box=face.box,
            score=face.score,
            backend=face.backend,
            model_id=face.model_id,
            person_id=person_id,
            person_name=name,
            assignment=state,
            quality_score=face.quality_score,
            reference=decision,
            need_score=face.need_score,
            need_reasons=tuple(face.need_reasons or ()),
        )

    def faces(self, person_id: int | None = None, *, unassigned: bool = False) -> list[FaceInfo]:
        q = self._face_query()
        if person_id is not None:
            q = q.where(FaceAssignment.person_id == person_id)
        elif unassigned:
            q = q.where(FaceAssignment.id.is_(None))
        with self._Session() as s:
            if person_id is not None and s.get(Person, person_id) is None:
                raise NotFound(f"no person with id {person_id}")
            return [self._face_info(r) for r in s.execute(q)]

    def face(self, face_id: int) -> FaceInfo:
        with self._Session() as s:
            row = s.execute(self._face_query().where(Face.id == face_id)).first()
        if row is None:
            raise NotFound(f"no face with id {face_id}")
        return self._face_info(row)

    def people(self, *, include_hidden: bool = True) -> list[PersonInfo]:
        """Every person, by id (the CLI's list; a view pages with person_ids)."""
        with self._Session() as s:
            return _q.all_people(s, include_hidden)

    def person(self, person_id: int) -> PersonInfo:
        with self._Session() as s:
            found = _q.people_by_id(s, [person_id])
        if not found:
            raise NotFound(f"no person with id {person_id}")
        return found[0]

    def person_count(self, *, include_hidden: bool = True) -> int:
        with self._Session() as s:
            return _q.person_count(s, include_hidden)

    def person_ids(
        self,
        *,
        include_hidden: bool = True,
        order: PersonOrder | str = PersonOrder.FACES,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[int]:
        """Ids of people at positions offset..offset+limit in `order` (most faces first)."""
        with self._Session() as s:
            return _q.person_ids(s, include_hidden, order, offset, limit)

    def people_by_id(self, ids: Sequence[int]) -> list[PersonInfo]:
        """These people, in the order given; ids that no longer exist are left out."""
        with self._Session() as s:
            return _q.people_by_id(s, ids)

    def cover_face(self, person_id: int) -> int | None:
        """The face that shows a person: their best-scored face, of a photo that can be read
        when there is one (None without faces)."""
        with self._Session() as s:
            if s.get(Person, person_id) is None:
                raise NotFound(f"no person with id {person_id}")
            return _q.cover_face(s, person_id)

    def unknown_faces(self) -> list["FaceGroup"]:
        """Faces nobody named, grouped by likely person, biggest group first, each with a
        guess at a named person when one is close (see core.unknown)."""
        from refldm_desktop.core.unknown import unknown_groups

        space = self.space()
        with self._Session() as s:
            return unknown_groups(s, space)

    def photos(self, *, state: str | None = None) -> list[PhotoInfo]:
        """Every photo, by path (the CLI; a view pages with photo_ids and photos_by_id)."""
        with self._Session() as s:
            ids = _q.photo_ids(s, PhotoQuery(state=state, order=PhotoOrder.PATH))
            return _q.photos_by_id(s, ids)

    def photo_count(self, query: PhotoQuery = PhotoQuery()) -> int:
        with self._Session() as s:
            return _q.photo_count(s, query)

    def photo_ids(self, query: PhotoQuery = PhotoQuery(), offset: int = 0, limit: int | None = None) -> list[int]:
        """Ids of the photos matching `query`, at positions offset..offset+limit of its order."""
        with self._Session() as s:
            return _q.photo_ids(s, query, offset, limit)

    def photos_by_id(self, ids: Sequence[int]) -> list[PhotoInfo]:
        """These photos, in the order given; ids that no longer exist are left out."""
        with self._Session() as s:
            return _q.photos_by_id(s, ids)

    @property
    def reader(self):
        """core.reader.PhotoReader: the same photo queries over a plain read-only sqlite3
        cursor, in small batches; for a GUI's worker threads (SQLAlchemy's row handling
        would hold the GIL the GUI thread needs)."""
        if self._reader is None:
            from refldm_desktop.core.reader import PhotoReader

            self._reader = PhotoReader(self.home.database)
        return self._reader

    def photo(self, photo_id: int) -> PhotoInfo:
        found = self.photos_by_id([photo_id])
        if not found:
            raise NotFound(f"no photo with id {photo_id}")
        return found[0]

    def folders(self) -> list[Path]:
        with self._Session() as s:
            return [Path(p) for p in s.scalars(select(LibraryFolder.path).order_by(LibraryFolder.path))]

    # -- thumbnails -------------------------------------------------------------------------

    def thumbnail(self, kind: str, id: int, size: int = 256) -> Path:
        """A JPEG of at most size x size, upright, cached under home/cache/thumbnails:
        kind "photo" (a photo), "face" (a face with some context), "version" (a restored
        version's file) or "person" (the person's cover: their best-scored face)."""
        from refldm_desktop.core.thumbnails import thumbnail_file

        return thumbnail_file(self._Session, self.thumbnails, kind, id, size)

    @property
    def thumbnails(self):
        from refldm_desktop.core.thumbnails import ThumbnailCache

        if self._thumbnails is None:
            self._thumbnails = ThumbnailCache(self.home.cache / "thumbnails")
        return self._thumbnails

    # -- aligned face crops ----------------------------------------------------------------

    def face_crop(self, face_id: int, size: int = CROP_SIZE) -> Path:
        """The FFHQ-aligned crop of a face, made on first use and cached under home/cache.

        Crops are named by the photo's content and the landmarks, so copies and moved photos
        share one file and a changed photo never gets a stale crop.
        """
        import hashlib

        with self._Session() as s:
            face = s.get(Face, face_id)
            if face is None:
                raise NotFound(f"no face with id {face_id}")
            photo = face.photo
            landmarks = face.landmarks_array()
            cached = face.crop_path
        if cached and size == CROP_SIZE and (self.home.cache / cached).is_file():
            return self.home.cache / cached
        key = hashlib.sha256(
            f"{photo.content_hash}:{size}:".encode() + face.landmarks
        ).hexdigest()[:32]
        rel = Path("faces") / key[:2] / f"{key}.{CROP_FORMAT.lower()}"
        target = self.home.cache / rel
        if not target.is_file():
            self._write_crop(photo, landmarks, size, target)
        if size == CROP_SIZE and cached != str(rel):
            with self._write, self._Session.begin() as s:
                row = s.get(Face, face_id)
                # An index run may have replaced the photo's faces meanwhile, and a new face
                # may get the old one's id: only the face that was cropped remembers the crop.
                if row is not None and row.photo_id == photo.id and row.landmarks == face.landmarks:
                    row.crop_path = str(rel)
        return target

    def _write_crop(self, photo: Photo, landmarks, size: int, target: Path) -> None:
        import tempfile

        from PIL import Image

        from refldm_desktop.faces.align import ffhq_transform, warp_to_crop
        from refldm_desktop.library.imageio import ImageError, load_rgb

        path = Path(photo.path)
        try:
            st = path.stat()
        except OSError as exc:
            raise LibraryError(f"cannot read {path}: the photo is missing or unreadable ({exc.strerror})") from exc
        if (st.st_size, st.st_mtime_ns) != (photo.size, photo.mtime_ns):
            raise LibraryError(f"{path} changed since it was indexed; run index again first")
        try:
            image, _ = load_rgb(path)
        except ImageError as exc:
            raise LibraryError(f"cannot read {path}: {exc.reason}") from exc
        crop = warp_to_crop(image, ffhq_transform(landmarks, size))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                Image.fromarray(crop).save(f, format=CROP_FORMAT, quality=95)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise

    # -- reference faces --------------------------------------------------------------------

    def rescore(
        self,
        face_ids: Sequence[int] | None = None,
        *,
        cancel: Cancel | None = None,
        progress: ProgressFn | None = None,
    ) -> RescoreResult:
        """Score again the faces (all, or those among `face_ids`) whose stored quality is
        missing or from another QUALITY_VERSION. Up-to-date faces cost one query, and do
        not wait for the write lock (which a running index holds)."""
        todo = _scoring.stale_faces(self._Session, face_ids)
        result = RescoreResult()
        if todo:
            with self._write:
                result = _scoring.rescore(self._Session, todo=todo, cancel=cancel, progress=progress)
            if result.faces_rescored:
                self._emit(Change.of(Area.PHOTOS, Area.REFERENCES, faces=[f for fs in todo.values() for f in fs]))
        # A new need rating alone is worked out from the stored measures (no decoding).
        if _scoring.needs_stale(self._Session, face_ids):
            with self._write:
                if _scoring.rerate_needs(self._Session, face_ids):
                    self._emit(Change.of(Area.FACES))
        return result

    def _person_faces(self, person_id: int) -> _refs.PersonFaces:
        with self._Session() as s:
            _refs.check_person(s, person_id)
            ids = _refs.person_face_ids(s, person_id)
        self.rescore(ids)  # lazily, when QUALITY_VERSION changed since they were scored
        with self._Session() as s:
            return _refs.person_faces(s, person_id, self.space().model_id)

    def best_shots(self, person_id: int, k: int = DEFAULT_REFERENCES) -> list["Choice"]:
        """Up to k of a person's faces that are good and different from each other,
        pinned faces first (all of them, even beyond k), then best first. Each Choice has
        the face id, its photo, box and landmarks, a score and the reasons."""
        from refldm_desktop.faces.refselect import Settings, best_shots

        k = _check_k(k)
        pf = self._person_faces(person_id)
        return best_shots(
            pf.candidates, self.space(), pinned=pf.pinned, excluded=pf.excluded, settings=Settings(k=k)
        )

    def references_for_face(
        self, face_id: int, k: int = DEFAULT_REFERENCES, *, person_id: int | None = None
    ) -> list["Choice"]:
        """Up to k references for restoring one face, from the other photos of its person:
        never its own photo or a near-duplicate of it (unless pinned); similar pose and
        date preferred, colour outliers avoided; pinned faces first.

        With person_id, the face must be one of that person's faces."""
        from refldm_desktop.faces.refselect import Settings, references_for

        k = _check_k(k)
        with self._Session() as s:
            _refs.check_face(s, face_id)
            if person_id is not None:
                _refs.check_person(s, person_id)
            owner = _refs.person_of(s, face_id)
        if person_id is not None and owner != person_id:
            raise LibraryError(f"face {face_id} is not one of person {person_id}'s faces")
        if owner is None:
            raise LibraryError(
                f"face {face_id} belongs to nobody yet; references come from its person's other "
                f"photos, so put it into a person first ({advise(Advice.CONFIRM_FACE, face=face_id)})"
            )
        pf = self._person_faces(owner)  # rescores the target too, when stale
        space = self.space()
        with self._Session() as s:
            target = _refs.target_candidate(s, face_id, space.model_id)
        return references_for(
            target, pf.candidates, space, pinned=pf.pinned, excluded=pf.excluded, settings=Settings(k=k)
        )

    def pin_reference(self, face_id: int) -> ReferencePinned:
        return self._edit(
            "pin", _refs.pin, face_id, faces=lambda s: [face_id],
            label=lambda s, r: f"Pin face {face_id} as a reference",
            change=lambda r: r.changed and Change.of(references=[face_id], people=[r.person_id]),
        )

    def exclude_reference(self, face_id: int) -> ReferenceExcluded:
        return self._edit(
            "exclude", _refs.exclude, face_id, faces=lambda s: [face_id],
            label=lambda s, r: f"Exclude face {face_id} from references",
            change=lambda r: r.changed and Change.of(references=[face_id], people=[r.person_id]),
        )

    def reset_references(self, person_id: int | None = None, *, face_id: int | None = None) -> ReferencesReset:
        """Forget the pins and exclusions of a person's faces, or of one face."""

        def faces(s):
            if face_id is not None or person_id is None:
                return [face_id] if face_id is not None else []
            _refs.check_person(s, person_id)
            return _refs.person_face_ids(s, person_id)

        def label(s, r):
            whose = f"face {face_id}" if face_id is not None else _label(s, person_id)
            return f"Reset the references of {whose}"

        def change(r):
            undone = r.pins_removed + r.exclusions_removed
            return bool(undone) and Change.of(references=undone, people=[r.person_id])

        return self._edit("reset", _refs.reset, person_id, face_id, faces=faces, label=label, change=change)

    # -- the user's decisions -----------------------------------------------------------

    def _edit(self, verb, fn, *args, people=(), faces=lambda s: (), label, change=None):
        """Make a people edit and record it for undo, in one transaction, then tell
        subscribers what changed.

        `faces(session)` lists the faces the edit may change, `people` the people (besides
        the ones those faces belong to); `label(session, result)` names the edit for menus;
        `change(result)` is the Change to emit (default: people, faces and references, no
        ids), or a false value when nothing changed."""
        with self._write, self._Session.begin() as s:
            # The write lock before the first read: an edit reads what it changes (is this
            # face pinned already?), and another process doing the same edit at the same time
            # must wait for this one's commit rather than both inserting the same decision.
            s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            result = _undo.recorded(
                s, verb, people, faces(s), lambda: fn(s, *args), lambda r: label(s, r)
            )
        return self._emitted(result, change(result) if change else _PEOPLE_EDITED)

    def _emitted(self, result, change: Change | bool | None):
        """Tell subscribers (after the commit), and hand the verb's result back; a false
        `change` means nothing changed."""
        if isinstance(change, Change):
            self._emit(change)
        return result

    def rename_person(self, person_id: int, name: str) -> PersonRenamed:
        return self._edit(
            "rename", _people.rename, person_id, name, people=[person_id],
            label=lambda s, r: f"Rename {r.old_name or f'Person {person_id}'} to {r.new_name}",
            change=lambda r: Change.of(people=[person_id]),
        )

    def hide_person(self, person_id: int, hidden: bool = True) -> PersonHidden:
        return self._edit(
            "hide", _people.hide, person_id, hidden, people=[person_id],
            label=lambda s, r: f"{'Hide' if hidden else 'Show'} {_label(s, person_id)}",
            change=lambda r: Change.of(people=[person_id]),
        )

    def merge_people(self, into: int, others: Sequence[int]) -> PeopleMerged:
        ids = [into, *others]
        return self._edit(
            "merge", _people.merge, into, others, people=ids,
            faces=lambda s: _people.faces_of_people(s, ids),
            label=lambda s, r: f"Merge {len(r.merged) + 1} people into {_label(s, into)}",
            change=lambda r: Change.of(Area.FACES, Area.REFERENCES, people=[into, *r.merged]),
        )

    def split_person(self, person_id: int, face_ids: Sequence[int]) -> PersonSplit:
        n = len(set(face_ids))
        return self._edit(
            "split", _people.split, person_id, face_ids, people=[person_id], faces=lambda s: face_ids,
            label=lambda s, r: f"Split {n} face{'s' if n != 1 else ''} off {_label(s, person_id)}",
            change=lambda r: Change.of(Area.REFERENCES, people=[person_id, r.new_person], faces=r.face_ids),
        )

    def confirm_face(self, face_id: int, person_id: int | None = None) -> FaceConfirmed:
        def label(s, r):
            verb = "Confirm" if r.previous_person_id == r.person_id else "Move"
            return f"{verb} face {face_id} {'as' if verb == 'Confirm' else 'to'} {_label(s, r.person_id)}"

        return self._edit(
            "confirm", _people.confirm, face_id, person_id,
            people=[person_id] if person_id is not None else [], faces=lambda s: [face_id], label=label,
            change=lambda r: Change.of(Area.REFERENCES, faces=[face_id], people=[r.person_id, r.previous_person_id]),
        )

    def reject_face(self, face_id: int) -> FaceRejected:
        return self._edit(
            "reject", _people.reject, face_id, faces=lambda s: [face_id],
            label=lambda s, r: f"Reject face {face_id} from {_label(s, r.person_id)}",
            change=lambda r: Change.of(Area.REFERENCES, faces=[face_id], people=[r.person_id]),
        )

    # Several faces or people at once: one undo step for the lot.

    def confirm_faces(self, face_ids: Sequence[int], person_id: int | None = None) -> list[FaceConfirmed]:
        """Confirm each face's person, or (with person_id) move them all there, confirmed."""
        ids = _ids(face_ids, "face")

        def label(s, rs):
            moved = any(r.previous_person_id != r.person_id for r in rs)
            where = _label(s, person_id) if person_id is not None else None
            n = _n(len(rs), "face")
            if moved and where:
                return f"Move {n} to {where}"
            return f"Confirm {n}" + (f" as {where}" if where else "")

        return self._edit(
            "confirm", lambda s: [_people.confirm(s, f, person_id) for f in ids],
            people=[person_id] if person_id is not None else [], faces=lambda s: ids, label=label,
        )

    def reject_faces(self, face_ids: Sequence[int]) -> list[FaceRejected]:
        ids = _ids(face_ids, "face")
        return self._edit(
            "reject", lambda s: [_people.reject(s, f) for f in ids], faces=lambda s: ids,
            label=lambda s, rs: f"Reject {_n(len(rs), 'face')}",
        )

    def name_faces(self, face_ids: Sequence[int], name: str) -> FacesNamed:
        """These faces are `name`: into the person of that name (made when there is none),
        confirmed. Names an "unknown faces" group in one step."""
        ids = _ids(face_ids, "face")
        return self._edit(
            "name", _people.name_faces, ids, name, faces=lambda s: ids,
            label=lambda s, r: f"Name {_n(len(r.face_ids), 'face')} {r.name}",
        )

    def pin_references(self, face_ids: Sequence[int]) -> list[ReferencePinned]:
        ids = _ids(face_ids, "face")
        return self._edit(
            "pin", lambda s: [_refs.pin(s, f) for f in ids], faces=lambda s: ids,
            label=lambda s, rs: f"Pin {_n(len(rs), 'face')} as references",
        )

    def exclude_references(self, face_ids: Sequence[int]) -> list[ReferenceExcluded]:
        ids = _ids(face_ids, "face")
        return self._edit(
            "exclude", lambda s: [_refs.exclude(s, f) for f in ids], faces=lambda s: ids,
            label=lambda s, rs: f"Exclude {_n(len(rs), 'face')} from references",
        )

    def reset_face_references(self, face_ids: Sequence[int]) -> list[ReferencesReset]:
        ids = _ids(face_ids, "face")
        return self._edit(
            "reset", lambda s: [_refs.reset(s, None, f) for f in ids], faces=lambda s: ids,
            label=lambda s, rs: f"Reset the references of {_n(len(rs), 'face')}",
        )

    def hide_people(self, person_ids: Sequence[int], hidden: bool = True) -> list[PersonHidden]:
        ids = _ids(person_ids, "person")
        return self._edit(
            "hide", lambda s: [_people.hide(s, p, hidden) for p in ids], people=ids,
            label=lambda s, rs: f"{'Hide' if hidden else 'Show'} "
            + (_label(s, ids[0]) if len(ids) == 1 else _n(len(ids), "person")),
        )

    # -- undo -----------------------------------------------------------------------------

    def undo_state(self) -> _undo.UndoState:
        """The people edits Undo and Redo would take back or make again (labels)."""
        with self._Session() as s:
            return _undo.state(s)

    def undo(self) -> _undo.EditUndone:
        """Take back the latest people edit not yet undone."""
        with self._write, self._Session.begin() as s:
            result = _undo.undo(s)
        return self._emitted(result, _PEOPLE_EDITED)

    def redo(self) -> _undo.EditUndone:
        """Make again the edit undone last (until a new edit is made)."""
        with self._write, self._Session.begin() as s:
            result = _undo.redo(s)
        return self._emitted(result, _PEOPLE_EDITED)


# What a people edit changes when its verb does not say more precisely.
_PEOPLE_EDITED = Change.of(Area.PEOPLE, Area.FACES, Area.REFERENCES)


def _ids(ids: Sequence[int], what: str) -> list[int]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise LibraryError(f"no {what} given")
    return ids


def _n(n: int, noun: str) -> str:
    plural = "people" if noun == "person" else f"{noun}s"
    return f"{n} {noun if n == 1 else plural}"


def _label(session: Session, person_id: int) -> str:
    p = session.get(Person, person_id)
    return (p.name if p is not None and p.name else None) or f"Person {person_id}"


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise LibraryError(f"the number of references must be a whole number of at least 1, got {k!r}")
    return k


__all__ = [
    "Area",
    "AssignmentState",
    "Change",
    "Library",
    "LibraryError",
    "NotFound",
    "PersonOrder",
    "PhotoOrder",
    "PhotoQuery",
]
