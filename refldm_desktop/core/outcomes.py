"""What a restore did to each photo and face, as typed values.

A restore job keeps its faces' outcomes in the job's summary (JSON in the database), and
`restore --json` / `batch --json` print them. The JSON shape is fixed (scripts read it):
a face's "status" is one string, "restored" or a status and its reason ("skipped: no
person ..."). Here that string is a `FaceStatus` plus a reason, parsed back from the
stored JSON so that nothing outside this module compares status strings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from refldm_desktop.db.models import JobState


class FaceStatus(enum.StrEnum):
    """A face's outcome; the value is the text its JSON status starts with."""

    RESTORED = "restored"
    SKIPPED = "skipped"  # the job left it out: why is the reason
    NOT_CHOSEN = "skipped: not chosen for this batch"  # a batch left it out on purpose
    NOT_RESTORED = "not restored"  # its photo's job did not finish
    KEPT_ORIGINAL = "kept original"  # restored, but it drifted from its person (keep-original policy)

    @classmethod
    def parse(cls, text: str) -> tuple[FaceStatus, str]:
        """A JSON status string -> (status, reason)."""
        for status in (cls.NOT_CHOSEN, cls.SKIPPED, cls.NOT_RESTORED, cls.KEPT_ORIGINAL, cls.RESTORED):
            if text == status.value:
                return status, ""
            if text.startswith(status.value + ": "):
                return status, text[len(status.value) + 2 :]
        # Not written by this version: keep the words, as a reason.
        return cls.NOT_RESTORED, text


@dataclass(frozen=True)
class FaceOutcome:
    face_id: int | None
    box: tuple[float, ...]
    person_id: int | None
    status: FaceStatus
    reason: str = ""
    # The reference faces it was restored with; None where the job never got to the face
    # (then the JSON has no "references" and no "identity" key).
    references: tuple[int, ...] | None = None
    # restore.identity.IdentityCheck.to_json() where the identity guard checked the face.
    identity: Mapping[str, Any] | None = None

    @property
    def restored(self) -> bool:
        return self.status is FaceStatus.RESTORED

    @property
    def status_text(self) -> str:
        return f"{self.status.value}: {self.reason}" if self.reason else self.status.value

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "face_id": self.face_id,
            "box": list(self.box),
            "person_id": self.person_id,
            "status": self.status_text,
        }
        if self.references is not None:  # the job got to the face, and checked it or not
            out["references"] = list(self.references)
            out["identity"] = None if self.identity is None else dict(self.identity)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FaceOutcome:
        status, reason = FaceStatus.parse(str(d["status"]))
        refs = d.get("references")
        return cls(
            face_id=d.get("face_id"),
            box=tuple(d.get("box") or ()),
            person_id=d.get("person_id"),
            status=status,
            reason=reason,
            references=None if refs is None else tuple(int(r) for r in refs),
            identity=d.get("identity"),
        )


@dataclass(frozen=True)
class PhotoOutcome:
    """One photo of a restore or batch run: its job, its new file (if any) and its faces."""

    photo: Path | None
    output: Path | None
    job_id: int
    state: JobState
    error: str | None
    faces: tuple[FaceOutcome, ...]

    @property
    def restored_count(self) -> int:
        return sum(1 for f in self.faces if f.restored)

    def to_json(self) -> dict[str, Any]:
        return {
            "photo": None if self.photo is None else str(self.photo),
            "output": None if self.output is None else str(self.output),
            "job_id": self.job_id,
            "state": self.state.value,
            "error": self.error,
            "faces": [f.to_json() for f in self.faces],
        }


__all__ = ["FaceOutcome", "FaceStatus", "PhotoOutcome"]
