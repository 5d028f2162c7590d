"""The restoration need in the database: stored beside the reference quality when a face
is found, worked out again (from the stored measures, without decoding any photo) when
NEED_VERSION changes, and never recomputed otherwise."""

from __future__ import annotations

import pytest

from fakes import SpreadBackend, fake_photo, open_test_library
from refldm_desktop.db.models import Face
from refldm_desktop.faces import need, quality
from test_references import assess  # noqa: F401  (the fixture: FakeQuality for quality.assess)


@pytest.fixture
def lib(tmp_path, assess):
    root = tmp_path / "Pictures"
    for v in (0, 3, 6):  # blurry .. sharp (FakeQuality)
        fake_photo(root / f"p{v}.png", [(1, v)])
    with open_test_library(tmp_path / "home", SpreadBackend()) as lib:
        lib.index([root])
        yield lib


def _stored(lib):
    with lib._Session() as s:
        return {
            f.id: (f.need_version, f.need_score, tuple(f.need_reasons or ()))
            for f in s.query(Face).order_by(Face.id)
        }


def test_each_face_gets_its_need_beside_its_quality(lib, assess):
    rows = _stored(lib)
    assert len(rows) == 3 and {v for v, _, _ in rows.values()} == {need.NEED_VERSION}
    by_photo = {f.photo.name: f for f in lib.faces()}
    blurry, sharp = by_photo["p0.png"], by_photo["p6.png"]
    assert blurry.need_score >= need.DEFAULT_MIN_NEED and blurry.need_reasons == ("blurry",)
    assert sharp.need_score < need.DEFAULT_MIN_NEED and sharp.need_reasons == ()
    assert blurry.to_json()["need_score"] == blurry.need_score


def test_a_new_need_version_is_applied_from_the_stored_measures(lib, assess, monkeypatch):
    calls = assess.calls
    before = _stored(lib)
    monkeypatch.setattr(need, "NEED_VERSION", need.NEED_VERSION + 1)
    ids = [f.id for f in lib.faces()]
    lib.rescore(ids[:1])  # as `refs show` and `batch` do for the faces they look at
    after = _stored(lib)
    assert after[ids[0]][0] == need.NEED_VERSION and after[ids[1]][0] == need.NEED_VERSION - 1
    assert assess.calls == calls  # no photo decoded, no face measured again
    lib.index([lib.faces()[0].photo.parent])  # an index run catches the rest
    assert {v for v, _, _ in _stored(lib).values()} == {need.NEED_VERSION}
    assert assess.calls == calls
    assert {k: v[1:] for k, v in _stored(lib).items()} == {k: v[1:] for k, v in before.items()}


def test_a_new_quality_version_measures_again_and_rates_the_need_with_it(lib, assess, monkeypatch):
    calls = assess.calls
    monkeypatch.setattr(quality, "QUALITY_VERSION", quality.QUALITY_VERSION + 1)
    lib.rescore()
    assert assess.calls == calls + 3
    with lib._Session() as s:
        assert {(f.quality_version, f.need_version) for f in s.query(Face)} == {
            (quality.QUALITY_VERSION, need.NEED_VERSION)
        }
    lib.rescore()
    assert assess.calls == calls + 3
