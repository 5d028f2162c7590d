"""A face-parsing mask for pasting: BiSeNet trained on CelebAMask-HQ, as facexlib publishes it.

GFPGAN and CodeFormer blend restored faces with facexlib's parsing networks, so that hair,
hands, glasses frames and hats in front of a face stay as the photo has them. facexlib itself
imports torchvision (whose wheels must match the installed torch build exactly), so the
network is built here in plain torch with the same parameter names: facexlib's published
weight file `parsing_bisenet.pth` loads as it is, with `torch.load(weights_only=True)`, and
is kept in the model store as safetensors.

The network: a ResNet-18 context path with attention refinement at 1/16 and 1/32, fused
with the 1/8 features, classifying each pixel of a 512 px RGB crop (ImageNet-normalised)
into 19 classes: 0 background, 1 skin, 2-3 brows, 4-5 eyes, 6 glasses, 7-9 ears and
earrings, 10 nose, 11 mouth, 12-13 lips, 14-15 neck and necklace, 16 clothes, 17 hair,
18 hat. The paste mask is the probability of the face itself (skin, brows, eyes, nose,
mouth, lips); glasses, hair, hats and whatever else covers the face are left out.

torch is imported only when a parser is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

NUM_CLASSES = 19
FACE_CLASSES = (1, 2, 3, 4, 5, 10, 11, 12, 13)
INPUT_SIZE = 512
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

STORE_DIR = "face-parsing"  # under the models folder
WEIGHTS_FILE = "bisenet.safetensors"
MANIFEST_FILE = "manifest.json"
# Where facexlib publishes the weights (its v0.2.0 release).
RELEASE_URL = "https://github.com/xinntao/facexlib/releases/download/v0.2.0/parsing_bisenet.pth"
RELEASE_FILENAME = "parsing_bisenet.pth"


class FaceParsingError(Exception):
    """A face-parsing model file that cannot be used; the message says why."""


# ---------------------------------------------------------------------------------------------
# The network (parameter names follow facexlib's so its state dict loads strictly)


def _build(num_classes: int = NUM_CLASSES, base: int = 64):
    """The network; `base` is the width of its first stage (facexlib's: 64). Tests build
    narrow ones, which load through the same code in the same file format."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    b1, b2, b4, b8 = base, 2 * base, 4 * base, 8 * base

    class ConvBNReLU(nn.Module):
        def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1) -> None:
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
            self.bn = nn.BatchNorm2d(cout)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    class Residual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if cin != cout or stride != 1:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    def stage(cin: int, cout: int, stride: int):
        return nn.Sequential(Residual(cin, cout, stride), Residual(cout, cout, 1))

    class Backbone(nn.Module):  # ResNet-18, features at 1/8, 1/16, 1/32
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, b1, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(b1)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = stage(b1, b1, 1)
            self.layer2 = stage(b1, b2, 2)
            self.layer3 = stage(b2, b4, 2)
            self.layer4 = stage(b4, b8, 2)

        def forward(self, x):
            x = self.layer1(self.maxpool(F.relu(self.bn1(self.conv1(x)))))
            f8 = self.layer2(x)
            f16 = self.layer3(f8)
            return f8, f16, self.layer4(f16)

    def global_mean(x):
        return x.mean(dim=(2, 3), keepdim=True)

    class Refine(nn.Module):  # channel attention from the global mean
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv = ConvBNReLU(cin, cout)
            self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
            self.bn_atten = nn.BatchNorm2d(cout)

        def forward(self, x):
            f = self.conv(x)
            return f * torch.sigmoid(self.bn_atten(self.conv_atten(global_mean(f))))

    class Context(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.resnet = Backbone()
            self.arm16 = Refine(b4, b2)
            self.arm32 = Refine(b8, b2)
            self.conv_head32 = ConvBNReLU(b2, b2)
            self.conv_head16 = ConvBNReLU(b2, b2)
            self.conv_avg = ConvBNReLU(b8, b2, k=1)

        def forward(self, x):
            f8, f16, f32 = self.resnet(x)
            g = self.conv_avg(global_mean(f32))  # broadcasts over f32's grid
            up32 = self.conv_head32(F.interpolate(self.arm32(f32) + g, size=f16.shape[2:], mode="nearest"))
            up16 = self.conv_head16(F.interpolate(self.arm16(f16) + up32, size=f8.shape[2:], mode="nearest"))
            return f8, up16, up32

    class Fuse(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.convblk = ConvBNReLU(cin, cout, k=1)
            self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
            self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

        def forward(self, a, b):
            f = self.convblk(torch.cat([a, b], dim=1))
            w = torch.sigmoid(self.conv2(F.relu(self.conv1(global_mean(f)))))
            return f + f * w

    class Head(nn.Module):
        def __init__(self, cin: int, mid: int, n: int) -> None:
            super().__init__()
            self.conv = ConvBNReLU(cin, mid)
            self.conv_out = nn.Conv2d(mid, n, 1, bias=False)

        def forward(self, x):
            return self.conv_out(self.conv(x))

    class BiSeNet(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.cp = Context()
            self.ffm = Fuse(b4, b4)
            self.conv_out = Head(b4, b4, n)
            # Auxiliary heads used in training only; kept so the published file loads strictly.
            self.conv_out16 = Head(b2, b1, n)
            self.conv_out32 = Head(b2, b1, n)

        def forward(self, x):
            f8, c8, _ = self.cp(x)
            logits = self.conv_out(self.ffm(f8, c8))
            return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=True)

    return BiSeNet(num_classes)


# ---------------------------------------------------------------------------------------------
# Reading weight files safely


def _read_state_dict(path: Path) -> dict[str, Any]:
    """Tensors of a .safetensors or a torch file (a plain state dict, loaded without running
    any pickled code). Every failure is a FaceParsingError with the reason."""
    import torch

    if not path.is_file():
        raise FaceParsingError(f"no face-parsing model file at {path}")
    with open(path, "rb") as f:
        head = f.read(8)
    try:
        if path.suffix == ".safetensors" or (len(head) == 8 and not head.startswith(b"PK")
                                             and not head.startswith(b"\x80")):
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except FaceParsingError:
        raise
    except Exception as exc:  # noqa: BLE001 - each loader has its own errors; all mean "refused"
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "Unpickl" in type(exc).__name__:
            raise FaceParsingError(
                f"{path} is refused: it holds Python objects that would run code when loaded, "
                "not plain weights (use facexlib's parsing_bisenet.pth or a .safetensors file)"
            ) from None
        raise FaceParsingError(
            f"{path} is not a readable weights file (truncated or another format): {text.splitlines()[0] if text else type(exc).__name__}"
        ) from None
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(hasattr(v, "shape") for v in data.values()):
        raise FaceParsingError(f"{path} holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in data.items()}


def load_network(path: Path):
    """The BiSeNet with the weights of `path`, in eval mode, or FaceParsingError."""
    sd = _read_state_dict(Path(path))
    first, last = sd.get("cp.resnet.conv1.weight"), sd.get("conv_out.conv_out.weight")
    if first is None or last is None or first.ndim != 4 or last.ndim != 4:
        raise FaceParsingError(f"{path} is not facexlib's BiSeNet face-parsing model (its layers are not there)")
    if last.shape[0] != NUM_CLASSES:
        raise FaceParsingError(
            f"{path} parses faces into {last.shape[0]} classes, not CelebAMask-HQ's {NUM_CLASSES}"
        )
    net = _build(NUM_CLASSES, base=int(first.shape[0]))
    want = net.state_dict()
    missing = sorted(set(want) - set(sd))
    extra = sorted(set(sd) - set(want))
    if missing or extra:
        some = ", ".join((missing or extra)[:3])
        raise FaceParsingError(
            f"{path} is not facexlib's BiSeNet face-parsing model "
            f"({len(missing)} weights missing, {len(extra)} unexpected, e.g. {some})"
        )
    bad = [k for k, v in want.items() if tuple(sd[k].shape) != tuple(v.shape)]
    if bad:
        raise FaceParsingError(
            f"{path} does not fit the BiSeNet face-parsing model: {bad[0]} has shape "
            f"{tuple(sd[bad[0]].shape)}, expected {tuple(want[bad[0]].shape)}"
        )
    net.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return net.eval()


class BiSeNetParser:
    """restore.paste.FaceParser backed by the BiSeNet network."""

    name = "bisenet"

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu") -> None:
        self.path = Path(path)
        self.device = device
        self._net = None
        self._lock = threading.Lock()

    def _network(self):
        with self._lock:
            if self._net is None:
                self._net = load_network(self.path).to(self.device)
            return self._net

    def face_mask(self, crop: np.ndarray) -> np.ndarray:
        """(S, S) float32 in [0, 1]: the probability that a pixel shows the face itself."""
        import torch
        from torch.nn import functional as F

        crop = np.asarray(crop)
        size = crop.shape[0]
        net = self._network()
        x = torch.from_numpy(np.ascontiguousarray(crop)).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        if size != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(_STD, device=self.device).view(1, 3, 1, 1)
        with torch.inference_mode():
            prob = torch.softmax(net((x - mean) / std), dim=1)[:, list(FACE_CLASSES)].sum(1, keepdim=True)
            if size != INPUT_SIZE:
                prob = F.interpolate(prob, size=(size, size), mode="bilinear", align_corners=False)
        return prob[0, 0].clamp(0, 1).cpu().numpy().astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The model store: models/face-parsing/{bisenet.safetensors, manifest.json}


def store_dir(models_root: Path) -> Path:
    return Path(models_root) / STORE_DIR


def installed(models_root: Path) -> Path | None:
    """The installed weights file, or None (then pasting uses the feathered ellipse)."""
    p = store_dir(models_root) / WEIGHTS_FILE
    return p if p.is_file() and (store_dir(models_root) / MANIFEST_FILE).is_file() else None


def manifest(models_root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((store_dir(models_root) / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_weights(models_root: Path, source: Path, origin: str | None = None, force: bool = False) -> Path:
    """Check `source` (facexlib's parsing_bisenet.pth or a .safetensors of the same
    weights), store it as safetensors with a manifest (source sha256, size, where from).
    Written to a temporary folder and renamed, so a failed import leaves nothing behind."""
    from safetensors.torch import save_file

    source = Path(source)
    target = store_dir(models_root)
    if installed(models_root) and not force:
        raise FaceParsingError(f"a face-parsing model is already installed in {target}; use --force to replace it")
    net = load_network(source)  # refuses wrong, truncated and code-carrying files
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".face-parsing-", dir=target.parent))
    try:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp / WEIGHTS_FILE))
        info = {
            "model": "bisenet",
            "classes": NUM_CLASSES,
            "face_classes": list(FACE_CLASSES),
            "source": {"file": source.name, "sha256": _sha256(source), "size": source.stat().st_size,
                       "origin": origin or str(source.absolute())},
            "sha256": _sha256(tmp / WEIGHTS_FILE),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(info, indent=1), "utf-8")
        if target.exists():
            old = target.with_name(target.name + ".old")
            os.replace(target, old)
            os.replace(tmp, target)
            import shutil

            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target / WEIGHTS_FILE


def install(models_root: Path, downloads: Path, url: str = RELEASE_URL, force: bool = False,
            progress: bool = True, log=print) -> Path:
    """Download facexlib's weights (resuming a partial download), check and import them."""
    from refldm_desktop.restore.refldm.download import download

    if installed(models_root) and not force:
        raise FaceParsingError(f"a face-parsing model is already installed in {store_dir(models_root)}; use --force to replace it")
    dest = Path(downloads) / RELEASE_FILENAME
    if dest.exists():
        log(f"{dest.name}: already downloaded")
    else:
        log(f"downloading {url}")
        download(url, dest, progress=progress)
    try:
        path = import_weights(models_root, dest, origin=url, force=force)
    except FaceParsingError:
        dest.unlink(missing_ok=True)  # a wrong download must not be reused by the next attempt
        raise
    dest.unlink(missing_ok=True)
    return path


__all__ = [
    "BiSeNetParser",
    "FACE_CLASSES",
    "FaceParsingError",
    "import_weights",
    "install",
    "installed",
    "load_network",
    "manifest",
]
