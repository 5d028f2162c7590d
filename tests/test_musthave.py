"""Missing must-haves skip on a developer's machine and fail in CI (tests/musthave.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import musthave

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_in_ci_a_missing_must_have_fails(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="dlib is gone.*must-have"):
        musthave.missing("dlib is gone")


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_elsewhere_a_missing_must_have_skips_with_the_reason(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="^dlib is gone$"):
        musthave.missing("dlib is gone")


def test_each_must_have_goes_through_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(musthave, "FACES", tmp_path / "faces")
    monkeypatch.setattr(musthave, "GOLDEN", tmp_path / "golden")
    with pytest.raises(pytest.fail.Exception, match="real face photos"):
        musthave.require_faces()
    with pytest.raises(pytest.fail.Exception, match="golden"):
        musthave.require_golden()
    with pytest.raises(pytest.fail.Exception, match="no_such_package_xyz is not installed"):
        musthave.require_module("no_such_package_xyz")

    class Unavailable:
        def available(self):
            return False, "models missing"

    with pytest.raises(pytest.fail.Exception, match="models missing"):
        musthave.require_backend_available(Unavailable())


def test_present_must_haves_are_returned(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    (tmp_path / "MANIFEST.csv").write_text("path,identity\n")
    monkeypatch.setattr(musthave, "FACES", tmp_path)
    assert musthave.require_faces() == tmp_path
    assert musthave.require_module("json").dumps([]) == "[]"


# A test that skipped on its own when a must-have is missing would stay green in CI.
_OWN_SKIPS = re.compile(
    r"importorskip\(\s*['\"](dlib|torch|diffusers|jpeglib|onnx|onnxruntime|pillow_heif|PySide6|pytestqt)['\"]"
    r"|find_spec\(\s*['\"]face_recognition_models['\"]"
    r"|pytest\.skip\([^)]*(absent|not installed|not available|missing)",
    re.IGNORECASE,
)


def test_no_test_skips_a_must_have_by_itself():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == "musthave.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _OWN_SKIPS.search(line):
                offenders.append(f"{path.relative_to(TESTS)}:{n}: {line.strip()}")
    assert not offenders, "use musthave.missing/require_*:\n" + "\n".join(offenders)
