"""A quick preview before the full restore (`--preview-steps N`): a user sees a result early;
the preview is announced before the job ends, is a picture of the whole photo, and the full
result is exactly what it would have been without a preview."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from restore_testlib import LIBRARY_PARTS, cli, indexed_library, install_golden_model, load, one_torch_thread

FAST = ("--restorer", "refldm", "--steps", "3", "--device", "cpu", "--seed", "5", "--json")


@pytest.fixture
def library(faces_dir, golden_dir):
    lib = indexed_library(LIBRARY_PARTS)
    install_golden_model(lib.home)
    with one_torch_thread():
        yield lib


def test_preview_comes_first_and_leaves_the_result_unchanged(library):
    photo = sorted((library.lib / "identities" / "obama").iterdir())[0]
    plain = cli(library.home, "restore", photo, *FAST, "--output-dir", library.root / "out-plain")
    assert plain.rc == 0, plain.err
    quick = cli(library.home, "restore", photo, *FAST, "--preview-steps", "1",
                "--output-dir", library.root / "out-preview")
    assert quick.rc == 0, quick.err

    said = re.findall(r"preview at (\S+\.jpg)", quick.err)
    assert len(said) == 1, quick.err
    preview_at = quick.err.index("preview at")
    assert preview_at < quick.err.index(": done"), "the preview must come before the job ends"
    (full_plain,), (full_with_preview,) = plain.json(), quick.json()
    before, preview = load(photo), load(Path(said[0]))
    assert preview.shape == before.shape  # the whole photo, upright

    after = load(Path(full_with_preview["output"]))
    assert np.array_equal(after, load(Path(full_plain["output"])))  # same seed, same result
    # A one-step preview is not the three-step result, but it is the same photo around the faces.
    assert not np.array_equal(preview, after)
    assert np.abs(preview.astype(int) - after).mean() < 20


def test_preview_steps_must_not_be_negative(library):
    photo = sorted((library.lib / "identities" / "obama").iterdir())[0]
    r = cli(library.home, "restore", photo, *FAST, "--preview-steps", "-1")
    assert r.rc != 0 and "preview steps" in r.err and "Traceback" not in r.err
