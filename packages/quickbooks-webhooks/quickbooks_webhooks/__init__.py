"""Receive QuickBooks Online webhooks: verify, de-duplicate and store them as sync hints.

A notification says *which* company changed, never *what*: the data always comes from the tap's
normal incremental read. So the receiver only records, per company, which streams have pending
changes (``EventStore.pending_by_company``); a scheduler (the Dagster sensor) runs one sync per
company and calls ``EventStore.mark_synced``. Modules: ``config`` (settings), ``signature``
(HMAC check), ``events`` (both payload formats), ``store`` (SQLite), ``registry`` (known
companies), ``app`` (the ASGI app), ``cli`` (``quickbooks-webhooks``).
"""

from .events import Event, parse_body
from .registry import AnyCompany, CompanyRegistry, FileRegistry, StaticRegistry
from .signature import sign, verify
from .store import EventStore, Pending, open_store

__all__ = [
    "AnyCompany",
    "CompanyRegistry",
    "Event",
    "EventStore",
    "FileRegistry",
    "Pending",
    "StaticRegistry",
    "open_store",
    "parse_body",
    "sign",
    "verify",
]
