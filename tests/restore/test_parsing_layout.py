"""facexlib's published face-parsing files load as they are.

There is no network here, so the published weights cannot be fetched. Instead each file's
layout is spelled out below from facexlib's network definitions (facexlib/parsing/
bisenet.py with resnet.py, and parsenet.py): every parameter and buffer name with its
shape, as `torch.save(model.state_dict())` writes them. A state dict with exactly those
names and shapes and random values must load strictly, in both of torch's file formats
(the published BiSeNet file dates from 2019, before the zip format), and give a mask of
the crop's size. If restore.parsing's networks drifted from facexlib's by one name or one
shape, a user's download would be refused.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from musthave import require_module  # noqa: E402

torch = require_module("torch")

from refldm_desktop.restore import parsing  # noqa: E402
from refldm_desktop.restore.parsing import FaceParsingError, ParsingModel, load_network  # noqa: E402

CLASSES = 19


def _conv(name: str, cout: int, cin: int, k: int, bias: bool = False) -> dict:
    out = {f"{name}.weight": (cout, cin, k, k)}
    if bias:
        out[f"{name}.bias"] = (cout,)
    return out


def _bn(name: str, c: int) -> dict:
    return {f"{name}.weight": (c,), f"{name}.bias": (c,), f"{name}.running_mean": (c,),
            f"{name}.running_var": (c,), f"{name}.num_batches_tracked": ()}


def bisenet_layout() -> dict[str, tuple]:
    """facexlib's BiSeNet(num_class=19): a ResNet-18 (conv1/bn1, layer1-4 of two
    BasicBlocks, a 1x1 conv + BN downsample where the width or stride changes), two
    attention refinement modules, three ConvBNReLU heads, the fusion module and three
    BiSeNetOutput heads (ConvBNReLU 3x3 + a 1x1 classifier without bias)."""
    L: dict = {}

    def cbr(name: str, cout: int, cin: int, k: int) -> None:  # ConvBNReLU: .conv, .bn
        L.update(_conv(f"{name}.conv", cout, cin, k))
        L.update(_bn(f"{name}.bn", cout))

    L.update(_conv("cp.resnet.conv1", 64, 3, 7))
    L.update(_bn("cp.resnet.bn1", 64))
    for i, (cin, cout) in enumerate([(64, 64), (64, 128), (128, 256), (256, 512)], start=1):
        for b in (0, 1):
            p = f"cp.resnet.layer{i}.{b}"
            L.update(_conv(f"{p}.conv1", cout, cin if b == 0 else cout, 3))
            L.update(_bn(f"{p}.bn1", cout))
            L.update(_conv(f"{p}.conv2", cout, cout, 3))
            L.update(_bn(f"{p}.bn2", cout))
            if b == 0 and i > 1:
                L.update(_conv(f"{p}.downsample.0", cout, cin, 1))
                L.update(_bn(f"{p}.downsample.1", cout))
    for name, cin in (("cp.arm16", 256), ("cp.arm32", 512)):
        cbr(f"{name}.conv", 128, cin, 3)
        L.update(_conv(f"{name}.conv_atten", 128, 128, 1))
        L.update(_bn(f"{name}.bn_atten", 128))
    cbr("cp.conv_head32", 128, 128, 3)
    cbr("cp.conv_head16", 128, 128, 3)
    cbr("cp.conv_avg", 128, 512, 1)
    cbr("ffm.convblk", 256, 256, 1)
    L.update(_conv("ffm.conv1", 64, 256, 1))
    L.update(_conv("ffm.conv2", 256, 64, 1))
    for name, cin, mid in (("conv_out", 256, 256), ("conv_out16", 128, 64), ("conv_out32", 128, 64)):
        cbr(f"{name}.conv", mid, cin, 3)
        L.update(_conv(f"{name}.conv_out", CLASSES, mid, 1))
    return L


def parsenet_layout() -> dict[str, tuple]:
    """facexlib's ParseNet(in_size=512, out_size=512, parsing_ch=19) with its defaults
    (base 64 channels, clipped to 32..256, 32 px at the bottom, 10 residual blocks,
    LeakyReLU, batch norm): ConvLayers hold .conv2d (bias unless batch-normed) and
    .norm.norm; a ResidualBlock has conv1, conv2 and, where the grid or width changes, a
    plain ConvLayer shortcut_func."""
    L: dict = {}

    def layer(name: str, cin: int, cout: int, bn: bool) -> None:
        L.update(_conv(f"{name}.conv2d", cout, cin, 3, bias=not bn))
        if bn:
            L.update(_bn(f"{name}.norm.norm", cout))

    def block(name: str, cin: int, cout: int, changes: bool) -> None:
        if changes:
            layer(f"{name}.shortcut_func", cin, cout, bn=False)
        layer(f"{name}.conv1", cin, cout, bn=True)
        layer(f"{name}.conv2", cout, cout, bn=True)

    layer("encoder.0", 3, 64, bn=False)
    for i, (cin, cout) in enumerate([(64, 128), (128, 256), (256, 256), (256, 256)], start=1):
        block(f"encoder.{i}", cin, cout, changes=True)
    for i in range(10):
        block(f"body.{i}", 256, 256, changes=False)
    for i, (cin, cout) in enumerate([(256, 256), (256, 256), (256, 128), (128, 64)]):
        block(f"decoder.{i}", cin, cout, changes=True)
    layer("out_img_conv", 64, 3, bn=False)
    layer("out_mask_conv", 64, CLASSES, bn=False)
    return L


def random_state_dict(layout: dict[str, tuple], seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in layout.items():
        if name.endswith("num_batches_tracked"):
            sd[name] = torch.tensor(1000, dtype=torch.int64)
        elif name.endswith("running_var"):
            sd[name] = torch.rand(shape, generator=g) + 0.5
        else:
            # Small values keep activations finite through 30-odd layers.
            sd[name] = torch.randn(shape, generator=g) * 0.05
    return sd


LAYOUTS = {"bisenet": (bisenet_layout, 191), "parsenet": (parsenet_layout, 238)}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_the_published_layout_loads_strictly_and_gives_a_mask_of_the_crops_size(name, zipped, tmp_path):
    make, count = LAYOUTS[name]
    layout = make()
    assert len(layout) == count  # the layout above is whole (facexlib's state dict has this many)
    path = tmp_path / parsing.KINDS[name].filename
    torch.save(random_state_dict(layout), path, _use_new_zipfile_serialization=zipped)
    kind, net = load_network(path)
    assert kind.name == name
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == layout  # every name, every shape, nothing else
    # About as large as the published file (its size is pinned in restore.parsing).
    params = sum(int(np.prod(s)) * 4 for s in layout.values())
    assert abs(params - kind.size) < 0.002 * kind.size, (params, kind.size)
    if zipped:  # one forward pass per network is enough (each costs seconds on a CPU)
        crop = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
        mask = ParsingModel(path).face_mask(crop)
        assert mask.shape == (200, 200) and mask.dtype == np.float32
        assert np.isfinite(mask).all() and 0.0 <= mask.min() <= mask.max() <= 1.0


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_one_missing_or_misshapen_weight_is_refused_by_name(name, tmp_path):
    sd = random_state_dict(LAYOUTS[name][0]())
    convs = sorted(k for k in sd if k.endswith(".weight") and sd[k].ndim == 4)
    victim = convs[len(convs) // 2]
    short = dict(sd)
    del short[victim]
    torch.save(short, tmp_path / "short.pth")
    with pytest.raises(FaceParsingError, match=r"1 weights missing.*" + victim.replace(".", r"\.")):
        load_network(tmp_path / "short.pth")
    bent = dict(sd)
    bent[victim] = torch.zeros(sd[victim].shape[0] + 1, *sd[victim].shape[1:])
    torch.save(bent, tmp_path / "bent.pth")
    with pytest.raises(FaceParsingError, match="has shape"):
        load_network(tmp_path / "bent.pth")


def _parsenet_saying(cls: int, path: Path) -> Path:
    """A narrow ParseNet whose classifier says class `cls` everywhere (its bias)."""
    torch.manual_seed(0)
    net = parsing._parsenet(base=4, top=8, downs=2, depth=1)
    sd = net.state_dict()
    sd["out_mask_conv.conv2d.weight"].zero_()
    sd["out_mask_conv.conv2d.bias"].fill_(-20.0)
    sd["out_mask_conv.conv2d.bias"][cls] = 20.0
    torch.save(sd, path)
    return path


def test_parsenet_classes_are_read_in_its_own_order(tmp_path):
    """ParseNet numbers the classes differently from BiSeNet (PSFRGAN's order: 2 is the
    nose, 3 glasses, 13 hair): a nose is face, glasses and hair are not."""
    crop = np.full((64, 64, 3), 128, np.uint8)
    for cls, face in ((2, True), (1, True), (12, True), (3, False), (13, False), (17, False)):
        mask = ParsingModel(_parsenet_saying(cls, tmp_path / f"c{cls}.pth")).face_mask(crop)
        assert (mask > 0.99).all() if face else (mask < 0.01).all(), cls


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_download_from_facexlib_must_be_the_published_file(tmp_path, monkeypatch):
    """The sha256 pin: a file from the release URL with other bytes is refused and deleted;
    the pinned bytes install and the manifest says they are the published file."""
    www = tmp_path / "www"
    www.mkdir()
    good = _parsenet_saying(2, www / "parsing_parsenet.pth")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/parsing_parsenet.pth"
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    models = tmp_path / "models"
    try:
        other = dataclasses.replace(parsing.PARSENET, url=url, sha256="0" * 64)
        with pytest.raises(FaceParsingError, match="did not give facexlib's published parsing_parsenet.pth"):
            parsing.install(models, downloads, other, progress=False, log=lambda m: None)
        assert parsing.installed(models) is None and not list(downloads.iterdir())
        pinned = dataclasses.replace(parsing.PARSENET, url=url, sha256=digest)
        monkeypatch.setitem(parsing.KINDS, "parsenet", pinned)
        stored = parsing.install(models, downloads, pinned, progress=False, log=lambda m: None)
    finally:
        httpd.shutdown()
        httpd.server_close()
    info = json.loads((models / "face-parsing" / "manifest.json").read_text())
    assert info["model"] == "parsenet" and info["source"]["published"] is True
    assert parsing.installed(models) == stored
