import subprocess
import sys

from refldm_desktop.cli import main
from refldm_desktop.core.home import ENV_VAR, resolve_home


def test_help_lists_verbs_and_exits_zero():
    out = subprocess.run(
        [sys.executable, "-m", "refldm_desktop", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "--home" in out.stdout


def test_no_verb_prints_usage_and_fails(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert resolve_home(tmp_path / "explicit").root == (tmp_path / "explicit").resolve()
    assert resolve_home(None).root == (tmp_path / "from-env").resolve()
    monkeypatch.delenv(ENV_VAR)
    assert resolve_home(None).root.name == "refldm-desktop"


def test_output_cut_short_by_the_reader_is_not_a_crash(tmp_path):
    # `refldm-desktop faces list | head -1` must not print a traceback.
    proc = subprocess.Popen(
        [sys.executable, "-m", "refldm_desktop", "--home", str(tmp_path), "faces", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the program writes
    err = proc.stderr.read().decode()
    proc.wait()
    assert "BrokenPipeError" not in err and "Traceback" not in err
