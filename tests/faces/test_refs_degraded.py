"""The issue's experiment, without the database: degraded copies must never be chosen as
references while an undegraded photo of the person is there, and a photo and its
near-duplicate must never both be chosen.

Every identity photo gets three degraded copies (Gaussian blur sigma 3; downscale by 4 and
back up; JPEG quality 15). All are detected and embedded with dlib directly (HOG detector,
68 landmarks, 128-d embedding), scored, grouped by the identity folder, and handed to the
reference choice. The detections are made once per test module.

Run with -s to see the per-person table and the score margins.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from musthave import require_dlib_models
from refldm_desktop.library import imageio

from refldm_desktop.faces.quality import QualityScores, assess, detector_confidence, photo_fingerprint, rate
from refldm_desktop.faces.refselect import Candidate, Settings, best_shots, references_for
from refldm_desktop.faces.types import EmbeddingSpace

DLIB_SPACE = EmbeddingSpace("dlib_face_recognition_resnet_model_v1", 128, "euclidean", same_person=0.6)
KINDS = ("blur", "down4", "jpeg15")
# The HOG detector finds faces from about 80 px; smaller images are searched at twice the size.
UPSAMPLE_BELOW = 300
# Every face with its person-relative score: no floor, no limit, no near-duplicate merging.
_ALL = Settings(k=10_000, relative_floor=0.0, min_score=0.0, duplicate_embedding_share=0.0,
                duplicate_face_similarity=2.0, duplicate_photo_similarity=2.0)


@dataclass(frozen=True)
class Face:
    person: str
    source: str  # the original photo, relative to the faces folder
    kind: str  # "original" or one of KINDS
    family: str  # the original photo this face is a copy of (near-duplicates share one)
    candidate: Candidate

    @property
    def quality(self) -> QualityScores:
        return self.candidate.quality

    @property
    def degraded(self) -> bool:
        return self.kind != "original"


@dataclass(frozen=True)
class Experiment:
    faces: tuple[Face, ...]
    originals_per_person: dict[str, int]  # photos in the identity folder, found or not
    undetected: tuple[str, ...]

    def of(self, person: str) -> list[Face]:
        return [f for f in self.faces if f.person == person]

    def by_id(self, face_id: int) -> Face:
        return next(f for f in self.faces if f.candidate.face_id == face_id)


def _models() -> Path:
    return require_dlib_models()


def _load_rgb(path: Path) -> np.ndarray:
    return imageio.load_rgb(path)[0]


def _degraded(rgb: np.ndarray) -> dict[str, np.ndarray]:
    im = Image.fromarray(rgb)
    w, h = im.size
    small = im.resize((max(1, w // 4), max(1, h // 4)), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=15)
    return {
        "blur": np.asarray(im.filter(ImageFilter.GaussianBlur(3))),
        "down4": np.asarray(small.resize((w, h), Image.Resampling.BICUBIC)),
        "jpeg15": np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")),
    }


def _families(root: Path) -> dict[str, str]:
    """Photo -> the photo it is a copy or near-duplicate of, from the manifest notes
    ("... copy of identities/obama/obama.jpg", "near-duplicate of 000192_02159531")."""
    out: dict[str, str] = {}
    with open(root / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    paths = [r["path"] for r in rows]
    for r in rows:
        m = re.search(r"(?:copy|near-duplicate) of (\S+?)[\s;:,)]", r["notes"] + " ")
        if not m:
            continue
        ref = m.group(1)
        folder = str(Path(r["path"]).parent)
        match = [p for p in paths if p == ref or (str(Path(p).parent) == folder and Path(p).stem == ref)]
        if match:
            a, b = sorted([r["path"], match[0]])
            out[b] = out.get(a, a)
            out.setdefault(a, a)
    return out


def _near_duplicate_extras(root: Path) -> dict[str, str]:
    """Undegraded photos outside identities/ that belong to a person (e.g. a low-res copy in
    edge_cases/): photo -> person, for rows with one identity and a copy-of note."""
    out = {}
    with open(root / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            ident = r["identity"].strip()
            if r["path"].startswith("identities/") or not ident or ";" in ident:
                continue
            if re.search(r"(?:copy|near-duplicate) of identities/", r["notes"]):
                out[r["path"]] = ident
    return out


@functools.cache
def _experiment(root_str: str) -> Experiment:
    import dlib

    root = Path(root_str)
    models = _models()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
    encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
    families = _families(root)

    jobs: list[tuple[str, str, str, np.ndarray]] = []  # person, source, kind, pixels
    counts: dict[str, int] = {}
    for path in sorted((root / "identities").glob("*/*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        person = path.parent.name
        counts[person] = counts.get(person, 0) + 1
        rgb = _load_rgb(path)
        jobs.append((person, rel, "original", rgb))
        jobs += [(person, rel, kind, pixels) for kind, pixels in _degraded(rgb).items()]
    for rel, person in sorted(_near_duplicate_extras(root).items()):
        jobs.append((person, rel, "original", _load_rgb(root / rel)))

    faces: list[Face] = []
    undetected: list[str] = []
    for n, (person, rel, kind, rgb) in enumerate(jobs):
        rgb = np.ascontiguousarray(rgb)
        upsample = 1 if min(rgb.shape[:2]) < UPSAMPLE_BELOW else 0
        boxes, scores, _ = detector.run(rgb, upsample, 0.0)
        if not boxes:
            undetected.append(f"{rel} ({kind})")
            continue
        # One face per identity photo: the largest (others are passers-by or cut off).
        k = max(range(len(boxes)), key=lambda i: boxes[i].width() * boxes[i].height())
        box = boxes[k]
        shape = predictor(rgb, box)
        lm = np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float64)
        embedding = np.asarray(encoder.compute_face_descriptor(rgb, shape, 0), np.float64)
        q = assess(rgb, lm, detector=detector_confidence(float(scores[k]), "dlib"))
        faces.append(
            Face(
                person=person,
                source=rel,
                kind=kind,
                family=families.get(rel, rel),
                candidate=Candidate(
                    face_id=n + 1,
                    photo_id=n + 1,
                    photo_path=str(root / rel) + ("" if kind == "original" else f"#{kind}"),
                    embedding=embedding,
                    quality=q,
                    photo_fingerprint=photo_fingerprint(rgb),
                    box=(float(box.left()), float(box.top()), float(box.right() + 1), float(box.bottom() + 1)),
                ),
            )
        )
    return Experiment(tuple(faces), counts, tuple(undetected))


def _people_with_three(exp: Experiment) -> list[str]:
    return sorted(p for p, n in exp.originals_per_person.items() if n >= 3)


def _label(f: Face) -> str:
    return f"{Path(f.source).name}:{f.kind}"


# ---------------------------------------------------------------------------------------


def test_every_original_outscores_its_degraded_copies(faces_dir):
    exp = _experiment(str(faces_dir))
    gaps: list[tuple[float, str]] = []
    print("\noriginal vs its best degraded copy (quality score, person-independent)")
    for orig in (f for f in exp.faces if f.kind == "original" and f.source.startswith("identities/")):
        copies = [f for f in exp.faces if f.source == orig.source and f.degraded]
        if not copies:
            continue
        s0 = rate(orig.quality).score
        best = max(copies, key=lambda f: rate(f.quality).score)
        gap = s0 - rate(best.quality).score
        gaps.append((gap, orig.source))
        print(f"  {orig.source:55s} {s0:.3f}  best copy {best.kind:6s} {rate(best.quality).score:.3f}  margin {gap:+.3f}")
    assert gaps, "no identity photo had both its original and a copy detected"
    wins = sum(g > 0 for g, _ in gaps)
    print(f"  originals ahead of all their copies: {wins}/{len(gaps)}; smallest margin {min(gaps)[0]:+.3f} ({min(gaps)[1]})")
    assert wins >= 0.95 * len(gaps), sorted(gaps)[:5]


def test_best_shots_contain_no_degraded_copy_while_an_original_is_available(faces_dir):
    exp = _experiment(str(faces_dir))
    people = _people_with_three(exp)
    assert people, "no person with at least 3 photos"
    passed = []
    print("\nbest shots per person (K=5)")
    for person in people:
        faces = exp.of(person)
        chosen = [exp.by_id(c.face_id) for c in best_shots([f.candidate for f in faces], DLIB_SPACE)]
        chosen_families = {f.family for f in chosen}
        degraded = [f for f in chosen if f.degraded]
        # An undegraded face is available when neither it nor a near-duplicate of it was chosen.
        available = [f for f in faces if not f.degraded and f not in chosen and f.family not in chosen_families]
        ok = not (degraded and available)
        passed.append(ok)
        # Margin: how far the best degraded copy stays under the weakest chosen face.
        scores = {c.face_id: c.score for c in best_shots([f.candidate for f in faces], DLIB_SPACE, settings=_ALL)}
        worst_chosen = min(scores[f.candidate.face_id] for f in chosen)
        best_degraded = max((scores[f.candidate.face_id] for f in faces if f.degraded), default=0.0)
        print(
            f"  {person:15s} {'ok  ' if ok else 'FAIL'} weakest chosen {worst_chosen:.3f}, best degraded "
            f"{best_degraded:.3f}: " + ", ".join(_label(f) for f in chosen)
        )
    assert sum(passed) >= 0.95 * len(passed), f"{sum(passed)}/{len(passed)} people passed"


def test_a_photo_and_its_near_duplicate_are_never_both_chosen(faces_dir):
    exp = _experiment(str(faces_dir))
    # Families with two undegraded photos (obama.jpg and edge_cases/obama-240p.jpg), and
    # every identity photo with its own degraded copies.
    pairs = {f.family for f in exp.faces if not f.degraded and f.family != f.source}
    assert any("obama-240p" in f.source for f in exp.faces), "edge_cases/obama-240p.jpg was not detected"
    checked = 0
    for person in sorted({f.person for f in exp.faces}):
        faces = exp.of(person)
        cands = [f.candidate for f in faces]
        choices = {"best shots": best_shots(cands, DLIB_SPACE)}
        for target in faces:
            if target.family in pairs or target.degraded:
                choices[f"references for {_label(target)}"] = references_for(target.candidate, cands, DLIB_SPACE)
        for what, chosen in choices.items():
            fams = [exp.by_id(c.face_id).family for c in chosen]
            assert len(fams) == len(set(fams)), f"{person}, {what}: one photo chosen twice: {fams}"
            checked += 1
        for target in faces:
            refs = references_for(target.candidate, cands, DLIB_SPACE)
            own = [exp.by_id(c.face_id) for c in refs if exp.by_id(c.face_id).family == target.family]
            assert not own, f"{_label(target)} got its own photo as a reference: {[_label(f) for f in own]}"
    assert checked > 0


def test_references_for_a_degraded_target_are_undegraded(faces_dir):
    exp = _experiment(str(faces_dir))
    for person in _people_with_three(exp):
        faces = exp.of(person)
        cands = [f.candidate for f in faces]
        for target in (f for f in faces if f.degraded):
            refs = [exp.by_id(c.face_id) for c in references_for(target.candidate, cands, DLIB_SPACE)]
            assert refs, f"no references for {_label(target)}"
            assert not any(f.degraded for f in refs), (_label(target), [_label(f) for f in refs])
