"""Every QBO entity the tap extracts, in one declarative table; streams are generated from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    """What the tap needs to know about one queryable QBO entity."""

    name: str
    """QBO's name for it, as in ``SELECT * FROM Invoice``."""
    stream: str
    """Singer stream name: singer-io's snake_case plurals, so users switch without renaming."""
    name_list: bool = False
    """QBO hides inactive rows unless the query names ``Active``."""
    full_table_reason: str | None = None
    """Why the stream cannot be incremental on LastUpdatedTime (None: it is incremental)."""
    cdc: bool = True
    """Change Data Capture reports this entity's changes and deletions."""
    key: tuple[str, ...] = ("Id",)
    """The fields that identify a row (with realm_id); a few entities have no Id."""
    wrapped: bool = False
    """QBO wraps each row in its transaction type, e.g. ``{"Invoice": {...}}``."""

    @property
    def incremental(self) -> bool:
        return self.full_table_reason is None

    @property
    def singleton(self) -> bool:
        """One row per company, read in one call without paging."""
        return self.name in {"CompanyInfo", "Preferences"}


ENTITIES: tuple[Entity, ...] = (
    Entity("Account", "accounts", name_list=True),
    Entity("Attachable", "attachables"),
    Entity("Bill", "bills"),
    Entity("BillPayment", "bill_payments"),
    Entity("Budget", "budgets", name_list=True),
    Entity("Class", "classes", name_list=True),
    Entity("CompanyCurrency", "company_currencies"),
    Entity(
        "CompanyInfo",
        "company_info",
        full_table_reason="a single row per company: one call reads it whole",
        cdc=False,
    ),
    Entity("CreditCardPayment", "credit_card_payments"),
    Entity("CreditMemo", "credit_memos"),
    Entity("Customer", "customers", name_list=True),
    Entity("CustomerType", "customer_types"),
    Entity("Department", "departments", name_list=True),
    Entity("Deposit", "deposits"),
    Entity("Employee", "employees", name_list=True),
    Entity("Estimate", "estimates"),
    Entity(
        "ExchangeRate",
        "exchange_rates",
        full_table_reason="QBO cannot filter exchange rates on MetaData timestamps",
        cdc=False,
        key=("SourceCurrencyCode", "TargetCurrencyCode", "AsOfDate"),  # rates have no Id
    ),
    Entity("InventoryAdjustment", "inventory_adjustments"),
    Entity("Invoice", "invoices"),
    Entity("Item", "items", name_list=True),
    Entity("JournalCode", "journal_codes", cdc=False),
    Entity("JournalEntry", "journal_entries"),
    Entity("Payment", "payments"),
    Entity("PaymentMethod", "payment_methods", name_list=True),
    Entity(
        "Preferences",
        "preferences",
        full_table_reason="a single row per company, and QBO does not page it",
        cdc=False,
    ),
    Entity("Purchase", "purchases"),
    Entity("PurchaseOrder", "purchase_orders"),
    Entity("RecurringTransaction", "recurring_transactions", wrapped=True),
    Entity("RefundReceipt", "refund_receipts"),
    Entity("ReimburseCharge", "reimburse_charges"),
    Entity("SalesReceipt", "sales_receipts"),
    Entity("TaxAgency", "tax_agencies", cdc=False),
    Entity(
        "TaxClassification",
        "tax_classifications",
        full_table_reason="a read-only reference list QBO cannot filter on MetaData timestamps",
        cdc=False,
        key=("id",),  # this list comes from another Intuit service, in lower case
    ),
    Entity(
        "TaxCode",
        "tax_codes",
        name_list=True,
        full_table_reason=(
            "the built-in codes TAX and NON carry no MetaData, so a timestamp filter would "
            "never return them; the list is small"
        ),
        cdc=False,
    ),
    Entity("TaxPayment", "tax_payments"),
    Entity("TaxRate", "tax_rates", name_list=True, cdc=False),
    Entity("Term", "terms", name_list=True),
    Entity("TimeActivity", "time_activities", cdc=False),
    Entity("Transfer", "transfers"),
    Entity("Vendor", "vendors", name_list=True),
    Entity("VendorCredit", "vendor_credits"),
)

BY_STREAM = {entity.stream: entity for entity in ENTITIES}
BY_NAME = {entity.name: entity for entity in ENTITIES}


def lift_wrapped(row: dict) -> dict:
    """Give a wrapped row (``{"Invoice": {...}}``, see Entity.wrapped: queries and CDC both
    wrap) the inner Id and MetaData at the top, so it has a key and a timestamp like any
    other; the wrapper is kept whole."""
    inner = next((v for v in row.values() if isinstance(v, dict) and "Id" in v), None)
    if inner is None:
        return row
    return {**row, "Id": inner["Id"], "MetaData": inner.get("MetaData")}
