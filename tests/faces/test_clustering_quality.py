"""People grouping of real photos: pairwise precision and recall against the folder labels.

Pairwise: of all pairs of faces put in one person, the share that are truly one person
(precision); of all pairs that are truly one person, the share put together (recall).
Faces left unassigned pair with nobody.
"""

from __future__ import annotations

import itertools

import numpy as np

from refldm_desktop.faces.cluster import cluster
from refldm_plugin_dlib import DLIB_SPACE


def pairwise(labels, truth) -> tuple[float, float]:
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(truth)), 2):
        same = truth[i] == truth[j]
        together = labels[i] is not None and labels[i] == labels[j]
        tp += same and together
        fp += together and not same
        fn += same and not together
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def identity_faces(dlib_faces, manifest, faces_dir):
    rows = [r for r in manifest if r["path"].startswith("identities/")]
    emb, truth, paths = [], [], []
    for r in rows:
        faces = dlib_faces.detect(faces_dir / r["path"])
        assert len(faces) == 1, r["path"]
        emb.append(faces[0].embedding)
        truth.append(r["identity"])
        paths.append(r["path"])
    return np.array(emb), truth, paths


def test_identity_photos_cluster_with_high_precision_and_recall(dlib_faces, manifest, faces_dir):
    emb, truth, _ = identity_faces(dlib_faces, manifest, faces_dir)
    n = len(truth)
    labels = cluster(DLIB_SPACE, emb, list(range(n)), [None] * n, [frozenset()] * n)
    precision, recall = pairwise(labels, truth)
    assert precision >= 0.98 and recall >= 0.95, (precision, recall)


def test_embeddings_keep_people_apart_in_nearest_neighbour_terms(dlib_faces, manifest, faces_dir):
    # Independent of any threshold: every photo's nearest other photo shows the same person.
    emb, truth, paths = identity_faces(dlib_faces, manifest, faces_dir)
    d = DLIB_SPACE.distance(emb, emb)
    np.fill_diagonal(d, np.inf)
    wrong = [(paths[i], paths[int(j)]) for i, j in enumerate(d.argmin(1)) if truth[i] != truth[int(j)]]
    assert wrong == []


def test_new_photos_join_the_people_already_known(dlib_faces, manifest, faces_dir):
    # First half of each person's photos is already grouped (as after an earlier run);
    # the rest arrive later and must join the right person, not found new ones.
    emb, truth, _ = identity_faces(dlib_faces, manifest, faces_dir)
    names = sorted(set(truth))
    person_id = {name: 100 + k for k, name in enumerate(names)}
    seen: dict[str, int] = {}
    fixed: list[int | None] = []
    for name in truth:
        seen[name] = seen.get(name, 0) + 1
        first_half = seen[name] <= max(1, truth.count(name) // 2)
        fixed.append(person_id[name] if first_half else None)
    n = len(truth)
    labels = cluster(DLIB_SPACE, emb, list(range(n)), fixed, [frozenset()] * n)
    wrong = [(i, truth[i], labels[i]) for i in range(n) if fixed[i] is None and labels[i] != person_id[truth[i]]]
    assert wrong == []


def test_faces_in_group_and_low_resolution_photos_join_their_people(dlib_faces, manifest, faces_dir):
    emb, truth, _ = identity_faces(dlib_faces, manifest, faces_dir)
    extra = {
        "groups/two_people.jpg": ["obama", "biden"],  # left to right
        "edge_cases/obama-240p.jpg": ["obama"],  # 427x240 copy of another obama photo
    }
    more_emb, more_truth, photos = [], [], list(range(len(truth)))
    for k, (path, who) in enumerate(extra.items()):
        faces = dlib_faces.detect(faces_dir / path)
        assert len(faces) == len(who)
        more_emb.extend(f.embedding for f in faces)
        more_truth.extend(who)
        photos.extend([1000 + k] * len(who))
    all_emb = np.vstack([emb, np.array(more_emb)])
    n = len(photos)
    labels = cluster(DLIB_SPACE, all_emb, photos, [None] * n, [frozenset()] * n)
    for i, name in enumerate(more_truth, start=len(truth)):
        assert labels[i] is not None
        members = {truth[j] for j in range(len(truth)) if labels[j] == labels[i]}
        assert members == {name}
