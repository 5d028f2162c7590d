"""Clustering rules on synthetic embeddings, where the right answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from refldm_desktop.faces.cluster import cluster
from refldm_desktop.faces.types import EmbeddingSpace

SPACE = EmbeddingSpace(model_id="test", dim=8, metric="euclidean", same_person=1.0)


def people(counts: list[int], seed: int = 0, spread: float = 0.15) -> tuple[np.ndarray, list[int]]:
    """Embeddings of len(counts) well-separated people; returns (embeddings, person index)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(counts), SPACE.dim)) * 10
    emb, who = [], []
    for p, n in enumerate(counts):
        emb.extend(centres[p] + rng.standard_normal((n, SPACE.dim)) * spread)
        who.extend([p] * n)
    return np.array(emb), who


def run(emb, photos=None, fixed=None, forbidden=None, space=SPACE):
    n = len(emb)
    return cluster(
        space,
        emb,
        photos if photos is not None else list(range(n)),
        fixed if fixed is not None else [None] * n,
        forbidden if forbidden is not None else [frozenset()] * n,
    )


def partition(labels) -> set[frozenset[int]]:
    groups: dict = {}
    for i, lab in enumerate(labels):
        if lab is not None:
            groups.setdefault(lab, set()).add(i)
    return {frozenset(g) for g in groups.values()}


def test_groups_of_close_faces_found_new_people_and_lone_faces_stay_unassigned():
    emb, who = people([4, 3, 1, 1])
    labels = run(emb)
    assert partition(labels) == {frozenset({0, 1, 2, 3}), frozenset({4, 5, 6})}
    assert labels[7] is None and labels[8] is None
    assert {lab for lab in labels if lab is not None} == {-1, -2}
    assert labels[0] == -1  # new people are numbered by their first face


def test_two_faces_of_one_photo_never_share_a_person():
    emb, _ = people([3])
    emb[1] = emb[0]  # the same face twice in one photo (a mirror, a photo in the photo)
    labels = run(emb, photos=[10, 10, 11])
    assert labels[0] != labels[1] or labels[0] is None
    assert labels[2] is not None  # the other photo's face still pairs with one of them
    # Nor does a face join an existing person who already has a face in its photo.
    labels = run(emb[:2], photos=[5, 5], fixed=[3, None])
    assert labels == [3, None]


def test_fixed_assignments_are_kept_even_against_the_embeddings():
    emb, _ = people([3, 3])
    # Face 2 looks like the faces of person 7 but the user put it in person 8.
    labels = run(emb, fixed=[7, 7, 8, None, None, None])
    assert labels == [7, 7, 8, -1, -1, -1]


def test_a_rejected_person_is_never_joined():
    emb, _ = people([4])
    fixed = [5, 5, None, None]
    forbidden = [frozenset(), frozenset(), frozenset({5}), frozenset()]
    labels = run(emb, fixed=fixed, forbidden=forbidden)
    assert labels[2] != 5
    assert labels[3] == 5
    # A new group that holds a face rejected from 5 does not join 5 as a whole either.
    forbidden = [frozenset(), frozenset(), frozenset({5}), frozenset()]
    emb2 = emb.copy()
    emb2[3] = emb2[2]  # faces 2 and 3 are closest to each other: they group first
    labels = run(emb2, fixed=fixed, forbidden=forbidden)
    assert 5 not in labels[2:]


def test_new_faces_join_the_nearest_existing_person():
    emb, who = people([3, 3, 2])
    fixed = [1, 1, None, 2, 2, None, None, None]
    labels = run(emb, fixed=fixed)
    assert labels[:6] == [1, 1, 1, 2, 2, 2]
    assert labels[6] == labels[7] == -1  # the third person is new


def test_existing_people_are_never_merged_by_clustering():
    emb, _ = people([5])
    fixed = [1, 1, 2, 2, None]  # the user split one look-alike person into two
    labels = run(emb, fixed=fixed)
    assert labels[:4] == [1, 1, 2, 2]
    assert labels[4] in (1, 2)


def test_one_chance_pair_cannot_fuse_two_large_groups_but_a_lone_face_may_join():
    space = EmbeddingSpace("test", 2, "euclidean", 1.0)
    a = [(0.0, 0.0), (0.3, 0.0), (0.0, 0.3), (0.3, 0.3), (0.15, 0.15)]
    b = [(x + 2.5, y) for x, y in a]
    # Each bridge face is near one group; the two of them are one close pair (0.95).
    bridge = [(0.9, 0.15), (1.85, 0.15)]
    emb = np.array(a + b + bridge)
    labels = run(emb, space=space)
    assert partition(labels) == {frozenset({0, 1, 2, 3, 4, 10}), frozenset({5, 6, 7, 8, 9, 11})}
    # Plain single linkage would have chained all twelve faces into one person.


def test_deterministic_and_independent_of_input_order():
    emb, who = people([5, 4, 3, 2, 1], seed=3, spread=0.15)
    photos = list(range(len(emb)))
    first = run(emb)
    assert run(emb) == first
    order = np.random.default_rng(1).permutation(len(emb))
    shuffled = run(emb[order], photos=[photos[i] for i in order])
    back = {frozenset(int(order[i]) for i in g) for g in partition(shuffled)}
    assert back == partition(first)
    assert partition(first) == {frozenset(i for i, w in enumerate(who) if w == p) for p in range(4)}


def test_many_faces_cross_the_blockwise_distance_computation():
    # 2,400 faces of 800 people: more rows than one distance block holds.
    emb, who = people([3] * 800, seed=5, spread=0.05)
    labels = run(emb)
    assert partition(labels) == {frozenset(range(3 * p, 3 * p + 3)) for p in range(800)}


def test_cosine_spaces_cluster_by_angle():
    space = EmbeddingSpace("cos", 3, "cosine", 0.1)
    emb = np.array([[1, 0, 0], [5, 0.2, 0], [0, 1, 0], [0, 3, 0.1]], dtype=float)
    assert partition(run(emb, space=space)) == {frozenset({0, 1}), frozenset({2, 3})}


def test_empty_input_and_bad_input():
    assert run(np.zeros((0, 8))) == []
    with pytest.raises(ValueError, match="8 dimensions|has 8"):
        run(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="same length"):
        cluster(SPACE, np.zeros((2, 8)), [1, 2], [None], [frozenset(), frozenset()])
    with pytest.raises(ValueError, match="NaN"):
        run(np.full((2, 8), np.nan))
    with pytest.raises(ValueError, match="fixed to person 4 and also forbidden"):
        run(np.zeros((1, 8)), fixed=[4], forbidden=[frozenset({4})])


# -- a family library: a few people in thousands of photos --------------------------------

from synthetic_people import synthetic_library  # noqa: E402

from refldm_desktop.faces import cluster as cluster_module  # noqa: E402
from refldm_plugin_dlib import DLIB_SPACE  # noqa: E402


def dlib_run(f, n=None, fixed=None, forbidden=None, search=None, order=None):
    """Cluster the first n faces of a synthetic library, optionally in another order;
    labels come back in the library's order."""
    n = len(f) if n is None else n
    idx = np.arange(n) if order is None else np.asarray(order)
    fixed = [None] * n if fixed is None else fixed
    forbidden = [frozenset()] * n if forbidden is None else forbidden
    labels = cluster(
        DLIB_SPACE,
        f.embeddings[idx],
        f.photo[idx].tolist(),
        [fixed[i] for i in idx],
        [forbidden[i] for i in idx],
        search=None if search is None else [search[i] for i in idx],
    )
    out: list = [None] * n
    for k, i in enumerate(idx.tolist()):
        out[i] = labels[k]
    return out


def truth_partition(person, faces) -> set[frozenset[int]]:
    groups: dict = {}
    for i in faces:
        groups.setdefault(int(person[i]), set()).add(i)
    return {frozenset(g) for g in groups.values() if len(g) >= 2}


@pytest.fixture(params=["all pairs", "cells"])
def search_mode(request, monkeypatch):
    """Run a test both ways neighbours are found: measuring every pair, and through
    k-means cells (made small here, as for a library of a hundred thousand faces)."""
    if request.param == "cells":
        monkeypatch.setattr(cluster_module, "_EXACT_PAIRS", 0)
        monkeypatch.setattr(cluster_module, "_CELL", 48)
    return request.param


def test_a_few_people_in_thousands_of_photos_each_become_one_person_each(search_mode):
    f = synthetic_library([1200, 900, 3, 1, 1], seed=2)
    labels = dlib_run(f)
    assert partition(labels) == truth_partition(f.person, range(len(f)))
    assert labels[-1] is None and labels[-2] is None  # the strangers seen once


def test_result_does_not_depend_on_the_order_of_faces(search_mode):
    # Known people, rejections, an exact duplicate photo and look-alikes, shuffled.
    f = synthetic_library([80, 60, 40, 12, 12, 5, 1, 1, 1], within=0.44, between=0.7, jitter=0.25, looks=2, seed=7)
    emb = f.embeddings.copy()
    n = len(f)
    emb[n - 1] = emb[0]  # a copy of a photo: the same face, another photo
    f = type(f)(emb, f.person, f.photo, f.sizes, f.extra)
    fixed: list = [None] * n
    for i in np.flatnonzero(f.person == 0)[:30]:
        fixed[i] = 100
    forbidden = [frozenset()] * n
    for i in np.flatnonzero(f.person == 1)[:5]:
        forbidden[i] = frozenset({100})
    first = dlib_run(f, fixed=fixed, forbidden=forbidden)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(n)
        again = dlib_run(f, fixed=fixed, forbidden=forbidden, order=order)
        assert partition(again) == partition(first)
        assert [x for x in again if x is not None and x > 0] == [x for x in first if x is not None and x > 0]
    assert all(first[i] != 100 for i in np.flatnonzero(f.person == 1)[:5])


def test_a_new_photo_session_joins_its_person_though_its_faces_are_nearest_each_other(search_mode):
    # Old photos of one person spread around her centre; a new session in one light sits
    # off-centre, its faces far closer to each other (0.14) than to her old ones (~0.4).
    rng = np.random.default_rng(4)
    dim = 128
    centre = rng.standard_normal(dim) / np.sqrt(dim)
    old = centre + rng.standard_normal((60, dim)) / np.sqrt(dim) * 0.2
    session_centre = centre + rng.standard_normal(dim) / np.sqrt(dim) * 0.3
    session = session_centre + rng.standard_normal((25, dim)) / np.sqrt(dim) * 0.1
    someone_else = centre + rng.standard_normal(dim) / np.sqrt(dim) * 0.9
    other = someone_else + rng.standard_normal((30, dim)) / np.sqrt(dim) * 0.2
    emb = np.vstack([old, session, other])
    n = len(emb)
    photos = list(range(n))
    # From scratch: one person of 85 faces, and the other one.
    labels = cluster(DLIB_SPACE, emb, photos, [None] * n, [frozenset()] * n)
    assert partition(labels) == {frozenset(range(85)), frozenset(range(85, n))}
    # Incrementally, the old photos already being person 7: the session joins her.
    fixed = [7] * 60 + [None] * (n - 60)
    search = [False] * 60 + [True] * (n - 60)
    labels = cluster(DLIB_SPACE, emb, photos, fixed, [frozenset()] * n, search=search)
    assert labels[:85] == [7] * 85
    assert len(set(labels[85:])) == 1 and labels[85] < 0


def test_only_searching_faces_look_for_neighbours_but_anyone_can_be_found(search_mode):
    f = synthetic_library([30, 2, 2], seed=9)
    n = len(f)
    fixed = [1 if p == 0 else None for p in f.person]
    a, b = np.flatnonzero(f.person == 1), np.flatnonzero(f.person == 2)
    new = {int(b[0])}  # one face of the third person is new; the others were there before
    search = [i in new for i in range(n)]
    labels = dlib_run(f, fixed=fixed, search=search)
    assert labels[b[0]] == labels[b[1]] and labels[b[0]] < 0  # the new face found its match
    # The two old faces of the second person had looked before (and met nobody then); an
    # incremental run does not compare them again.
    assert labels[a[0]] is None and labels[a[1]] is None
    everyone = dlib_run(f, fixed=fixed)
    assert everyone[a[0]] == everyone[a[1]] and everyone[a[0]] < 0


def test_bad_search_hint_is_refused():
    with pytest.raises(ValueError, match="same length"):
        cluster(SPACE, np.zeros((2, 8)), [1, 2], [None, None], [frozenset()] * 2, search=[True])
