"""Pasting restored faces back: geometry, blending, colour matching, overlap, upscale."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from refldm_desktop.core.plugins import Registry
from refldm_desktop.faces.align import AlignTransform, apply_affine, ffhq_transform, warp_to_crop
from refldm_desktop.plugin_api import RESTORERS_GROUP, Restorer
from refldm_desktop.restore.paste import (
    FaceMaskShape,
    FacePaste,
    PasteOptions,
    match_colour,
    paste_faces,
    scale_landmarks,
    upscale_image,
)
from refldm_desktop.restore.metrics import psnr
from refldm_desktop.restore.photo import FaceToRestore, restore_photo

from musthave import FACES
# Paste the warped crops themselves: what the geometry tests look at.
RAW = PasteOptions(color_match=False, lowfreq_sigma=0.0, keep_detail=False)


def _photos() -> list[str]:
    names = []
    for folder in ("old_photos", "groups"):
        if (FACES / folder).is_dir():
            names += sorted(f"{folder}/{p.name}" for p in (FACES / folder).iterdir() if p.is_file())
    return names or ["(faces data absent)"]


def _template_68(cx: float, cy: float, eye_half: float, angle_deg: float) -> np.ndarray:
    """Landmarks of an upright face scaled and rotated about (cx, cy)."""
    lm = np.zeros((68, 2))
    lm[:] = [0.0, 1.0]
    lm[36:42] = [-1.0, 0.0]
    lm[42:48] = [1.0, 0.0]
    lm[48] = [-0.8, 2.0]
    lm[54] = [0.8, 2.0]
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * eye_half
    return lm @ rot.T + [cx, cy]


# ---------------------------------------------------------------------------------------------
# The geometry check on real photos


@pytest.mark.parametrize("name", _photos())
def test_passthrough_gives_the_original_photo_back(faces_dir, dlib_faces, name):
    image, marks = dlib_faces(faces_dir / name)
    if not marks:
        pytest.skip(f"dlib finds no face in {name}: nothing to paste")
    restorer = Registry(RESTORERS_GROUP).create("passthrough", resolution=512)
    assert isinstance(restorer, Restorer) and not restorer.needs_references
    faces = [FaceToRestore(lm, group=0) for lm in marks]
    result = restore_photo(image, faces, restorer)
    assert result.image.shape == image.shape
    assert psnr(result.image, image) >= 40.0
    # The geometry on its own: the warped crops themselves pasted back. The faces come back
    # close: a half-pixel error in the geometry costs about 10 dB here while hardly moving
    # the whole-image figure for small faces.
    pixels = restore_photo(image, faces, restorer, paste_options=replace(PasteOptions(), keep_detail=False))
    cov = pixels.paste.coverage()
    assert psnr(pixels.image[cov > 0.5], image[cov > 0.5]) >= 36.0
    # Everything the masks do not touch is the original, byte for byte.
    assert np.array_equal(pixels.image[cov == 0], image[cov == 0])
    assert (cov > 0).sum() > 0


@dataclass(frozen=True)
class Collage:
    """Photos of ../shared resized into tiles (x, y, w, h) of a canvas; a tile may reach past
    the canvas, cutting its face at the photo's edge."""

    size: tuple[int, int]  # (W, H)
    tiles: tuple[tuple[str, tuple[int, int, int, int]], ...]
    grain: float = 0.0  # film grain: detail at the finest scale, which resampling blurs
    crop_per_photo: tuple[float, float] = (0.0, 1e9)  # the faces' scale range it must cover


DEMO = "refldm_demo"
COLLAGES = {
    # The held-out photo's shape: two faces side by side, 700x464.
    "700x464 side by side": Collage((700, 464), ((f"{DEMO}/gt.png", (0, 0, 350, 464)),
                                                 (f"{DEMO}/ref0.png", (350, 0, 350, 464)))),
    "700x464 side by side, grain": Collage((700, 464), ((f"{DEMO}/gt.png", (0, 0, 350, 464)),
                                                        (f"{DEMO}/ref0.png", (350, 0, 350, 464))), grain=6.0),
    "faces cut by the edges": Collage((700, 464), ((f"{DEMO}/ref1.png", (-170, -90, 512, 512)),
                                                   (f"{DEMO}/ref2.png", (360, 60, 512, 512))), grain=3.0),
    "small faces": Collage((330, 220), tuple((f"{DEMO}/{n}", (110 * (i % 3), 110 * (i // 3), 110, 110))
                                             for i, n in enumerate(["gt.png", "ref0.png", "ref1.png",
                                                                    "ref2.png", "ref3.png", "lq.png"])),
                           grain=4.0, crop_per_photo=(2.5, 1e9)),
    "faces larger than the crop": Collage((2000, 1300), ((f"{DEMO}/gt.png", (0, 0, 1000, 1300)),
                                                         ("old_photos/gfpgan_Adele_crop.png", (1000, 0, 1000, 1300))),
                                          crop_per_photo=(0.0, 0.7)),
    "faces larger than the crop, grain": Collage((2000, 1300), ((f"{DEMO}/ref3.png", (0, 0, 1000, 1300)),
                                                                (f"{DEMO}/ref1.png", (1000, 0, 1000, 1300))),
                                                 grain=6.0, crop_per_photo=(0.0, 0.7)),
}


def _build(collage: Collage, dlib_faces, faces_dir) -> tuple[np.ndarray, list[np.ndarray]]:
    """The collage and the landmarks of its faces: each source photo's faces (found once by
    dlib) moved and scaled with its tile, so a face is where its pixels went."""
    from PIL import Image

    w, h = collage.size
    canvas = np.zeros((h, w, 3), np.uint8)
    marks = []
    for name, (x, y, tw, th) in collage.tiles:
        source, found = dlib_faces(faces_dir / name)
        tile = np.asarray(Image.fromarray(source).resize((tw, th), Image.Resampling.LANCZOS))
        cx0, cy0, cx1, cy1 = max(x, 0), max(y, 0), min(x + tw, w), min(y + th, h)
        canvas[cy0:cy1, cx0:cx1] = tile[cy0 - y : cy1 - y, cx0 - x : cx1 - x]
        scale = np.array([tw / source.shape[1], th / source.shape[0]])
        for lm in found:
            moved = lm * scale + [x, y]
            if 0 <= moved[:, 0].mean() < w and 0 <= moved[:, 1].mean() < h:
                marks.append(moved)
    if collage.grain:
        noise = np.random.default_rng(7).normal(0.0, collage.grain, (h, w, 1))
        canvas = np.clip(np.rint(canvas + noise), 0, 255).astype(np.uint8)
    return canvas, marks


@pytest.mark.parametrize("name", list(COLLAGES))
def test_passthrough_gives_every_collage_back(faces_dir, dlib_faces, name):
    """Goal: >= 40 dB whole-image PSNR on every photo, whatever its faces' sizes and place."""
    collage = COLLAGES[name]
    image, marks = _build(collage, dlib_faces, faces_dir)
    assert len(marks) >= 2
    restorer = Registry(RESTORERS_GROUP).create("passthrough", resolution=512)
    result = restore_photo(image, [FaceToRestore(lm) for lm in marks], restorer)
    lo, hi = collage.crop_per_photo
    assert all(lo <= 1.0 / t.source_pixels_per_crop_pixel <= hi for t in result.transforms)
    assert psnr(result.image, image) >= 40.0
    cov = result.paste.coverage()
    assert psnr(result.image[cov > 0], image[cov > 0]) >= 40.0


def test_a_restorer_that_changes_a_face_larger_than_the_crop_keeps_its_fine_detail(faces_dir, dlib_faces):
    """Where the restorer changes a face, the change lands; the photo's detail finer than the
    crop (grain here) stays around and under it instead of being blurred away."""
    image, marks = _build(COLLAGES["faces larger than the crop, grain"], dlib_faces, faces_dir)

    class Brighten:
        name, model, resolution, needs_references = "brighten", "brighten", 512, False

        def available(self):
            return True, ""

        def restore(self, crops, references, options=None, progress=None, cancelled=None):
            return [np.clip(c.astype(int) + 20, 0, 255).astype(np.uint8) for c in crops]

    raw = replace(PasteOptions(), color_match=False, lowfreq_sigma=0.0)
    kept = restore_photo(image, [FaceToRestore(lm) for lm in marks], Brighten(), paste_options=raw)
    blurred = restore_photo(image, [FaceToRestore(lm) for lm in marks], Brighten(),
                            paste_options=replace(raw, keep_detail=False))
    inside = kept.paste.coverage() > 0.99
    lift = kept.image[inside].astype(float) - image[inside]
    assert 18 < np.median(lift) < 22  # the change is there
    # ... on top of the photo's own grain, which the warped crop alone had lost.
    fine = kept.image[inside].astype(float) - blurred.image[inside]
    assert np.std(lift) < 0.5 * np.std(fine)


def _wave(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    return 20.0 * np.sin(2 * np.pi * u / period) * np.cos(2 * np.pi * v / (1.3 * period))


@pytest.mark.parametrize("name", _photos())
def test_a_change_lands_where_the_restorer_drew_it(faces_dir, dlib_faces, name):
    """A restorer adds a wave to each crop whose period is 8 photo pixels; pasted back, the
    photo must gain exactly that wave under the mask. The ideal is computed straight at the
    photo pixels' crop positions, so this measures the whole warp back (geometry, sampling,
    low-pass) on real photos and face sizes. Pillow's two warps per face gave 49.4-55.7 dB
    on the photos of ../shared, the torch warp of the difference 54.0-58.5 dB; a half-pixel
    shift gives about 38 dB. Below 47 dB something got worse."""
    image, marks = dlib_faces(faces_dir / name)
    if not marks:
        pytest.skip(f"dlib finds no face in {name}: nothing to paste")
    ts = [ffhq_transform(lm, 512) for lm in marks]
    crops = [warp_to_crop(image, t) for t in ts]
    u = np.arange(512) + 0.5
    changed = []
    for t, c in zip(ts, crops):
        period = 8.0 / t.source_pixels_per_crop_pixel  # in crop pixels
        wave = _wave(u[None, :], u[:, None], period)[..., None]
        changed.append(np.clip(np.rint(c + wave), 0, 255).astype(np.uint8))
    out = paste_faces(image, [FacePaste(t, r, c) for t, r, c in zip(ts, changed, crops)],
                      PasteOptions(color_match=False, lowfreq_sigma=0.0))
    ideal = image.astype(np.float64)
    faces = np.zeros(image.shape[:2], np.int32)  # how many masks reach each pixel
    for t in ts:
        (x0, y0, x1, y1), cu, cv = _crop_coordinates(t, image.shape)
        alpha = FaceMaskShape().alpha(cu, cv, 512).astype(np.float64)
        ideal[y0:y1, x0:x1] += (alpha * _wave(cu, cv, 8.0 / t.source_pixels_per_crop_pixel))[..., None]
        faces[y0:y1, x0:x1] += alpha > 0
    # Overlapping faces blend by weight, which the sum above does not model: left out.
    single = faces == 1
    assert single.sum() > 0
    assert psnr(out.image[single], np.clip(ideal, 0, 255)[single]) >= 47.0


@pytest.mark.parametrize("name", _photos())
def test_opencv_and_torch_warp_back_agree(faces_dir, dlib_faces, name):
    """Paste-back warps with OpenCV on the CPU, or with torch where the model runs on a GPU
    (PasteOptions.device; "cpu" runs that torch code here). They shrink the fine grid
    differently (area averaging and a 3-tap sharpening against an antialiasing cubic), so
    they agree within a bound, not bit for bit: on the faces of ../shared, given a colour
    cast, a brightness change and noise, 50.9-52.7 dB. Below 45 dB one of them went wrong."""
    image, marks = dlib_faces(faces_dir / name)
    if not marks:
        pytest.skip(f"dlib finds no face in {name}: nothing to paste")
    ts = [ffhq_transform(lm, 512) for lm in marks]
    crops = [warp_to_crop(image, t) for t in ts]
    rng = np.random.default_rng(3)
    changed = [np.clip(c * np.array([1.05, 0.97, 1.0]) + rng.normal(0, 4, c.shape), 0, 255).astype(np.uint8)
               for c in crops]
    faces = [FacePaste(t, r, c) for t, r, c in zip(ts, changed, crops)]
    fast = paste_faces(image, faces)
    torch_cpu = paste_faces(image, faces, PasteOptions(device="cpu"))
    cov = torch_cpu.coverage()
    assert np.array_equal(fast.touched(), cov > 0)
    assert np.array_equal(fast.image[cov == 0], image[cov == 0])
    assert psnr(fast.image[cov > 0], torch_cpu.image[cov > 0]) >= 45.0


def _pillow_crop(image: np.ndarray, t: AlignTransform, shift: float = 0.0) -> np.ndarray:
    """The aligned crop the way Pillow cut it before OpenCV did: an area shrink of a face
    larger than the crop, then one bicubic affine warp of the whole crop (`shift`: moved by
    that many photo pixels, to show what an error of the geometry costs)."""
    from PIL import Image

    inv = t.inverse()
    inv[:, 2] += shift
    work, m = Image.fromarray(image), inv.copy()
    scale = t.source_pixels_per_crop_pixel
    if scale > 1.0:
        w, h = round(image.shape[1] / scale), round(image.shape[0] / scale)
        m[0] *= w / image.shape[1]
        m[1] *= h / image.shape[0]
        work = work.resize((w, h), Image.Resampling.BOX)
    out = work.transform((t.size, t.size), Image.Transform.AFFINE, tuple(m.reshape(-1)),
                         resample=Image.Resampling.BICUBIC)
    return np.asarray(out)


def _inside_photo(t: AlignTransform, shape, margin: float) -> np.ndarray:
    """The crop pixels whose centre lies at least `margin` photo pixels inside the photo
    (elsewhere the crop shows padding)."""
    c = np.arange(t.size) + 0.5
    uv = np.stack(np.meshgrid(c, c), axis=-1).reshape(-1, 2)
    xy = t.crop_to_image(uv).reshape(t.size, t.size, 2)
    h, w = shape[:2]
    return (xy[..., 0] >= margin) & (xy[..., 0] <= w - margin) & (xy[..., 1] >= margin) & (xy[..., 1] <= h - margin)


@pytest.mark.parametrize("name", _photos())
def test_aligned_crops_match_pillows_warp(faces_dir, dlib_faces, name):
    """OpenCV cuts the crops, with its own pixel-centre convention and a sharper cubic;
    Pillow's continuous-coordinate warp is the reference. Where the crops show the photo
    (not padding), on the faces of ../shared, they agree to 41.3-51.1 dB; the geometry half
    a photo pixel off gives 19.9-40.3 dB (the most only on the largest face)."""
    image, marks = dlib_faces(faces_dir / name)
    if not marks:
        pytest.skip(f"dlib finds no face in {name}")
    for lm in marks:
        t = ffhq_transform(lm, 512)
        inside = _inside_photo(t, image.shape, margin=4.0)
        assert inside.mean() > 0.2
        crop = warp_to_crop(image, t)[inside]
        good = psnr(crop, _pillow_crop(image, t)[inside])
        assert good >= 40.0
        # And nearer Pillow's than a crop half a pixel off is: the bar alone lets that pass
        # on the largest face.
        assert good > psnr(crop, _pillow_crop(image, t, shift=0.5)[inside]) + 1.0


def _crop_coordinates(t: AlignTransform, shape) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """The photo's box under a crop and the crop position (u, v) of each pixel centre in it."""
    corners = t.crop_to_image(np.array([[0.0, 0.0], [512, 0], [0, 512], [512, 512]]))
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int), [shape[1], shape[0]])
    py, px = np.mgrid[y0:y1, x0:x1] + 0.5
    uv = t.image_to_crop(np.stack([px.ravel(), py.ravel()], axis=1))
    return (x0, y0, x1, y1), uv[:, 0].reshape(px.shape), uv[:, 1].reshape(px.shape)


def test_paste_without_the_original_crop_cuts_it_again(faces_dir, dlib_faces):
    image, marks = dlib_faces(faces_dir / "groups" / "two_people.jpg")
    assert len(marks) == 2
    ts = [ffhq_transform(lm, 256) for lm in marks]
    crops = [warp_to_crop(image, t) for t in ts]
    with_orig = paste_faces(image, [FacePaste(t, c, c) for t, c in zip(ts, crops)])
    without = paste_faces(image, list(zip(ts, crops)))
    assert np.array_equal(with_orig.image, without.image)


# ---------------------------------------------------------------------------------------------
# Geometry on synthetic faces


@pytest.mark.parametrize(
    "eye_half, angle",
    [(12.0, 0.0), (15.0, 23.0), (40.0, -35.0), (150.0, 10.0)],
    ids=["tiny", "small-rotated", "medium-rotated", "large (crop enlarged into photo)"],
)
def test_marks_drawn_in_the_crop_land_on_the_landmarks(eye_half, angle):
    h, w = 900, 800
    lm = _template_68(410.3, 380.7, eye_half, angle)
    t = ffhq_transform(lm, 512)
    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    mouth = (lm[48] + lm[54]) / 2
    targets = np.array([eye_l, eye_r, mouth])
    # Draw a bright round blob in the crop at each landmark's crop position: warping back must
    # put each blob's centre of mass on the landmark in the photo.
    uv = t.image_to_crop(targets)
    spc = t.source_pixels_per_crop_pixel
    sigma_crop = max(3.0, 2.0 / spc)
    yy, xx = np.mgrid[0:512, 0:512] + 0.5
    blobs = np.zeros((512, 512))
    for u, v in uv:
        blobs += np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * sigma_crop**2))
    crop = np.repeat(np.clip(np.rint(blobs * 255), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    image = np.zeros((h, w, 3), np.uint8)
    out = paste_faces(image, [(t, crop)], RAW).image[..., 0].astype(np.float64)
    py, px = np.mgrid[0:h, 0:w] + 0.5
    reach = 3.5 * sigma_crop * spc + 1
    for x, y in targets:
        win = (np.abs(px - x) < reach) & (np.abs(py - y) < reach)
        wsum = out[win].sum()
        assert wsum > 0
        cx, cy = (out[win] * px[win]).sum() / wsum, (out[win] * py[win]).sum() / wsum
        assert np.hypot(cx - x, cy - y) < 0.2, (cx, cy, x, y)


def test_constant_crop_covers_the_face_between_eyes_and_chin():
    h, w = 600, 700
    lm = _template_68(330.0, 280.0, 30.0, 17.0)
    t = ffhq_transform(lm, 512)
    image = np.full((h, w, 3), 90, np.uint8)
    red = np.zeros((512, 512, 3), np.uint8)
    red[..., 0] = 250
    res = paste_faces(image, [(t, red)], RAW)
    cov = res.coverage()
    py, px = np.mgrid[0:h, 0:w] + 0.5
    centroid = np.array([(cov * px).sum(), (cov * py).sum()]) / cov.sum()
    # The mask's centre is on the face's axis, between the eyes and the mouth.
    eyes, mouth = (lm[36:42].mean(0) + lm[42:48].mean(0)) / 2, (lm[48] + lm[54]) / 2
    axis = mouth - eyes
    along = float(np.dot(centroid - eyes, axis) / np.dot(axis, axis))
    unit, rel = axis / np.linalg.norm(axis), centroid - eyes
    across = float(unit[0] * rel[1] - unit[1] * rel[0])
    assert 0.2 < along < 0.9
    assert abs(across) < 0.3
    # Fully replaced at the face centre, untouched far away, soft in between.
    face_centre = np.round(eyes + 0.5 * axis).astype(int)
    assert tuple(res.image[face_centre[1], face_centre[0]]) == (250, 0, 0)
    assert np.array_equal(res.image[cov == 0], image[cov == 0])
    assert ((cov > 0.05) & (cov < 0.95)).sum() > 0.1 * (cov > 0).sum()
    # The mask is bounded by the face: nothing beyond two eye distances from its centre.
    far = np.hypot(px - centroid[0], py - centroid[1]) > 2.0 * 60.0 * 1.5
    assert cov[far].max() == 0


def test_feather_scales_with_the_face():
    widths = []
    for eye_half in (15.0, 60.0):
        lm = _template_68(400.0, 400.0, eye_half, 0.0)
        t = ffhq_transform(lm, 512)
        cov = paste_faces(np.zeros((800, 800, 3), np.uint8), [(t, np.zeros((512, 512, 3), np.uint8))], RAW)
        ramp = ((cov.coverage() > 0.05) & (cov.coverage() < 0.95)).sum()
        widths.append(ramp)
    # The ramp's area grows with the square of the face size (4x -> about 16x).
    assert 12 < widths[1] / widths[0] < 20


def test_wrong_crop_size_is_refused_with_a_clear_message():
    t = ffhq_transform(_template_68(100, 100, 20, 0), 512)
    with pytest.raises(ValueError, match=r"\(512, 512, 3\) uint8"):
        paste_faces(np.zeros((200, 200, 3), np.uint8), [(t, np.zeros((256, 256, 3), np.uint8))])


def test_face_outside_the_photo_is_ignored():
    t = ffhq_transform(_template_68(-500, -500, 20, 0), 128)
    image = np.zeros((100, 100, 3), np.uint8)
    res = paste_faces(image, [(t, np.full((128, 128, 3), 255, np.uint8))], RAW)
    assert np.array_equal(res.image, image) and res.regions == []


# ---------------------------------------------------------------------------------------------
# Overlapping faces


def test_overlapping_faces_blend_without_depending_on_order():
    image = np.full((400, 500, 3), 128, np.uint8)
    a = ffhq_transform(_template_68(200.0, 200.0, 25.0, 0.0), 256)
    b = ffhq_transform(_template_68(265.0, 210.0, 25.0, 5.0), 256)
    red = np.zeros((256, 256, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((256, 256, 3), np.uint8)
    blue[..., 2] = 255
    ab = paste_faces(image, [(a, red), (b, blue)], RAW)
    ba = paste_faces(image, [(b, blue), (a, red)], RAW)
    assert np.array_equal(ab.image, ba.image)
    assert len(ab.regions) == 1  # one region: the two faces were blended together
    # Each face keeps its own colour at its centre; in between both contribute.
    ca = np.round(a.crop_to_image(np.array([[128.0, 140.0]]))[0]).astype(int)
    cb = np.round(b.crop_to_image(np.array([[128.0, 140.0]]))[0]).astype(int)
    pa, pb = ab.image[ca[1], ca[0]].astype(int), ab.image[cb[1], cb[0]].astype(int)
    assert pa[0] > 200 and pa[2] < 60
    assert pb[2] > 200 and pb[0] < 60
    mid = ((ca + cb) / 2).astype(int)
    pm = ab.image[mid[1], mid[0]].astype(int)
    assert pm[0] > 40 and pm[2] > 40
    # Not a cut-out: no grey of the photo shows through where both masks are full.
    assert abs(pm[1] - 0) < 30
    cov = ab.coverage()
    assert np.array_equal(ab.image[cov == 0], image[cov == 0])


def test_far_apart_faces_are_pasted_separately():
    image = np.zeros((300, 900, 3), np.uint8)
    a = ffhq_transform(_template_68(150.0, 150.0, 20.0, 0.0), 128)
    b = ffhq_transform(_template_68(750.0, 150.0, 20.0, 0.0), 128)
    white = np.full((128, 128, 3), 255, np.uint8)
    res = paste_faces(image, [(a, white), (b, white)], RAW)
    assert len(res.regions) == 2
    # Each region's box stays near its own face: the pixels between are not touched.
    assert res.image[:, 300:600].max() == 0


# ---------------------------------------------------------------------------------------------
# Colour and low-frequency matching


@pytest.fixture
def ffhq_face(faces_dir):
    from PIL import Image

    return np.asarray(Image.open(faces_dir / "refldm_demo" / "gt.png").convert("RGB"))


def _face_weights(size: int) -> np.ndarray:
    return FaceMaskShape().crop_alpha(size)


def test_matching_is_lossless_when_the_crop_is_the_original(ffhq_face):
    out = match_colour(ffhq_face, ffhq_face, _face_weights(512))
    assert np.array_equal(out, ffhq_face)


def test_an_injected_colour_cast_is_removed(ffhq_face):
    w = _face_weights(512)
    face = w > 0.5
    cast = ffhq_face.astype(np.float64) * [1.0, 0.9, 0.8] + [30.0, 5.0, -15.0]
    cast = np.clip(cast, 0, 255).astype(np.uint8)
    before = np.abs(cast.astype(float) - ffhq_face)[face].mean()
    out = match_colour(cast, ffhq_face, w)
    after = np.abs(out.astype(float) - ffhq_face)[face].mean()
    assert before > 15.0
    assert after < 2.5
    # Each option alone also takes most of it away.
    low_only = match_colour(cast, ffhq_face, w, color_match=False)
    stats_only = match_colour(cast, ffhq_face, w, lowfreq_sigma=0.0)
    assert np.abs(low_only.astype(float) - ffhq_face)[face].mean() < before / 3
    assert np.abs(stats_only.astype(float) - ffhq_face)[face].mean() < before / 3


def test_restored_detail_survives_matching(ffhq_face):
    # A restoration adds fine detail the original lacks; matching must keep it.
    yy, xx = np.mgrid[0:512, 0:512]
    detail = np.where((xx // 2 + yy // 2) % 2 == 0, 12.0, -12.0)[..., None]
    restored = np.clip(ffhq_face + detail + [20.0, 0.0, -10.0], 0, 255).astype(np.uint8)
    out = match_colour(restored, ffhq_face, _face_weights(512)).astype(float)
    face = _face_weights(512) > 0.5
    kept = (out - ffhq_face)[face].mean(axis=-1)
    corr = np.corrcoef(kept, detail[..., 0][face])[0, 1]
    assert corr > 0.9


def test_a_black_and_white_photo_stays_black_and_white(ffhq_face):
    grey = np.repeat(ffhq_face.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    out = match_colour(ffhq_face, grey, _face_weights(512)).astype(float)
    face = _face_weights(512) > 0.5
    chroma_before = np.abs(ffhq_face[..., 0].astype(float) - ffhq_face[..., 2])[face].mean()
    chroma_after = np.abs(out[..., 0] - out[..., 2])[face].mean()
    assert chroma_after < 0.1 * chroma_before


def test_paste_applies_colour_matching(ffhq_face):
    # The demo face is already aligned: make a photo of it and paste a cast copy back.
    big = np.zeros((700, 700, 3), np.uint8)
    big[94:606, 94:606] = ffhq_face
    t = AlignTransform(np.array([[1.0, 0, -94.0], [0, 1.0, -94.0]]), 512, 120.0)
    crop = warp_to_crop(big, t)
    cast = np.clip(crop.astype(int) + [40, 0, -30], 0, 255).astype(np.uint8)
    raw = paste_faces(big, [FacePaste(t, cast, crop)], RAW).image
    fixed = paste_faces(big, [FacePaste(t, cast, crop)]).image
    inner = np.zeros(big.shape[:2], bool)
    inner[250:450, 260:440] = True
    assert np.abs(raw.astype(float) - big)[inner].mean() > 15
    assert np.abs(fixed.astype(float) - big)[inner].mean() < 3


# ---------------------------------------------------------------------------------------------
# Face parsing hook


class HalfFaceParser:
    """A stand-in parsing model: 'face' is the left half of the crop."""

    name = "half"

    def face_mask(self, crop: np.ndarray) -> np.ndarray:
        m = np.zeros(crop.shape[:2], np.float32)
        m[:, : crop.shape[1] // 2] = 1.0
        return m


def test_a_parsing_mask_limits_blending_to_what_it_marks():
    lm = _template_68(300.0, 300.0, 30.0, 0.0)
    t = ffhq_transform(lm, 256)
    image = np.zeros((600, 600, 3), np.uint8)
    white = np.full((256, 256, 3), 255, np.uint8)
    res = paste_faces(image, [(t, white)], PasteOptions(color_match=False, lowfreq_sigma=0, parser=HalfFaceParser()))
    changed = np.argwhere(res.image[..., 0] > 0)
    uv = t.image_to_crop(changed[:, ::-1] + 0.5)
    feather = 0.025 * 256 * 3 + 4  # the parsing mask's blur plus the resampling's reach
    assert uv[:, 0].max() < 128 + feather
    assert uv[:, 0].min() < 128 - 40  # the left half is there
    plain = paste_faces(image, [(t, white)], RAW)
    assert (plain.image[..., 0] > 0).sum() > 1.4 * len(changed)


# ---------------------------------------------------------------------------------------------
# Upscaling before alignment


def test_upscale_scales_landmarks_exactly():
    image = np.zeros((40, 50, 3), np.uint8)
    image[10:13, 20:23] = 255  # a 3x3 dot centred at (21.5, 11.5)
    for factor in (2, 4):
        big = upscale_image(image, factor).astype(float)[..., 0]
        assert big.shape == (40 * factor, 50 * factor)
        py, px = np.mgrid[0 : big.shape[0], 0 : big.shape[1]] + 0.5
        centre = np.array([(big * px).sum(), (big * py).sum()]) / big.sum()
        np.testing.assert_allclose(centre, scale_landmarks(np.array([21.5, 11.5]), factor), atol=0.05)


def test_upscaled_passthrough_keeps_the_photo(faces_dir, dlib_faces):
    image, marks = dlib_faces(faces_dir / "old_photos" / "codeformer_01.jpg")
    assert len(marks) >= 3
    restorer = Registry(RESTORERS_GROUP).create("passthrough", resolution=512)
    faces = [FaceToRestore(lm) for lm in marks]
    plain = restore_photo(image, faces, restorer)
    res = restore_photo(image, faces, restorer, upscale=4)
    assert res.image.shape == (image.shape[0] * 4, image.shape[1] * 4, 3)
    # The faces got 4x the pixels before alignment ...
    for t0, t4 in zip(plain.transforms, res.transforms):
        assert t4.eye_distance == pytest.approx(4 * t0.eye_distance)
    # ... and the result is the upscaled photo where no face was restored.
    big = upscale_image(image, 4)
    assert psnr(res.image, big) >= 40.0
    cov = res.paste.coverage()
    assert np.array_equal(res.image[cov == 0], big[cov == 0])


class DoublingUpscaler:
    name = "nearest"

    def upscale(self, image: np.ndarray, factor: int) -> np.ndarray:
        return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def test_an_upscaler_model_replaces_lanczos():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    out = upscale_image(image, 2, DoublingUpscaler())
    assert np.array_equal(out[::2, ::2], image)

    class Broken:
        name = "broken"

        def upscale(self, image, factor):
            return image

    with pytest.raises(ValueError, match="broken"):
        upscale_image(image, 2, Broken())
    with pytest.raises(ValueError, match="upscale factor"):
        upscale_image(image, 5)
