"""Financial reports (ProfitAndLoss, BalanceSheet, ...) as typed, keyed streams."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_quickbooks.tap import TapQuickBooks

# Settings the report streams read; the tap adds them to its config schema.
REPORT_SETTINGS: list[th.Property] = []


def report_streams(tap: TapQuickBooks) -> list[Stream]:
    """The report streams of the tap."""
    return []
