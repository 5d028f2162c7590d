"""The identity guard as a user meets it: `restore --json`, `versions list`, the batch report,
and the keep-original policy, on the shared indexed library (restore_testlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from restore_testlib import LIBRARY_PARTS, cli, indexed_library, load

from refldm_desktop.core import restore_job


@pytest.fixture
def library(faces_dir):
    return indexed_library(LIBRARY_PARTS)


def restore_person(library, who: str, out: str, *args) -> tuple[list[Path], list[dict]]:
    """`restore --json` of every photo of identities/<who>: (the photos, the results)."""
    photos = sorted((library.lib / "identities" / who).iterdir())
    r = cli(library.home, "restore", *photos, *args, "--output-dir", library.root / out, "--json")
    assert r.rc == 0, r.err
    return photos, r.json()


def test_restore_json_and_versions_list_carry_the_identity_check(library):
    out = library.root / "out-identity"
    _, results = restore_person(library, "obama", out.name, "--restorer", "passthrough")
    checked = 0
    for o in results:
        for f in o["faces"]:
            if f["status"] != "restored":
                continue
            ident = f["identity"]
            assert set(ident) >= {"before", "after", "threshold", "verdict"}
            assert ident["verdict"] == "kept" and ident["threshold"] == pytest.approx(0.55)
            assert ident["after"] == pytest.approx(ident["before"], abs=1e-4)  # nothing changed
            # Obama's other photos are his references, and they are him.
            assert ident["against"] == "references" and ident["after"] < ident["threshold"]
            checked += 1
    assert checked >= 2

    versions = cli(library.home, "versions", "list", "--json").json()
    mine = [v for v in versions if Path(v["output"]).parent.is_relative_to(out)]
    assert mine and all(f["identity"]["verdict"] == "kept" for v in mine for f in v["faces"] if f["status"] == "restored")
    table = cli(library.home, "versions", "list").out
    assert "IDENTITY" in table.splitlines()[0] and "kept" in table


class _Swapper:
    """Pastes one fixed face (someone else's) over every face it is given."""

    name = "swapper"
    model = "swapper"
    needs_references = False

    def __init__(self, donor: np.ndarray) -> None:
        self.donor = donor
        self.resolution = donor.shape[0]

    def available(self):
        return True, ""

    def restore(self, crops, references, options=None, progress=None, cancelled=None):
        return [self.donor.copy() for _ in crops]


def test_keep_original_leaves_a_face_that_became_someone_else_as_it_was(library, monkeypatch):
    from refldm_desktop.faces.align import ffhq_transform, warp_to_crop

    from refldm_desktop.core.home import Home
    from refldm_desktop.core.library import Library
    from refldm_desktop.core.restoring import face_records, photo_record

    faces = cli(library.home, "faces", "list", "--json").json()
    donor_id = next(f["id"] for f in faces if "john_salley" in f["photo"])
    with Library.open(Home(library.home)) as lib:
        (rec,) = face_records(lib, face_ids=[donor_id])
        donor_photo = load(photo_record(lib, rec.photo_id).path)
    landmarks = rec.landmarks
    donor = warp_to_crop(donor_photo, ffhq_transform(landmarks, 256))
    from refldm_desktop.core import restoring

    for module in (restore_job, restoring):
        monkeypatch.setattr(module, "create_restorer", lambda name, **kw: _Swapper(donor))

    photos, results = restore_person(library, "biden", "out-keep-original", "--identity-policy", "keep-original")
    seen = 0
    for o in results:
        for f in o["faces"]:
            if f["identity"] is None:
                continue
            seen += 1
            assert f["identity"]["verdict"] == "drifted", f
            assert f["status"].startswith("kept original")
        if o["output"] is not None:  # only when some other face was kept
            before, after = load(Path(o["photo"])), load(Path(o["output"]))
            for f in o["faces"]:
                if f["status"].startswith("kept original"):
                    x0, y0, x1, y1 = (int(round(v)) for v in f["box"])
                    assert np.array_equal(after[y0:y1, x0:x1], before[y0:y1, x0:x1])
    assert seen >= 2

    # With the default policy the same faces are restored, and flagged.
    _, results = restore_person(library, "biden", "out-flag")
    flagged = [f for o in results for f in o["faces"] if f["identity"]]
    assert flagged and all(f["status"] == "restored" and f["identity"]["verdict"] == "drifted" for f in flagged)
    text = cli(library.home, "restore", photos[0], "--output-dir", library.root / "out-flag2")
    assert "drifted" in text.out


def test_the_batch_report_says_whether_each_face_is_still_the_person(library):
    out = library.root / "out-identity-batch"
    r = cli(library.home, "batch", library.lib / "identities" / "john_salley", "--restorer", "passthrough",
            "--min-quality", "1.0", "--output-dir", out, "--json")
    assert r.rc == 0, r.err
    result = r.json()
    restored = [f for o in result["photos"] for f in o["faces"] if f["status"] == "restored"]
    assert restored
    page = Path(result["report"]).read_text("utf-8")
    assert "same person?" in page
    assert page.count('class="ok">kept') == len(restored)
