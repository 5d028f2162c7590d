"""The built-in defaults, each defined here once.

The CLI's flags and help, the core's settings and verbs, the restorers and the plugin API
all read these names, so a default changes in one place. Only the standard library here:
`refldm-desktop --help` imports this module.
"""

from __future__ import annotations

import re

# Entry-point groups plugins register under (re-exported by refldm_desktop.plugin_api).
FACE_BACKENDS_GROUP = "refldm_desktop.face_backends"
RESTORERS_GROUP = "refldm_desktop.restorers"

DEFAULT_FACE_BACKEND = "dlib"  # ships with the app; needs no download
DEFAULT_RESTORER = "refldm"
DEFAULT_MODEL = "refldm"  # the name `models install` gives the authors' release
DEFAULT_REFERENCES = 5  # reference photos per face: what ReF-LDM was trained with
DEFAULT_STEPS = 50  # DDIM steps
DEFAULT_CFG = 1.5  # reference guidance scale
# A batch restores faces whose restoration need is at least this: one plain flaw gets
# there, a few slight ones do not.
DEFAULT_MIN_NEED = 0.5
DEFAULT_MIN_QUALITY = 0.5  # of the deprecated --min-quality (the reference score)
UPSCALE_CHOICES = (1, 2, 4)  # enlarging a whole photo before its faces are restored

# Model arithmetic; auto is bf16 only where a trial on the device found it faster and close.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Where a model runs: the device setting, every --device flag and the job queue take the same.
DEVICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def check_device(value: object) -> str:
    """`value` if it names a device; else a ValueError that lists what would (DEVICES)."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise ValueError(f"use {DEVICES}")
    return value


__all__ = [
    "DEFAULT_CFG",
    "DEFAULT_FACE_BACKEND",
    "DEFAULT_MIN_NEED",
    "DEFAULT_MIN_QUALITY",
    "DEFAULT_MODEL",
    "DEFAULT_REFERENCES",
    "DEFAULT_RESTORER",
    "DEFAULT_STEPS",
    "DEVICES",
    "FACE_BACKENDS_GROUP",
    "PRECISIONS",
    "RESTORERS_GROUP",
    "UPSCALE_CHOICES",
    "check_device",
]
