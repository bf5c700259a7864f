"""A deterministic QuickBooks company, by seed and scale.

``generate(store, seed, scale, anchor)`` fills a :class:`~qbo_emulator.store.Store` with a
company that looks like a real QBO file three years into its life:

- a chart of accounts (bank, A/R, undeposited funds, inventory, fixed assets with
  sub-accounts, A/P, credit cards, tax payable, loans, equity, income, COGS, expenses),
  classes, departments, terms, payment methods, customer types, tax agencies, rates and
  codes (with the ``TAX``/``NON`` pseudo codes), currencies and monthly exchange rates;
- customers (companies and people, some inactive with " (deleted)", sub-customers/jobs with
  ``ParentRef``/``Job``/``Level``, some in EUR/GBP/CAD), vendors, employees, items
  (Service, NonInventory, Inventory with QtyOnHand, Category);
- transactions created in time order that reference those consistently: invoices with
  typed ``Line`` arrays (SalesItemLineDetail, DiscountLineDetail, SubTotalLineDetail,
  DescriptionOnly), tax detail, custom fields and addresses; payments whose lines link the
  invoices they pay (some with JAXB ``LineEx.any`` leaks), and which bump the invoice's
  Balance, SyncToken and LastUpdatedTime like QBO does; deposits of undeposited payments;
  estimates turned into invoices; bills paid by bill payments; purchases (some with
  ``PurchaseEx.any``); journal entries, transfers, credit-card payments, tax payments,
  inventory adjustments, time activities, attachables, reimburse charges and recurring
  templates.

Money is built from integer cents (``cents / 100`` always round-trips through JSON), and
timestamps are Pacific, second precision, spanning several DST changes, with deliberate
same-second groups (imports, recurring batches, bank feeds). ``scale`` is the approximate
total number of records; transactions take whatever the lists leave over.
"""

from __future__ import annotations

import gc

from .. import profiles
from ..store import Store
from .banking import Banking
from .core import Core
from .items import Items
from .lists import Lists
from .other import Other
from .parties import Parties
from .purchases import Purchases
from .sales import Sales
from .timeline import Timeline


class _Gen(Timeline, Other, Banking, Purchases, Sales, Items, Parties, Lists, Core):
    """The generator: each part is one module of this package."""


def generate(
    store: Store, seed: int, scale: int, anchor: float, profile: profiles.Profile | None = None
) -> None:
    """Fill ``store`` with a deterministic company (same seed, scale, realm -> same data),
    shaped by its profile (edition, country, features; the historic company by default)."""
    profile = profiles.get(profile)
    store.set_profile(profile)
    # Millions of small dicts: the cyclic GC would rescan them over and over (quadratic).
    # Paused only while generating, and left as found.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gen = _Gen(store, seed, scale, int(anchor))
        gen.profile = profile
        gen.run()
    finally:
        _to_oldest_generation()
        if was_enabled:
            gc.enable()


def _to_oldest_generation() -> None:
    """Move what the generator made straight into the collector's oldest generation.

    Made while the collector was paused, the company sits in its youngest generation, which the
    next young passes would each walk in full. Freezing and at once unfreezing moves every
    tracked object to the oldest generation in one step (the company, and the few young
    objects of the rest of the process, which then wait for a full pass) and leaves no setting
    changed. Keeping the company out of every pass for good (a lasting gc.freeze) is the
    serving process's choice, made in cli.main. Where someone has frozen objects already,
    unfreezing would undo their choice: then nothing moves.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
