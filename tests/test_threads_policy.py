"""torch's CPU threads sleep instead of spinning when they wait (see refldm_desktop/__init__.py),
unless the user chose otherwise: checked in fresh processes, since OpenMP reads it once."""

from __future__ import annotations

import os
import subprocess
import sys


def _policy_after_import(env: dict[str, str]) -> str:
    # What the process's environment holds once the package is imported, before torch loads
    # (OpenMP reads it then); no cheap call reports the policy OpenMP itself took.
    code = "import refldm_desktop, os; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_app_asks_for_sleeping_threads_and_a_users_choice_wins():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy_after_import(env) == "PASSIVE"
    assert _policy_after_import({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
