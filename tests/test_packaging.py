"""What a newcomer installs: the distribution's name, version, licence and changelog."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAP = Path(sys.executable).parent / "tap-quickbooks"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_distribution_has_a_name_of_its_own_and_the_command_stays():
    # `tap-quickbooks` on PyPI is singer-io's tap: installing by that name gets another program.
    assert PROJECT["name"] == "tap-quickbooks-online"
    assert "tap-quickbooks" in PROJECT["scripts"]


def test_the_tap_reports_the_installed_version():
    done = subprocess.run(
        [str(TAP), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert f"tap-quickbooks v{PROJECT['version']}," in done.stdout


def test_licence_and_changelog_entry_for_this_version():
    assert PROJECT["license"] == "Apache-2.0"
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence
    assert "Version 2.0, January 2004" in licence
    assert f"## [{PROJECT['version']}]" in (ROOT / "CHANGELOG.md").read_text()
