"""Which photos of a person should ReF-LDM learn the face from?

ReF-LDM restores one face from up to five reference photos of the same person. More
references help (the paper: identity similarity 0.52 with one, 0.65 with five), but only
good ones, and only different ones: five copies of one photo teach as much as one.

Two questions are answered here, on plain data (the database layer loads and stores):
- `best_shots`: a person's best K faces, good and diverse. Near-duplicates (copies of one
  photo, a burst, faces the embedding can hardly tell apart) count once, by their best
  member. Among faces above a quality floor, farthest-point sampling over identity
  embedding and head pose picks the ones that cover the person's looks, as FFHQ-Ref's
  references were picked.
- `references_for`: the references for restoring one target face. The target's own photo
  and its near-duplicates are left out; references posed like the target, taken near its
  date, and lit like the person usually is are preferred.

The user has the last word in both: pinned faces come first, excluded faces never appear.

Wiring for the database layer: per face store `quality.assess(...).to_dict()` with
QUALITY_VERSION (recompute when it differs) and per photo `quality.photo_fingerprint`;
build one Candidate per face of the person (box in upright photo pixels, the photo's EXIF
date and content hash when known) and pass the person's pins and exclusions. The person's
centre, near-duplicate groups and colour norms are recomputed on every call: they depend
on the person's current faces, and cost milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from refldm_desktop.defaults import DEFAULT_REFERENCES
from refldm_desktop.faces.need import rate_need
from refldm_desktop.faces.quality import QualityScores, Rating, rate
from refldm_desktop.faces.types import EmbeddingSpace

DEFAULT_K = DEFAULT_REFERENCES


@dataclass(frozen=True, eq=False)
class Candidate:
    """One face of the person, as the database knows it."""

    face_id: int
    photo_id: int
    photo_path: Path | str
    embedding: np.ndarray
    quality: QualityScores
    taken_at: datetime | None = None
    content_hash: str | None = None  # of the photo file: equal hashes are the same file
    photo_fingerprint: tuple[int, ...] = ()  # quality.photo_fingerprint of the whole photo
    box: tuple[float, float, float, float] | None = None  # shown to the user, not used here
    # Passed through to the Choice, so that a caller can cut the reference crop; not used here.
    landmarks: np.ndarray | None = None


@dataclass(frozen=True)
class Choice:
    face_id: int
    photo_id: int
    photo_path: str
    box: tuple[float, float, float, float] | None
    score: float  # the face's quality for this choice, 0..1 (pinned faces keep theirs)
    reasons: tuple[str, ...]
    pinned: bool = False
    landmarks: tuple[tuple[float, float], ...] | None = None  # upright photo pixels, as detected
    # How much the face itself needs restoring (faces.need), beside how good a reference it is.
    need: float | None = None
    need_reasons: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "face_id": self.face_id,
            "photo_id": self.photo_id,
            "photo": self.photo_path,
            "box": None if self.box is None else [float(v) for v in self.box],
            "score": round(self.score, 4),
            "reasons": list(self.reasons),
            "pinned": self.pinned,
            "need": None if self.need is None else round(self.need, 4),
            "need_reasons": list(self.need_reasons),
            "landmarks": None if self.landmarks is None else [[round(x, 2), round(y, 2)] for x, y in self.landmarks],
        }


@dataclass(frozen=True)
class Settings:
    """Knobs with the reasons for their values; tests and the UI may change them."""

    k: int = DEFAULT_K
    # A face must score at least this share of the person's best to be a reference, and
    # never less than min_score: a blurred copy should not fill a slot a good photo left.
    relative_floor: float = 0.5
    min_score: float = 0.15
    # Near-duplicates: photos taken this close together are one burst.
    burst_seconds: float = 3.0
    # Embeddings closer than this share of the space's same-person threshold show the same
    # look (dlib: 0.15 where one person's different photos are mostly 0.3-0.5 apart).
    duplicate_embedding_share: float = 0.25
    # Correlation of the face-interior thumbnails, and of whole-photo thumbnails, above which
    # two faces come from one picture (copies measure > 0.98, different shots < 0.95).
    duplicate_face_similarity: float = 0.96
    duplicate_photo_similarity: float = 0.97
    # Colour of the face far from the person's usual (opponent-colour distance, 0..1 RGB):
    # strongly lit or tinted references leak their colour into the restored face.
    # Photos of one person under ordinary light differ by up to ~0.1; judged only with at
    # least outlier_min_photos independent photos (near-duplicates count as one).
    colour_outlier: float = 0.12
    brightness_outlier: float = 0.25
    outlier_min_photos: float = 3.0
    # Pose closeness for restoring a target (degrees of yaw/pitch difference that halve the bonus).
    pose_scale: float = 20.0
    # Years between photos that halve the date bonus (people age).
    date_scale_years: float = 5.0


@dataclass(eq=False)
class _Face:
    c: Candidate
    rating: Rating
    group: int = -1  # index of its group's leader among the prepared faces
    notes: list[str] = field(default_factory=list)  # person-relative flaws (colour, light)

    @property
    def score(self) -> float:
        return self.rating.score


# ---------------------------------------------------------------------------------------
# Public entry points


def best_shots(
    candidates: Sequence[Candidate],
    space: EmbeddingSpace,
    *,
    pinned: Sequence[int] = (),
    excluded: Iterable[int] = (),
    settings: Settings = Settings(),
) -> list[Choice]:
    """Up to settings.k faces of one person, pinned ones first, then best first."""
    excluded = set(excluded)
    faces, _ = _prepare([c for c in candidates if c.face_id not in excluded], space, settings, pinned)
    pins = _take_pins(faces, pinned)
    chosen = list(pins)
    pool = _group_representatives(faces, chosen)
    floor = _floor(pool, settings)
    eligible = [f for f in pool if f.score >= floor]

    picks: list[tuple[_Face, list[str]]] = []
    if not chosen and eligible:
        seed = eligible.pop(0)  # the best face
        picks.append((seed, [_seed_reason(seed)]))
        chosen.append(seed)
    # Farthest-point sampling, weighted by quality: each step takes the face that adds the
    # most new look (identity embedding and head pose) for its quality.
    while eligible and len(chosen) < settings.k:
        spread = _spread(eligible, chosen, space)
        values = [f.score * (0.25 + min(d, 2.0)) for f, d in zip(eligible, spread, strict=True)]
        f = eligible.pop(int(np.argmax(values)))
        picks.append((f, [_variety_reason(f, chosen)]))
        chosen.append(f)
    return [_pinned_choice(f) for f in pins] + [_choice(f, why, faces) for f, why in picks]


def references_for(
    target: Candidate,
    candidates: Sequence[Candidate],
    space: EmbeddingSpace,
    *,
    pinned: Sequence[int] = (),
    excluded: Iterable[int] = (),
    settings: Settings = Settings(),
) -> list[Choice]:
    """Up to settings.k references for restoring `target`, pinned ones first, then best first.

    The target may or may not be among the candidates. Its own photo and its
    near-duplicates never serve as its references, unless pinned: the user may know that a
    copy is the better picture."""
    excluded = set(excluded) | {target.face_id}
    others = [c for c in candidates if c.face_id not in excluded]
    # Rate and group the target with the others, so that its copies are recognised. A
    # reference's pose is judged against the target's, not against frontal: a side view
    # is what a side-view target needs.
    faces, links = _prepare([target] + others, space, settings, pinned, judge_pose=False)
    near = {0} | links[0]
    near_groups = {faces[i].group for i in near}
    taboo = {
        id(f) for i, f in enumerate(faces) if i in near or f.group in near_groups or f.c.photo_id == target.photo_id
    }
    pins = _take_pins(faces[1:], pinned)
    chosen = list(pins)
    pool = [f for f in _group_representatives(faces, chosen) if id(f) not in taboo]
    floor = _floor(pool, settings)
    eligible = [f for f in pool if f.score >= floor]

    relevance = {f.c.face_id: _relevance(f, target, settings) for f in eligible}
    picks: list[tuple[_Face, list[str]]] = []
    while eligible and len(chosen) < settings.k:
        values = [f.score * relevance[f.c.face_id][0] for f in eligible]
        if chosen:
            # The target's pose and date matter more here than variety, but a small bonus
            # for a new look still avoids five references of one kind.
            spread = _spread(eligible, chosen, space)
            values = [v * (0.75 + 0.25 * min(d, 1.0)) for v, d in zip(values, spread, strict=True)]
        f = eligible.pop(int(np.argmax(values)))
        why = relevance[f.c.face_id][1]
        picks.append((f, why or (["best photo for this target"] if not picks else [])))
        chosen.append(f)
    return [_pinned_choice(f) for f in pins] + [_choice(f, why, faces) for f, why in picks]


def near_duplicate_groups(
    candidates: Sequence[Candidate], space: EmbeddingSpace, settings: Settings = Settings()
) -> list[list[int]]:
    """Face ids grouped by near-duplication, each group led by its best face."""
    faces, _ = _prepare(candidates, space, settings)
    groups: dict[int, list[int]] = {}
    for i in sorted(range(len(faces)), key=lambda i: _preference(faces[i])):
        groups.setdefault(faces[i].group, []).append(faces[i].c.face_id)
    return sorted(groups.values())


# ---------------------------------------------------------------------------------------
# Preparing: ratings with identity consistency, near-duplicate groups, person-relative flaws


def _prepare(
    cands: Sequence[Candidate],
    space: EmbeddingSpace,
    s: Settings,
    pinned: Sequence[int] = (),
    judge_pose: bool = True,
) -> tuple[list[_Face], list[set[int]]]:
    """Rated faces with their near-duplicate groups, and the direct near-duplicate links.

    judge_pose=False leaves head pose out of the ratings, for a caller that judges pose
    against a target instead."""
    if not cands:
        return [], []
    emb = np.stack([np.asarray(c.embedding, dtype=np.float64) for c in cands])
    if emb.ndim != 2 or emb.shape[1] != space.dim:
        raise ValueError(f"embeddings must have {space.dim} dimensions for {space.model_id}, got {emb.shape[1:]}")
    links = _duplicate_links(cands, space, s)
    # The person's centre. Each face weighs 1 / (its copies + 1), so that ten copies of one
    # photo pull no harder than one photo; a second pass drops strays (wrongly grouped faces).
    weight = np.array([1.0 / (1 + len(nb)) for nb in links])
    centre = _centre(emb, weight, space)
    near = space.distance(emb, centre[None, :])[:, 0] <= space.same_person
    if near.any():
        centre = _centre(emb[near], weight[near], space)
    dist = space.distance(emb, centre[None, :])[:, 0]
    faces = [
        _Face(c=c, rating=rate(c.quality, float(dist[i]), space.same_person, judge_pose=judge_pose))
        for i, c in enumerate(cands)
    ]
    _mark_person_outliers(faces, weight, s)
    _group(faces, links, pinned)
    return faces, links


def _mark_person_outliers(faces: list[_Face], weight: np.ndarray, s: Settings) -> None:
    """Lower faces whose colour or light is far from the person's usual (weighted median):
    ReF-LDM carries a reference's colour cast into the restored face."""
    def wmedian(values: list[float]) -> float:
        order = np.argsort(values)
        cum = np.cumsum(weight[order])
        return float(np.asarray(values)[order][np.searchsorted(cum, cum[-1] / 2)])

    if weight.sum() < s.outlier_min_photos:
        return  # too few independent photos to know what is usual
    rg = wmedian([f.c.quality.colour.red_green for f in faces])
    by = wmedian([f.c.quality.colour.blue_yellow for f in faces])
    br = wmedian([f.c.quality.brightness for f in faces])
    usual_chroma = math.hypot(rg, by)
    for f in faces:
        q = f.c.quality
        cd = math.hypot(q.colour.red_green - rg, q.colour.blue_yellow - by)
        bd = abs(q.brightness - br)
        factor = 1.0
        if cd > s.colour_outlier:
            factor *= max(0.4, 1.0 - (cd - s.colour_outlier) / (2 * s.colour_outlier))
            if q.colour.chroma < 0.02 <= usual_chroma:
                f.notes.append("black and white, unlike this person's other photos")
            else:
                f.notes.append("unusual colour or lighting for this person")
        if bd > s.brightness_outlier:
            factor *= max(0.5, 1.0 - (bd - s.brightness_outlier) / (2 * s.brightness_outlier))
            f.notes.append(
                "darker than this person's other photos" if q.brightness < br else "brighter than this person's other photos"
            )
        if factor < 1.0:
            f.rating = Rating(score=f.rating.score * factor, reasons=f.rating.reasons, factors=f.rating.factors)


def _centre(emb: np.ndarray, weight: np.ndarray, space: EmbeddingSpace) -> np.ndarray:
    w = weight[:, None] / weight.sum()
    if space.metric == "cosine":
        unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        m = (unit * w).sum(0)
        return m / max(float(np.linalg.norm(m)), 1e-12)
    return (emb * w).sum(0)


def _duplicate_links(cands: Sequence[Candidate], space: EmbeddingSpace, s: Settings) -> list[set[int]]:
    """For each face, the faces that are directly its near-duplicates; any one signal
    suffices. Blockwise, so a person with thousands of faces needs no n x n matrix."""
    n = len(cands)
    links: list[set[int]] = [set() for _ in range(n)]

    def join(members: list[int]) -> None:
        for i in members:
            links[i].update(j for j in members if j != i)

    # Copies of one file.
    by_hash: dict[str, list[int]] = {}
    for i, c in enumerate(cands):
        if c.content_hash:
            by_hash.setdefault(c.content_hash, []).append(i)
    for members in by_hash.values():
        join(members)
    # Bursts: runs of photos each within burst_seconds of the previous one.
    timed = sorted((c.taken_at, i) for i, c in enumerate(cands) if c.taken_at is not None)
    run: list[int] = []
    for k, (t, i) in enumerate(timed):
        if run and (t - timed[k - 1][0]).total_seconds() > s.burst_seconds:
            join(run)
            run = []
        run.append(i)
    join(run)

    emb = np.stack([np.asarray(c.embedding, dtype=np.float64) for c in cands])
    _link_close(links, emb, space.distance, s.duplicate_embedding_share * space.same_person, below=True)
    face_fp = _unit_rows([c.quality.fingerprint for c in cands])
    if face_fp is not None:
        _link_close(links, face_fp, lambda a, b: a @ b.T, s.duplicate_face_similarity, below=False)
    photo_fp = _unit_rows([c.photo_fingerprint for c in cands])
    if photo_fp is not None:
        _link_close(links, photo_fp, lambda a, b: a @ b.T, s.duplicate_photo_similarity, below=False)
    return links


def _unit_rows(fps: list[tuple[int, ...]]) -> np.ndarray | None:
    """Rows of unit length, zero where a fingerprint is missing; None when none exist."""
    size = max((len(f) for f in fps), default=0)
    if size == 0:
        return None
    out = np.zeros((len(fps), size))
    for i, f in enumerate(fps):
        if len(f) == size:
            v = np.asarray(f, dtype=np.float64)
            v = v - v.mean()
            norm = np.linalg.norm(v)
            if norm > 0:
                out[i] = v / norm
    return out


def _link_close(links: list[set[int]], x: np.ndarray, measure, threshold: float, *, below: bool, block: int = 512) -> None:
    n = x.shape[0]
    for start in range(0, n, block):
        m = measure(x[start : start + block], x)
        hits = np.argwhere(m <= threshold) if below else np.argwhere(m >= threshold)
        for a, b in hits:
            a, b = int(a) + start, int(b)
            if a != b:
                links[a].add(b)
                links[b].add(a)


def _group(faces: list[_Face], links: list[set[int]], pinned: Sequence[int]) -> None:
    """Leader clustering: in order of preference (pinned, then best score), a face joins the
    group of the first leader it is directly a near-duplicate of, or leads a new group.

    Unlike joining every linked pair, this never chains two different photos together
    through their blurred copies, which resemble each other more than the originals do."""
    pin_rank = {fid: r for r, fid in enumerate(pinned)}
    order = sorted(range(len(faces)), key=lambda i: (pin_rank.get(faces[i].c.face_id, len(pin_rank)),) + _preference(faces[i]))
    rank = {i: r for r, i in enumerate(order)}
    for i in order:
        leaders = [j for j in links[i] if faces[j].group == j and rank[j] < rank[i]]
        faces[i].group = min(leaders, key=rank.__getitem__) if leaders else i


def _preference(f: _Face) -> tuple:
    """Sort key, best first: the score, then (for copies that all score full marks) the
    finer detail and the larger face, then the face id so that ties never depend on order."""
    q = f.c.quality
    return (-round(f.score, 6), -q.native_sharpness, -q.sharpness, -q.eye_distance, f.c.face_id)


def _group_representatives(faces: list[_Face], chosen: list[_Face]) -> list[_Face]:
    """The leader (best face) of each near-duplicate group that holds no chosen face."""
    taken = {f.group for f in chosen}
    return sorted((f for i, f in enumerate(faces) if f.group == i and i not in taken), key=_preference)


def _floor(pool: list[_Face], s: Settings) -> float:
    if not pool:
        return 1.0
    return max(s.min_score, s.relative_floor * max(f.score for f in pool))


def _take_pins(faces: list[_Face], pinned: Sequence[int]) -> list[_Face]:
    """Pinned faces in the order the user pinned them. They may exceed k: the user asked."""
    by_id = {f.c.face_id: f for f in faces}
    pins: list[_Face] = []
    for fid in pinned:
        f = by_id.get(fid)
        if f is not None and f not in pins:
            pins.append(f)
    return pins


# ---------------------------------------------------------------------------------------
# Choosing


def _pose_vec(f: _Face) -> np.ndarray:
    p = f.c.quality.pose
    return np.array([p.yaw, p.pitch])


def _spread(eligible: list[_Face], chosen: list[_Face], space: EmbeddingSpace) -> list[float]:
    """Each eligible face's distance to the nearest chosen one: identity embedding in units
    of the same-person threshold, plus head pose in units of 45 degrees."""
    e = np.stack([np.asarray(f.c.embedding, dtype=np.float64) for f in eligible])
    c = np.stack([np.asarray(f.c.embedding, dtype=np.float64) for f in chosen])
    d = space.distance(e, c) / space.same_person
    pe = np.stack([_pose_vec(f) for f in eligible])
    pc = np.stack([_pose_vec(f) for f in chosen])
    dp = np.linalg.norm(pe[:, None, :] - pc[None, :, :], axis=2) / 45.0
    return list((d + dp).min(axis=1))


def _relevance(f: _Face, target: Candidate, s: Settings) -> tuple[float, list[str]]:
    """How well a reference suits this target (0.25..1) and why."""
    why: list[str] = []
    dpose = float(np.linalg.norm(_pose_vec(f) - np.array([target.quality.pose.yaw, target.quality.pose.pitch])))
    pose = 0.5 ** (dpose / s.pose_scale)
    value = 0.5 + 0.5 * pose
    if dpose <= 12:
        why.append("similar pose to the target")
    elif dpose >= 35:
        why.append(f"different pose from the target ({dpose:.0f} degrees)")
    if f.c.taken_at is not None and target.taken_at is not None:
        years = abs((f.c.taken_at - target.taken_at).total_seconds()) / (365.25 * 86400)
        value *= 0.5 + 0.5 * 0.5 ** (years / s.date_scale_years)
        if years < 1:
            why.append("close in date")
        elif years <= 3:
            why.append(f"taken within {math.ceil(years)} years of the target")
        elif years >= 8:
            why.append(f"{years:.0f} years apart from the target")
    return value, why


def _seed_reason(f: _Face) -> str:
    good = set(f.rating.reasons)
    if "sharp" in good and "frontal" in good:
        return "sharpest frontal photo"
    if "sharp" in good:
        return "sharpest photo"
    return "best photo of this person"


def _variety_reason(f: _Face, chosen: list[_Face]) -> str:
    dyaw = min(abs(f.c.quality.pose.yaw - g.c.quality.pose.yaw) for g in chosen)
    if dyaw >= 15:
        side = "right" if f.c.quality.pose.yaw > 0 else "left"
        return f"adds another angle (turned {abs(f.c.quality.pose.yaw):.0f} degrees to the {side})"
    return "adds variety (expression, light or age)"


def _choice(f: _Face, why: list[str], faces: list[_Face]) -> Choice:
    copies = sum(1 for g in faces if g.group == f.group) - 1
    reasons = list(why)
    if copies:
        reasons.append(f"best of {copies + 1} near-identical photos")
    reasons += [r for r in f.rating.reasons if r not in reasons] + f.notes
    return Choice(
        face_id=f.c.face_id,
        photo_id=f.c.photo_id,
        photo_path=str(f.c.photo_path),
        box=f.c.box,
        score=float(f.score),
        reasons=tuple(reasons),
        landmarks=_landmarks(f.c),
        **_need(f.c),
    )


def _pinned_choice(f: _Face) -> Choice:
    return Choice(
        face_id=f.c.face_id,
        photo_id=f.c.photo_id,
        photo_path=str(f.c.photo_path),
        box=f.c.box,
        score=float(f.score),
        reasons=("pinned by you",) + tuple(f.rating.reasons) + tuple(f.notes),
        pinned=True,
        landmarks=_landmarks(f.c),
        **_need(f.c),
    )


def _need(c: Candidate) -> dict:
    n = rate_need(c.quality)
    return {"need": n.score, "need_reasons": n.reasons}


def _landmarks(c: Candidate) -> tuple[tuple[float, float], ...] | None:
    if c.landmarks is None:
        return None
    return tuple((float(x), float(y)) for x, y in np.asarray(c.landmarks, dtype=np.float64).reshape(-1, 2))
