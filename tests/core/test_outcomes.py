"""Typed restore outcomes read and write the JSON that `restore --json` and `batch --json`
print (and that jobs keep in the database) in exactly its old shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refldm_desktop.core.outcomes import FaceOutcome, FaceStatus, PhotoOutcome
from refldm_desktop.db.models import JobState

STORED = [
    {"face_id": 1, "box": [10.5, 20.0, 60.25, 80.0], "person_id": 3, "status": "restored", "references": [7, 9],
     "identity": {"before": 0.31, "after": 0.33, "threshold": 0.6, "verdict": "kept", "against": "references"}},
    {"face_id": 2, "box": [1.0, 2.0, 3.0, 4.0], "person_id": None,
     "status": "skipped: no person (put this face into a person, or allow reference-free restoration: --no-refs-ok)",
     "references": [], "identity": None},
    {"face_id": 3, "box": [1.0, 2.0, 3.0, 4.0], "person_id": 4,
     "status": "skipped: not chosen for this batch: its quality 0.90 is at least 0.5", "references": [],
     "identity": None},
    # A job that never ran: no "references" and no "identity" key.
    {"face_id": 4, "box": [0.0, 0.0, 5.0, 5.0], "person_id": 4, "status": "not restored: the job is queued"},
]


@pytest.mark.parametrize("stored", STORED, ids=lambda d: d["status"][:20])
def test_a_face_outcome_round_trips_its_json_exactly(stored):
    outcome = FaceOutcome.from_json(stored)
    again = outcome.to_json()
    assert again == stored and list(again) == list(stored)
    assert json.dumps(again) == json.dumps(stored)


def test_a_face_stored_before_the_identity_guard_still_reads():
    old = {"face_id": 1, "box": [1.0, 2.0, 3.0, 4.0], "person_id": 3, "status": "restored", "references": [7]}
    face = FaceOutcome.from_json(old)
    assert face.restored and face.identity is None and face.to_json() == {**old, "identity": None}
    kept = FaceOutcome.from_json({**old, "status": "kept original: the restored face drifted (0.71 > 0.60)"})
    assert kept.status is FaceStatus.KEPT_ORIGINAL and not kept.restored and kept.reason.startswith("the restored")


def test_status_and_reason_are_typed():
    restored, skipped, not_chosen, not_run = (FaceOutcome.from_json(d) for d in STORED)
    assert restored.status is FaceStatus.RESTORED and restored.restored and restored.reason == ""
    assert skipped.status is FaceStatus.SKIPPED and skipped.reason.startswith("no person")
    assert not_chosen.status is FaceStatus.NOT_CHOSEN and not_chosen.reason == "its quality 0.90 is at least 0.5"
    assert not_run.status is FaceStatus.NOT_RESTORED and not_run.references is None
    assert FaceStatus.parse("skipped: not chosen for this batch") == (FaceStatus.NOT_CHOSEN, "")


def test_a_photo_outcome_prints_the_old_shape():
    o = PhotoOutcome(Path("/p/a.jpg"), Path("/out/a (restored).jpg"), 5, JobState.DONE, None,
                     tuple(FaceOutcome.from_json(d) for d in STORED))
    j = o.to_json()
    assert list(j) == ["photo", "output", "job_id", "state", "error", "faces"]
    assert j["photo"] == "/p/a.jpg" and j["output"] == "/out/a (restored).jpg"
    assert type(j["state"]) is str and j["state"] == "done"
    assert j["faces"] == STORED
    assert o.restored_count == 1
    nothing = PhotoOutcome(None, None, 6, JobState.FAILED, "boom", ())
    assert nothing.to_json() == {"photo": None, "output": None, "job_id": 6, "state": "failed", "error": "boom",
                                 "faces": []}
