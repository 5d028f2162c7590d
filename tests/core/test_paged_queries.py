"""Paged queries: counts and ordered ids first, rows by id; filters by folder, person,
faces and restored versions; the orders a photo grid offers."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from fakes import FakeBackend, draw_photo, open_test_library
from refldm_desktop.core.changes import LibraryError, NotFound
from refldm_desktop.core.queries import PersonOrder, PhotoOrder, PhotoQuery
from refldm_desktop.db.models import Face, Photo, PhotoState


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "Pictures"
    draw_photo(root / "2019" / "a.png", [(1, 0, 10, 10), (2, 0, 100, 10)])
    draw_photo(root / "2019" / "b.png", [(1, 5, 40, 40)])
    draw_photo(root / "2019x" / "c.png", [(2, 7, 20, 60)])  # a sibling whose name starts alike
    draw_photo(root / "2020" / "trip" / "d.png", [(3, 3, 60, 30), (1, 9, 10, 80)])
    draw_photo(root / "e.png", [])
    library = open_test_library(tmp_path / "home", FakeBackend())
    library.index([root])
    library.root = root
    yield library
    library.close()


def names(lib, ids):
    return [p.path.name for p in lib.photos_by_id(ids)]


def _set(lib, column, values: dict[str, object]):
    with lib._Session.begin() as s:
        for name, v in values.items():
            s.execute(update(Photo).where(Photo.path.endswith("/" + name)).values({column: v}))


def test_counts_and_pages_agree_with_the_whole_list(lib):
    q = PhotoQuery(order=PhotoOrder.PATH)
    assert lib.photo_count(q) == 5
    every = lib.photo_ids(q)
    assert names(lib, every) == ["a.png", "b.png", "c.png", "d.png", "e.png"]
    pages = lib.photo_ids(q, 0, 2) + lib.photo_ids(q, 2, 2) + lib.photo_ids(q, 4, 2)
    assert pages == every
    assert lib.photo_ids(q, 10, 5) == []
    # Rows come back in the order asked for; unknown ids are left out.
    assert [p.id for p in lib.photos_by_id([every[3], 999999, every[0]])] == [every[3], every[0]]
    with pytest.raises(LibraryError):
        lib.photo_ids(q, -1, 2)


def test_folder_filter_takes_subfolders_but_not_siblings_with_the_same_prefix(lib):
    q = PhotoQuery(folder=lib.root / "2019", order=PhotoOrder.PATH)
    assert names(lib, lib.photo_ids(q)) == ["a.png", "b.png"]
    assert lib.photo_count(q) == 2
    assert lib.photo_count(PhotoQuery(folder=lib.root / "2020")) == 1
    assert lib.photo_count(PhotoQuery(folder=lib.root)) == 5


def test_has_faces_and_face_summary_follow_the_faces(lib):
    assert sorted(names(lib, lib.photo_ids(PhotoQuery(has_faces=False)))) == ["e.png"]
    assert lib.photo_count(PhotoQuery(has_faces=True)) == 4
    a = next(p for p in lib.photos() if p.path.name == "a.png")
    assert a.face_count == 2
    scores = [f.quality_score for f in lib.faces() if f.photo_id == a.id]
    assert a.min_face_quality == pytest.approx(min(scores), abs=1e-9)
    # Kept right by the database when faces go (a changed photo is detected again).
    with lib._Session.begin() as s:
        s.execute(Face.__table__.delete().where(Face.photo_id == a.id))
    assert lib.photo(a.id).face_count == 0 and lib.photo(a.id).min_face_quality is None
    assert lib.photo_count(PhotoQuery(has_faces=False)) == 2


def test_person_filter_lists_each_photo_of_a_person_once(lib):
    by_photo = {}
    for f in lib.faces():
        by_photo.setdefault(f.person_id, set()).add(f.photo.name)
    for person_id, photos in by_photo.items():
        q = PhotoQuery(person_id=person_id)
        assert sorted(names(lib, lib.photo_ids(q))) == sorted(photos)
        assert lib.photo_count(q) == len(photos)
    # A rejected face no longer puts its photo under the person.
    alice = next(f for f in lib.faces() if f.photo.name == "b.png")
    lib.reject_face(alice.id)
    assert "b.png" not in names(lib, lib.photo_ids(PhotoQuery(person_id=alice.person_id)))


def test_orders_date_taken_quality_and_added(lib):
    _set(lib, "taken_at", {"a.png": datetime(2001, 1, 1), "c.png": datetime(1999, 5, 5), "d.png": datetime(2010, 2, 2)})
    newest = names(lib, lib.photo_ids(PhotoQuery(order=PhotoOrder.TAKEN_NEWEST)))
    assert newest[:3] == ["d.png", "a.png", "c.png"] and sorted(newest[3:]) == ["b.png", "e.png"]
    oldest = names(lib, lib.photo_ids(PhotoQuery(order=PhotoOrder.TAKEN_OLDEST)))
    assert oldest[:3] == ["c.png", "a.png", "d.png"] and sorted(oldest[3:]) == ["b.png", "e.png"]

    with lib._Session.begin() as s:
        for name, q in {"a.png": 0.9, "b.png": 0.2, "c.png": 0.5, "d.png": 0.7}.items():
            pid = s.scalar(Photo.__table__.select().with_only_columns(Photo.id).where(Photo.path.endswith("/" + name)))
            s.execute(update(Face).where(Face.photo_id == pid).values(quality_score=q))
    worst_first = names(lib, lib.photo_ids(PhotoQuery(order=PhotoOrder.QUALITY)))
    assert worst_first == ["b.png", "c.png", "d.png", "a.png", "e.png"]  # no faces: last
    added = lib.photo_ids(PhotoQuery(order="added"))
    assert added == sorted(added)
    with pytest.raises(LibraryError, match="unknown photo order"):
        PhotoQuery(order="sideways")


def test_restored_filter_and_version_count(lib, tmp_path):
    from refldm_desktop.jobs.queue import JobResult, VersionRecord
    from refldm_desktop.jobs.runner import HandlerRegistry

    target = lib.photo_ids(PhotoQuery(order=PhotoOrder.PATH))[1]
    lib.jobs.enqueue_restore([target], restorer="passthrough")
    out = tmp_path / "out.png"
    out.write_bytes(b"x")
    lib.jobs.run(HandlerRegistry({"restore_photo": lambda ctx: JobResult(VersionRecord(out, "0" * 64, "fake"))}))
    assert lib.photo_ids(PhotoQuery(restored=True)) == [target]
    assert lib.photo_count(PhotoQuery(restored=False)) == 4
    assert lib.photo(target).versions == 1


def test_photo_by_id_and_unknown_id(lib):
    pid = lib.photo_ids(PhotoQuery(order=PhotoOrder.PATH))[0]
    p = lib.photo(pid)
    assert p.path.name == "a.png" and p.face_count == 2
    with pytest.raises(NotFound):
        lib.photo(987654)


def test_people_pages_counts_and_cover(lib):
    people = lib.people()
    assert lib.person_count() == len(people) == 3
    by_faces = lib.person_ids(order=PersonOrder.FACES)
    counts = [lib.person(i).face_count for i in by_faces]
    assert counts == sorted(counts, reverse=True)
    assert lib.person_ids(order="faces", offset=1, limit=1) == by_faces[1:2]
    lib.rename_person(by_faces[2], "Ann")
    assert lib.person_ids(order="name")[0] == by_faces[2]
    lib.hide_person(by_faces[1])
    assert lib.person_count(include_hidden=False) == 2
    assert by_faces[1] not in lib.person_ids(include_hidden=False)
    assert [p.id for p in lib.people_by_id([by_faces[2], 4242, by_faces[0]])] == [by_faces[2], by_faces[0]]

    # The cover is the best-scored face, wherever it comes in id order.
    top = by_faces[0]
    faces = lib.faces(top)
    assert len(faces) >= 2
    best = faces[-1].id
    with lib._Session.begin() as s:
        s.execute(update(Face).where(Face.id.in_([f.id for f in faces])).values(quality_score=0.3))
        s.execute(update(Face).where(Face.id == best).values(quality_score=0.8))
    assert lib.cover_face(top) == best
    with pytest.raises(NotFound):
        lib.cover_face(4242)


def test_the_cover_is_a_face_whose_photo_can_be_read(lib):
    """A tile showing a face whose photo is gone (or unreadable) shows a placeholder: the
    best face of a readable photo comes first, any face when none can be read."""
    top = lib.person_ids(order=PersonOrder.FACES)[0]
    faces = lib.faces(top)
    by_photo = {f.photo_id: f for f in faces}  # one face per photo
    assert len(by_photo) >= 3
    best, second, third = list(by_photo.values())[:3]
    with lib._Session.begin() as s:
        s.execute(update(Face).where(Face.id.in_([f.id for f in faces])).values(quality_score=0.1))
        for face, q in ((best, 0.9), (second, 0.6), (third, 0.3)):
            s.execute(update(Face).where(Face.id == face.id).values(quality_score=q))
    assert lib.cover_face(top) == best.id

    _set_state(lib, [best.photo_id], PhotoState.MISSING)
    assert lib.cover_face(top) == second.id
    _set_state(lib, [second.photo_id], PhotoState.ERROR)
    assert lib.cover_face(top) == third.id

    _set_state(lib, list(by_photo), PhotoState.MISSING)  # none readable: still a face, the best
    assert lib.cover_face(top) == best.id


def _set_state(lib, photo_ids, state):
    with lib._Session.begin() as s:
        s.execute(update(Photo).where(Photo.id.in_(photo_ids)).values(state=state))


def test_a_discarded_version_loses_its_file_not_its_record(lib, tmp_path):
    import hashlib

    from refldm_desktop.core.events import Area
    from refldm_desktop.jobs.queue import JobResult, VersionRecord
    from refldm_desktop.jobs.runner import HandlerRegistry

    target = lib.photo_ids(PhotoQuery(order=PhotoOrder.PATH))[0]
    out = tmp_path / "out.png"
    out.write_bytes(b"restored bytes")
    sha = hashlib.sha256(b"restored bytes").hexdigest()
    lib.jobs.enqueue_restore([target], restorer="passthrough")
    lib.jobs.run(HandlerRegistry({"restore_photo": lambda ctx: JobResult(VersionRecord(out, sha, "fake"))}))
    (v,) = lib.jobs.versions()
    seen = []
    lib.subscribe(seen.append)
    r = lib.jobs.discard_version(v.id)
    assert r.file_removed and not out.exists()
    assert any(c.ids_of(Area.VERSIONS) == {v.id} and c.ids_of(Area.PHOTOS) == {target} for c in seen)
    assert lib.jobs.versions() == [] and [x.id for x in lib.jobs.versions(include_discarded=True)] == [v.id]
    assert lib.photo(target).versions == 0 and lib.photo_count(PhotoQuery(restored=True)) == 0
    with pytest.raises(NotFound, match="discarded"):
        lib.jobs.discard_version(v.id)
    # A file that replaced ours is never removed.
    lib.jobs.enqueue_restore([target], restorer="passthrough")
    out2 = tmp_path / "out2.png"
    out2.write_bytes(b"second")
    lib.jobs.run(HandlerRegistry({
        "restore_photo": lambda ctx: JobResult(VersionRecord(out2, hashlib.sha256(b"second").hexdigest(), "fake"))
    }))
    (v2,) = lib.jobs.versions()
    out2.write_bytes(b"the user's own file now")
    assert not lib.jobs.discard_version(v2.id).file_removed and out2.exists()


def test_keeping_a_version_is_recorded_once(lib, tmp_path):
    import hashlib

    from refldm_desktop.core.events import Area
    from refldm_desktop.jobs.queue import JobResult, VersionRecord
    from refldm_desktop.jobs.runner import HandlerRegistry

    target = lib.photo_ids(PhotoQuery(order=PhotoOrder.PATH))[0]
    out = tmp_path / "kept.png"
    out.write_bytes(b"restored bytes")
    lib.jobs.enqueue_restore([target], restorer="passthrough")
    lib.jobs.run(HandlerRegistry({
        "restore_photo": lambda ctx: JobResult(VersionRecord(out, hashlib.sha256(b"restored bytes").hexdigest(), "fake"))
    }))
    (v,) = lib.jobs.versions()
    assert v.kept_at is None  # made, not yet looked at
    seen = []
    lib.subscribe(seen.append)
    kept = lib.jobs.keep_version(v.id)
    assert kept.kept_at is not None and out.read_bytes() == b"restored bytes"
    assert any(c.ids_of(Area.VERSIONS) == {v.id} for c in seen)
    assert lib.jobs.keep_version(v.id).kept_at == kept.kept_at  # keeping again changes nothing
    (listed,) = lib.jobs.versions()
    assert listed.kept_at == kept.kept_at
    lib.jobs.discard_version(v.id)  # the user changed their mind: the file goes
    with pytest.raises(NotFound, match="discarded"):
        lib.jobs.keep_version(v.id)
    with pytest.raises(NotFound):
        lib.jobs.keep_version(v.id + 100)
