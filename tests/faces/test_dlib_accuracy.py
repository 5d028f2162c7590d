"""The default backend on real photos: it finds the faces people see, and nothing else.

Counts come from ../shared/data/faces/MANIFEST.csv (n_faces_visible, counted by eye).
"""

from __future__ import annotations


def test_every_identity_photo_gets_exactly_its_one_face(dlib_faces, manifest, faces_dir):
    rows = [r for r in manifest if r["path"].startswith("identities/")]
    assert len(rows) == 55
    wrong = {r["path"]: len(dlib_faces.detect(faces_dir / r["path"])) for r in rows}
    wrong = {p: n for p, n in wrong.items() if n != 1}
    assert wrong == {}, f"identity photos without exactly one face: {wrong}"


def test_group_photos_find_at_least_95_percent_of_the_faces_and_few_extra(dlib_faces, manifest, faces_dir):
    rows = [r for r in manifest if r["path"].startswith("groups/")]
    visible = found = extra = 0
    for r in rows:
        n_visible = int(r["n_faces_visible"])
        n_found = len(dlib_faces.detect(faces_dir / r["path"]))
        visible += n_visible
        found += min(n_found, n_visible)
        extra += max(0, n_found - n_visible)
    assert visible == 50
    assert found / visible >= 0.95, f"found {found} of {visible} faces in group photos"
    # Uncounted background faces may be found; invented faces would show up here.
    assert extra <= 0.05 * visible, f"{extra} more faces than counted"


def test_photos_without_faces_get_none(dlib_faces, manifest, faces_dir):
    rows = [r for r in manifest if int(r["n_faces_visible"]) == 0]
    assert any(r["path"] == "edge_cases/dogs.jpg" for r in rows)
    found = {r["path"]: len(dlib_faces.detect(faces_dir / r["path"])) for r in rows}
    assert all(n == 0 for n in found.values()), found


def test_no_photo_gets_more_faces_than_people_counted(dlib_faces, manifest, faces_dir):
    too_many = {}
    for r in manifest:
        n = len(dlib_faces.detect(faces_dir / r["path"]))
        if n > int(r["n_faces_visible"]):
            too_many[r["path"]] = (n, int(r["n_faces_visible"]))
    assert too_many == {}, too_many


def test_sideways_stored_photo_is_found_once_turned_upright(dlib_faces, faces_dir):
    # image_T1.jpeg stores its pixels sideways with EXIF Orientation=6.
    (face,) = dlib_faces.detect(faces_dir / "edge_cases" / "image_T1.jpeg")
    lm = face.landmarks
    eyes, mouth = lm[36:48].mean(0), lm[48:68].mean(0)
    assert eyes[1] < mouth[1]  # upright: eyes above the mouth
    x0, y0, x1, y1 = face.box
    assert x1 <= 480 and y1 <= 640  # coordinates of the upright 480x640 picture


def test_group_photo_faces_are_in_reading_order_with_their_landmarks(dlib_faces, faces_dir):
    faces = dlib_faces.detect(faces_dir / "groups" / "two_people.jpg")
    assert len(faces) == 2
    left, right = faces
    assert left.box[2] <= right.box[0]  # obama left of biden, as the manifest says
    for f in faces:
        x0, y0, x1, y1 = f.box
        nose_tip = f.landmarks[30]
        assert x0 < nose_tip[0] < x1 and y0 < nose_tip[1] < y1
