"""How long listing an unchanged library takes: walk() over N generated photo files.

The indexer's re-scan goal (10,000 unchanged files in under 5 s) needs the listing itself
to be a small part of it. Run: python benchmarks/scan_walk.py [--files 10000]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from refldm_desktop.library.imageio import probe
from refldm_desktop.library.scan import FileEntry, walk


def make_library(root: Path, count: int) -> None:
    buf = root / "seed.jpg"
    Image.fromarray(np.full((64, 48, 3), 128, np.uint8)).save(buf, "JPEG")
    data = buf.read_bytes()
    buf.unlink()
    for i in range(count):
        folder = root / f"{2000 + i // 1000}" / f"{(i // 100) % 10:02}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{i:05}.jpg").write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_library(root, args.files)
        for run in range(args.repeat):
            start = time.perf_counter()
            entries = [e for e in walk([root]) if isinstance(e, FileEntry)]
            took = time.perf_counter() - start
            print(f"walk run {run + 1}: {len(entries)} files in {took:.3f} s")
        start = time.perf_counter()
        for entry in entries:
            probe(entry.path)
        print(f"probe (header only) of {len(entries)} files: {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
