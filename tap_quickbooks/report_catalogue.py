"""The ten QBO reports the tap reads, and what kind of table each is.

One row per report, as
:mod:`tap_quickbooks.catalogue` has one per entity: the kind decides how a report is asked for
(a period, or a day), split when QBO cannot answer it whole, and read into records.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """How a report relates to its period, which decides how it is asked for and split."""

    FLOW = "flow"  # totals over the period (P&L, cash flow): split windows add up
    DETAIL = "detail"  # one line per transaction (GL, P&L detail): split windows concatenate
    BALANCE = "balance"  # balances at the period's end (balance sheet, trial balance)
    AGING = "aging"  # open balances per customer or vendor at the period's end


@dataclass(frozen=True)
class Report:
    name: str  # QBO's report name, as in /reports/{name}
    stream: str
    kind: Kind
    takes_method: bool  # QBO accepts accounting_method for it
    party: str | None = None  # "customer" or "vendor": whom the lines of an aging report name

    @property
    def splittable(self) -> bool:
        """A window too large for QBO can be read in halves and put back together."""
        return self.kind in {Kind.FLOW, Kind.DETAIL}


REPORTS: tuple[Report, ...] = (
    Report("ProfitAndLoss", "profit_and_loss_report", Kind.FLOW, takes_method=True),
    Report("ProfitAndLossDetail", "profit_and_loss_detail_report", Kind.DETAIL, True),
    Report("BalanceSheet", "balance_sheet_report", Kind.BALANCE, takes_method=True),
    Report("CashFlow", "cash_flow_report", Kind.FLOW, takes_method=False),
    Report("TrialBalance", "trial_balance_report", Kind.BALANCE, takes_method=True),
    Report("GeneralLedger", "general_ledger_report", Kind.DETAIL, takes_method=True),
    Report("AgedReceivables", "aged_receivables_report", Kind.AGING, False, "customer"),
    Report("AgedPayables", "aged_payables_report", Kind.AGING, False, "vendor"),
    Report("CustomerBalance", "customer_balance_report", Kind.AGING, True, "customer"),
    Report("VendorBalance", "vendor_balance_report", Kind.AGING, True, "vendor"),
)

# What rows are labelled with when QBO takes no accounting method for a report (cash flow,
# A/R and A/P ageing) and names none: those reports are built from accrual-basis documents.
DEFAULT_BASIS = "Accrual"
