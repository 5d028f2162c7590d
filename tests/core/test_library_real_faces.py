"""End to end on real photos: index the identity photos with the default (dlib) backend and
the real clusterer, and check the people against MANIFEST.csv."""

from __future__ import annotations

import csv
from itertools import combinations

import pytest

from fakes import snapshot
from musthave import require_dlib_backend
from refldm_desktop.core.home import Home


@pytest.fixture
def dlib_backend():
    return require_dlib_backend()


def test_identity_photos_each_get_a_face_and_group_into_their_people(faces_dir, tmp_path, dlib_backend):
    from refldm_desktop.core.library import Library

    with open(faces_dir / "MANIFEST.csv", newline="") as f:
        truth = {
            (faces_dir / row["path"]).resolve(): row["identity"]
            for row in csv.DictReader(f)
            if row["path"].startswith("identities/")
        }
    before = snapshot(faces_dir / "identities")
    with Library.open(Home(tmp_path / "home"), backend=dlib_backend) as lib:
        r = lib.index([faces_dir / "identities"])
        assert r.errors == 0 and r.new == len(truth)
        # The largest face of each photo is the labelled one.
        largest = {}
        for face in lib.faces():
            x0, y0, x1, y1 = face.box
            area = (x1 - x0) * (y1 - y0)
            if face.photo not in largest or area > largest[face.photo][0]:
                largest[face.photo] = (area, face.person_id, face.id)
        assert set(largest) == set(truth), f"no face found in {sorted(set(truth) - set(largest))}"

        label = {p: (pid if pid is not None else f"alone-{fid}") for p, (_, pid, fid) in largest.items()}
        tp = fp = fn = 0
        for a, b in combinations(sorted(truth), 2):
            same_truth, same_found = truth[a] == truth[b], label[a] == label[b]
            tp += same_truth and same_found
            fp += same_found and not same_truth
            fn += same_truth and not same_found
        precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        assert precision >= 0.98 and recall >= 0.95, (precision, recall)

        # Nothing changed, so a second run does no detection at all.
        calls = []
        real_detect = dlib_backend.detect
        dlib_backend.detect = lambda image: calls.append(1) or real_detect(image)
        r = lib.index([faces_dir / "identities"])
        assert calls == [] and r.unchanged == len(truth)
    assert snapshot(faces_dir / "identities") == before
