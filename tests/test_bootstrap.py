"""`make`'s bootstrap of uv on a machine whose Python refuses `pip install` (PEP 668).

The Makefile's `uv` recipe runs for real, against a stand-in `python3` that behaves as
Debian's and Ubuntu's do: `-m pip install` outside a virtual environment stops with
`externally-managed-environment`, `-m venv` works, and pip inside that venv installs uv.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PATH = "/usr/bin:/bin"

# A Debian-like system Python: no uv module, pip refuses, venv works. Every call is logged.
SYSTEM_PYTHON = """#!/bin/sh
echo "system-python $*" >> "$CALLS"
case "$1 $2" in
  "-m uv") exit 1 ;;
  "-m pip") echo "error: externally-managed-environment" >&2; exit 1 ;;
  "-m venv")
    mkdir -p "$3/bin"
    sed "s#@VENV@#$3#g" "$FAKES/venv-python" > "$3/bin/python"
    chmod +x "$3/bin/python"
    exit 0 ;;
  "-V ") echo "Python $VERSION"; exit 0 ;;
esac
exit 2
"""

# The venv's python: its pip installs a uv that answers `python find` as $FOUND says.
VENV_PYTHON = """#!/bin/sh
echo "venv-python $*" >> "$CALLS"
if [ "$1 $2 $3" = "-m pip install" ]; then
  cp "$FAKES/uv" "@VENV@/bin/uv"; chmod +x "@VENV@/bin/uv"; exit 0
fi
exit 2
"""

UV = """#!/bin/sh
echo "uv $*" >> "$CALLS"
[ "$1" = python ] && exit "$FOUND"
exit 0
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run_bootstrap(tmp_path: Path, *, found: int = 0, version: str = "3.11.7"):
    if shutil.which("uv", path=SYSTEM_PATH):
        pytest.skip("a uv on the system PATH would be used instead of bootstrapping one")
    if shutil.which("make", path=SYSTEM_PATH) is None:
        pytest.skip("no make")
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    python = executable(fakes / "python3", SYSTEM_PYTHON)
    (fakes / "venv-python").write_text(VENV_PYTHON)
    (fakes / "uv").write_text(UV)
    work = tmp_path / "project"
    work.mkdir()
    calls = tmp_path / "calls.log"
    env = {
        "PATH": SYSTEM_PATH,
        "CALLS": str(calls),
        "FAKES": str(fakes),
        "FOUND": str(found),
        "VERSION": version,
    }
    done = subprocess.run(
        ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "uv", f"PY={python}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    log = calls.read_text().splitlines() if calls.exists() else []
    return done, log, work


def test_uv_is_bootstrapped_into_its_own_venv_where_system_pip_refuses(tmp_path):
    done, log, work = run_bootstrap(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "externally-managed" not in done.stderr
    assert (work / ".venv-uv" / "bin" / "uv").exists()
    # pip ran only inside the throw-away venv, never against the system Python.
    assert not [c for c in log if c.startswith("system-python -m pip")], log
    assert [c for c in log if c.startswith("venv-python -m pip install")], log
    assert "uv python find >=3.11" in log


def test_no_python_311_says_which_python_is_needed(tmp_path):
    done, _, _ = run_bootstrap(tmp_path, found=1, version="3.9.2")
    assert done.returncode != 0
    assert "needs Python 3.11 or newer" in done.stdout
    assert "Python 3.9.2" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
