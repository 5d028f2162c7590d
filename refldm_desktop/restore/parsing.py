"""A face-parsing mask for pasting: the networks facexlib publishes, trained on CelebAMask-HQ.

GFPGAN and CodeFormer blend restored faces with facexlib's parsing networks, so that hair,
hands, glasses frames and hats in front of a face stay as the photo has them. facexlib itself
imports torchvision (whose wheels must match the installed torch build exactly), so both of
its networks are built here in plain torch with the same parameter names: its published
weight files `parsing_bisenet.pth` (v0.2.0) and `parsing_parsenet.pth` (v0.2.2, the one
GFPGAN and CodeFormer use) load as they are, strictly, with `torch.load(weights_only=True)`,
and are kept in the model store as safetensors. Which network a file holds is read from its
parameter names.

- BiSeNet: a ResNet-18 context path with attention refinement at 1/16 and 1/32, fused with
  the 1/8 features; input ImageNet-normalised.
- ParseNet (from PSFRGAN): a residual encoder down to 32 px, ten residual blocks, a residual
  decoder back to 512 px; input scaled to [-1, 1].

Both classify each pixel of a 512 px RGB crop into the 19 CelebAMask-HQ classes, in two
different orders (see _KINDS). The paste mask is the probability of the face itself (skin,
brows, eyes, nose, mouth, lips); glasses, hair, hats and whatever else covers the face are
left out.

torch is imported only when a parser is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NUM_CLASSES = 19
INPUT_SIZE = 512

STORE_DIR = "face-parsing"  # under the models folder
MANIFEST_FILE = "manifest.json"
_RELEASES = "https://github.com/xinntao/facexlib/releases/download"


@dataclass(frozen=True)
class Kind:
    """One of facexlib's published face-parsing networks."""

    name: str
    marker: str  # the parameter of its first layer: names the network in a state dict
    classifier: str  # the parameter whose first dimension is the number of classes
    face_classes: tuple[int, ...]  # skin, brows, eyes, nose, mouth, lips in its class order
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    url: str
    # The published file's sha256 and size, as Hugging Face's LFS stores mirrors of it (the
    # LFS object id is the file's sha256); for BiSeNet, clibdev/face-parsing.PyTorch lists
    # the same sha256 for the original 79999_iter.pth. GitHub's release page lists none.
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def weights_file(self) -> str:
        return f"{self.name}.safetensors"


BISENET = Kind(
    "bisenet", "cp.resnet.conv1.weight", "conv_out.conv_out.weight",
    # 0 background, 1 skin, 2-3 brows, 4-5 eyes, 6 glasses, 7-9 ears and earrings, 10 nose,
    # 11 mouth, 12-13 lips, 14-15 neck and necklace, 16 clothes, 17 hair, 18 hat.
    (1, 2, 3, 4, 5, 10, 11, 12, 13),
    (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
    f"{_RELEASES}/v0.2.0/parsing_bisenet.pth",
    "468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567", 53289463,
)
PARSENET = Kind(
    "parsenet", "encoder.0.conv2d.weight", "out_mask_conv.conv2d.weight",
    # 0 background, 1 skin, 2 nose, 3 glasses, 4-5 eyes, 6-7 brows, 8-9 ears, 10 mouth,
    # 11-12 lips, 13 hair, 14 hat, 15 earring, 16 necklace, 17 neck, 18 clothes.
    (1, 2, 4, 5, 6, 7, 10, 11, 12),
    (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
    f"{_RELEASES}/v0.2.2/parsing_parsenet.pth",
    "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2", 85331193,
)
KINDS = {k.name: k for k in (BISENET, PARSENET)}
# The default download: the smaller file, and its classes keep ears out of the mask too.
DEFAULT_KIND = BISENET


class FaceParsingError(Exception):
    """A face-parsing model file that cannot be used; the message says why."""


# ---------------------------------------------------------------------------------------------
# The networks (parameter names follow facexlib's so its state dicts load strictly)


def _bisenet(num_classes: int = NUM_CLASSES, base: int = 64):
    """BiSeNet; `base` is the width of its first stage (facexlib's: 64). Tests build narrow
    ones, which load through the same code in the same file format."""
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


def _parsenet(num_classes: int = NUM_CLASSES, base: int = 64, top: int = 256, downs: int = 4, depth: int = 10):
    """ParseNet: `base` channels after the first convolution, at most `top` channels,
    `downs` halvings of the grid (512 px to 32 px: 4) undone by as many doublings, `depth`
    residual blocks between them (facexlib's: 64, 256, 4, 10)."""
    from torch import nn
    from torch.nn import functional as F

    def width(c: int) -> int:
        return max(base // 2, min(c, top))

    class Conv(nn.Module):
        """Reflection-padded 3x3 convolution; "down" strides by 2, "up" doubles the grid
        first (nearest). With batch norm it has no bias, as facexlib's."""

        def __init__(self, cin: int, cout: int, scale: str = "none", norm: bool = False, act: bool = False) -> None:
            super().__init__()
            self.scale, self.act = scale, act
            self.conv2d = nn.Conv2d(cin, cout, 3, 2 if scale == "down" else 1, bias=not norm)
            if norm:
                self.norm = nn.Module()  # facexlib nests the BatchNorm one level deeper
                self.norm.norm = nn.BatchNorm2d(cout)
            else:
                self.norm = None

        def forward(self, x):
            if self.scale == "up":
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"))
            if self.norm is not None:
                x = self.norm.norm(x)
            return F.leaky_relu(x, 0.2) if self.act else x

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, scale: str = "none") -> None:
            super().__init__()
            # The grid changes in the first convolution going up, in the second going down.
            self.conv1 = Conv(cin, cout, "up" if scale == "up" else "none", norm=True, act=True)
            self.conv2 = Conv(cout, cout, "down" if scale == "down" else "none", norm=True)
            self.shortcut_func = None if scale == "none" and cin == cout else Conv(cin, cout, scale)

        def forward(self, x):
            skip = x if self.shortcut_func is None else self.shortcut_func(x)
            return skip + self.conv2(self.conv1(x))

    class ParseNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers, head = [Conv(3, base)], base
            for _ in range(downs):
                layers.append(Block(width(head), width(2 * head), "down"))
                head *= 2
            self.encoder = nn.Sequential(*layers)
            self.body = nn.Sequential(*(Block(width(head), width(head)) for _ in range(depth)))
            layers = []
            for _ in range(downs):
                layers.append(Block(width(head), width(head // 2), "up"))
                head //= 2
            self.decoder = nn.Sequential(*layers)
            # facexlib's network also paints a face image (trained jointly); it stays so
            # the published file loads strictly, but the mask never needs it.
            self.out_img_conv = Conv(width(head), 3)
            self.out_mask_conv = Conv(width(head), num_classes)

        def forward(self, x):
            f = self.encoder(x)
            return self.out_mask_conv(self.decoder(f + self.body(f)))

    return ParseNet()


def _network_for(kind: Kind, sd: dict[str, Any], classes: int):
    """An empty network of `kind` as wide and deep as the state dict `sd` says."""
    if kind.name == BISENET.name:
        return _bisenet(classes, base=int(sd[kind.marker].shape[0]))

    def count(prefix: str) -> int:
        return len({k.split(".")[1] for k in sd if k.startswith(prefix + ".")})

    top = sd.get("body.0.conv1.conv2d.weight")
    return _parsenet(
        classes, base=int(sd[kind.marker].shape[0]), top=int((top if top is not None else sd[kind.marker]).shape[0]),
        downs=max(count("encoder") - 1, 0), depth=count("body"),
    )


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


def kind_of(sd: dict[str, Any]) -> Kind | None:
    """Which of facexlib's networks a state dict's parameter names belong to."""
    return next((k for k in KINDS.values() if k.marker in sd and k.classifier in sd), None)


def load_network(path: Path):
    """(kind, network with the weights of `path` in eval mode), or FaceParsingError."""
    sd = _read_state_dict(Path(path))
    kind = kind_of(sd)
    if kind is None or sd[kind.marker].ndim != 4 or sd[kind.classifier].ndim != 4:
        raise FaceParsingError(
            f"{path} is not one of facexlib's face-parsing models "
            f"({BISENET.filename} or {PARSENET.filename}): its layers are not there"
        )
    classes = int(sd[kind.classifier].shape[0])
    if classes != NUM_CLASSES:
        raise FaceParsingError(f"{path} parses faces into {classes} classes, not CelebAMask-HQ's {NUM_CLASSES}")
    net = _network_for(kind, sd, classes)
    want = net.state_dict()
    missing = sorted(set(want) - set(sd))
    extra = sorted(set(sd) - set(want))
    if missing or extra:
        some = ", ".join((missing or extra)[:3])
        raise FaceParsingError(
            f"{path} is not facexlib's {kind.name} face-parsing model "
            f"({len(missing)} weights missing, {len(extra)} unexpected, e.g. {some})"
        )
    bad = [k for k, v in want.items() if tuple(sd[k].shape) != tuple(v.shape)]
    if bad:
        raise FaceParsingError(
            f"{path} does not fit the {kind.name} face-parsing model: {bad[0]} has shape "
            f"{tuple(sd[bad[0]].shape)}, expected {tuple(want[bad[0]].shape)}"
        )
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    return kind, net.eval()


class ParsingModel:
    """restore.paste.FaceParser backed by one of facexlib's networks (read from the file)."""

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu") -> None:
        self.path = Path(path)
        self.device = device
        self.name = "face-parsing"  # the network's name once loaded
        self._net = None
        self._kind: Kind | None = None
        self._lock = threading.Lock()

    def _network(self):
        with self._lock:
            if self._net is None:
                kind, net = load_network(self.path)
                self._kind, self._net, self.name = kind, net.to(self.device), kind.name
            return self._kind, self._net

    def face_mask(self, crop: np.ndarray) -> np.ndarray:
        """(S, S) float32 in [0, 1]: the probability that a pixel shows the face itself."""
        import torch
        from torch.nn import functional as F

        crop = np.asarray(crop)
        size = crop.shape[0]
        kind, net = self._network()
        x = torch.from_numpy(np.ascontiguousarray(crop)).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        if size != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(kind.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(kind.std, device=self.device).view(1, 3, 1, 1)
        with torch.inference_mode():
            logits = net((x - mean) / std)
            prob = torch.softmax(logits, dim=1)[:, list(kind.face_classes)].sum(1, keepdim=True)
            if prob.shape[-1] != size:
                prob = F.interpolate(prob, size=(size, size), mode="bilinear", align_corners=False)
        return prob[0, 0].clamp(0, 1).cpu().numpy().astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The model store: models/face-parsing/{bisenet|parsenet}.safetensors and manifest.json


def store_dir(models_root: Path) -> Path:
    return Path(models_root) / STORE_DIR


def manifest(models_root: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((store_dir(models_root) / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def installed(models_root: Path) -> Path | None:
    """The installed weights file, or None (then pasting uses the feathered ellipse)."""
    info = manifest(models_root)
    kind = KINDS.get(str((info or {}).get("model")))
    if kind is None:
        return None
    p = store_dir(models_root) / kind.weights_file
    return p if p.is_file() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_weights(models_root: Path, source: Path, origin: str | None = None, force: bool = False) -> Path:
    """Check `source` (facexlib's parsing_bisenet.pth or parsing_parsenet.pth, or a
    .safetensors of the same weights), store it as safetensors with a manifest (source
    sha256, size, where from, whether it is the published file). Written to a temporary
    folder and renamed, so a failed import leaves nothing behind."""
    from safetensors.torch import save_file

    source = Path(source)
    target = store_dir(models_root)
    if installed(models_root) and not force:
        raise FaceParsingError(f"a face-parsing model is already installed in {target}; use --force to replace it")
    kind, net = load_network(source)  # refuses wrong, truncated and code-carrying files
    digest = _sha256(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".face-parsing-", dir=target.parent))
    try:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp / kind.weights_file))
        info = {
            "model": kind.name,
            "classes": NUM_CLASSES,
            "face_classes": list(kind.face_classes),
            "source": {"file": source.name, "sha256": digest, "size": source.stat().st_size,
                       "origin": origin or str(source.absolute()), "published": digest == kind.sha256},
            "sha256": _sha256(tmp / kind.weights_file),
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
    return target / kind.weights_file


def install(models_root: Path, downloads: Path, kind: Kind = DEFAULT_KIND, url: str | None = None,
            force: bool = False, progress: bool = True, log=print) -> Path:
    """Download one of facexlib's parsing files (resuming a partial download), check it and
    import it. From facexlib's own release the file must be the published one (sha256);
    from another `url` (a mirror) it only has to load."""
    from refldm_desktop.restore.refldm.download import download

    if installed(models_root) and not force:
        raise FaceParsingError(f"a face-parsing model is already installed in {store_dir(models_root)}; use --force to replace it")
    url = url or kind.url
    dest = Path(downloads) / kind.filename
    if dest.exists():
        log(f"{dest.name}: already downloaded")
    else:
        log(f"downloading {url}")
        download(url, dest, progress=progress)
    try:
        if url == kind.url and (digest := _sha256(dest)) != kind.sha256:
            raise FaceParsingError(
                f"{url} did not give facexlib's published {kind.filename} (sha256 {digest[:12]}..., "
                f"expected {kind.sha256[:12]}...); the download was deleted, try again"
            )
        path = import_weights(models_root, dest, origin=url, force=force)
    except FaceParsingError:
        dest.unlink(missing_ok=True)  # a wrong download must not be reused by the next attempt
        raise
    dest.unlink(missing_ok=True)
    return path


__all__ = [
    "BISENET",
    "DEFAULT_KIND",
    "KINDS",
    "PARSENET",
    "FaceParsingError",
    "Kind",
    "ParsingModel",
    "import_weights",
    "install",
    "installed",
    "kind_of",
    "load_network",
    "manifest",
]
