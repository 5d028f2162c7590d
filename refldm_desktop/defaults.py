"""The built-in defaults, each defined here once.

The CLI's flags and help, the core's settings and verbs, the restorers and the plugin API
all read these names, so a default changes in one place. Only the standard library here:
`refldm-desktop --help` imports this module.
"""

from __future__ import annotations

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

__all__ = [
    "DEFAULT_CFG",
    "DEFAULT_FACE_BACKEND",
    "DEFAULT_MIN_NEED",
    "DEFAULT_MIN_QUALITY",
    "DEFAULT_MODEL",
    "DEFAULT_REFERENCES",
    "DEFAULT_RESTORER",
    "DEFAULT_STEPS",
    "FACE_BACKENDS_GROUP",
    "PRECISIONS",
    "RESTORERS_GROUP",
    "UPSCALE_CHOICES",
]
