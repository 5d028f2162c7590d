"""While the model works on the CPU, freed large blocks are reused instead of coming zeroed
from the kernel again (heap.py), and the process's defaults come back afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from refldm_testlib import golden

from refldm_desktop.restore.refldm import heap

pytestmark = pytest.mark.skipif(not heap.available(), reason="glibc's malloc only")

# Run in a fresh process with transparent huge pages off: a huge page faults 2 MiB in at
# once, so where the kernel gives them (seen after a long test session) a fresh mapping
# faults far fewer times than it has pages, and the counts below would not tell reuse apart.
KEPT_HEAP_FAULTS = """
import ctypes, json, resource, torch
from refldm_desktop.restore.refldm import heap
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE
BIG = 2**24  # float32 values: 64 MiB
SMALLER = 3 * 2**22  # 48 MiB: above glibc's largest mmap threshold (32 MiB), so mapped afresh by default

def faults_after_a_free():
    block = torch.ones(BIG)
    del block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.ones(SMALLER)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del block
    return faults

seen = {"before": faults_after_a_free()}
with heap.kept_heap():
    with heap.kept_heap():  # nested scopes: the outer one decides
        pass
    seen["kept"] = heap.is_kept()
    seen["inside"] = faults_after_a_free()
seen["kept_after"] = heap.is_kept()
seen["after"] = faults_after_a_free()
print(json.dumps(seen))
"""


def _run(script: str) -> str:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout


def test_a_kept_heap_reuses_a_freed_block_and_lets_go_after():
    seen = json.loads(_run(KEPT_HEAP_FAULTS).split("\n")[-2])
    pages = 3 * 2**22 * 4 // 4096  # the 48 MiB block's
    assert seen["before"] > pages // 2  # a fresh mapping faults in its pages...
    assert seen["kept"] and seen["inside"] < pages // 10  # ...a reused block does not
    assert not seen["kept_after"]
    assert seen["after"] > pages // 2  # glibc's defaults again


def test_the_cpu_model_restores_inside_a_kept_heap(tiny_model, golden_dir):
    inp = golden(golden_dir, "inputs")
    seen = []
    cache = tiny_model.encode_references(inp["ref_images"][:1])
    tiny_model.restore(inp["lq_image"], cache, steps=2, callback=lambda state: seen.append(heap.is_kept()))
    assert seen == [True, True] and not heap.is_kept()


REUSE_AFTER_A_SCOPE = """
import ctypes, resource, numpy as np
from refldm_desktop.restore.refldm import heap
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE (see KEPT_HEAP_FAULTS)
with heap.kept_heap():
    pass
mid = 15 * 2**20
block = np.ones(mid, np.uint8); del block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = np.ones(mid, np.uint8)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_mid_size_blocks_are_still_reused_after_a_scope():
    """Any mallopt ends glibc's self-adjusting thresholds: after a scope, a freed 15 MiB block
    must still be reused (as glibc's grown thresholds do), not mapped and zeroed afresh at the
    128 KiB threshold glibc starts from. In a fresh process, whose thresholds have not grown
    before the scope (numpy's plain malloc: torch's aligned blocks are not always reused)."""
    assert int(_run(REUSE_AFTER_A_SCOPE).split()[-1]) < 15 * 2**20 // 4096 // 10
