"""Walking a library folder: which files come back, in which order, and what becomes a problem."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from refldm_desktop.library import scan
from refldm_desktop.library.scan import FileEntry, ScanProblem, content_hash, walk

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt",
                                    reason="symlinks need a POSIX file system here")


def photo(path: Path, fmt: str = "JPEG", colour: tuple[int, int, int] = (90, 120, 150)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), colour, np.uint8)).save(path, fmt)
    return path


def files(results: list[FileEntry | ScanProblem]) -> list[Path]:
    return [r.path for r in results if isinstance(r, FileEntry)]


def problems(results: list[FileEntry | ScanProblem]) -> dict[Path, str]:
    return {r.path: r.reason for r in results if isinstance(r, ScanProblem)}


def test_recursive_sorted_and_repeatable(tmp_path: Path) -> None:
    for rel in ["b/2.jpg", "a/z.png", "a/sub/1.jpg", "c.jpg", "A.jpg", "b/1.jpg"]:
        photo(tmp_path / rel, "PNG" if rel.endswith(".png") else "JPEG")

    first = list(walk([tmp_path]))
    second = list(walk([tmp_path]))

    assert first == second
    assert [p.relative_to(tmp_path).as_posix() for p in files(first)] == [
        "A.jpg", "a/sub/1.jpg", "a/z.png", "b/1.jpg", "b/2.jpg", "c.jpg",
    ]
    assert all(p.is_absolute() for p in files(first))
    assert problems(first) == {}


def test_entries_carry_size_and_mtime(tmp_path: Path) -> None:
    path = photo(tmp_path / "x.jpg")
    os.utime(path, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    [entry] = list(walk([tmp_path]))
    assert entry == FileEntry(path=path, size=path.stat().st_size, mtime_ns=1_600_000_000_123_456_789)


def test_relative_roots_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo(tmp_path / "lib" / "x.jpg")
    monkeypatch.chdir(tmp_path)
    assert files(list(walk(["lib"]))) == [tmp_path / "lib" / "x.jpg"]


def test_hidden_and_system_folders_are_skipped(tmp_path: Path) -> None:
    keep = photo(tmp_path / "2020" / "keep.jpg")
    for rel in [".git/x.jpg", ".thumbnails/normal/x.png", "@eaDir/keep.jpg/SYNOPHOTO_THUMB_XL.jpg",
                ".Trash-1000/files/x.jpg", "2020/.hidden/x.jpg", "$RECYCLE.BIN/x.jpg"]:
        photo(tmp_path / rel)
    (tmp_path / "2020" / "._keep.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble resource fork")
    assert list(walk([tmp_path])) == [FileEntry(keep, keep.stat().st_size, keep.stat().st_mtime_ns)]


def test_image_names_are_listed_whatever_their_content(tmp_path: Path) -> None:
    # Content is judged at decode time, where the user gets a reason; the walk only lists.
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not a picture")
    photo(tmp_path / "real.JPG")
    assert [p.name for p in files(list(walk([tmp_path])))] == ["empty.jpg", "notes.png", "real.JPG"]


def test_other_files_are_ignored_and_unknown_ones_sniffed(tmp_path: Path) -> None:
    photo(tmp_path / "scan_0001", "PNG")  # no extension, PNG inside
    photo(tmp_path / "export.img", "JPEG")  # unknown extension, JPEG inside
    photo(tmp_path / "clip.mp4", "JPEG")  # a known non-image name is never opened
    (tmp_path / "IMG_0001.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  ")
    (tmp_path / "IMG_0001.xmp").write_text("<x:xmpmeta/>")
    (tmp_path / "readme").write_text("hello")
    (tmp_path / "data.bin").write_bytes(os.urandom(64))

    assert [p.name for p in files(list(walk([tmp_path])))] == ["export.img", "scan_0001"]
    assert files(list(walk([tmp_path], sniff_unknown=False))) == []


def test_walk_never_opens_files_with_image_or_known_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The 10,000-file re-scan must stay a listing + stat: no file is opened.
    for i in range(20):
        photo(tmp_path / f"d{i % 3}" / f"{i:03}.jpg")
    (tmp_path / "movie.mov").write_bytes(b"x")
    opened: list[str] = []
    real_sniff = scan._sniff_file
    monkeypatch.setattr(scan, "_sniff_file", lambda p: opened.append(p) or real_sniff(p))
    assert len(files(list(walk([tmp_path])))) == 20
    assert opened == []


def test_fifo_is_not_opened(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(tmp_path / "pipe")  # opening it to sniff would block forever
    os.mkfifo(tmp_path / "pipe.jpg")
    photo(tmp_path / "x.jpg")
    assert [p.name for p in files(list(walk([tmp_path])))] == ["x.jpg"]


@needs_symlinks
def test_symlink_loop_is_a_problem_and_the_walk_ends(tmp_path: Path) -> None:
    photo(tmp_path / "a" / "b" / "x.jpg")
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "self").symlink_to(".")

    results = list(walk([tmp_path]))

    assert files(results) == [tmp_path / "a" / "b" / "x.jpg"]
    found = problems(results)
    assert set(found) == {tmp_path / "a" / "b" / "up", tmp_path / "a" / "self"}
    assert found[tmp_path / "a" / "b" / "up"] == f"symlink loop (leads back to {tmp_path / 'a'})"


@needs_symlinks
def test_links_that_point_at_each_other(tmp_path: Path) -> None:
    (tmp_path / "one.jpg").symlink_to(tmp_path / "two.jpg")
    (tmp_path / "two.jpg").symlink_to(tmp_path / "one.jpg")
    (tmp_path / "clip.mov").symlink_to(tmp_path / "clip.mov")  # not ours to report
    found = problems(list(walk([tmp_path])))
    assert set(found) == {tmp_path / "one.jpg", tmp_path / "two.jpg"}
    assert all(reason.startswith("symlink loop") for reason in found.values())


@needs_symlinks
def test_dangling_symlink_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    (tmp_path / "old_album").symlink_to(tmp_path / "no_such_folder")
    found = problems(list(walk([tmp_path])))
    assert found == {
        tmp_path / "gone.jpg": f"dangling symlink (target {tmp_path / 'deleted.jpg'} does not exist)",
        tmp_path / "old_album": f"dangling symlink (target {tmp_path / 'no_such_folder'} does not exist)",
    }


@needs_symlinks
def test_symlinked_folder_outside_the_root_is_followed_once(tmp_path: Path) -> None:
    outside = tmp_path / "nas" / "scans"
    photo(outside / "s1.jpg")
    lib = tmp_path / "lib"
    photo(lib / "a.jpg")
    (lib / "scans").symlink_to(outside)
    (lib / "scans_again").symlink_to(outside)

    results = list(walk([lib]))

    assert files(results) == [lib / "a.jpg", lib / "scans" / "s1.jpg"]  # through the first link
    assert problems(results) == {}


@needs_symlinks
def test_symlink_to_a_folder_inside_the_root_keeps_the_real_path(tmp_path: Path) -> None:
    photo(tmp_path / "2019" / "best" / "x.jpg")
    (tmp_path / "0_favourites").symlink_to(tmp_path / "2019" / "best")  # sorts before 2019
    results = list(walk([tmp_path]))
    assert files(results) == [tmp_path / "2019" / "best" / "x.jpg"]
    assert problems(results) == {}


@needs_symlinks
def test_symlinked_file_is_listed_under_its_link(tmp_path: Path) -> None:
    real = photo(tmp_path / "store" / "real.jpg")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "alias.jpg").symlink_to(real)
    [entry] = list(walk([tmp_path / "lib"]))
    assert entry.path == tmp_path / "lib" / "alias.jpg" and entry.size == real.stat().st_size


def test_unreadable_folder_is_a_problem_and_the_rest_is_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, where chmod cannot take access away: simulate the refusal.
    photo(tmp_path / "a" / "x.jpg")
    photo(tmp_path / "private" / "y.jpg")
    photo(tmp_path / "z" / "z.jpg")
    real_scandir = os.scandir

    def guarded(path):  # noqa: ANN001
        if Path(path) == tmp_path / "private":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(scan.os, "scandir", guarded)
    results = list(walk([tmp_path]))
    assert files(results) == [tmp_path / "a" / "x.jpg", tmp_path / "z" / "z.jpg"]
    assert problems(results) == {tmp_path / "private": "permission denied: cannot list this folder"}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="running as root: chmod 000 does not stop root listing (the monkeypatched test covers it)")
def test_unreadable_folder_for_real(tmp_path: Path) -> None:
    photo(tmp_path / "private" / "y.jpg")
    (tmp_path / "private").chmod(0)
    try:
        assert problems(list(walk([tmp_path]))) == {tmp_path / "private": "permission denied: cannot list this folder"}
    finally:
        (tmp_path / "private").chmod(0o755)


def test_roots_missing_file_and_overlapping(tmp_path: Path) -> None:
    single = photo(tmp_path / "one.jpg")
    text = tmp_path / "notes"
    text.write_text("shopping list")
    photo(tmp_path / "sub" / "two.jpg")
    results = list(walk([tmp_path / "missing", single, text, tmp_path / "sub", tmp_path]))
    assert problems(results) == {
        tmp_path / "missing": "no such file or folder",
        text: "not an image (content is text)",
    }
    # "sub" and "one.jpg" come once although two roots lead to each.
    assert files(results) == [single, tmp_path / "sub" / "two.jpg"]


def test_folder_root_then_a_file_inside_it(tmp_path: Path) -> None:
    inside = photo(tmp_path / "a.jpg")
    assert files(list(walk([tmp_path, inside]))) == [inside]


def test_very_deep_tree(tmp_path: Path) -> None:
    deep = tmp_path
    for _ in range(300):
        deep = deep / "d"
    photo(deep / "x.jpg")
    assert files(list(walk([tmp_path]))) == [deep / "x.jpg"]


def test_content_hash_streams_the_bytes(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    data = os.urandom(3 * 1024 * 1024 + 17)
    big.write_bytes(data)
    assert content_hash(big) == hashlib.sha256(data).hexdigest()
    copy = tmp_path / "renamed.jpeg"
    copy.write_bytes(data)
    assert content_hash(copy) == content_hash(big)  # a moved file is recognised
    copy.write_bytes(data[:-1] + b"\x00")
    assert content_hash(copy) != content_hash(big)
    with pytest.raises(FileNotFoundError):
        content_hash(tmp_path / "gone.jpg")


def test_walk_lists_the_shared_photos(faces_dir: Path) -> None:
    results = list(walk([faces_dir]))
    assert problems(results) == {}
    names = {p.relative_to(faces_dir).as_posix() for p in files(results)}
    manifest = faces_dir / "MANIFEST.csv"
    expected = {line.split(",", 1)[0] for line in manifest.read_text().splitlines()[1:] if line.strip()}
    assert names == expected  # every photo, and no README/MANIFEST/SHA256SUMS
