"""Restoration need on real photos, end to end through the library.

The identity photos are indexed with the default (dlib) backend; the test then makes a
degraded copy of each (Gaussian blur, 4x down-and-up, JPEG quality 10, Gaussian noise,
film grain, scratches; tests/faces/degradations.py, sized to each photo's face) and
indexes the copies and the old photos into the same library. Everything below reads what
the library stored, as `batch` and `refs show` do. One index run serves the module.

Run with -s to see the need of every kind and the faces that missed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from degradations import KINDS, degrade
from refldm_desktop.core.home import Home
from refldm_desktop.db.models import Face, Photo
from refldm_desktop.faces.need import DEFAULT_MIN_NEED, OLD_PRINT_REASONS
from refldm_desktop.library.imageio import load_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class Row:
    face_id: int
    photo: Path
    group: str  # "original", one of KINDS, or "old"
    source: str  # the identity photo it comes from (or the old photo)
    need: float
    need_reasons: tuple[str, ...]
    quality: float
    eye_openness: float | None
    yaw: float


@dataclass(frozen=True)
class Built:
    rows: tuple[Row, ...]
    plan: object  # the default batch plan over the whole library
    missing: tuple[str, ...]  # copies in which no face was found

    def group(self, name: str) -> list[Row]:
        return [r for r in self.rows if r.group == name]


def _dlib_backend():
    from musthave import require_dlib_backend

    return require_dlib_backend()


def _largest(faces):
    return max(faces, key=lambda f: (f.x1 - f.x0) * (f.y1 - f.y0))


@pytest.fixture(scope="module")
def built(faces_dir, tmp_path_factory) -> Built:
    from refldm_desktop.core.library import Library

    identities = (faces_dir / "identities").resolve()
    old = (faces_dir / "old_photos").resolve()
    copies = tmp_path_factory.mktemp("copies")
    home = Home(tmp_path_factory.mktemp("home"))
    with Library.open(home, backend=_dlib_backend()) as lib:
        assert lib.index([identities]).errors == 0
        made: dict[Path, tuple[str, str]] = {}
        with lib._Session() as s:
            photos = s.scalars(select(Photo).where(Photo.path.startswith(str(identities)))).all()
            for n, photo in enumerate(sorted(photos, key=lambda p: p.path)):
                faces = s.scalars(select(Face).where(Face.photo_id == photo.id)).all()
                if not faces:
                    continue
                rgb, _ = load_rgb(photo.path)
                lm = _largest(faces).landmarks_array().astype(np.float64)
                rel = Path(photo.path).relative_to(identities)
                for kind in KINDS:
                    out = copies / rel.parent / f"{rel.stem}~{kind}.png"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(degrade(kind, rgb, lm, seed=n)).save(out)
                    made[out.resolve()] = (kind, rel.as_posix())
        assert lib.index([copies, old]).errors == 0
        plan = lib.restoring.plan_batch(None, index=False)

        rows = []
        missing = set(made)
        with lib._Session() as s:
            by_photo = defaultdict(list)
            for face, path in s.execute(select(Face, Photo.path).join(Photo, Photo.id == Face.photo_id)):
                by_photo[Path(path).resolve()].append(face)
            for path, faces in by_photo.items():
                if path in made:
                    missing.discard(path)
                    group, source = made[path]
                    faces = [_largest(faces)]
                elif identities in path.parents:
                    group, source = "original", path.relative_to(identities).as_posix()
                    faces = [_largest(faces)]
                else:
                    group, source = "old", path.name
                for f in faces:
                    assert f.need_score is not None, f"{path}: {f.need_reasons}"
                    rows.append(Row(
                        f.id, path, group, source, float(f.need_score), tuple(f.need_reasons),
                        float(f.quality_score), f.quality.get("eye_openness"), float(f.quality["pose"]["yaw"]),
                    ))
    return Built(tuple(rows), plan, tuple(sorted(str(p) for p in missing)))


def _auc(high: list[float], low: list[float]) -> float:
    """Share of (high, low) pairs ranked the right way round (ties count half)."""
    h = np.asarray(high)[:, None]
    lo = np.asarray(low)[None, :]
    return float(((h > lo) + 0.5 * (h == lo)).mean())


def test_every_kind_of_damage_raises_the_need_above_the_originals(built):
    originals = [r.need for r in built.group("original")]
    degraded = [r for r in built.rows if r.group in KINDS]
    assert len(originals) >= 50 and len(degraded) >= 0.95 * len(KINDS) * len(originals), built.missing
    print(f"\noriginals: need median {np.median(originals):.2f}, max {max(originals):.2f}")
    for kind in KINDS:
        needs = [r.need for r in built.group(kind)]
        print(f"{kind:10s} AUC {_auc(needs, originals):.3f}, need median {np.median(needs):.2f}, min {min(needs):.2f}")
    auc = _auc([r.need for r in degraded], originals)
    assert auc >= 0.98, auc
    # Each copy against its own original, too: damage never lowers the need.
    by_source = {r.source: r.need for r in built.group("original")}
    worse = [(r.source, r.group, r.need, by_source[r.source]) for r in degraded
             if r.source in by_source and r.need <= by_source[r.source]]
    assert len(worse) <= 0.02 * len(degraded), worse


def test_each_damage_is_named(built):
    expect = {"blur": ("blurry",), "down4": ("blurry",), "jpeg10": ("heavy JPEG",), "noise": ("noisy",),
              "grain": ("film grain",), "scratches": ("scratched print",)}
    for kind, names in expect.items():
        rows = built.group(kind)
        named = [r for r in rows if any(r.need_reasons and reason.startswith(names) for reason in r.need_reasons)]
        assert len(named) >= 0.9 * len(rows), (kind, [(r.source, r.need_reasons) for r in rows if r not in named])


def test_closed_eyes_or_a_turned_head_do_not_make_a_sharp_face_needy(built):
    originals = built.group("original")
    odd = [r for r in originals if (r.eye_openness is not None and r.eye_openness < 0.2) or abs(r.yaw) >= 20]
    usual = [r.need for r in originals if r not in odd]
    assert odd, "the identity photos hold no face with closed eyes or a turned head"
    print("\n" + "\n".join(f"{r.source}: eyes {r.eye_openness}, yaw {r.yaw:.0f}, need {r.need:.2f}" for r in odd))
    # As low as the other sharp faces: below the default and within their range.
    assert all(r.need < DEFAULT_MIN_NEED and r.need <= max(usual) for r in odd)


def test_batch_with_defaults_picks_the_damaged_copies_and_leaves_the_originals(built):
    chosen = {f.face_id for f in built.plan.faces}
    originals = built.group("original")
    degraded = [r for r in built.rows if r.group in KINDS]
    picked = [r for r in degraded if r.face_id in chosen]
    why = {x.face_id: x.detail for x in built.plan.skipped}
    print(f"\nbatch: {len(picked)} of {len(degraded)} damaged copies; counts {built.plan.counts}")
    for r in degraded:
        if r.face_id not in chosen:
            print(f"  left out {r.source} ({r.group}, need {r.need:.2f}): {why.get(r.face_id)}")
    assert len(picked) >= 0.95 * len(degraded)
    assert sum(r.face_id in chosen for r in originals) <= 0.05 * len(originals)
    # Every face is accounted for, chosen or left out with a reason.
    assert len(chosen) + len(built.plan.skipped) == built.plan.considered


def test_old_prints_are_recognised_and_new_photos_are_not(built):
    def old_sign(r: Row) -> bool:
        return any(reason in OLD_PRINT_REASONS for reason in r.need_reasons)

    old = built.group("old")
    originals = built.group("original")
    print("\n" + "\n".join(f"{r.source}: {', '.join(r.need_reasons) or '-'}" for r in old))
    print("identities with an old-print sign: " + ", ".join(f"{r.source} ({', '.join(r.need_reasons)})"
                                                          for r in originals if old_sign(r)))
    assert len(old) >= 15
    assert sum(map(old_sign, old)) >= 0.9 * len(old)
    assert sum(map(old_sign, originals)) <= 0.05 * len(originals)


def test_grain_and_scratches_do_not_pass_for_sharpness(built):
    """As a reference, a grainy or scratched copy ranks below its original."""
    by_source = {r.source: r.quality for r in built.group("original")}
    for kind in ("grain", "scratches"):
        above = [(r.source, round(r.quality, 3), round(by_source[r.source], 3))
                 for r in built.group(kind) if r.source in by_source and r.quality >= by_source[r.source]]
        assert not above, (kind, above)
