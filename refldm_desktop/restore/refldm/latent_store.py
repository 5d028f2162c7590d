"""Reference latents kept on disk, so a person's references are VQ-encoded once, not per run.

Encoding the references is the VQ encoder over a strip of n 512 px faces: on a 2-core CPU
about 5 s per reference, more than the rest of a later face's setup. The latents it gives are
a few MB, so they are stored in the home's cache and read back by any later process.

The key is a hash of the VQ weights' version, the resolution and every reference crop's
bytes, in order: a pin, an exclusion, a new best photo or another count gives other crops and
so another key, and the old entry is simply never asked for again. Entries are pruned
least-recently-used when the store grows past its size limit. A file that cannot be read is
deleted and counted as a miss: the cache can always be rebuilt, so it never stops a restore.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_BYTES = 512 * 2**20  # about 100 people at 4 references, 512 px


def latent_key(model_version: str, resolution: int, crops: Sequence[np.ndarray]) -> str:
    """Names one set of references as the model sees it; the crops' order matters."""
    h = hashlib.sha256(f"{model_version}\0{resolution}\0{len(crops)}".encode())
    for c in crops:
        c = np.ascontiguousarray(c)
        h.update(f"{c.shape}{c.dtype}".encode())
        h.update(c.tobytes())
    return h.hexdigest()


class ReferenceLatentStore:
    def __init__(self, root: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(ch not in "0123456789abcdef" for ch in key):
            raise ValueError("a reference latent key is a sha256 hex digest")
        return self.root / f"{key}.safetensors"

    def get(self, key: str) -> "torch.Tensor | None":
        """The latents stored under key, float32 on the CPU, or None."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self._path(key)
        try:
            latents = load_file(str(path))["latents"]
        except FileNotFoundError:
            return None
        except (OSError, KeyError, SafetensorError, ValueError, RuntimeError):
            path.unlink(missing_ok=True)  # damaged: encode again rather than fail the restore
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return latents.float()

    def put(self, key: str, latents: "torch.Tensor") -> None:
        """Store atomically; a full or read-only disk only costs the cache, never the restore."""
        from safetensors import SafetensorError
        from safetensors.torch import save_file

        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            save_file({"latents": latents.detach().float().cpu().contiguous()}, str(tmp))
            os.replace(tmp, path)
        except (OSError, SafetensorError, RuntimeError):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return
        self.prune()

    def prune(self) -> None:
        """Drop the least recently used entries beyond the size limit."""
        entries = []
        for p in self.root.glob("*.safetensors"):  # a missing folder globs to nothing
            try:
                st = p.stat()
            except OSError:
                continue
            entries.append((st.st_mtime_ns, st.st_size, p))
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                p.unlink(missing_ok=True)
            total -= size


__all__ = ["ReferenceLatentStore", "latent_key", "DEFAULT_MAX_BYTES"]
