"""The compare view's side panel in words a user reads: whose each reference is when
several faces are shown, the likeness verdict by name (numbers in the tooltip), the
settings line, and a face chooser wide enough for its entries."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from musthave import require_module

require_module("PySide6")
require_module("pytestqt")


def _identity(verdict: str, before: float, after: float) -> dict:
    return {"before": before, "after": after, "threshold": 0.6, "verdict": verdict, "against": "references"}


def _version(faces, parameters, seed, used=()):
    from refldm_desktop.jobs.queue import VersionInfo

    return VersionInfo(id=7, photo_id=1, job_id=1, original=Path("/p/beach.jpg"), original_sha256=None,
                       output=Path("/out/beach (restored).jpg"), output_sha256="", restorer="refldm",
                       model="refldm", parameters=parameters, seed=seed, references_used=list(used),
                       face_status=faces, created_at=datetime(2026, 1, 1))


def test_the_side_panel_names_whose_references_and_likeness_it_shows(qtbot, fake_ctx):
    from PySide6.QtGui import QImage

    from refldm_desktop.ui.views.compare import CompareView, Loaded

    compare = CompareView(fake_ctx)
    qtbot.addWidget(compare)
    compare.resize(1000, 600)
    compare.show()
    picture = QImage(400, 300, QImage.Format.Format_RGB32)
    picture.fill(0x808080)
    faces = [{"face_id": 1, "box": [10, 10, 60, 60], "identity": _identity("kept", 0.35, 0.34)},
             {"face_id": 2, "box": [200, 10, 260, 70], "identity": _identity("drifted", 0.4, 0.9)}]
    version = _version(faces, {"steps": 50, "cfg": 1.5, "device": "cuda:0"}, seed=42)
    loaded = Loaded(version, picture, picture, (400, 300), (400, 300), faces, {1: "Ann", 2: "Person 7"},
                    {1: [(10, None, "sharp")], 2: [(11, None, "large face")]})
    compare.version_id = 7
    compare._show(loaded)

    assert compare.face_choice.currentText() == "Whole photo"
    qtbot.waitUntil(lambda: compare.face_choice.width() > compare.fontMetrics().horizontalAdvance("Whole photo") + 10)
    texts = [compare.references.item(i).text() for i in range(compare.references.count())]
    assert texts == ["For Ann: sharp", "For Person 7: large face"]
    lines = compare.identity.text().splitlines()
    assert lines == ["Ann: still looks like the same person",
                     "⚠ Person 7: may no longer look like the person: compare closely"]
    assert "0.40 -> 0.90" in compare.identity.toolTip()
    assert compare.details.text() == "refldm · steps 50 · guidance 1.5 · seed 42 · device: cuda:0"

    compare.face_choice.setCurrentIndex(1)  # Ann alone: her reference, without "For"
    assert [compare.references.item(i).text() for i in range(compare.references.count())] == ["sharp"]
    assert compare.identity.text() == "Ann: still looks like the same person"


def test_the_settings_line_says_how_the_face_shown_was_restored(qtbot, fake_ctx):
    """A face restored with its own steps, guidance and seed shows them when chosen; the
    whole photo says its faces differ rather than show one face's settings for all."""
    from PySide6.QtGui import QImage

    from refldm_desktop.ui.views.compare import CompareView, Loaded

    compare = CompareView(fake_ctx)
    qtbot.addWidget(compare)
    picture = QImage(400, 300, QImage.Format.Format_RGB32)
    picture.fill(0x808080)
    faces = [{"face_id": 1, "box": [10, 10, 60, 60]}, {"face_id": 2, "box": [200, 10, 260, 70]}]
    used = [{"face_id": 1, "references": [], "steps": 50, "cfg": 1.5, "seed": 42},
            {"face_id": 2, "references": [], "steps": 80, "cfg": 3.0, "seed": 5}]
    version = _version(faces, {"steps": 50, "cfg": 1.5}, seed=42, used=used)
    compare.version_id = 7
    compare._show(Loaded(version, picture, picture, (400, 300), (400, 300), faces, {1: "Ann", 2: "Bo"}, {}))
    assert compare.details.text() == "refldm · each face its own steps, guidance and seed (choose a face)"
    compare.face_choice.setCurrentIndex(compare.face_choice.findData(2))
    assert compare.details.text() == "refldm · steps 80 · guidance 3.0 · seed 5"
    compare.face_choice.setCurrentIndex(compare.face_choice.findData(1))
    assert compare.details.text() == "refldm · steps 50 · guidance 1.5 · seed 42"


def test_the_settings_line_says_the_device_used_never_auto(qtbot, fake_ctx, tmp_path):
    """A restore records where it ran (the passthrough restorer works on the CPU); a version
    recorded before with "auto" (a wish, not a device) shows no device rather than that."""
    from PySide6.QtGui import QImage

    from refldm_desktop.ui.views.compare import CompareView, Loaded
    from ui_testlib import restored_library

    lib, _photo, version = restored_library(tmp_path / "lib")
    lib.close()
    assert version.parameters["device"] == "cpu"
    compare = CompareView(fake_ctx)
    qtbot.addWidget(compare)
    picture = QImage(400, 300, QImage.Format.Format_RGB32)
    picture.fill(0x808080)
    faces = [{"face_id": 1, "box": [10, 10, 60, 60]}]
    compare.version_id = 7
    compare._show(Loaded(_version(faces, {"steps": 50, "cfg": 1.5, "device": "auto"}, seed=42),
                         picture, picture, (400, 300), (400, 300), faces, {1: "Ann"}, {}))
    assert "auto" not in compare.details.text() and "device" not in compare.details.text()
