"""The GUI's read paths that keep off its GIL: photo rows over a plain read-only sqlite3
cursor agree with the library's own queries, and thumbnails come from a worker process."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from PIL import Image

from refldm_desktop.core.queries import PhotoOrder, PhotoQuery
from refldm_desktop.core.reader import PhotoReader
from refldm_desktop.core.thumbworker import Picture, Request, ThumbnailWorker
from test_paged_queries import lib  # noqa: F401  # the same small library: five photos in three folders


def test_the_reader_answers_as_the_library_does(lib):
    reader = PhotoReader(lib.home.database, batch=2)  # small batches: pauses between them
    person = lib.faces()[0].person_id
    for q in (
        PhotoQuery(order=PhotoOrder.PATH),
        PhotoQuery(order=PhotoOrder.TAKEN_NEWEST),
        PhotoQuery(folder=lib.root / "2019", order=PhotoOrder.PATH),
        PhotoQuery(person_id=person),
        PhotoQuery(has_faces=False),
        PhotoQuery(restored=True),
    ):
        assert reader.photo_ids(q) == lib.photo_ids(q), q
        assert reader.photo_count(q) == lib.photo_count(q), q
        assert reader.photo_ids(q, 1, 2) == lib.photo_ids(q, 1, 2), q
    ids = lib.photo_ids(PhotoQuery(order=PhotoOrder.PATH))
    asked = [ids[3], 987654, ids[0], ids[1]]
    rows = reader.summaries(asked)
    infos = lib.photos_by_id(asked)
    assert [r.id for r in rows] == [p.id for p in infos] == [ids[3], ids[0], ids[1]]  # order kept, unknown left out
    for r, p in zip(rows, infos, strict=True):
        assert (r.path, r.state, r.width, r.height, r.face_count) == (p.path, p.state, p.width, p.height, p.face_count)


def test_the_reader_never_writes(lib, tmp_path):
    reader = PhotoReader(lib.home.database)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._db().execute("DELETE FROM photos")
    assert reader.photo_count() == 5
    with pytest.raises(Exception, match="no library database"):
        PhotoReader(tmp_path / "none.db").photo_count()


def _ask(worker: ThumbnailWorker, req: Request, timeout: float = 60):
    got, done = [], threading.Event()
    worker.submit(req, lambda r: (got.append(r), done.set()))
    assert done.wait(timeout), "no answer from the thumbnail worker"
    return got[0]


def test_the_worker_process_makes_thumbnails_by_file_and_by_id(lib, tmp_path):
    big = tmp_path / "big.jpg"
    Image.new("RGB", (800, 400), (200, 30, 30)).save(big)
    worker = ThumbnailWorker()
    try:
        pic = _ask(worker, Request("photo", 1, 256, fit=(100, 90), source=str(big)))
        assert isinstance(pic, Picture) and (pic.width, pic.height) == (100, 50)
        assert len(pic.rgb) == 100 * 50 * 3
        assert all(abs(a - b) <= 4 for a, b in zip(pic.rgb[:3], (200, 30, 30))), "JPEG: within 4 levels"
        # By id: the library's own cached thumbnail, resolved in the child.
        pid = lib.photo_ids(PhotoQuery(order=PhotoOrder.PATH))[0]
        home = dict(database=str(lib.home.database), cache=str(lib.thumbnails.root))
        pic = _ask(worker, Request("photo", pid, 64, **home))
        with Image.open(lib.thumbnail("photo", pid, 64)) as own:
            assert (pic.width, pic.height) == own.size
        face = lib.faces()[0]
        assert isinstance(_ask(worker, Request("person", face.person_id, 48, **home)), Picture)
        # Failures are one-line answers, and the worker goes on.
        assert "no photo with id" in _ask(worker, Request("photo", 987654, 64, **home))
        assert isinstance(_ask(worker, Request("photo", 1, 64, source=str(tmp_path / "gone.jpg"))), str)
        assert isinstance(_ask(worker, Request("photo", 1, 64, source=str(big))), Picture)
    finally:
        worker.close()


def test_a_dead_worker_gives_up_what_it_owed_and_the_next_request_starts_another(tmp_path):
    pic = tmp_path / "p.png"
    Image.new("RGB", (40, 30)).save(pic)
    worker = ThumbnailWorker()
    try:
        assert isinstance(_ask(worker, Request("photo", 1, 64, source=str(pic))), Picture)
        first = worker._proc
        assert first is not None
        first.kill()
        first.wait()
        # Requests sent to the dead child come back as None (ask again), never hang.
        results = [_ask(worker, Request("photo", 1, 64, source=str(pic))) for _ in range(3)]
        assert all(r is None or isinstance(r, Picture) for r in results)
        assert isinstance(results[-1], Picture) and worker._proc is not first
        # Stopped on purpose (before a library's database is replaced): likewise.
        second = worker._proc
        worker.stop_child()
        assert second.poll() is not None and not worker.running()
        assert isinstance(_ask(worker, Request("photo", 1, 64, source=str(pic))), Picture)
        assert worker._proc is not second
    finally:
        worker.close()
    assert _ask(worker, Request("photo", 1, 64, source=str(Path(pic)))) is None  # closed: nothing made


def test_every_read_only_opening_reads_a_home_with_an_odd_name(tmp_path):
    """The reader, the thumbnail worker, `db check` and the output check all open the
    library read-only the one way: a folder named with `#`, `?` and `%` is the same file."""
    from fakes import FakeBackend, draw_photo, open_test_library
    from refldm_desktop.core.home import library_folder_of
    from refldm_desktop.db.engine import check_database, connect_readonly

    root = tmp_path / "Pictures"
    draw_photo(root / "a.png", [(1, 0, 10, 10)])
    lib = open_test_library(tmp_path / "my #1 ?home% 20", FakeBackend())
    try:
        lib.index([root])
        pid = lib.photo_ids(PhotoQuery())[0]
        assert PhotoReader(lib.home.database).photo_ids() == [pid]
        worker = ThumbnailWorker()
        try:
            home = dict(database=str(lib.home.database), cache=str(lib.thumbnails.root))
            assert isinstance(_ask(worker, Request("photo", pid, 64, **home)), Picture)
        finally:
            worker.close()
        assert check_database(lib.home.database) == []
        assert library_folder_of(lib.home, root / "a.png") == (root, True)
        db = connect_readonly(lib.home.database)
        try:
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                db.execute("DELETE FROM photos")
        finally:
            db.close()
        assert lib.photo_count(PhotoQuery()) == 1
    finally:
        lib.close()


def test_the_reader_answers_the_same_in_one_go_and_for_a_folder_named_relatively(lib, monkeypatch, tmp_path):
    reader = PhotoReader(lib.home.database, batch=2)
    q = PhotoQuery(order=PhotoOrder.PATH)
    ids = reader.photo_ids(q)
    assert reader.photo_ids(q, pause=False) == ids
    assert reader.summaries(ids, pause=False) == reader.summaries(ids)
    # A relative folder means the one under the working folder at the time of asking,
    # each time (the SQL made for it is not kept for later).
    sub = next(p for p in lib.root.iterdir() if p.is_dir())
    rel = PhotoQuery(folder=Path(sub.name), order=PhotoOrder.PATH)
    monkeypatch.chdir(lib.root)
    inside = reader.photo_ids(rel)
    assert inside and inside == reader.photo_ids(PhotoQuery(folder=sub, order=PhotoOrder.PATH))
    assert reader.photo_count(rel) == len(inside)
    monkeypatch.chdir(tmp_path)
    assert reader.photo_ids(rel) == [] and reader.photo_count(rel) == 0

