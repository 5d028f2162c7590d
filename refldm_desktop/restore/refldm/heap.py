"""Keep freed memory in the process while the model works on the CPU (Linux, glibc).

glibc's malloc serves every allocation above 32 MiB with a fresh mmap and unmaps it on free.
The VQ coder's activations at 512 px are 128 MiB each (256 MiB and more in a reference strip),
so each one came from the kernel anew, faulted in page by page and zeroed: on the 2-core AVX2
EPYC a decode spent 3.5 of its 19 CPU seconds in the kernel (1.2 million page faults), an LQ
encode 1.3 of 10.6. With mmap off and trimming off, freed blocks go back to malloc's heap and
the next activation of that size reuses them. Alternated in one process (load 7), one scope
per call: an LQ encode 9.4 CPU s against 10.7 (kernel time 0.6 against 1.6); a 2-step restore
in one scope spent 1.0 s in the kernel against 4.7 (what is left is mostly the sleeping
threads' wake-ups). The peak memory: a later face 2.6-2.8 GiB against 2.3, a first face with
8 references 3.8 against 4.1.

While at least one `kept_heap()` is open, malloc takes large blocks from the heap and returns
nothing to the system; when the last one closes, the free memory is handed back (malloc_trim)
so an idle app does not hold a restore's peak. Any mallopt call ends glibc's self-adjusting
threshold for good, so the values it grows to by itself (mmap from 32 MiB, trim above 64 MiB)
are then set explicitly rather than its 128 KiB start values, which would map and zero every
mid-size block afresh for the rest of the process.

Only the main thread's arena can keep blocks over 64 MiB: other threads' arenas are capped
there by glibc and map larger blocks afresh whatever is set. So the gain is the command
line's (its job runner works on the main thread) and the benchmarks'; the app's job runner
thread keeps blocks up to 64 MiB only, and the VQ coder's 128 MiB activations still come
from the kernel there. Elsewhere (macOS, Windows, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

# mallopt parameters (glibc's malloc.h), and what is set afterwards: the thresholds glibc's
# own adjustment grows to (32 MiB is its DEFAULT_MMAP_THRESHOLD_MAX on 64-bit, trimming at
# twice that), and its default count of mappings.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
AFTER_MMAP_THRESHOLD, AFTER_TRIM_THRESHOLD, AFTER_MMAP_MAX = 32 * 2**20, 64 * 2**20, 65536

_lock = threading.Lock()
_depth = 0
_libc: object = None  # ctypes.CDLL of glibc, False where there is none


def _glibc():
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)  # the process's own symbols: no ldconfig run to find libc
                if all(hasattr(libc, name) for name in ("gnu_get_libc_version", "mallopt", "malloc_trim")):
                    _libc = libc
            except OSError:
                pass
    return _libc


def available() -> bool:
    return bool(_glibc())


def is_kept() -> bool:
    """Whether a kept_heap() is open now."""
    return _depth > 0


@contextmanager
def kept_heap() -> Iterator[None]:
    """Freed memory stays in the process for reuse until the outermost one closes."""
    global _depth
    libc = _glibc()
    if not libc:
        yield
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_THRESHOLD, AFTER_MMAP_THRESHOLD)
                libc.mallopt(M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD)
                libc.mallopt(M_MMAP_MAX, AFTER_MMAP_MAX)
                libc.malloc_trim(0)
