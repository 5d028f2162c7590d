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
