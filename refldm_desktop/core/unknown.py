"""Unknown faces, grouped by likely person so that the user names a whole group at once.

A group is either a person clustering found but nobody named yet, or faces clustering left
alone (too few close neighbours to found a person) linked to each other within the space's
same-person distance. Each group may carry a guess: the named person whose faces are
closest on average, when close enough to be worth asking about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from refldm_desktop.core.people import LIVE
from refldm_desktop.db.models import Face, FaceAssignment, Person
from refldm_desktop.faces.types import EmbeddingSpace

# A guess is offered up to this multiple of the same-person distance: beyond the
# clusterer's own threshold (it did not join them), near enough that asking is useful.
GUESS_FACTOR = 1.3
# Faces nobody has are linked pairwise (an n x n distance matrix): beyond this many, only
# the best ones are grouped, so that a huge library does not need gigabytes here.
MAX_FREE = 2000


@dataclass(frozen=True)
class FaceGroup:
    person_id: int | None  # the unnamed person the group is; None for faces nobody has
    face_ids: tuple[int, ...]  # best first
    guess_id: int | None = None  # a named person these faces may be
    guess_name: str | None = None
    guess_distance: float | None = None  # mean distance to the guess's centre, in the space's metric


def _components(dist: np.ndarray, limit: float) -> list[list[int]]:
    """Single-link groups: faces within `limit` of each other, transitively."""
    n = len(dist)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(dist < limit, k=1)), strict=True):
        parent[find(int(i))] = find(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def unknown_groups(session: Session, space: EmbeddingSpace) -> list[FaceGroup]:
    live = and_(FaceAssignment.face_id == Face.id, FaceAssignment.state.in_(LIVE))
    rows = session.execute(
        select(Face.id, Face.embedding, Face.quality_score, FaceAssignment.person_id, Person.name, Person.hidden)
        .outerjoin(FaceAssignment, live)
        .outerjoin(Person, Person.id == FaceAssignment.person_id)
        .where(Face.model_id == space.model_id, Face.embedding.is_not(None))
        .order_by(Face.id)
    ).all()
    if not rows:
        return []
    emb = np.stack([np.frombuffer(r.embedding, dtype=np.float32) for r in rows])
    quality = {r.id: r.quality_score or 0.0 for r in rows}

    named: dict[int, tuple[str, list[int]]] = {}
    unnamed: dict[int, list[int]] = {}
    free: list[int] = []
    for i, r in enumerate(rows):
        if r.person_id is None:
            free.append(i)
        elif r.hidden:
            continue
        elif r.name:
            named.setdefault(r.person_id, (r.name, []))[1].append(i)
        else:
            unnamed.setdefault(r.person_id, []).append(i)

    groups: list[tuple[int | None, list[int]]] = [(pid, idx) for pid, idx in unnamed.items()]
    if len(free) > MAX_FREE:
        free = sorted(free, key=lambda i: -quality[rows[i].id])[:MAX_FREE]
    if free:
        d = space.distance(emb[free], emb[free])
        groups += [(None, [free[k] for k in comp]) for comp in _components(d, space.same_person)]

    names = list(named.items())
    centres = np.stack([emb[idx].mean(0) for _, (_, idx) in names]) if names else None
    out = []
    for pid, idx in groups:
        guess: tuple[int | None, str | None, float | None] = (None, None, None)
        if centres is not None:
            mean = space.distance(emb[idx], centres).mean(0)
            best = int(np.argmin(mean))
            if mean[best] < space.same_person * GUESS_FACTOR:
                gid, (gname, _) = names[best]
                guess = (gid, gname, float(mean[best]))
        ids = sorted((rows[i].id for i in idx), key=lambda f: (-quality[f], f))
        out.append(FaceGroup(pid, tuple(ids), *guess))
    out.sort(key=lambda g: (-len(g.face_ids), g.face_ids[0]))
    return out
