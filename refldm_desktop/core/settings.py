"""The user's defaults, kept in home/settings.json and read by the CLI and the app alike.

A flag on the command line (or a choice in a dialog) overrides a setting for one run; a
setting overrides the built-in default. The file holds only what the user set, so a new
version's better defaults reach everyone who did not choose otherwise. It is written
atomically; a damaged file is reported with its line and never overwritten: the user fixes
or removes it.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from refldm_desktop.core.changes import LibraryError
from refldm_desktop.errors import Advice, advise
from refldm_desktop.core.home import Home
from refldm_desktop.defaults import (
    DEFAULT_CFG,
    DEFAULT_MODEL,
    DEFAULT_REFERENCES,
    DEFAULT_RESTORER,
    DEFAULT_STEPS,
    PRECISIONS,
    UPSCALE_CHOICES,
    check_device,
)
from refldm_desktop.library.atomic import write_atomic

FILE_NAME = "settings.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class SettingsError(LibraryError):
    """A setting that cannot be read, set or saved; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    restorer: str = DEFAULT_RESTORER  # refldm, or passthrough (changes nothing: a diagnostic)
    model: str = DEFAULT_MODEL  # installed model the refldm restorer uses
    device: str = "auto"  # defaults.DEVICES
    precision: str = "auto"  # auto, fp32, bf16 or fp16
    steps: int = DEFAULT_STEPS  # denoising steps
    guidance: float = DEFAULT_CFG  # reference guidance scale (1 turns it off)
    references: int = DEFAULT_REFERENCES  # reference photos per face
    output_folder: Path | None = None  # None: Restored in the app's home
    face_backend: str | None = None  # None: the one the library's faces came from
    reference_free: bool = False  # also restore faces without a person or references
    upscale: int = 1  # enlarge the whole photo first: 1, 2 or 4
    # A restored face that no longer looks like its person (restore.identity): "flag" keeps
    # it and marks it, "keep-original" leaves the original face in the photo.
    identity_policy: str = "flag"
    theme: str = "system"  # the app's look: system, light or dark

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _check(f.name, getattr(self, f.name)))

    def to_json(self) -> dict[str, Any]:
        return {f.name: _dump(getattr(self, f.name)) for f in fields(self)}


# -- one check per key -------------------------------------------------------------------


def _choice(*allowed: str) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if v not in allowed:
            raise ValueError(f"use one of {', '.join(allowed)}")
        return v

    return check


def _whole(lo: int, hi: int) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"a whole number from {lo} to {hi}")
        return v

    return check


def _name(v: Any) -> Any:
    if not isinstance(v, str) or not _NAME.match(v):
        raise ValueError("letters, digits, '.', '_' or '-' (up to 64), not starting with '.'")
    return v


def _guidance(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 20:
        raise ValueError("a number from 0 to 20")
    return float(v)


def _folder(v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        raise ValueError("a folder path")
    return Path(v).expanduser().absolute()


def _optional_name(v: Any) -> Any:
    return None if v is None else _name(v)


def _flag(v: Any) -> Any:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def _upscale(v: Any) -> Any:
    if isinstance(v, bool) or v not in UPSCALE_CHOICES:
        raise ValueError(f"use one of {', '.join(map(str, UPSCALE_CHOICES))}")
    return v


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "restorer": _name,
    "model": _name,
    "device": check_device,
    "precision": _choice(*PRECISIONS),
    "steps": _whole(1, 1000),
    "guidance": _guidance,
    "references": _whole(0, 16),
    "output_folder": _folder,
    "face_backend": _optional_name,
    "reference_free": _flag,
    "upscale": _upscale,
    "identity_policy": _choice("flag", "keep-original"),
    "theme": _choice("system", "light", "dark"),
}


def _check(key: str, value: Any) -> Any:
    try:
        return _CHECKS[key](value)
    except ValueError as exc:
        raise SettingsError(f"setting {key!r} cannot be {_show(value)}: {exc}") from None


DEFAULTS = Settings()
KEYS = tuple(f.name for f in fields(Settings))


def _dump(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else v


def _show(v: Any) -> str:
    return "unset" if v is None else json.dumps(_dump(v))


def key_name(key: str) -> str:
    """A setting's name as given by a user ("output-folder" works too)."""
    name = key.strip().replace("-", "_")
    if name not in KEYS:
        raise SettingsError(f"no setting called {key!r}; the settings are: {', '.join(k.replace('_', '-') for k in KEYS)}")
    return name


def parse(key: str, text: str) -> Any:
    """A value typed on the command line, as the setting's type."""
    key = key_name(key)
    kind = type(getattr(DEFAULTS, key)) if getattr(DEFAULTS, key) is not None else str
    t = text.strip()
    if key in ("output_folder", "face_backend") and t.lower() in ("", "none", "default"):
        return None
    try:
        if kind is bool:
            if t.lower() in ("true", "yes", "on", "1"):
                return True
            if t.lower() in ("false", "no", "off", "0"):
                return False
            raise ValueError
        if kind is int:
            return int(t)
        if kind is float:
            return float(t)
    except ValueError:
        raise SettingsError(f"setting {key!r} cannot be {text!r}: expected {_KIND_WORDS[kind]}") from None
    return t


_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number"}


# -- the file --------------------------------------------------------------------------------


def settings_path(home: Home) -> Path:
    return home.root / FILE_NAME


def _read_raw(home: Home) -> dict[str, Any]:
    path = settings_path(home)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read the settings file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"the settings file {path} is damaged (not text); fix it, or remove it to go back to the defaults") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"the settings file {path} is damaged (line {exc.lineno}: {exc.msg}); "
            "fix it, or remove it to go back to the defaults"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"the settings file {path} is damaged (not a JSON object); fix it, or remove it to go back to the defaults")
    return data


def load_settings(home: Home) -> Settings:
    """The user's settings over the defaults. Unknown keys (from a newer version) are kept
    in the file and ignored here; a value this version cannot use is an error naming it."""
    raw = _read_raw(home)
    known = {k: v for k, v in raw.items() if k in KEYS}
    try:
        return replace(DEFAULTS, **known)
    except SettingsError as exc:
        raise SettingsError(f"{exc} (in {settings_path(home)}; {advise(Advice.FIX_SETTINGS)})") from None


def check_restorer(name: str) -> str:
    """`name` if a restorer plugin by that name is installed; else an error naming them."""
    from refldm_desktop.core.plugins import Registry
    from refldm_desktop.defaults import RESTORERS_GROUP

    installed = Registry(RESTORERS_GROUP).names()
    if name not in installed:
        raise SettingsError(
            f"no restorer called {name!r} is installed; use one of {', '.join(installed) or 'none (reinstall refldm-desktop)'}"
        )
    return name


def save_settings(home: Home, settings: Settings) -> Settings:
    """Write the settings that differ from the defaults (and keys of newer versions),
    atomically. A damaged file is not overwritten: load_settings' error comes first.
    A restorer newly chosen must be installed (every restore would fail otherwise); one
    saved before and uninstalled since is kept, so other settings can still change."""
    raw = _read_raw(home)
    if settings.restorer != raw.get("restorer", DEFAULTS.restorer):
        check_restorer(settings.restorer)
    data = {k: v for k, v in raw.items() if k not in KEYS}
    for key, value in settings.to_json().items():
        if value != _dump(getattr(DEFAULTS, key)):
            data[key] = value
    write_atomic(settings_path(home), (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return settings


def set_value(home: Home, key: str, value: Any) -> Settings:
    """Change one setting (a typed value, or text from the command line) and save."""
    key = key_name(key)
    if isinstance(value, str) and not isinstance(getattr(DEFAULTS, key), str):
        value = parse(key, value)
    return save_settings(home, replace(load_settings(home), **{key: value}))


def unset_value(home: Home, key: str) -> Settings:
    key = key_name(key)
    return save_settings(home, replace(load_settings(home), **{key: getattr(DEFAULTS, key)}))


def overridden(settings: Settings, flags: Mapping[str, Any]) -> Settings:
    """The settings with the flags that were given (not None) put over them."""
    given = {k: v for k, v in flags.items() if v is not None}
    return replace(settings, **given) if given else settings
