"""Run small torch work on one CPU thread."""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Small tensors on a shared CPU: torch's thread pool spinning on work too small to
    split costs more than it gains (paste-back took 330 ms per face on two threads and 50 ms
    on one on a busy 2-core VM). The thread count is restored afterwards, for the model."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
