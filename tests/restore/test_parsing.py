"""The face-parsing paste mask (restore.parsing): facexlib's file formats, refused files,
the model store, and what the mask does when pasting.

A narrow BiSeNet (first stage 4 channels wide instead of 64) with random weights stands in
for facexlib's parsing_bisenet.pth: the same layers and names, saved the same way
(torch.save of a state dict), so it goes through the same loading code. The published
files' exact layouts are spelled out in tests/restore/test_parsing_layout.py.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from musthave import require_module  # noqa: E402

torch = require_module("torch")

from refldm_desktop.cli import main  # noqa: E402
from refldm_desktop.restore import parsing  # noqa: E402
from refldm_desktop.restore.parsing import FaceParsingError, ParsingModel, load_network  # noqa: E402


@pytest.fixture(scope="module")
def tiny_pth(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = parsing._bisenet(base=4)
    path = tmp_path_factory.mktemp("parsing") / "parsing_bisenet.pth"
    torch.save(net.state_dict(), path)
    return path


def run(home: Path, *args) -> int:
    return main(["--home", str(home), *map(str, args)])


def test_a_bisenet_file_loads_and_gives_a_face_probability_per_pixel(tiny_pth):
    parser = ParsingModel(tiny_pth)
    crop = np.random.default_rng(1).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    mask = parser.face_mask(crop)
    assert mask.shape == (96, 96) and mask.dtype == np.float32
    assert 0.0 <= mask.min() <= mask.max() <= 1.0
    assert np.array_equal(mask, parser.face_mask(crop))  # eval mode: the same answer twice


class _Evil:
    def __reduce__(self):
        return (print, ("this would have run",))


@pytest.mark.parametrize("kind", ["truncated", "code", "other_network", "not_weights", "wrong_classes"])
def test_wrong_truncated_and_code_carrying_files_are_refused_clearly(tiny_pth, tmp_path, kind, capsys):
    bad = tmp_path / f"{kind}.pth"
    if kind == "truncated":
        data = tiny_pth.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        why = "not a readable weights file"
    elif kind == "code":
        torch.save({"cp.resnet.conv1.weight": torch.zeros(1), "payload": _Evil()}, bad)
        why = "would run code"
    elif kind == "other_network":
        torch.save(torch.nn.Linear(3, 4).state_dict(), bad)
        why = "is not one of facexlib's face-parsing models"
    elif kind == "not_weights":
        bad.write_text("hello, I am not a model\n")
        why = "not a readable weights file"
    else:
        sd = parsing._bisenet(num_classes=5, base=4).state_dict()
        torch.save(sd, bad)
        why = "5 classes"
    with pytest.raises(FaceParsingError, match=why):
        load_network(bad)
    assert "this would have run" not in capsys.readouterr().out
    # The CLI says it in one line and installs nothing.
    home = tmp_path / "home"
    assert run(home, "models", "import-parsing", bad) != 0
    err = capsys.readouterr().err.strip()
    assert why in err and len(err.splitlines()) == 1
    assert parsing.installed(home / "models") is None


class _RangeServer(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        data = Path(self.translate_path(self.path)).read_bytes()
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(m[1]) if m else 0
        self.server.ranges.append(self.headers.get("Range"))
        self.send_response(206 if m else 200)
        self.send_header("Content-Length", str(len(data) - start))
        if m:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


def test_install_resumes_a_partial_download_records_the_sha256_and_restore_uses_it(tiny_pth, tmp_path, capsys):
    www = tmp_path / "www"
    www.mkdir()
    (www / "parsing_bisenet.pth").write_bytes(tiny_pth.read_bytes())
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RangeServer, directory=str(www)))
    httpd.ranges = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        home = tmp_path / "home"
        downloads = home / "cache" / "downloads"
        downloads.mkdir(parents=True)
        half = len(tiny_pth.read_bytes()) // 2
        (downloads / "parsing_bisenet.pth.part").write_bytes(tiny_pth.read_bytes()[:half])
        url = f"http://127.0.0.1:{httpd.server_address[1]}/parsing_bisenet.pth"
        assert run(home, "models", "install-parsing", "--url", url, "--no-progress") == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert httpd.ranges == [f"bytes={half}-"]  # only the rest was fetched
    info = json.loads((home / "models" / "face-parsing" / "manifest.json").read_text())
    assert info["source"]["sha256"] == hashlib.sha256(tiny_pth.read_bytes()).hexdigest()
    assert info["source"]["origin"] == url
    stored = parsing.installed(home / "models")
    assert stored is not None and stored.suffix == ".safetensors"
    assert info["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert not list(downloads.iterdir())  # the download is not kept twice
    # The stored file gives the same masks as the original one.
    crop = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert np.allclose(ParsingModel(stored).face_mask(crop), ParsingModel(tiny_pth).face_mask(crop), atol=1e-6)
    capsys.readouterr()
    assert run(home, "models", "list") == 0
    assert "face-parsing" in capsys.readouterr().out
    assert run(home, "models", "install-parsing", "--url", url) != 0  # already installed, no --force


def test_what_covers_the_face_in_the_photo_stays_when_a_parsing_mask_is_used():
    """A stand-in parser that calls pure green "not face": a green bar (a hand, say) across
    the original face stays, although the restored face has none."""
    from refldm_desktop.faces.align import ffhq_transform, warp_to_crop
    from refldm_desktop.restore.paste import PasteOptions, paste_faces

    class NotGreen:
        name = "not-green"

        def face_mask(self, crop):
            green = (crop[..., 1] > 200) & (crop[..., 0] < 50) & (crop[..., 2] < 50)
            return (~green).astype(np.float32)

    image = np.full((400, 400, 3), 90, np.uint8)
    image[185:225, 100:300] = (0, 255, 0)  # the bar crosses the face's middle
    lm5 = np.array([[170.0, 170.0], [230.0, 170.0], [200.0, 205.0], [178.0, 235.0], [222.0, 235.0]])
    t = ffhq_transform(lm5, 256)
    original = warp_to_crop(image, t)
    restored = np.full((256, 256, 3), 200, np.uint8)
    options = PasteOptions(color_match=False, lowfreq_sigma=0, parser=NotGreen())
    out = paste_faces(image, [(t, restored, original)], options).image.astype(int)
    bar = (slice(200, 210), slice(170, 230))
    # Kept from the original, up to the mask's soft edge (a Gaussian of 2.5% of the crop).
    assert np.abs(out[bar] - image[bar]).max() <= 0.1 * 255
    assert (out[150:175, 180:220] > 150).all()  # the face around it is the restored one
    plain = paste_faces(image, [(t, restored, original)], PasteOptions(color_match=False, lowfreq_sigma=0)).image
    assert np.abs(plain[bar].astype(int) - image[bar]).mean() > 100  # without it the bar is painted over


def test_parsing_needs_neither_torchvision_nor_facexlib(tiny_pth):
    """facexlib imports torchvision, whose wheels must match the torch build exactly (the
    CPU build this project pins has none on PyPI that loads). Importing the module and
    computing a mask must not even try to import them (or OpenCV, facexlib's other need)."""
    import subprocess
    import sys

    code = f"""
import sys
tried = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torchvision", "facexlib", "cv2"):
            tried.append(name)
        return None
sys.meta_path.insert(0, Watch())
import numpy as np
import refldm_desktop.restore.parsing as parsing
mask = parsing.ParsingModel({str(tiny_pth)!r}).face_mask(np.zeros((32, 32, 3), np.uint8))
assert mask.shape == (32, 32)
print("tried:", sorted(set(tried)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("tried: []"), out.stdout
