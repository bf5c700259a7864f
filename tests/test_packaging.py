"""What a newcomer installs: the distribution's name, version, licence and changelog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from scripts import demo, meltano_settings
from tap_quickbooks.catalogue import ENTITIES

ROOT = Path(__file__).resolve().parent.parent
TAP = Path(sys.executable).parent / "tap-quickbooks"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_distribution_has_a_name_of_its_own_and_the_command_stays():
    # `tap-quickbooks` on PyPI is singer-io's tap: installing by that name gets another program.
    assert PROJECT["name"] == "tap-quickbooks-online"
    assert "tap-quickbooks" in PROJECT["scripts"]


def _wheel(project: Path, out: Path) -> zipfile.ZipFile:
    """Builds the project's wheel as a release would, with the backend the lock installs."""
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=project,
        capture_output=True,
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def _top_level_and_scripts(wheel: zipfile.ZipFile) -> tuple[set[str], set[str]]:
    names = wheel.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    lines = wheel.read(entry_points).decode().splitlines()
    return top, {line.split(" = ")[0] for line in lines if " = " in line}


def test_the_tap_wheel_carries_the_tap_only(tmp_path):
    """Installing the tap must not put a fake QuickBooks server (or the target) on a user's
    PATH: the emulator, target, receiver and orchestrator are distributions of their own."""
    top, scripts = _top_level_and_scripts(_wheel(ROOT, tmp_path / "tap"))
    assert top == {"tap_quickbooks"}
    assert scripts == {"tap-quickbooks", "tap-quickbooks-auth"}

    emulator = _wheel(ROOT / "packages" / "qbo-emulator", tmp_path / "emulator")
    assert _top_level_and_scripts(emulator) == ({"qbo_emulator"}, {"qbo-emulator"})
    (metadata,) = [n for n in emulator.namelist() if n.endswith(".dist-info/METADATA")]
    assert "Requires-Dist" not in emulator.read(metadata).decode()  # the stdlib only


def test_every_workspace_member_is_locked():
    """One lock for the workspace: each member under packages/ is in uv.lock, and the tap's
    dev group installs it, so `uv sync --frozen` gives the tests every command."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {p["name"] for p in lock["package"] if p.get("source", {}).get("editable")}
    members = {
        tomllib.loads(p.read_text())["project"]["name"]
        for p in (ROOT / "packages").glob("*/pyproject.toml")
    }
    assert members == {
        "qbo-emulator",
        "target-quickbooks",
        "quickbooks-webhooks",
        "quickbooks-orchestrator",
    }
    assert locked == members | {PROJECT["name"]}
    commands = {"qbo-emulator", "target-quickbooks", "quickbooks-webhooks"}
    assert {c for c in commands if (Path(sys.executable).parent / c).exists()} == commands


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


def test_meltano_yml_agrees_with_the_tap():
    """The extractor's settings and selection are generated from the tap's own config schema
    (scripts/meltano_settings.py): a setting added to the tap must reach meltano.yml."""
    assert meltano_settings.differences(meltano_settings.load()) == []
    names = {s["name"] for s in meltano_settings.extractor_of(meltano_settings.load())["settings"]}
    sdk = {"stream_maps", "stream_map_config", "flattening_enabled", "flattening_max_depth"}
    assert sdk | {"batch_config", "faker_config"} <= names
    by_name = {s["name"]: s for s in meltano_settings.settings()}
    assert by_name["report_start_date"]["kind"] == "date_iso8601"
    assert by_name["stream_maps"]["kind"] == "object"
    assert all(s.get("label") for s in by_name.values())


def test_meltano_selects_no_report_by_default():
    select = meltano_settings.extractor_of(meltano_settings.load())["select"]
    assert len(select) == len(ENTITIES) + 1  # and sync_status, the run's own health table
    assert "sync_status.*" in select
    assert not [s for s in select if "_report" in s or s.startswith("*")]


@pytest.mark.slow
def test_meltano_config_set_stores_sdk_settings_as_the_tap_takes_them(tmp_path):
    """`meltano config set` parses a value by the setting's kind: an undeclared stream_maps
    would reach the tap as a string, and the tap would refuse it."""
    demo.ensure_meltano()
    shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("VIRTUAL_ENV", None)

    def meltano(*args: str) -> str:
        done = subprocess.run(
            [str(demo.MELTANO), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    meltano("config", "set", "tap-quickbooks", "stream_maps", '{"invoices": "__NULL__"}')
    meltano("config", "set", "tap-quickbooks", "flattening_enabled", "true")
    meltano("config", "set", "tap-quickbooks", "flattening_max_depth", "2")
    meltano("config", "set", "tap-quickbooks", "report_start_date", "2026-01-01")
    config = json.loads(meltano("config", "print", "tap-quickbooks"))
    assert config["stream_maps"] == {"invoices": "__NULL__"}
    assert config["flattening_enabled"] is True
    assert config["flattening_max_depth"] == 2
    assert config["report_start_date"] == "2026-01-01"
    # The warning about the duckdb pin is a description, which Meltano's rewrite keeps.
    assert "duckdb==1.2.2 pin" in (tmp_path / "meltano.yml").read_text()
