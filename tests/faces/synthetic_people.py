"""Synthetic face embeddings of known people, shaped like dlib's 128-d ones.

Shared by the clustering tests and benchmarks/cluster_scale.py, so that both look at the
same kind of library. Each person is a centre in embedding space; a face is that centre
plus isotropic noise. `within` is the typical distance between two faces of one person and
`between` the typical distance between faces of two different people (dlib: same-person
pairs well inside its 0.55 threshold, different people around 0.9). `jitter` (a log-normal
sigma) varies each person's spread and distance from the others, so that some people vary
more than others and some look alike. `looks` gives each person that many sub-centres (a
child growing up, a beard, a photo session in one light) that together span `within`.

Photos hold one to `max_per_photo` faces, never one person twice, as in real albums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class SyntheticFaces:
    embeddings: np.ndarray  # (n, dim) float32
    person: np.ndarray  # (n,) int: the true identity of each face
    photo: np.ndarray  # (n,) int: photo ids; no photo shows one person twice
    sizes: np.ndarray  # faces per person, indexed by person id (first `n - extra` faces)
    extra: int  # the last `extra` faces arrive later (an incremental index)

    def __len__(self) -> int:
        return len(self.person)

    def known_people(self, upto: int | None = None) -> list[int | None]:
        """Labels a perfect earlier clustering gives the first `upto` faces: their person,
        where that person had at least two faces among them; None for the others."""
        upto = len(self) - self.extra if upto is None else upto
        counts = np.bincount(self.person[:upto], minlength=len(self.sizes))
        return [int(p) + 1 if counts[p] >= 2 else None for p in self.person[:upto]]


def synthetic_library(
    sizes: Sequence[int],
    *,
    extra: int = 0,
    dim: int = 128,
    within: float = 0.35,
    between: float = 0.9,
    jitter: float = 0.0,
    looks: int = 1,
    max_per_photo: int = 4,
    seed: int = 0,
) -> SyntheticFaces:
    """Faces of len(sizes) people, sizes[p] faces of person p, then `extra` more faces
    spread over the same people in proportion to their sizes (new photos of a library)."""
    rng = np.random.default_rng(seed)
    n_people = len(sizes)
    sizes = np.asarray(sizes, dtype=np.int64)
    # Person centres: with noise of norm s per face, two faces of one person lie about
    # s*sqrt(2) apart, and faces of two people sqrt(|c_p - c_q|^2 + 2 s^2) apart.
    spread = within / np.sqrt(2.0) * np.exp(rng.normal(0.0, jitter, n_people))
    centre_sep = np.sqrt(max(between**2 - within**2, 1e-6))
    radius = centre_sep / np.sqrt(2.0) * np.exp(rng.normal(0.0, jitter, n_people))
    mean = rng.standard_normal(dim)
    mean *= 0.9 / np.linalg.norm(mean)  # dlib embeddings sit away from the origin
    centres = mean + _directions(rng, n_people, dim) * radius[:, None]
    # Looks share the person's spread: half between looks, half around each look.
    n_looks = max(int(looks), 1)
    look_part = np.sqrt(0.5) if n_looks > 1 else 0.0
    look_centres = centres[:, None, :] + _directions(rng, n_people * n_looks, dim).reshape(
        n_people, n_looks, dim
    ) * (spread * look_part)[:, None, None]
    noise = spread * np.sqrt(1.0 - look_part**2)

    if extra:
        share = rng.multinomial(extra, sizes / sizes.sum())
    else:
        share = np.zeros(n_people, dtype=np.int64)

    def faces(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        person = np.repeat(np.arange(n_people), counts)
        look = rng.integers(0, n_looks, person.size)
        emb = look_centres[person, look] + _directions(rng, person.size, dim) * noise[person, None]
        return emb, person

    emb0, person0 = faces(sizes)
    emb1, person1 = faces(share)
    photo0 = _photos(rng, person0, max_per_photo, first=0)
    photo1 = _photos(rng, person1, max_per_photo, first=int(photo0.max(initial=-1)) + 1)
    return SyntheticFaces(
        embeddings=np.vstack([emb0, emb1]).astype(np.float32),
        person=np.concatenate([person0, person1]),
        photo=np.concatenate([photo0, photo1]),
        sizes=sizes,
        extra=int(share.sum()),
    )


def family_library(extra: int = 0, seed: int = 0, **kw) -> SyntheticFaces:
    """The issue's mixed family library: 5 people in 4,000 photos each, 200 people seen 20
    times, 5,000 strangers seen once (29,000 faces)."""
    return synthetic_library([4000] * 5 + [20] * 200 + [1] * 5000, extra=extra, seed=seed, **kw)


def _directions(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Gaussian vectors scaled so that their norm is about 1 (exactly 1 on average)."""
    return rng.standard_normal((n, dim)) / np.sqrt(dim)


def _photos(rng: np.random.Generator, person: np.ndarray, max_per_photo: int, first: int) -> np.ndarray:
    """Deal faces into photos of 1..max_per_photo faces, never one person twice in a photo."""
    photo = np.empty(person.size, dtype=np.int64)
    current, members, want = first, set(), int(rng.integers(1, max_per_photo + 1))
    for i in rng.permutation(person.size):
        p = int(person[i])
        if len(members) >= want or p in members:
            current, members, want = current + 1, set(), int(rng.integers(1, max_per_photo + 1))
        photo[i] = current
        members.add(p)
    return photo


def pairwise_scores(labels: Sequence[int | None], truth: Sequence[int]) -> tuple[float, float]:
    """Pairwise precision and recall of a labelling against the true people.

    Counted per label and per person (not per pair), so it is fast on thousands of faces.
    A face left unassigned pairs with nobody.
    """
    truth = np.asarray(truth)
    lab = np.array([-(10**12) if x is None else x for x in labels], dtype=np.int64)
    assigned = np.array([x is not None for x in labels])

    def pairs(counts: np.ndarray) -> int:
        return int((counts * (counts - 1) // 2).sum())

    _, t_counts = np.unique(truth, return_counts=True)
    both = np.stack([lab[assigned], truth[assigned]], axis=1)
    _, l_counts = np.unique(lab[assigned], return_counts=True)
    _, lt_counts = np.unique(both, axis=0, return_counts=True)
    together, same, tp = pairs(l_counts), pairs(t_counts), pairs(lt_counts)
    return tp / max(together, 1), tp / max(same, 1)
