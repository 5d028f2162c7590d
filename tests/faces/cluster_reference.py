"""Today's clustering before issue 13, kept only as the reference that the new one is
compared with (tests/faces/test_cluster_reference.py). Every close pair is kept, so its
time and memory grow with the square of one person's face count: use it on small data only.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from refldm_desktop.faces.types import EmbeddingSpace

__all__ = ["cluster"]

# How many close face pairs two large groups need before they merge.
MAX_SUPPORT = 3
# Fewest faces that found a new person; a lone face stays unassigned.
MIN_NEW_PERSON = 2
# Rows of the distance matrix computed at once (bounds memory for big libraries).
_BLOCK = 2048


@dataclass
class _Group:
    members: list[int]
    photos: set
    person: int | None
    forbidden: set[int]
    version: int = 0
    # Other group id -> sorted distances of the close pairs between the two groups.
    links: dict[int, list[float]] = field(default_factory=dict)


def cluster(
    space: EmbeddingSpace,
    embeddings: np.ndarray,
    photo_ids: Sequence[int],
    fixed: Sequence[int | None],
    forbidden: Sequence[frozenset[int]],
) -> list[int | None]:
    """A label per face: an existing person id, a new negative label, or None.

    `fixed[i]` is a person id face i keeps; `forbidden[i]` are person ids face i must not
    join. Faces sharing a negative label (-1, -2, ...) found one new person together. Two
    faces of one photo never share a label. Deterministic for the same inputs.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    n = len(photo_ids)
    if emb.ndim != 2 or emb.shape[0] != n:
        raise ValueError(f"embeddings must have shape ({n}, {space.dim}), got {emb.shape}")
    if n and emb.shape[1] != space.dim:
        raise ValueError(f"embeddings have {emb.shape[1]} dimensions; {space.model_id} has {space.dim}")
    if len(fixed) != n or len(forbidden) != n:
        raise ValueError("embeddings, photo_ids, fixed and forbidden must have the same length")
    if not np.all(np.isfinite(emb)):
        raise ValueError("embeddings contain NaN or infinite values")
    for i, person in enumerate(fixed):
        if person is not None and person in forbidden[i]:
            raise ValueError(f"face {i} is fixed to person {person} and also forbidden from it")

    groups, group_of = _initial_groups(photo_ids, fixed, forbidden)
    _add_close_pairs(space, emb, fixed, group_of, groups)
    _merge_closest_first(groups)
    return _labels(n, fixed, groups)


def _initial_groups(photo_ids, fixed, forbidden) -> tuple[dict[int, _Group], list[int]]:
    groups: dict[int, _Group] = {}
    group_of = [0] * len(photo_ids)
    by_person: dict[int, int] = {}
    for i, person in enumerate(fixed):
        if person is None:
            gid = len(groups)
            groups[gid] = _Group([i], {photo_ids[i]}, None, set(forbidden[i]))
        elif person in by_person:
            gid = by_person[person]
            g = groups[gid]
            g.members.append(i)
            g.photos.add(photo_ids[i])
            g.forbidden |= forbidden[i]
        else:
            gid = by_person[person] = len(groups)
            groups[gid] = _Group([i], {photo_ids[i]}, person, set(forbidden[i]))
        group_of[i] = gid
    return groups, group_of


def _add_close_pairs(space, emb, fixed, group_of, groups) -> None:
    """Record every pair within the same-person distance that involves an unassigned face.

    Pairs of two fixed faces never matter (they are one person already, or two people
    that only the user may merge), so an incremental run with few new faces costs little.
    """
    free = np.array([i for i, p in enumerate(fixed) if p is None], dtype=np.int64)
    if free.size == 0:
        return
    free_set = np.zeros(len(fixed), dtype=bool)
    free_set[free] = True
    t = space.same_person
    for start in range(0, free.size, _BLOCK):
        rows = free[start : start + _BLOCK]
        d = space.distance(emb[rows], emb)
        ri, cj = np.nonzero(d <= t)
        for r, j in zip(ri.tolist(), cj.tolist()):
            a = int(rows[r])
            # Each free-free pair is seen twice; keep it once.
            if a == j or (free_set[j] and j < a):
                continue
            ga, gb = group_of[a], group_of[j]
            if ga == gb:
                continue
            dist = float(d[r, j])
            groups[ga].links.setdefault(gb, []).append(dist)
            groups[gb].links.setdefault(ga, []).append(dist)
    for g in groups.values():
        for lst in g.links.values():
            lst.sort()


def _linkage(a: _Group, b: _Group, pairs: list[float]) -> float | None:
    """The k-th closest pair distance, or None when there are fewer than k close pairs."""
    k = min(MAX_SUPPORT, len(a.members), len(b.members))
    return pairs[k - 1] if len(pairs) >= k else None


def _may_merge(a: _Group, b: _Group) -> bool:
    if a.person is not None and b.person is not None:
        return False
    if a.photos & b.photos:
        return False
    if a.person is not None and a.person in b.forbidden:
        return False
    if b.person is not None and b.person in a.forbidden:
        return False
    return True


def _merge_closest_first(groups: dict[int, _Group]) -> None:
    heap: list[tuple[float, int, int, int, int]] = []

    def push(ga: int, gb: int) -> None:
        a, b = groups[ga], groups[gb]
        if not _may_merge(a, b):
            return
        link = _linkage(a, b, a.links[gb])
        if link is not None:
            lo, hi = min(ga, gb), max(ga, gb)
            heapq.heappush(heap, (link, lo, hi, groups[lo].version, groups[hi].version))

    for ga, g in groups.items():
        for gb in g.links:
            if ga < gb:
                push(ga, gb)

    while heap:
        _, ga, gb, va, vb = heapq.heappop(heap)
        if ga not in groups or gb not in groups:
            continue
        a, b = groups[ga], groups[gb]
        if a.version != va or b.version != vb:
            continue  # stale: one of them changed since this entry was pushed
        # Keep the id of the group that holds a person (if any), else the older id.
        keep, gone = (gb, ga) if b.person is not None else (ga, gb)
        k, g = groups[keep], groups.pop(gone)
        k.members.extend(g.members)
        k.photos |= g.photos
        k.forbidden |= g.forbidden
        if k.person is None:
            k.person = g.person
        k.version += 1
        del k.links[gone]
        for other, pairs in g.links.items():
            if other == keep:
                continue
            o = groups[other]
            merged = sorted(k.links.get(other, []) + pairs)
            k.links[other] = merged
            o.links[keep] = merged
            del o.links[gone]
        for other in list(k.links):
            push(keep, other)


def _labels(n: int, fixed, groups: dict[int, _Group]) -> list[int | None]:
    labels: list[int | None] = list(fixed)
    new_groups = [g for g in groups.values() if g.person is None and len(g.members) >= MIN_NEW_PERSON]
    # Number new people by their first face, so the labels do not depend on merge order.
    new_groups.sort(key=lambda g: min(g.members))
    for number, g in enumerate(new_groups, start=1):
        for i in g.members:
            labels[i] = -number
    for g in groups.values():
        if g.person is not None:
            for i in g.members:
                if labels[i] is None:
                    labels[i] = g.person
    return labels
