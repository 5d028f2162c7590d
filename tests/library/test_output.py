"""Writing restored photos: format and quality kept, metadata kept, atomic, never overwriting."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin, PngImagePlugin

from refldm_desktop.library import output
from refldm_desktop.library.output import (
    OutputError,
    check_destination,
    estimate_jpeg_quality,
    mirrored_dir,
    write_restored,
)
from refldm_desktop.restore.metrics import psnr

XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'tiff:Orientation="6" dc:source="grandma-album"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def _photo(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    """A smooth photo-like test image (gradients plus texture), RGB uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h) + 60], axis=-1)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _upright(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    d = tmp_path / "library"
    d.mkdir()
    return d


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "Restored"


# ---------------------------------------------------------------------------------------------
# JPEG


def test_exif_kept_with_orientation_reset_and_pixels_upright(faces_dir, out):
    src = faces_dir / "edge_cases" / "image_T1.jpeg"
    before = _sha(src)
    with Image.open(src) as img:
        assert img.getexif()[0x0112] == 6 and img.size == (640, 480)
        software = img.getexif()[305]
    upright = _upright(src)
    assert upright.shape == (640, 480, 3)
    path = write_restored(src, upright, out)
    assert path.name == "image_T1 (restored).jpeg"
    with Image.open(path) as new:
        assert new.format == "JPEG"
        assert new.size == (480, 640)  # stored upright
        exif = new.getexif()
        assert exif[0x0112] == 1
        assert exif[305] == software
        sub = exif.get_ifd(0x8769)
        assert (sub[0xA002], sub[0xA003]) == (480, 640)
        assert b'tiff:Orientation="1"' in new.info["xmp"]
        assert b'tiff:Orientation="6"' not in new.info["xmp"]
        pixels = np.asarray(new.convert("RGB"))
    # Viewers that honour orientation and those that ignore it now show the same upright photo.
    assert psnr(pixels, upright) > 35
    assert _sha(src) == before


def test_jpeg_keeps_quality_tables_and_subsampling(lib, out):
    for quality, subsampling in ((62, 2), (90, 0), (35, 1)):
        src = lib / f"q{quality}.jpg"
        Image.fromarray(_photo()).save(src, quality=quality, subsampling=subsampling)
        path = write_restored(src, _upright(src), out)
        with Image.open(src) as a, Image.open(path) as b:
            assert estimate_jpeg_quality(a.quantization) == quality
            assert estimate_jpeg_quality(b.quantization) == quality
            assert b.quantization == a.quantization
            assert JpegImagePlugin.get_sampling(b) == JpegImagePlugin.get_sampling(a) == subsampling


def test_quality_estimate_follows_the_ijg_scale():
    for q in (10, 50, 75, 95, 100):
        buf = io.BytesIO()
        Image.fromarray(_photo(16, 16)).save(buf, "JPEG", quality=q)
        buf.seek(0)
        assert estimate_jpeg_quality(Image.open(buf).quantization) == q
    assert estimate_jpeg_quality(None) is None


def test_icc_profile_and_xmp_kept_in_jpeg(lib, out):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = lib / "icc.jpg"
    Image.fromarray(_photo()).save(src, quality=88, icc_profile=icc, xmp=XMP, progressive=True)
    path = write_restored(src, _upright(src), out)
    with Image.open(path) as new:
        assert new.info["icc_profile"] == icc
        assert b'dc:source="grandma-album"' in new.info["xmp"]
        assert b'tiff:Orientation="1"' in new.info["xmp"]
        assert new.info.get("progressive")


def test_greyscale_jpeg_stays_greyscale(lib, out):
    src = lib / "grey.jpg"
    Image.fromarray(_photo()[..., 1]).save(src, quality=80)
    path = write_restored(src, _upright(src), out)
    with Image.open(path) as new:
        assert new.mode == "L"
        assert estimate_jpeg_quality(new.quantization) == 80


# ---------------------------------------------------------------------------------------------
# PNG and the other formats


def test_png_is_lossless_and_keeps_its_metadata(lib, out):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 3
    exif[0x010F] = "Kodak"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Comment", "scanned 1998")
    src = lib / "scan.png"
    Image.fromarray(_photo()).save(src, pnginfo=info, icc_profile=icc, exif=exif.tobytes(), dpi=(600, 600))
    upright = _upright(src)  # rotated 180 degrees by the EXIF orientation
    path = write_restored(src, upright, out)
    with Image.open(path) as new:
        assert new.format == "PNG" and new.mode == "RGB"
        assert np.array_equal(np.asarray(new), upright)
        assert new.getexif()[0x0112] == 1 and new.getexif()[0x010F] == "Kodak"
        assert new.info["icc_profile"] == icc
        assert 'dc:source="grandma-album"' in new.info["XML:com.adobe.xmp"]
        assert new.text["Comment"] == "scanned 1998"
        assert tuple(round(v) for v in new.info["dpi"]) == (600, 600)


@pytest.mark.parametrize("late", [(), (b"zTXt",), (b"zTXt", b"eXIf")])
def test_png_metadata_written_after_the_pixels_is_kept_too(lib, out, late):
    """Text and EXIF chunks may follow the image data (some scanners write them last). The
    plan reads the chunk headers so as not to decode the photo for them when there are none
    there, and must keep them, EXIF orientation included, when there are."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "scanned 1998")
    info.add_text("Location", "Tromso, 1962", zip=True)
    exif = Image.Exif()
    exif[0x0112] = 3
    exif[0x010F] = "Kodak"
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "PNG", pnginfo=info, exif=exif.tobytes())
    data = buf.getvalue()
    chunks, i = [], 8
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        chunks.append(data[i : i + 12 + n])
        i += 12 + n
    moved = [c for c in chunks if c[4:8] in late]
    assert len(moved) == len(late)
    rest = [c for c in chunks if c[4:8] not in late]
    src = lib / "late.png"
    src.write_bytes(data[:8] + b"".join(rest[:-1]) + b"".join(moved) + rest[-1])
    upright = _upright(src)  # turned by the EXIF orientation, wherever the chunk is
    assert not np.array_equal(upright, _photo())
    path = write_restored(src, upright, out)
    with Image.open(path) as new:
        assert new.text["Comment"] == "scanned 1998"
        assert new.text["Location"] == "Tromso, 1962"
        assert new.getexif()[0x0112] == 1 and new.getexif()[0x010F] == "Kodak"
        assert np.array_equal(np.asarray(new), upright)


def test_png_keeps_alpha_grey_and_16_bit(lib, out):
    rgba = np.dstack([_photo(), np.tile(np.arange(160, dtype=np.uint8), (120, 1))])
    Image.fromarray(rgba, "RGBA").save(lib / "alpha.png")
    Image.fromarray(_photo()[..., 0]).save(lib / "grey.png")
    Image.fromarray(_photo()[..., 0].astype(np.uint16) * 257).save(lib / "deep.png")
    a = write_restored(lib / "alpha.png", _photo(), out)
    with Image.open(a) as img:
        assert img.mode == "RGBA"
        assert np.array_equal(np.asarray(img)[..., 3], rgba[..., 3])
        assert np.array_equal(np.asarray(img)[..., :3], _photo())
    g = write_restored(lib / "grey.png", np.repeat(_photo()[..., :1], 3, axis=2), out)
    with Image.open(g) as img:
        assert img.mode == "L" and np.array_equal(np.asarray(img), _photo()[..., 0])
    d = write_restored(lib / "deep.png", np.repeat(_photo()[..., :1], 3, axis=2), out)
    with Image.open(d) as img:
        assert img.mode in ("I;16", "I")
        assert np.array_equal(np.asarray(img).astype(np.int64), _photo()[..., 0].astype(np.int64) * 257)


def test_content_decides_the_format_not_the_extension(faces_dir, out):
    src = faces_dir / "edge_cases" / "kun.jpg"  # a PNG named .jpg
    path = write_restored(src, _upright(src)[..., :3], out)
    assert path.suffix == ".png"
    with Image.open(path) as new, Image.open(src) as old:
        assert new.format == "PNG" and new.mode == "RGBA"
        assert new.info.get("icc_profile") == old.info.get("icc_profile")


@pytest.mark.parametrize("lossless", [True, False])
def test_webp_keeps_its_compression_class_and_metadata(lib, out, lossless):
    src = lib / "photo.webp"
    Image.fromarray(_photo()).save(src, lossless=lossless, quality=80, xmp=XMP)
    path = write_restored(src, _upright(src), out)
    assert output._webp_is_lossless(path) == lossless
    with Image.open(path) as new:
        assert new.format == "WEBP"
        assert b"grandma-album" in new.info.get("xmp", b"")
        if lossless:
            assert np.array_equal(np.asarray(new.convert("RGB")), _upright(src))


def test_tiff_keeps_compression_exif_and_is_upright(lib, out):
    src = lib / "scan.tif"
    exif = Image.Exif()
    exif[0x0112] = 8
    exif[0x0110] = "Epson scanner"
    Image.fromarray(_photo()).save(src, compression="tiff_lzw", exif=exif)
    upright = _upright(src)
    assert upright.shape == (160, 120, 3)
    path = write_restored(src, upright, out)
    with Image.open(path) as new:
        assert new.format == "TIFF" and new.info["compression"] == "tiff_lzw"
        assert new.getexif()[0x0112] == 1 and new.getexif()[0x0110] == "Epson scanner"
        assert np.array_equal(np.asarray(new.convert("RGB")), upright)


def test_bmp_stays_bmp(lib, out):
    src = lib / "old.bmp"
    Image.fromarray(_photo()).save(src)
    path = write_restored(src, _photo(), out)
    with Image.open(path) as new:
        assert new.format == "BMP" and np.array_equal(np.asarray(new), _photo())


def test_upscaled_pixels_keep_the_print_size(lib, out):
    src = lib / "small.jpg"
    Image.fromarray(_photo(60, 80)).save(src, dpi=(300, 300), quality=90)
    big = np.asarray(Image.fromarray(_photo(60, 80)).resize((320, 240)))
    path = write_restored(src, big, out)
    with Image.open(path) as new:
        assert new.size == (320, 240)
        assert tuple(round(v) for v in new.info["dpi"]) == (1200, 1200)
    with pytest.raises(OutputError, match="80x60"):
        write_restored(src, np.zeros((61, 80, 3), np.uint8), out)


# ---------------------------------------------------------------------------------------------
# Where and how the file is written


def test_never_overwrites(lib, out):
    src = lib / "photo.jpg"
    Image.fromarray(_photo()).save(src, quality=85)
    out.mkdir()
    squatter = out / "photo (restored).jpg"
    squatter.write_bytes(b"someone else's file")
    first = write_restored(src, _photo(), out)
    second = write_restored(src, _photo(), out)
    assert first.name == "photo (restored 2).jpg"
    assert second.name == "photo (restored 3).jpg"
    assert squatter.read_bytes() == b"someone else's file"
    assert sorted(p.name for p in out.iterdir()) == [
        "photo (restored 2).jpg",
        "photo (restored 3).jpg",
        "photo (restored).jpg",
    ]


def test_name_collision_with_a_racing_writer_moves_on(lib, out, monkeypatch):
    # Another process creates the name between our check and our link: link fails, we move on.
    src = lib / "photo.png"
    Image.fromarray(_photo()).save(src)
    real_link = os.link

    def racing_link(a, b):
        if Path(b).name == "photo (restored).png" and not Path(b).exists():
            Path(b).write_bytes(b"raced")
        return real_link(a, b)

    monkeypatch.setattr(output.os, "link", racing_link)
    path = write_restored(src, _photo(), out)
    assert path.name == "photo (restored 2).png"
    assert (out / "photo (restored).png").read_bytes() == b"raced"


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError(errno.ENOSPC, "No space left on device")])
@pytest.mark.parametrize("where", ["fsync", "link"])
def test_a_failure_mid_write_leaves_no_file(lib, out, monkeypatch, failure, where):
    src = lib / "photo.jpg"
    Image.fromarray(_photo()).save(src, quality=85)

    def boom(*args, **kwargs):
        raise failure

    monkeypatch.setattr(output.os, where, boom)
    if isinstance(failure, OSError):
        with pytest.raises(OutputError, match="disk is full"):
            write_restored(src, _photo(), out)
    else:
        with pytest.raises(KeyboardInterrupt):
            write_restored(src, _photo(), out)
    assert list(out.iterdir()) == []


def test_without_hard_links_the_name_is_claimed_exclusively(lib, out, monkeypatch):
    src = lib / "photo.jpg"
    Image.fromarray(_photo()).save(src, quality=85)

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(output.os, "link", no_links)
    first = write_restored(src, _photo(), out)
    second = write_restored(src, _photo(), out)
    assert (first.name, second.name) == ("photo (restored).jpg", "photo (restored 2).jpg")
    assert sorted(p.name for p in out.iterdir()) == ["photo (restored 2).jpg", "photo (restored).jpg"]
    with Image.open(first) as img:
        assert img.size == (160, 120)

    # Interrupted between claiming the name and renaming: the claim is removed again.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(output.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_restored(src, _photo(), out)
    assert sorted(p.name for p in out.iterdir()) == ["photo (restored 2).jpg", "photo (restored).jpg"]


def test_unwritable_destinations_get_clear_errors(lib, tmp_path):
    src = lib / "photo.jpg"
    Image.fromarray(_photo()).save(src, quality=85)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create the output folder .*a file is in the way"):
        write_restored(src, _photo(), blocker / "Restored")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(OutputError, match="permission denied"):
                write_restored(src, _photo(), locked)
        finally:
            locked.chmod(0o700)


def test_bad_pixels_and_unreadable_originals_are_refused(lib, out):
    src = lib / "photo.jpg"
    Image.fromarray(_photo()).save(src, quality=85)
    with pytest.raises(OutputError, match="uint8"):
        write_restored(src, np.zeros((120, 160, 3), np.float32), out)
    with pytest.raises(OutputError, match="cannot read the original"):
        write_restored(lib / "missing.jpg", _photo(), out)
    broken = lib / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature, then nothing
    with pytest.raises(OutputError, match="cannot read the original .*broken.png"):
        write_restored(broken, _photo(), out)
    assert not out.exists() or list(out.iterdir()) == []


def test_a_png_cut_inside_the_exif_after_its_pixels_is_refused_and_nothing_written(lib, out):
    exif = Image.Exif()
    exif[0x0112] = 3
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, "PNG", exif=exif.tobytes())
    data = buf.getvalue()
    at = data.index(b"eXIf") - 4
    exif_chunk = data[at : at + 12 + int.from_bytes(data[at : at + 4], "big")]
    late = data[:at] + data[at + len(exif_chunk) : -12] + exif_chunk  # IEND dropped
    src = lib / "cut.png"
    src.write_bytes(late[: len(late) - len(exif_chunk) // 2])
    with pytest.raises(OutputError, match="cannot encode the restored cut.png"):
        write_restored(src, _photo(), out, upright_size=(160, 120))
    assert not out.exists() or list(out.iterdir()) == []


def test_output_mirrors_the_library_and_stays_out_of_it(lib, tmp_path):
    album = lib / "1970s" / "summer"
    album.mkdir(parents=True)
    src = album / "beach.jpg"
    Image.fromarray(_photo()).save(src, quality=85)
    before = _sha(src)
    root = tmp_path / "home" / "Restored"
    dest = mirrored_dir(src, lib, root)
    assert dest == root / "1970s" / "summer"
    path = write_restored(src, _photo(), dest, library_roots=[lib])
    assert path.parent == dest and path.is_file()
    # Inside the library only when the user asked for it.
    with pytest.raises(OutputError, match="inside the library"):
        write_restored(src, _photo(), album, library_roots=[lib])
    assert sorted(p.name for p in album.iterdir()) == ["beach.jpg"]
    inside = write_restored(src, _photo(), album, library_roots=[lib], allow_inside_library=True)
    assert inside.name == "beach (restored).jpg"
    check_destination(tmp_path / "elsewhere", [lib], allow_inside_library=False)
    with pytest.raises(OutputError, match="not inside the library"):
        mirrored_dir(tmp_path / "x.jpg", lib, root)
    assert _sha(src) == before


def test_odd_originals_still_get_a_sensible_file(lib, out):
    px = _photo()
    Image.fromarray(px).convert("CMYK").save(lib / "print.jpg", quality=80)
    Image.fromarray(px).convert("P").save(lib / "palette.png")
    Image.fromarray(px).save(lib / "anim.gif")
    Image.fromarray(px).save(lib / "badexif.jpg", quality=80, exif=b"Exif\x00\x00not a tiff header")
    expected = {
        "print.jpg": ("JPEG", "RGB", ".jpg"),  # Pillow writes no CMYK restoration; RGB, same tables
        "palette.png": ("PNG", "RGB", ".png"),  # a palette would band the restored face
        "anim.gif": ("PNG", "RGB", ".png"),  # formats we do not write become lossless PNG
        "badexif.jpg": ("JPEG", "RGB", ".jpg"),  # unreadable EXIF is left out, not copied broken
    }
    for name, (fmt, mode, ext) in expected.items():
        path = write_restored(lib / name, px, out)
        assert path.suffix == ext
        with Image.open(path) as img:
            assert (img.format, img.mode) == (fmt, mode)
            if name == "print.jpg":
                assert estimate_jpeg_quality(img.quantization) == 80
