"""The entity catalogue: which QBO entities exist and how each one behaves.

Every fact the rest of the emulator needs about an entity lives here, so the query engine, the
store, CDC and the HTTP front never hard-code entity names:

- ``name_list``: a name list whose inactive rows a query hides unless its WHERE names
  ``Active`` (``Active IN (true, false)``); deactivating one appends `` (deleted)`` to its name.
- ``cdc``: whether ``/cdc`` accepts it (QBO refuses JournalCode, TaxAgency, TimeActivity,
  TaxCode, TaxRate; the emulator also refuses the non-list singletons and the two entities
  without MetaData filtering).
- ``ts_filterable``: whether ``MetaData.CreateTime`` / ``MetaData.LastUpdatedTime`` may appear
  in WHERE/ORDERBY (ExchangeRate and TaxClassification: 400, code 4001).
- ``deletable`` / ``voidable`` / ``mergeable``: which store mutations apply.
- ``kind``: ``list`` (name and reference lists), ``txn`` (posting or non-posting transactions),
  ``single`` (CompanyInfo and Preferences: one row, paging ignored), ``other``.
- ``id_seq``: the Id sequence the entity draws from. Customers, vendors and employees share
  one sequence in QBO, and all transaction types share another, as the recordings show.
- ``filterable``: the queryable properties besides ``Id`` and the MetaData timestamps.
- ``name_field``: the field a name list sorts on by default and suffixes when made inactive.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntitySpec:
    name: str
    kind: str = "other"
    name_list: bool = False
    cdc: bool = True
    ts_filterable: bool = True
    deletable: bool = False
    voidable: bool = False
    mergeable: bool = False
    id_seq: str = ""
    name_field: str | None = None
    filterable: frozenset[str] = field(default_factory=frozenset)
    has_metadata: bool = True

    @property
    def is_txn(self) -> bool:
        return self.kind == "txn"

    @property
    def singleton(self) -> bool:
        return self.kind == "single"

    @property
    def deactivatable(self) -> bool:
        return self.name_list

    @property
    def path(self) -> str:
        """The lower-case resource name used in read/write URLs (``/customer/5``)."""
        return self.name.lower()


def _f(*names: str) -> frozenset[str]:
    return frozenset(names)


_TXN_COMMON = ("DocNumber", "TxnDate", "TotalAmt", "CurrencyRef", "DepartmentRef", "ClassRef")
_SALES = (*_TXN_COMMON, "CustomerRef")
_PURCH = (*_TXN_COMMON, "VendorRef")

_SPECS = [
    # Name lists (inactive rows hidden by default).
    EntitySpec(
        "Account",
        kind="list",
        name_list=True,
        mergeable=True,
        name_field="FullyQualifiedName",
        filterable=_f(
            "Name",
            "FullyQualifiedName",
            "Active",
            "AccountType",
            "AccountSubType",
            "Classification",
            "CurrentBalance",
            "CurrentBalanceWithSubAccounts",
            "SubAccount",
            "AcctNum",
            "ParentRef",
        ),
    ),
    EntitySpec(
        "Budget",
        kind="list",
        name_list=True,
        name_field="Name",
        filterable=_f("Name", "Active", "StartDate", "EndDate", "BudgetType"),
    ),
    EntitySpec(
        "Class",
        kind="list",
        name_list=True,
        mergeable=True,
        name_field="FullyQualifiedName",
        filterable=_f("Name", "FullyQualifiedName", "Active", "SubClass", "ParentRef"),
    ),
    EntitySpec(
        "Customer",
        kind="list",
        name_list=True,
        mergeable=True,
        id_seq="names",
        name_field="FullyQualifiedName",
        filterable=_f(
            "DisplayName",
            "GivenName",
            "MiddleName",
            "FamilyName",
            "CompanyName",
            "FullyQualifiedName",
            "PrintOnCheckName",
            "Active",
            "Balance",
            "BalanceWithJobs",
            "Job",
            "ParentRef",
            "Taxable",
            "CurrencyRef",
        ),
    ),
    EntitySpec(
        "Department",
        kind="list",
        name_list=True,
        mergeable=True,
        name_field="FullyQualifiedName",
        filterable=_f("Name", "FullyQualifiedName", "Active", "SubDepartment", "ParentRef"),
    ),
    EntitySpec(
        "Employee",
        kind="list",
        name_list=True,
        id_seq="names",
        name_field="DisplayName",
        filterable=_f(
            "DisplayName",
            "GivenName",
            "MiddleName",
            "FamilyName",
            "PrintOnCheckName",
            "Active",
            "EmployeeNumber",
            "HiredDate",
        ),
    ),
    EntitySpec(
        "Item",
        kind="list",
        name_list=True,
        mergeable=True,
        name_field="FullyQualifiedName",
        filterable=_f(
            "Name", "FullyQualifiedName", "Active", "Type", "Sku", "QtyOnHand", "ParentRef"
        ),
    ),
    EntitySpec(
        "PaymentMethod",
        kind="list",
        name_list=True,
        name_field="Name",
        filterable=_f("Name", "Active", "Type"),
    ),
    EntitySpec(
        "TaxCode",
        kind="list",
        name_list=True,
        cdc=False,
        name_field="Name",
        filterable=_f("Name", "Description", "Active", "Taxable", "TaxGroup"),
    ),
    EntitySpec(
        "TaxRate",
        kind="list",
        name_list=True,
        cdc=False,
        name_field="Name",
        filterable=_f("Name", "Description", "Active", "RateValue", "AgencyRef"),
    ),
    EntitySpec(
        "Term",
        kind="list",
        name_list=True,
        name_field="Name",
        filterable=_f("Name", "Active", "Type", "DueDays"),
    ),
    EntitySpec(
        "Vendor",
        kind="list",
        name_list=True,
        mergeable=True,
        id_seq="names",
        name_field="DisplayName",
        filterable=_f(
            "DisplayName",
            "GivenName",
            "MiddleName",
            "FamilyName",
            "CompanyName",
            "PrintOnCheckName",
            "Active",
            "Balance",
            "Vendor1099",
            "CurrencyRef",
        ),
    ),
    # Other lists.
    EntitySpec(
        "CustomerType",
        kind="list",
        name_field="Name",
        filterable=_f("Name", "Active"),
    ),
    EntitySpec(
        "JournalCode",
        kind="list",
        cdc=False,
        name_field="Name",
        filterable=_f("Name", "Active", "Type"),
    ),
    EntitySpec(
        "TaxAgency",
        kind="list",
        cdc=False,
        name_field="DisplayName",
        filterable=_f("DisplayName", "TaxTrackedOnSales", "TaxTrackedOnPurchases"),
    ),
    EntitySpec(
        "CompanyCurrency",
        kind="list",
        name_field="Code",
        filterable=_f("Code", "Name", "Active"),
    ),
    EntitySpec(
        "ExchangeRate",
        kind="other",
        cdc=False,
        ts_filterable=False,
        filterable=_f("SourceCurrencyCode", "TargetCurrencyCode", "AsOfDate"),
    ),
    EntitySpec(
        "TaxClassification",
        kind="other",
        cdc=False,
        ts_filterable=False,
        has_metadata=False,
        filterable=_f("Code", "Name", "Level", "ParentRef"),
    ),
    # Singletons.
    EntitySpec("CompanyInfo", kind="single", cdc=False, filterable=_f("CompanyName")),
    EntitySpec("Preferences", kind="single", cdc=False),
    # Transactions.
    EntitySpec(
        "Invoice",
        kind="txn",
        deletable=True,
        voidable=True,
        id_seq="txn",
        filterable=_f(*_SALES, "DueDate", "Balance", "ShipDate", "TxnStatus"),
    ),
    EntitySpec(
        "Payment",
        kind="txn",
        deletable=True,
        voidable=True,
        id_seq="txn",
        filterable=_f(*_SALES, "UnappliedAmt", "PaymentRefNum", "DepositToAccountRef"),
    ),
    EntitySpec(
        "SalesReceipt",
        kind="txn",
        deletable=True,
        voidable=True,
        id_seq="txn",
        filterable=_f(*_SALES, "DepositToAccountRef", "PaymentRefNum"),
    ),
    EntitySpec(
        "Estimate",
        kind="txn",
        deletable=True,
        id_seq="txn",
        filterable=_f(*_SALES, "TxnStatus", "ExpirationDate"),
    ),
    EntitySpec(
        "CreditMemo",
        kind="txn",
        deletable=True,
        voidable=True,
        id_seq="txn",
        filterable=_f(*_SALES, "Balance", "RemainingCredit"),
    ),
    EntitySpec(
        "RefundReceipt",
        kind="txn",
        deletable=True,
        voidable=True,
        id_seq="txn",
        filterable=_f(*_SALES, "DepositToAccountRef"),
    ),
    EntitySpec(
        "Bill",
        kind="txn",
        deletable=True,
        id_seq="txn",
        filterable=_f(*_PURCH, "DueDate", "Balance", "APAccountRef"),
    ),
    EntitySpec(
        "BillPayment",
        kind="txn",
        deletable=True,
        voidable=True,
        id_seq="txn",
        filterable=_f(*_PURCH, "PayType"),
    ),
    EntitySpec(
        "Purchase",
        kind="txn",
        deletable=True,
        voidable=True,
        id_seq="txn",
        filterable=_f(*_TXN_COMMON, "AccountRef", "PaymentType", "EntityRef", "Credit"),
    ),
    EntitySpec(
        "PurchaseOrder",
        kind="txn",
        deletable=True,
        id_seq="txn",
        filterable=_f(*_PURCH, "POStatus", "DueDate"),
    ),
    EntitySpec(
        "VendorCredit",
        kind="txn",
        deletable=True,
        id_seq="txn",
        filterable=_f(*_PURCH, "Balance"),
    ),
    EntitySpec(
        "Deposit",
        kind="txn",
        deletable=True,
        id_seq="txn",
        filterable=_f(*_TXN_COMMON, "DepositToAccountRef"),
    ),
    EntitySpec(
        "Transfer",
        kind="txn",
        deletable=True,
        voidable=True,
        id_seq="txn",
        filterable=_f("TxnDate", "Amount", "FromAccountRef", "ToAccountRef", "CurrencyRef"),
    ),
    EntitySpec(
        "JournalEntry",
        kind="txn",
        deletable=True,
        id_seq="txn",
        filterable=_f(*_TXN_COMMON, "Adjustment"),
    ),
    EntitySpec(
        "CreditCardPayment",
        kind="txn",
        deletable=True,
        id_seq="txn",
        filterable=_f("TxnDate", "Amount", "BankAccountRef", "CreditCardAccountRef"),
    ),
    EntitySpec(
        "InventoryAdjustment",
        kind="txn",
        deletable=True,
        id_seq="txn",
        filterable=_f("DocNumber", "TxnDate", "AdjustAccountRef"),
    ),
    EntitySpec(
        "TaxPayment",
        kind="txn",
        id_seq="txn",
        filterable=_f("PaymentDate", "PaymentAmount", "Refund", "PaymentAccountRef"),
    ),
    EntitySpec(
        "TimeActivity",
        kind="txn",
        cdc=False,
        deletable=True,
        id_seq="txn",
        filterable=_f("TxnDate", "NameOf", "EmployeeRef", "VendorRef", "CustomerRef", "ItemRef"),
    ),
    EntitySpec(
        "ReimburseCharge",
        kind="txn",
        id_seq="txn",
        filterable=_f("TxnDate", "Amount", "CustomerRef", "HasBeenInvoiced"),
    ),
    EntitySpec(
        "RecurringTransaction",
        kind="other",
        deletable=True,
        filterable=_f("RecurType"),
    ),
    EntitySpec(
        "Attachable",
        kind="other",
        deletable=True,
        id_seq="attachable",
        filterable=_f("FileName", "Note", "ContentType", "AttachableRef"),
    ),
]

CATALOGUE: dict[str, EntitySpec] = {s.name: s for s in _SPECS}
ENTITY_NAMES: list[str] = sorted(CATALOGUE)
_BY_LOWER = {n.lower(): n for n in CATALOGUE}

NAME_LISTS = [s.name for s in _SPECS if s.name_list]
CDC_ENTITIES = [s.name for s in _SPECS if s.cdc]
TRANSACTIONS = [s.name for s in _SPECS if s.is_txn]

#: Reference fields a merge of each entity type rewrites in other objects.
MERGE_REFS: dict[str, tuple[str, ...]] = {
    "Customer": ("CustomerRef", "ParentRef"),
    "Vendor": ("VendorRef",),
    "Account": (
        "AccountRef",
        "DepositToAccountRef",
        "APAccountRef",
        "ARAccountRef",
        "IncomeAccountRef",
        "ExpenseAccountRef",
        "AssetAccountRef",
        "FromAccountRef",
        "ToAccountRef",
        "BankAccountRef",
        "CCAccountRef",
        "CreditCardAccountRef",
        "AdjustAccountRef",
        "PaymentAccountRef",
        "ParentRef",
    ),
    "Item": ("ItemRef", "ParentRef"),
    "Class": ("ClassRef", "ParentRef"),
    "Department": ("DepartmentRef", "ParentRef"),
}


def lookup(name: str) -> EntitySpec | None:
    """The spec for an entity name, case-insensitively (``invoice`` -> Invoice)."""
    canonical = _BY_LOWER.get(name.lower())
    return CATALOGUE[canonical] if canonical else None


def spec(name: str) -> EntitySpec:
    found = lookup(name)
    if found is None:
        raise KeyError(f"unknown entity {name!r}")
    return found


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Properties a write may carry, beyond whatever the generated data already uses (QBO answers
#: code 2010 "Unrecognized field" for anything else). Transactions share one generous set.
_TXN_PROPERTIES = _words(
    """
    AllowIPNPayment AllowOnlineACHPayment AllowOnlineCreditCardPayment AllowOnlinePayment
    ApplyTaxAfterDiscount AutoDocNumber BillAddr BillEmail BillEmailBcc BillEmailCc ClassRef
    ConvenienceFeeDetail CurrencyRef CustomField CustomerMemo CustomerRef DeliveryInfo
    DepartmentRef DepositToAccountRef DiscountRate DocNumber DueDate ECloudStatusTimeStamp
    EInvoiceStatus EmailStatus ExchangeRate FOB FreeFormAddress GlobalTaxCalculation HomeBalance
    HomeTotalAmt InvoiceEx InvoiceLink LessCIS LinkedTxn Line PONumber PaymentDetailsMessage
    PaymentMethodRef PaymentRefNum PrintStatus PrivateNote RecurDataRef RecurringInfo RemitToRef
    SalesRepRef SalesTermRef ShipAddr ShipDate ShipFromAddr ShipMethodRef Tag TaxFormNum
    TaxFormType TotalAmt TrackingNum TransactionLocationType TxnApprovalInfo TxnDate TxnSource
    TxnStatus TxnTaxDetail Balance VendorRef APAccountRef ARAccountRef AccountRef PaymentType
    EntityRef Credit PurchaseEx UnappliedAmt ProcessPayment CreditCardPayment CheckPayment PayType
    FromAccountRef ToAccountRef Amount Adjustment JournalCode ExpirationDate AcceptedBy
    AcceptedDate POStatus POEmail Memo RemainingCredit BankAccountRef CreditCardAccountRef
    PaymentDate PaymentAmount PaymentAccountRef Refund Description AdjustAccountRef NameOf
    EmployeeRef ItemRef BillableStatus Taxable HourlyRate Hours Minutes StartTime EndTime
    BreakHours BreakMinutes HasBeenInvoiced TaxExemptionRef TxnReferenceNumber
    """
)
_LIST_PROPERTIES: dict[str, frozenset[str]] = {
    "Customer": _words(
        """Title GivenName MiddleName FamilyName Suffix DisplayName FullyQualifiedName
        CompanyName PrintOnCheckName Active PrimaryPhone AlternatePhone Mobile Fax
        PrimaryEmailAddr WebAddr DefaultTaxCodeRef Taxable BillAddr ShipAddr OtherAddr Notes Job
        BillWithParent ParentRef Level SalesTermRef PaymentMethodRef Balance OpenBalanceDate
        BalanceWithJobs CurrencyRef PreferredDeliveryMethod ResaleNum ARAccountRef
        PrimaryTaxIdentifier TaxExemptionReasonId CustomerTypeRef GSTIN BusinessNumber
        GSTRegistrationType IsProject Source"""
    ),
    "Vendor": _words(
        """Title GivenName MiddleName FamilyName Suffix DisplayName CompanyName PrintOnCheckName
        Active PrimaryPhone AlternatePhone Mobile Fax PrimaryEmailAddr WebAddr OtherContactInfo
        BillAddr TaxIdentifier TermRef Balance AcctNum Vendor1099 T4AEligible T5018Eligible
        CurrencyRef BillRate CostRate APAccountRef VendorPaymentBankDetail TaxReportingBasis
        GSTIN BusinessNumber GSTRegistrationType HasTPAR Source"""
    ),
    "Employee": _words(
        """EmployeeNumber SSN PrimaryAddr PrimaryEmailAddr PrimaryPhone Mobile GivenName
        MiddleName FamilyName Suffix Title DisplayName PrintOnCheckName Active BillableTime
        BillRate CostRate BirthDate Gender HiredDate ReleasedDate Organization"""
    ),
    "Item": _words(
        """Name Sku Description Active SubItem ParentRef Level FullyQualifiedName Taxable
        SalesTaxIncluded UnitPrice Type IncomeAccountRef PurchaseDesc PurchaseTaxIncluded
        PurchaseCost ExpenseAccountRef AssetAccountRef TrackQtyOnHand QtyOnHand InvStartDate
        SalesTaxCodeRef PurchaseTaxCodeRef ReorderPoint PrefVendorRef ClassRef AbatementRate
        ReverseChargeRate ServiceType ItemCategoryType TaxClassificationRef UQCDisplayText"""
    ),
    "Account": _words(
        """Name SubAccount ParentRef FullyQualifiedName Description Active Classification
        AccountType AccountSubType AcctNum CurrentBalance CurrentBalanceWithSubAccounts
        CurrencyRef TaxCodeRef TxnLocationType"""
    ),
}


def writable_properties(entity: str) -> frozenset[str]:
    s = CATALOGUE[entity]
    extra = _LIST_PROPERTIES.get(entity)
    if extra is None:
        extra = _TXN_PROPERTIES if s.is_txn else frozenset()
    return extra | s.filterable
