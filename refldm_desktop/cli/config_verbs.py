"""`config list|get|set|unset`: the user's defaults, shared with the app (core/settings.py)."""

from __future__ import annotations

import argparse
import json

from refldm_desktop.cli import add_verb


def register(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser(
        "config",
        help="show or change your defaults (device, steps, references, output folder, ...)",
        description="Defaults for restore, batch and the app, kept in settings.json in the app's "
        "home. A flag given on the command line wins over a setting for that run.",
    )
    csub = config.add_subparsers(dest="config_verb", metavar="ACTION", required=True)
    add_verb(csub, "list", cmd_list, "every setting, its value and whether you set it", json_help="print one JSON object")
    add_verb(csub, "get", cmd_get, "print one setting's value", "KEY")
    add_verb(csub, "set", cmd_set, "change one setting", "KEY", "VALUE")
    add_verb(csub, "unset", cmd_unset, "go back to the built-in default of one setting", "KEY")


def _home(args):
    from refldm_desktop.core.home import resolve_home

    return resolve_home(args.home)


def _call(fn, *a):
    from refldm_desktop.cli import CliError
    from refldm_desktop.core.settings import SettingsError

    try:
        return fn(*a)
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def _text(value) -> str:
    if value is None:
        return "(default)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cmd_list(args: argparse.Namespace) -> int:
    from refldm_desktop.core.settings import DEFAULTS, load_settings

    s = _call(load_settings, _home(args))
    if args.json:
        print(json.dumps(s.to_json(), indent=1))
        return 0
    defaults = DEFAULTS.to_json()
    for key, value in s.to_json().items():
        mark = "" if value == defaults[key] else "  (set)"
        print(f"{key.replace('_', '-')} = {_text(value)}{mark}")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    from refldm_desktop.core.settings import key_name, load_settings

    key = _call(key_name, args.key)
    print(_text(_call(load_settings, _home(args)).to_json()[key]))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from refldm_desktop.core.settings import key_name, set_value

    key = _call(key_name, args.key)
    s = _call(set_value, _home(args).ensure(), key, args.value)
    print(f"{key.replace('_', '-')} = {_text(s.to_json()[key])}")
    return 0


def cmd_unset(args: argparse.Namespace) -> int:
    from refldm_desktop.core.settings import key_name, unset_value

    key = _call(key_name, args.key)
    s = _call(unset_value, _home(args).ensure(), key)
    print(f"{key.replace('_', '-')} = {_text(s.to_json()[key])} (default)")
    return 0
