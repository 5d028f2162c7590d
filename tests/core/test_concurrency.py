"""The user's decisions go through while a long index runs in the background: indexing
commits each photo on its own and never holds the write lock while it detects faces."""

from __future__ import annotations

import threading
import time

from fakes import FakeBackend, draw_photo, open_test_library

LIMIT = 1.0  # seconds a rename or pin may take while indexing runs


class SlowBackend(FakeBackend):
    """Takes its time per photo, as a real detector on a big photo does."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def detect(self, image):
        time.sleep(self.seconds)
        return super().detect(image)


def test_rename_and_pin_during_an_index_finish_within_a_second(tmp_path):
    first = tmp_path / "first"
    for i in range(3):
        draw_photo(first / f"p{i}.png", [(1, i, 10, 10)], size=(64, 48))
    more = tmp_path / "more"
    for i in range(30):
        draw_photo(more / f"q{i:02d}.png", [(1 + i % 3, i, 10, 10)], size=(64, 48))

    lib = open_test_library(tmp_path / "home", SlowBackend(0.0))
    other = None
    try:
        lib.index([first])
        face = lib.faces()[0]
        lib._backend.seconds = 1.5  # longer than LIMIT: a lock held over one detection fails
        result = {}
        stop = threading.Event()
        indexing = threading.Thread(
            target=lambda: result.setdefault("r", lib.index([more], cancel=stop.is_set))
        )
        indexing.start()
        # Wait until the index is busy detecting (some photos are committed already).
        deadline = time.monotonic() + 60
        while lib.photo_count() < 4:
            assert time.monotonic() < deadline and indexing.is_alive()
            time.sleep(0.05)

        t0 = time.monotonic()
        lib.rename_person(face.person_id, "Grandma Ann")  # same library, another thread
        assert time.monotonic() - t0 < LIMIT
        t0 = time.monotonic()
        lib.pin_reference(face.id)
        assert time.monotonic() - t0 < LIMIT

        other = open_test_library(tmp_path / "home", FakeBackend())  # another connection
        t0 = time.monotonic()
        other.rename_person(face.person_id, "Ann")
        assert time.monotonic() - t0 < LIMIT
        assert indexing.is_alive(), "the index finished before the checks: make it slower"
        stop.set()
        indexing.join(60)
        assert result["r"].cancelled and 1 <= result["r"].new < 30
        assert lib.person(face.person_id).name == "Ann"
        assert lib.face(face.id).reference == "pinned"
    finally:
        if other is not None:
            other.close()
        lib.close()


def test_a_people_edit_holds_the_write_lock_from_its_first_read(tmp_path, monkeypatch):
    """Two processes pinning one face at once: the second waits for the first's commit and
    finds the face pinned, instead of both inserting the decision (a crash, found by the
    fault suite). Here another connection tries to write while the edit is deciding."""
    import sqlite3

    import refldm_desktop.core.references as refs

    draw_photo(tmp_path / "p" / "a.png", [(1, 0, 10, 10)], size=(64, 48))
    draw_photo(tmp_path / "p" / "b.png", [(1, 1, 10, 10)], size=(64, 48))
    lib = open_test_library(tmp_path / "home", FakeBackend())
    try:
        lib.index([tmp_path / "p"])
        face = lib.faces()[0]
        seen = []
        decide = refs._decide

        def decide_while_another_writes(session, face_id, decision):
            other = sqlite3.connect(lib.home.database, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                seen.append("other got the lock")
                other.rollback()
            except sqlite3.OperationalError as exc:
                seen.append(str(exc))
            finally:
                other.close()
            return decide(session, face_id, decision)

        monkeypatch.setattr(refs, "_decide", decide_while_another_writes)
        assert lib.pin_reference(face.id).changed
        assert seen == ["database is locked"]
        assert lib.face(face.id).reference == "pinned"
    finally:
        lib.close()
