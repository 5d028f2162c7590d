"""Change events: every verb that changes the library tells subscribers what changed, and
changes made by another process are noticed within 2 seconds."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakes import FakeBackend, draw_photo, open_test_library
from refldm_desktop.core.events import Area, Change

REPO = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.got = threading.Event()

    def __call__(self, change: Change) -> None:
        self.changes.append(change)
        self.got.set()

    def take(self) -> list[Change]:
        out, self.changes = self.changes, []
        self.got.clear()
        return out

    def wait_external(self, timeout: float) -> Change | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for c in self.changes:
                if c.external:
                    return c
            self.got.wait(0.05)
            self.got.clear()
        return None


def _photos(root: Path) -> Path:
    draw_photo(root / "a.png", [(1, 0, 10, 10), (2, 0, 100, 10)])
    draw_photo(root / "b.png", [(1, 5, 40, 40)])
    draw_photo(root / "c.png", [(2, 7, 20, 60)])
    draw_photo(root / "d.png", [(1, 9, 60, 30)])
    return root


@pytest.fixture
def lib(tmp_path):
    library = open_test_library(tmp_path / "home", FakeBackend())
    yield library
    library.close()


def _local(changes: list[Change]) -> list[Change]:
    return [c for c in changes if not c.external]


def test_index_and_people_verbs_say_what_changed(lib, tmp_path):
    rec = Recorder()
    lib.subscribe(rec)
    lib.index([_photos(tmp_path / "Pictures")])
    changes = _local(rec.take())
    photo_ids = {p.id for p in lib.photos()}
    # Photos are announced as they are committed, with their ids, then the whole result.
    announced = set().union(*(c.ids_of(Area.PHOTOS) or set() for c in changes))
    assert announced == photo_ids
    assert any(c.touches(Area.PEOPLE) for c in changes)

    faces = lib.faces()
    alice = next(f.person_id for f in faces if f.photo.name == "b.png")
    bob = next(f.person_id for f in faces if f.photo.name == "c.png")
    lib.rename_person(alice, "Alice")
    (c,) = _local(rec.take())
    assert c.areas == {Area.PEOPLE} and c.ids_of(Area.PEOPLE) == {alice}

    face = next(f for f in faces if f.person_id == alice)
    lib.reject_face(face.id)
    (c,) = _local(rec.take())
    assert c.ids_of(Area.FACES) == {face.id} and alice in c.ids_of(Area.PEOPLE)

    lib.confirm_face(face.id, alice)
    (c,) = _local(rec.take())
    assert c.ids_of(Area.FACES) == {face.id}

    other = next(f for f in faces if f.person_id == alice and f.id != face.id)
    lib.pin_reference(other.id)
    (c,) = _local(rec.take())
    assert c.ids_of(Area.REFERENCES) == {other.id} and c.ids_of(Area.PEOPLE) == {alice}
    lib.pin_reference(other.id)  # already pinned: nothing changed, nothing said
    assert _local(rec.take()) == []
    lib.reset_references(alice)
    assert _local(rec.take())[0].ids_of(Area.REFERENCES) == {other.id}
    lib.exclude_reference(other.id)
    assert _local(rec.take())[0].ids_of(Area.REFERENCES) == {other.id}
    lib.reset_references(face_id=other.id)
    assert _local(rec.take())[0].ids_of(Area.REFERENCES) == {other.id}

    lib.hide_person(bob)
    assert _local(rec.take())[0].ids_of(Area.PEOPLE) == {bob}
    split = lib.split_person(alice, [other.id])
    (c,) = _local(rec.take())
    assert c.ids_of(Area.PEOPLE) == {alice, split.new_person} and c.ids_of(Area.FACES) == {other.id}
    lib.merge_people(alice, [split.new_person])
    (c,) = _local(rec.take())
    assert c.ids_of(Area.PEOPLE) == {alice, split.new_person}
    assert c.touches(Area.FACES) and c.ids_of(Area.FACES) is None  # which faces: not listed


def test_jobs_tell_their_queueing_progress_end_and_version(lib, tmp_path):
    from refldm_desktop.jobs.queue import JobResult, VersionRecord
    from refldm_desktop.jobs.runner import HandlerRegistry

    lib.index([_photos(tmp_path / "Pictures")])
    ids = [p.id for p in lib.photos()]
    rec = Recorder()
    lib.subscribe(rec)
    queued = lib.jobs.enqueue_restore(ids[:2], restorer="passthrough")
    (c,) = _local(rec.take())
    assert c.ids_of(Area.JOBS) == set(queued.queued)
    lib.jobs.cancel([queued.queued[1]])
    assert _local(rec.take())[0].ids_of(Area.JOBS) == {queued.queued[1]}
    lib.jobs.resume([queued.queued[1]])
    assert _local(rec.take())[0].ids_of(Area.JOBS) == {queued.queued[1]}

    # The app cancels through its runner: a queued job cancelled there is told too.
    extra = lib.jobs.enqueue_restore(ids[2:3], restorer="passthrough").queued
    rec.take()
    lib.jobs.runner(HandlerRegistry({})).cancel(extra[0])
    assert any(c.ids_of(Area.JOBS) == set(extra) for c in _local(rec.take()))

    out = tmp_path / "out"
    out.mkdir()

    def handler(ctx):
        ctx.progress(faces_done=0, faces_total=1)
        path = out / f"{ctx.id}.bin"
        path.write_bytes(b"x")
        return JobResult(VersionRecord(path, "0" * 64, "fake"))

    lib.jobs.run(HandlerRegistry({"restore_photo": handler}))
    changes = _local(rec.take())
    versions = set().union(*(c.ids_of(Area.VERSIONS) or set() for c in changes if c.touches(Area.VERSIONS)))
    assert versions == {v.id for v in lib.jobs.versions()} and len(versions) == 2
    jobs_told = set().union(*(c.ids_of(Area.JOBS) for c in changes))
    assert jobs_told == set(queued.queued)
    restored = set().union(*(c.ids_of(Area.PHOTOS) for c in changes if c.touches(Area.PHOTOS)))
    assert restored == set(ids[:2])


def test_a_failing_subscriber_breaks_neither_the_verb_nor_the_others(lib, tmp_path):
    lib.index([_photos(tmp_path / "Pictures")])
    pid = lib.faces()[0].person_id

    def broken(change):
        raise RuntimeError("a view crashed")

    rec = Recorder()
    lib.subscribe(broken)
    lib.subscribe(rec)
    lib.rename_person(pid, "Ann")
    assert lib.person(pid).name == "Ann"
    assert any(c.ids_of(Area.PEOPLE) == {pid} for c in rec.take())


def test_unsubscribed_callbacks_hear_nothing_and_the_watcher_stops(lib, tmp_path):
    lib.index([_photos(tmp_path / "Pictures")])
    pid = lib.faces()[0].person_id
    rec = Recorder()
    stop = lib.subscribe(rec)
    assert any(t.name == "refldm-change-watcher" for t in threading.enumerate())
    stop()
    lib.rename_person(pid, "Ann")
    assert rec.take() == []
    deadline = time.monotonic() + 5
    while any(t.name == "refldm-change-watcher" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the watcher thread kept running with no subscriber"
        time.sleep(0.05)


_OTHER_PROCESS = """
import sys
sys.path[:0] = [{tests!r}]
from fakes import open_test_library
from pathlib import Path
with open_test_library(Path({home!r})) as lib:
    lib.rename_person({pid}, "Renamed elsewhere")
"""


def test_a_change_made_by_another_process_is_noticed_within_two_seconds(lib, tmp_path):
    lib.index([_photos(tmp_path / "Pictures")])
    pid = lib.faces()[0].person_id
    rec = Recorder()
    lib.subscribe(rec)
    # Our own writes are not mistaken for another process's.
    lib.rename_person(pid, "Here")
    time.sleep(1.2)
    assert [c for c in rec.take() if c.external] == []

    code = _OTHER_PROCESS.format(tests=str(REPO / "tests"), home=str(lib.home.root), pid=pid)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)
    done = time.monotonic()
    change = rec.wait_external(2.0)
    assert change is not None, f"no external change within 2 s of the other process's commit"
    assert time.monotonic() - done <= 2.0
    assert Area.PEOPLE in change.areas
    # Only what moved is named: a rename elsewhere does not refresh the photo grid or jobs.
    assert not change.areas & {Area.PHOTOS, Area.JOBS, Area.VERSIONS}
    assert lib.person(pid).name == "Renamed elsewhere"


def test_close_stops_the_watcher(tmp_path):
    lib = open_test_library(tmp_path / "home", FakeBackend())
    lib.subscribe(lambda c: None)
    lib.close()
    deadline = time.monotonic() + 5
    while any(t.name == "refldm-change-watcher" for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
