"""Shared fixtures: emulated QBO companies the tap runs against."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from qbo_emulator import Emulator


def pytest_configure(config) -> None:
    """Under `python -m tests.any_day`, stop at once if the shifted clock did not take."""
    if today := os.environ.get("ANY_DAY"):
        drift = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(today)
        if abs(drift) > dt.timedelta(hours=1):
            pytest.exit(f"the clock reads {dt.datetime.now(dt.UTC)}, not about {today}", 3)


@pytest.fixture(scope="session")
def company():
    """A realistic company for read-only tests: do not mutate it (use `make_company`)."""
    with Emulator(seed=7, scale=800, realms=1) as emu:
        yield emu


@pytest.fixture
def make_company():
    """A factory of private companies, for tests that change data or switch on behaviours."""
    started: list[Emulator] = []

    def make(**kwargs) -> Emulator:
        kwargs.setdefault("seed", 11)
        kwargs.setdefault("scale", 300)
        emu = Emulator(**kwargs)
        emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()
