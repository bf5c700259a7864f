"""Report periods and the report settings: which calendar periods a run reads.

A period is a closed range of days (a month, quarter, year, week or day); a run reads the
periods from ``report_start_date`` (or its bookmark, moved back by the look-back) to
``report_end_date``, once per accounting method.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from tap_quickbooks.timefmt import plain_iso

PERIOD_UNITS = ("month", "quarter", "year", "week", "day")
METHODS = {"accrual": ("Accrual",), "cash": ("Cash",), "both": ("Accrual", "Cash")}

REPORT_SETTINGS: list[th.Property] = [
    th.Property(
        "report_period",
        th.StringType,
        default="month",
        allowed_values=list(PERIOD_UNITS),
        description="Length of one report period: `month`, `quarter`, `year`, `week` "
        "(Monday to Sunday) or `day`. Each period of each report is one API call per "
        "accounting method.",
    ),
    th.Property(
        "report_accounting_method",
        th.StringType,
        default="accrual",
        allowed_values=list(METHODS),
        description="Accounting basis of the reports: `accrual`, `cash`, or `both` (each "
        "period is then read twice). CashFlow, AgedReceivables and AgedPayables take no "
        "basis in QBO and are read once.",
    ),
    th.Property(
        "report_lookback_periods",
        th.IntegerType(minimum=0),
        default=3,
        description="Closed periods re-read on every run before the bookmarked one, because "
        "books get restated. 0 re-reads only the bookmarked (last read) period.",
    ),
    th.Property(
        "report_start_date",
        th.DateType,
        description="First day whose period is read on a first run. Default: the day of "
        "`start_date`, or 12 months before today.",
    ),
    th.Property(
        "report_end_date",
        th.DateType,
        description="Day whose period is the last one read. Default: today (so the current, "
        "still open period is read, and read again next run).",
    ),
]


@dataclass(frozen=True)
class Period:
    """A closed range of days."""

    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def halves(self) -> tuple[Period, Period]:
        middle = self.start + dt.timedelta(days=self.days // 2 - 1)
        return Period(self.start, middle), Period(middle + dt.timedelta(days=1), self.end)


def period_of(day: dt.date, unit: str) -> Period:
    """The calendar period (month, quarter, ...) that holds a day."""
    import pendulum  # noqa: PLC0415 - only a report run needs it (timefmt._PLAIN_ISO says why)

    date = pendulum.Date(day.year, day.month, day.day)
    if unit == "quarter":
        start, end = date.first_of("quarter"), date.last_of("quarter")
    else:
        start, end = date.start_of(unit), date.end_of(unit)
    return Period(_plain(start), _plain(end))


def _plain(date: dt.date) -> dt.date:
    """A pendulum date as a plain one, which prints and compares without surprises."""
    return dt.date(date.year, date.month, date.day)


def periods_from(first: Period, last: Period, unit: str) -> list[Period]:
    """The periods from one to another, both included."""
    out = []
    period = first
    while period.start <= last.start:
        out.append(period)
        period = period_of(period.end + dt.timedelta(days=1), unit)
    return out


def periods_back(period: Period, count: int, unit: str) -> Period:
    """The period that many periods before this one."""
    for _ in range(count):
        period = period_of(period.start - dt.timedelta(days=1), unit)
    return period


@dataclass(frozen=True)
class ReportSettings:
    unit: str
    methods: tuple[str, ...]
    lookback: int
    start: dt.date
    end: dt.date

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], today: dt.date) -> ReportSettings:
        """The report settings of a config; what is wrong with them raises, all at once."""
        problems = []
        unit = config.get("report_period") or "month"
        if unit not in PERIOD_UNITS:
            problems.append(f"report_period must be one of {', '.join(PERIOD_UNITS)}.")
        method = str(config.get("report_accounting_method") or "accrual").lower()
        if method not in METHODS:
            problems.append("report_accounting_method must be accrual, cash or both.")
        lookback = config.get("report_lookback_periods")
        lookback = 3 if lookback is None else lookback
        if not isinstance(lookback, int) or lookback < 0:
            problems.append("report_lookback_periods must be a whole number, 0 or more.")
        start = end = None
        try:
            start = _config_day(config, "report_start_date") or _config_day(config, "start_date")
            end = _config_day(config, "report_end_date") or today
        except ValueError as exc:
            problems.append(str(exc))
        start = start or _year_before(today)
        if end and start > end:
            problems.append(f"report_start_date ({start}) is after report_end_date ({end}).")
        if problems:
            msg = "Invalid report settings: " + " ".join(problems)
            raise ConfigValidationError(msg, errors=problems)
        assert end is not None
        return cls(unit, METHODS[method], lookback, _plain(start), end)


def report_settings_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with the report settings, one sentence each, for the tap's own check."""
    try:
        ReportSettings.from_config(config, dt.datetime.now(dt.UTC).date())
    except ConfigValidationError as exc:
        return list(exc.errors or [])
    return []


def _year_before(day: dt.date) -> dt.date:
    """The same day a year earlier (29 February: the 28th), as pendulum subtracts 12 months."""
    return day.replace(year=day.year - 1, day=min(day.day, 28) if day.month == 2 else day.day)


def _config_day(config: t.Mapping[str, t.Any], key: str) -> dt.date | None:
    """The calendar day a date or date-time setting names, as written (no time zone shift)."""
    text = config.get(key)
    if not text:
        return None
    if (plain := plain_iso(str(text))) is not None:
        return plain.date()
    import pendulum  # noqa: PLC0415 - only for shapes timefmt does not read itself

    try:
        parsed = pendulum.parse(str(text))
    except (ValueError, TypeError) as exc:  # pendulum's ParserError is a ValueError
        msg = f"{key} must be an ISO-8601 date, not {text!r}."
        raise ValueError(msg) from exc
    if not isinstance(parsed, dt.date):
        msg = f"{key} must be an ISO-8601 date, not {text!r}."
        raise ValueError(msg)
    return dt.date(parsed.year, parsed.month, parsed.day)
