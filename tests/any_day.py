"""The date-sensitive tests, run again as if today were each of several awkward days.

    python -m tests.any_day            # every day below, the core tests (part of `make test`)
    python -m tests.any_day --full     # every day below and more, every date-sensitive test
    python -m tests.any_day --day 2028-02-29T12:00:00-08:00 -- -k ledger

The whole pytest process runs under libfaketime (Debian's ``faketime``), and so does every
process it starts: the emulator's clock (which starts from the wall clock unless a test pins
it), the tap run as a subprocess, the SDK, pendulum. One relative offset, set once, is shared by
all of them, so they tick together as the real clocks do; monotonic clocks are left alone, so
timeouts, back-off and rate limits keep measuring real time. The alternative, a clock function
in the tap that tests steer through an environment variable, would leave every clock read
outside that function (the SDK's, the libraries') on today, and put test code in the product.

The days are Pacific (the company's time zone, in which QBO and the emulator date
everything), chosen a minute or two before the change they test, so the run crosses it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import os
import subprocess
import sys
import time
from pathlib import Path

REPORTS_BOOKED = "tests/test_reports.py::test_emulator_reports_arrive_typed_keyed_and_bookmarked"
REPORTS_RESUMED = (
    "tests/test_reports.py::test_a_killed_run_resumes_and_a_rerun_reads_only_the_look_back"
)
CDC_GAP = "tests/test_changes.py::test_a_gap_longer_than_cdc_reaches_is_read_by_query_and_said"

# The days `make test` runs on, what each catches, and the runs of the tap it adds to the quick
# in-process tests of EVERY_DAY (a run of the tap costs seconds: they are dealt out).
DAYS = {
    # The UTC date is already the 1st while the company's is still the 30th.
    "last day of a month": (
        "2026-06-30T23:58:00-07:00",
        [REPORTS_RESUMED, "tests/test_tap_sync.py::test_incremental_run_brings_only_changes"],
    ),
    # Month-to-date reports are empty; last month is "this period" for a look-back.
    "first day of a month": (
        "2026-07-01T00:30:00-07:00",
        [REPORTS_BOOKED, "tests/test_changes.py::test_deletes_voids_and_merges_arrive"],
    ),
    # The year turns: year-to-date, last year's reports, a new report_start_date default.
    "1 January": (
        "2027-01-01T00:02:00-08:00",
        [REPORTS_BOOKED, "tests/test_tap_sync.py::test_start_date_limits_history"],
    ),
    "29 February 2028": (
        "2028-02-29T12:00:00-08:00",
        [
            "tests/test_reports.py::test_profit_and_loss_income_is_the_periods_sales",
            "tests/test_reports.py::test_periods_before_any_data_give_no_rows",
            CDC_GAP,
        ],
    ),
    # 02:00 PST becomes 03:00 PDT: a day of 23 hours.
    "spring forward": (
        "2026-03-08T01:58:00-08:00",
        [
            "tests/test_tap_sync.py::test_killed_runs_resume_without_gaps",
            "tests/test_changes.py::test_a_quiet_incremental_sync_costs_a_handful_of_calls",
        ],
    ),
    # 02:00 PDT becomes 01:00 PST: 01:00-02:00 happens twice, a day of 25 hours.
    "fall back": (
        "2026-11-01T01:58:00-07:00",
        [
            "tests/test_inputs.py::test_state_in_every_shape_users_keep_resumes_from_its_bookmarks",
            "tests/test_tap_sync.py::test_full_sync_equals_ground_truth",
            CDC_GAP,
        ],
    ),
}
# `make test-full` adds these days, and runs every test of FULL on every day.
MORE_DAYS = {
    "last day of a year, UTC already next year": "2026-12-31T23:58:00-08:00",
    "28 February of a leap year": "2028-02-28T23:58:00-08:00",
    "first day of a quarter": "2026-10-01T00:05:00-07:00",
}

# Tests whose outcome can depend on today: emulator data (generated back from its clock),
# reports and their periods, bookmarks, CDC's 30-day window, start dates.
EVERY_DAY = [
    "tests/emulator/test_store_datagen.py",
    "tests/emulator/test_reports.py",
    "tests/emulator/test_cdc_batch_read.py",
    "tests/emulator/test_recorded_shapes.py",
]
FULL = [
    *EVERY_DAY,
    "tests/emulator/test_query.py",
    "tests/test_reports.py",
    "tests/test_changes.py",
    "tests/test_tap_sync.py",
    "tests/test_inputs.py",
]


def libfaketime() -> str | None:
    for pattern in (
        "/usr/lib/*/faketime/libfaketimeMT.so.1",
        "/usr/lib/faketime/libfaketimeMT.so.1",
    ):
        if found := sorted(glob.glob(pattern)):
            return found[0]
    return None


def faked_env(today: str, lib: str) -> dict[str, str]:
    """The environment that makes every process see `today` now, ticking from there."""
    offset = round(dt.datetime.fromisoformat(today).timestamp() - time.time())
    site = str(Path(__file__).with_name("any_day_site"))  # time.sleep mended, see there
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")])),
        "LD_PRELOAD": lib,
        "FAKETIME": f"{offset:+d}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "ANY_DAY": today,  # tests/conftest.py stops the run if the clock did not move
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every test on more days")
    parser.add_argument("--day", action="append", help="this day (ISO-8601 with offset) only")
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    args = parser.parse_args()
    lib = libfaketime()
    if lib is None:
        print("libfaketime is not installed (Debian: apt-get install faketime).", file=sys.stderr)
        return 1
    if args.day:
        days = {day: (day, []) for day in args.day}
    else:
        more = {name: (day, []) for name, day in MORE_DAYS.items()} if args.full else {}
        days = {**DAYS, **more}
    failed = []
    for name, (today, dealt) in days.items():
        tests = FULL if args.full else [*EVERY_DAY, *dealt]
        print(f"\n=== as if today were {today} ({name}) ===", flush=True)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(
            [*command, *tests, *args.pytest_args], env=faked_env(today, lib), check=False
        )
        if done.returncode != 0:
            failed.append(f"{today} ({name})")
    if failed:
        print("\nFailed on: " + "; ".join(failed), file=sys.stderr)
        return 1
    print("\nPassed on every day: " + ", ".join(today for today, _ in days.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
