"""Group face embeddings into people: constrained, incremental agglomerative clustering.

Pure functions on arrays. The database side loads faces, calls `cluster`, writes the labels
and keeps the user's decisions; nothing here knows about the database.

How it decides
--------------
Every existing person starts as one group (all faces that already carry its id); every
unassigned face starts alone. Then, closest first, two groups merge when they are close
enough and nothing forbids it. Two groups are "close enough" when their k-th closest pair of
faces lies within the embedding model's same-person distance, where
k = min(3, size of the smaller group):

- a lone face needs one face of a group within the distance: a new face joins the nearest
  person when close enough, however much that person's look varies across the years;
- two larger groups need several close pairs, so one chance look-alike pair (which becomes
  likely in a library of thousands of faces) cannot fuse two people. Plain single linkage
  chains people together exactly that way; average linkage avoids it but then refuses new
  photos of people whose faces vary (children growing up).

Never merged: two existing people (only the user merges people), two groups that hold faces
of the same photo, and a group with a person that one of the other group's faces was
rejected from.

A new group of two or more faces founds a new person (a negative label); a face that matched
nobody stays unassigned (None) until a later photo gives it a match.

What it remembers, so that a family with thousands of photos of a few people stays fast
----------------------------------------------------------------------------------------
All the faces of one person lie within the same-person distance of each other, so keeping
every close pair costs the square of that person's face count. The rule above only ever
looks at the 3 closest pairs between two groups, so that is all a pair of groups keeps, and
each face brings only its `NEIGHBOURS` nearest faces, plus its 3 nearest faces of each
existing person (so that a new face, or a new photo session of someone, is measured against
the person it resembles even when its own neighbours are all new). Time and memory grow
about linearly with the number of faces.

Neighbours are found among all faces for a few searching faces (a later index run: only the
new faces search) and, for a large library from scratch, among the faces of nearby cells:
the embeddings are split into cells of a few hundred faces around k-means centres, and the
faces of a cell look into the cells of the `_PROBES` centres nearest to theirs.

Faces are put into a canonical order (by embedding) first, so the result does not depend on
the order they come in, and the distances that decide are computed pair by pair in float64.
"""

from __future__ import annotations

import heapq
from typing import Sequence

import numpy as np

from refldm_desktop.faces.types import EmbeddingSpace

__all__ = ["cluster", "MAX_SUPPORT", "MIN_NEW_PERSON", "NEIGHBOURS"]

# How many close face pairs two large groups need before they merge.
MAX_SUPPORT = 3
# Fewest faces that found a new person; a lone face stays unassigned.
MIN_NEW_PERSON = 2
# Nearest other faces (within the same-person distance) each searching face remembers.
NEIGHBOURS = 5
# Up to this many close columns a row sorts them; above, it partitions the whole row.
_SORT_UPTO = 64
# Entries of one block of the distance matrix (float32): bounds memory for big libraries.
_BLOCK = 1 << 22
# Up to this many (searching face, face) pairs, every pair is measured; above it, cells
# (unless only a few faces search, as when photos are added to a large library).
_EXACT_PAIRS = 4e7
# Faces per cell, and how many nearest cells a cell's faces look into.
_CELL = 256
_PROBES = 12
# At most this many searches for neighbours outside one's group (few are ever needed).
_ROUNDS = 4


def cluster(
    space: EmbeddingSpace,
    embeddings: np.ndarray,
    photo_ids: Sequence[int],
    fixed: Sequence[int | None],
    forbidden: Sequence[frozenset[int]],
    *,
    search: Sequence[bool] | None = None,
) -> list[int | None]:
    """A label per face: an existing person id, a new negative label, or None.

    `fixed[i]` is a person id face i keeps; `forbidden[i]` are person ids face i must not
    join. Faces sharing a negative label (-1, -2, ...) found one new person together. Two
    faces of one photo never share a label. Deterministic for the same inputs, whatever
    their order.

    `search` (default: every unassigned face) says which unassigned faces look for their
    neighbours. An incremental run passes only the new faces: the other unassigned faces
    were searched before and found no one, so only a new face can change that; they still
    take part as someone a new face may match.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    n = len(photo_ids)
    if emb.ndim != 2 or emb.shape[0] != n:
        raise ValueError(f"embeddings must have shape ({n}, {space.dim}), got {emb.shape}")
    if n and emb.shape[1] != space.dim:
        raise ValueError(f"embeddings have {emb.shape[1]} dimensions; {space.model_id} has {space.dim}")
    if len(fixed) != n or len(forbidden) != n or (search is not None and len(search) != n):
        raise ValueError("embeddings, photo_ids, fixed, forbidden and search must have the same length")
    if not np.all(np.isfinite(emb)):
        raise ValueError("embeddings contain NaN or infinite values")
    for i, person in enumerate(fixed):
        if person is not None and person in forbidden[i]:
            raise ValueError(f"face {i} is fixed to person {person} and also forbidden from it")
    if n == 0:
        return []

    searching = np.array([p is None for p in fixed], dtype=bool)
    if search is not None:
        searching &= np.asarray(search, dtype=bool)
    order = _canonical_order(emb, photo_ids, fixed, forbidden, searching)
    emb = emb[order]
    photos = [photo_ids[i] for i in order]
    fix = [fixed[i] for i in order]
    forb = [forbidden[i] for i in order]
    groups = _Groups(photos, fix, forb)
    search_ = _Search(space, emb, searching[order])
    found = [np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)]
    person_of: np.ndarray | None = groups.person_group
    for _ in range(_ROUNDS if search_.rows.size else 0):
        # Each round, every searching face looks for its nearest faces outside the group
        # it is in so far: groups that formed from near neighbours (one look of a person,
        # one photo session) so find the pairs that join them. Each round merges anew from
        # all pairs found, so that merges still happen closest first overall.
        a, b, d = search_.pairs(groups.group_of(), person_of)
        person_of = None  # the nearest faces of each existing person are in by now
        if a.size == 0:
            break
        found = [np.concatenate([f, new]) for f, new in zip(found, (a, b, d), strict=True)]
        before = groups.group_of()
        groups.restart()
        groups.link(*found)
        groups.merge_closest_first()
        if np.array_equal(_partition_key(groups.group_of()), _partition_key(before)):
            break
    canonical = groups.labels(order)
    labels: list[int | None] = [None] * n
    for k, i in enumerate(order.tolist()):
        labels[i] = canonical[k]
    return labels


def _partition_key(group_of: np.ndarray) -> np.ndarray:
    """The partition as each face's first fellow member, comparable across group ids."""
    _, first = np.unique(group_of, return_index=True)
    return first[np.unique(group_of, return_inverse=True)[1]]


def _canonical_order(emb, photo_ids, fixed, forbidden, searching) -> np.ndarray:
    """Indices that sort the faces by their embedding (then by everything else about them,
    for faces with equal embeddings), so that any input order gives the same order."""
    lead = emb[:, : min(4, emb.shape[1])]
    order = np.lexsort(lead.T[::-1])
    # Faces equal in the leading values (rare unless duplicated) are ordered in full.
    same = np.all(lead[order[1:]] == lead[order[:-1]], axis=1)
    if not same.any():
        return order
    out = order.tolist()
    starts = np.flatnonzero(np.diff(np.concatenate([[0], same.astype(np.int8), [0]])) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate([[0], same.astype(np.int8), [0]])) == -1) + 1

    def key(i: int):
        p = fixed[i]
        return (
            emb[i].tobytes(),
            repr(photo_ids[i]),
            p is None,
            -1 if p is None else p,
            tuple(sorted(forbidden[i])),
            bool(searching[i]),
        )

    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        out[s:e] = sorted(out[s:e], key=key)
    return np.array(out, dtype=np.int64)


# -- finding the close pairs -------------------------------------------------------------


class _Search:
    """Finds, for the searching faces, the close faces the linkage rule may need."""

    def __init__(self, space: EmbeddingSpace, emb: np.ndarray, searching: np.ndarray) -> None:
        self.space = space
        self.n = emb.shape[0]
        self.rows = np.flatnonzero(searching)
        if space.metric == "cosine":
            self.unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
            limit = 2.0 * space.same_person  # |a - b|^2 = 2 (1 - cos) on unit vectors
        else:
            self.unit = emb
            limit = space.same_person**2
        self.x = self.unit.astype(np.float32)
        # float32 products err by far less than this; the exact distance decides later.
        self.loose = np.float32(limit * 1.001 + 1e-5)
        self.sq = np.einsum("ij,ij->i", self.x, self.x)
        self._cells: list | None = None
        self.seen = np.zeros(0, dtype=np.int64)  # pairs (a * n + b) already handed out

    def blocks(self):
        """(searching faces, sorted faces to compare them with), a bounded block at a time."""
        # Cells cost about n * n / _CELL to make: worth it only when many faces search.
        if self.rows.size * self.n <= _EXACT_PAIRS or self.rows.size * _CELL <= self.n * 4:
            parts = [(self.rows, np.arange(self.n))]
        else:
            if self._cells is None:
                self._cells = list(_cells(self.x, self.rows))
            parts = self._cells
        for q, cols in parts:
            step = max(1, _BLOCK // max(cols.size, 1))
            for s in range(0, q.size, step):
                yield q[s : s + step], cols

    def pairs(self, group_of: np.ndarray, person_of: np.ndarray | None):
        """New face pairs (a < b, distance) within the same-person distance: each searching
        face's NEIGHBOURS nearest faces outside its own group (`group_of`), and, given
        `person_of` (>= 0 for faces of existing people), its MAX_SUPPORT nearest faces of
        each existing person."""
        found_a, found_b = [], []
        x, sq = self.x, self.sq
        in_group = np.bincount(group_of)[group_of] > 1
        for r, cols in self.blocks():
            d2 = x[r] @ x[cols].T
            d2 *= -2.0
            d2 += sq[cols]
            d2 += sq[r][:, None]
            # Not itself (columns are sorted), nor anyone of its group.
            pos = np.searchsorted(cols, r)
            hit = np.flatnonzero((pos < cols.size) & (cols[np.minimum(pos, cols.size - 1)] == r))
            d2[hit, pos[hit]] = np.inf
            grouped = np.flatnonzero(in_group[r])
            if grouped.size:
                sub = d2[grouped]
                sub[group_of[r[grouped]][:, None] == group_of[cols][None, :]] = np.inf
                d2[grouped] = sub
            ri, ci = _select(d2, self.loose, None if person_of is None else person_of[cols])
            found_a.append(r[ri])
            found_b.append(cols[ci])
        n = self.n
        a = np.concatenate(found_a) if found_a else np.zeros(0, np.int64)
        b = np.concatenate(found_b) if found_b else np.zeros(0, np.int64)
        key = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
        key = key[~np.isin(key, self.seen, assume_unique=True)]
        self.seen = np.union1d(self.seen, key)
        lo, hi = key // n, key % n
        d = _pair_distances(self.space, self.unit, lo, hi)
        keep = d <= self.space.same_person
        return lo[keep], hi[keep], d[keep]


def _select(d2: np.ndarray, loose: np.float32, person_of_col: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) positions of each row's NEIGHBOURS nearest columns within `loose`, and
    of its MAX_SUPPORT nearest columns of each existing person."""
    close = d2 <= loose
    counts = close.sum(axis=1)
    # Rows with a few close columns sort just those; rows with many partition the row.
    many = np.flatnonzero(counts > _SORT_UPTO)
    r1, c1 = np.nonzero(close[counts <= _SORT_UPTO])
    r1 = np.flatnonzero(counts <= _SORT_UPTO)[r1]
    by = np.lexsort((d2[r1, c1], r1))
    r1, c1 = r1[by], c1[by]
    keep = np.arange(r1.size) - np.searchsorted(r1, r1) < NEIGHBOURS  # rank within its row
    r1, c1 = r1[keep], c1[keep]
    if many.size:
        nearest = np.argpartition(d2[many], NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]
        r2, c2 = np.repeat(many, NEIGHBOURS), nearest.ravel()
    else:
        r2 = c2 = np.zeros(0, dtype=np.int64)
    outs_r, outs_c = [r1, r2], [c1, c2]
    people_cols = np.zeros(0, np.int64) if person_of_col is None else np.flatnonzero(person_of_col >= 0)
    if person_of_col is not None and people_cols.size:
        rp, cp = np.nonzero(close[:, people_cols])
        if rp.size:
            cp = people_cols[cp]
            who = person_of_col[cp]
            by = np.lexsort((d2[rp, cp], who, rp))
            rp, cp, who = rp[by], cp[by], who[by]
            start = np.ones(rp.size, dtype=bool)
            start[1:] = (rp[1:] != rp[:-1]) | (who[1:] != who[:-1])
            first = np.maximum.accumulate(np.where(start, np.arange(rp.size), 0))
            keep = np.arange(rp.size) - first < MAX_SUPPORT
            outs_r.append(rp[keep])
            outs_c.append(cp[keep])
    return np.concatenate(outs_r).astype(np.int64), np.concatenate(outs_c).astype(np.int64)


def _cells(x: np.ndarray, rows: np.ndarray):
    """(searching faces of a cell, faces of the cells nearest to it) for every cell.

    Cells are k-means cells of about _CELL faces, trained on a fixed sample of the canonical
    order, so they are the same for the same faces however they were given."""
    n = x.shape[0]
    k = max(2, int(np.ceil(n / _CELL)))
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=min(n, 40 * k), replace=False))
    centres = x[sample[rng.choice(sample.size, size=k, replace=False)]].copy()
    for _ in range(8):
        cell = _nearest_centre(x[sample], centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, cell, x[sample])
        count = np.bincount(cell, minlength=k)
        used = count > 0
        centres[used] = sums[used] / count[used, None]
    cell = _nearest_centre(x, centres)
    members = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[members], np.arange(k + 1))
    csq = np.einsum("ij,ij->i", centres, centres)
    between = csq[:, None] + csq[None, :] - 2.0 * centres @ centres.T
    probes = np.argsort(between, axis=1, kind="stable")[:, : min(_PROBES, k)]
    is_row = np.zeros(n, dtype=bool)
    is_row[rows] = True
    for c in range(k):
        mine = members[bounds[c] : bounds[c + 1]]
        q = mine[is_row[mine]]
        if q.size == 0:
            continue
        cols = np.sort(np.concatenate([members[bounds[p] : bounds[p + 1]] for p in probes[c]]))
        yield q, cols


def _nearest_centre(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    csq = np.einsum("ij,ij->i", centres, centres)
    out = np.empty(x.shape[0], dtype=np.int64)
    step = max(1, _BLOCK // max(centres.shape[0], 1))
    for s in range(0, x.shape[0], step):
        d2 = x[s : s + step] @ centres.T
        d2 *= -2.0
        d2 += csq
        out[s : s + step] = d2.argmin(axis=1)
    return out


def _pair_distances(space: EmbeddingSpace, unit: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact float64 distances of face pairs, each computed on its own (so the same pair
    always gets the same bits, whatever else is being computed)."""
    out = np.empty(a.size)
    step = max(1, _BLOCK // max(unit.shape[1], 1))
    for s in range(0, a.size, step):
        ua, ub = unit[a[s : s + step]], unit[b[s : s + step]]
        if space.metric == "cosine":
            out[s : s + step] = 1.0 - np.einsum("ij,ij->i", ua, ub)
        else:
            diff = ua - ub
            out[s : s + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


# -- merging groups, closest first -------------------------------------------------------


class _Group:
    __slots__ = ("members", "photos", "person", "forbidden", "links", "size")

    def __init__(self, members: list[int], photos: set, person: int | None, forbidden: set[int]):
        self.members = members
        self.size = len(members)
        self.photos = photos
        self.person = person
        self.forbidden = forbidden
        # Other group id -> the (at most MAX_SUPPORT) closest pair distances, ascending.
        self.links: dict[int, tuple[float, ...]] = {}

    def absorb(self, other: "_Group") -> None:
        """Take in other's faces; the larger container of each kind is kept and extended."""
        if len(other.members) > len(self.members):
            self.members, other.members = other.members, self.members
        self.members.extend(other.members)
        if len(other.photos) > len(self.photos):
            self.photos, other.photos = other.photos, self.photos
        self.photos |= other.photos
        if len(other.forbidden) > len(self.forbidden):
            self.forbidden, other.forbidden = other.forbidden, self.forbidden
        self.forbidden |= other.forbidden
        self.size += other.size
        if self.person is None:
            self.person = other.person


def _linkage(a: _Group, b: _Group, pairs: tuple[float, ...]) -> float | None:
    """The k-th closest pair distance, or None when there are fewer than k close pairs."""
    k = min(MAX_SUPPORT, a.size, b.size)
    return pairs[k - 1] if len(pairs) >= k else None


def _may_merge(a: _Group, b: _Group) -> bool:
    if a.person is not None and b.person is not None:
        return False
    if not a.photos.isdisjoint(b.photos):
        return False
    if a.person is not None and a.person in b.forbidden:
        return False
    if b.person is not None and b.person in a.forbidden:
        return False
    return True


class _Groups:
    """Groups are made only for faces that have a close pair; the rest stay alone."""

    def __init__(self, photos: list, fixed: list, forbidden: list) -> None:
        self.photos, self.fixed, self.forbidden = photos, fixed, forbidden
        n = len(fixed)
        people = sorted({p for p in fixed if p is not None})
        index = {p: k for k, p in enumerate(people)}
        self.people = people
        # Group id of each face at the start: existing people first, then one per face.
        self.person_group = np.array([-1 if p is None else index[p] for p in fixed], dtype=np.int64)
        self.start = np.where(self.person_group >= 0, self.person_group, len(people) + np.arange(n))
        by_person = np.argsort(self.person_group, kind="stable")
        bounds = np.searchsorted(self.person_group[by_person], np.arange(len(people) + 1))
        self.faces_of = [by_person[bounds[k] : bounds[k + 1]].tolist() for k in range(len(people))]
        self.groups: dict[int, _Group] = {}

    def restart(self) -> None:
        """Back to the starting groups (each made again when first needed)."""
        self.groups = {}

    def _group(self, gid: int) -> _Group:
        g = self.groups.get(gid)
        if g is None:
            if gid < len(self.people):
                faces = list(self.faces_of[gid])
                person = self.people[gid]
            else:
                faces = [gid - len(self.people)]
                person = None
            forbidden: set[int] = set()
            for i in faces:
                forbidden |= self.forbidden[i]
            g = self.groups[gid] = _Group(faces, {self.photos[i] for i in faces}, person, forbidden)
        return g

    def group_of(self) -> np.ndarray:
        """The id of the group each face is in now."""
        current = self.start.copy()
        for gid, g in self.groups.items():
            current[g.members] = gid
        return current

    def link(self, a: np.ndarray, b: np.ndarray, d: np.ndarray) -> None:
        """Record the closest pairs between the starting groups of face pairs (a, b)."""
        ga, gb = self.start[a], self.start[b]
        other = ga != gb
        ga, gb, d = ga[other], gb[other], d[other]
        lo, hi = np.minimum(ga, gb), np.maximum(ga, gb)
        by = np.lexsort((d, hi, lo))
        lo, hi, d = lo[by], hi[by], d[by]
        # Only the MAX_SUPPORT closest pairs of each pair of groups count.
        first = np.ones(lo.size, dtype=bool)
        first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], lo.size)
        dist = d.tolist()
        for x, y, s, e in zip(lo[starts].tolist(), hi[starts].tolist(), starts.tolist(), ends.tolist(),
                              strict=True):
            gx, gy = self._group(x), self._group(y)
            gx.links[y] = gy.links[x] = tuple(dist[s : min(e, s + MAX_SUPPORT)])

    def merge_closest_first(self) -> None:
        """Merge groups, closest link first, as long as the rule allows."""
        groups = self.groups
        heappush, heappop = heapq.heappush, heapq.heappop
        heap: list[tuple[float, int, int]] = []
        for ga, group in groups.items():
            for gb, pairs in group.links.items():
                if ga < gb:
                    link = _linkage(group, groups[gb], pairs)
                    if link is not None:
                        heap.append((link, ga, gb))
        heapq.heapify(heap)

        while heap:
            link, ga, gb = heappop(heap)
            a, b = groups.get(ga), groups.get(gb)
            if a is None or b is None or _linkage(a, b, a.links[gb]) != link:
                continue  # stale: one of them merged or grew since
            if not _may_merge(a, b):
                continue
            # The group with more links keeps its id, so that fewer links move.
            keep, gone = (ga, gb) if len(a.links) >= len(b.links) else (gb, ga)
            k, g = groups[keep], groups.pop(gone)
            small_before = k.size < MAX_SUPPORT
            k.absorb(g)
            del k.links[gone]
            changed = []
            for other, pairs in g.links.items():
                if other == keep:
                    continue
                o = groups[other]
                old = k.links.get(other)
                merged = pairs if old is None else tuple(sorted(old + pairs)[:MAX_SUPPORT])
                k.links[other] = o.links[keep] = merged
                del o.links[gone]
                changed.append(other)
            # Links whose pairs did not change keep their value, unless the size of the kept
            # group still counts in k = min(3, sizes).
            for other in list(k.links) if small_before else changed:
                o = groups[other]
                link = _linkage(k, o, k.links[other])
                if link is not None:
                    heappush(heap, (link, keep, other) if keep < other else (link, other, keep))

    def labels(self, order: np.ndarray) -> list[int | None]:
        """Labels in canonical order; new people numbered by their first face as given."""
        labels: list[int | None] = list(self.fixed)
        new = [g for g in self.groups.values() if g.person is None and len(g.members) >= MIN_NEW_PERSON]
        new.sort(key=lambda g: int(order[g.members].min()))
        for number, g in enumerate(new, start=1):
            for i in g.members:
                labels[i] = -number
        for g in self.groups.values():
            if g.person is not None:
                for i in g.members:
                    if labels[i] is None:
                        labels[i] = g.person
        return labels
