"""JSON schemas of the QuickBooks Online (QBO v3 Accounting API) entities the tap extracts.

Written from the QBO v3 API reference and the v3 XSD (``Finance.xsd``, ``IntuitBaseTypes.xsd``,
``IntuitNamesTypes.xsd`` of Intuit's SDKs), keeping QBO's own field names.

Conventions, chosen for finance data that must match QuickBooks to the cent:

- money, quantities, rates and percentages are JSON numbers (``th.DecimalType``); the tap parses
  them as :class:`decimal.Decimal` and they stay Decimal, never strings or floats;
- ``xs:date`` fields are ``date``, ``xs:dateTime`` fields are ``date-time``; ids, ``SyncToken`` and
  reference values are strings; integers only where QBO sends integers (``LineNum``, counts, days);
- every field is optional and nullable (QBO omits and nulls freely), nothing is ``required``;
- every object, at every level, has ``additionalProperties: true``: the SDK keeps an undeclared
  property only where that is set, so a field QBO adds tomorrow passes through instead of being
  dropped;
- ``Line`` arrays hold one line object carrying every ``*LineDetail`` the API has, all optional,
  selected by ``DetailType`` (``oneOf`` is badly supported by Singer targets);
- the tap's own fields (``realm_id``, the replication key, ``_sdc_*``) are added by the stream.

Shared building blocks are module constants; entities are composed from field groups
(``INTUIT_ENTITY``, ``TRANSACTION``, ``SALES_TRANSACTION``, ``NAME_BASE``, ...).
"""

from __future__ import annotations

import copy
import typing as t

from singer_sdk import typing as th

__all__ = ["ENTITY_NAMES", "entity_schema"]

JSONType: t.TypeAlias = type[th.JSONTypeHelper] | th.JSONTypeHelper
Fields: t.TypeAlias = dict[str, JSONType]


def fields(*groups: Fields, **types: JSONType) -> Fields:
    """Merge field groups and named fields, later ones winning (name -> JSON type helper)."""
    merged: Fields = {}
    for group in groups:
        merged.update(group)
    merged.update(types)
    return merged


def nullable(type_: JSONType) -> dict:
    """The JSON schema of ``type_`` with ``null`` allowed, as ``th.Property`` makes it."""
    type_dict = type_.type_dict
    types = type_dict["type"] if isinstance(type_dict["type"], list) else [type_dict["type"]]
    return type_dict if "null" in types else {**type_dict, "type": [*types, "null"]}


def obj(*groups: Fields, **types: JSONType) -> th.CustomType:
    """An open object (``additionalProperties: true``) whose properties are all optional.

    Same schema as ``th.ObjectType(*(th.Property(name, type_) ...), additional_properties=True)``
    (the tests check it), built once and shared: ``ObjectType`` deep-copies its whole subtree at
    every level each time it is used, which made importing this module take seconds.
    """
    properties = {name: nullable(type_) for name, type_ in fields(*groups, **types).items()}
    return th.CustomType({"type": "object", "properties": properties, "additionalProperties": True})


def array(item: JSONType) -> th.ArrayType:
    return th.ArrayType(item)


# --------------------------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------------------------
STRING = th.StringType
ID = th.StringType
"""QBO ids (``Id``, ``TxnId``, ``DefinitionId``, reference values) are opaque strings."""
BOOL = th.BooleanType
INT = th.IntegerType
DECIMAL = th.DecimalType
"""Money, quantities, rates, percentages: JSON numbers carried as Decimal."""
DATE = th.DateType
DATETIME = th.DateTimeType


def _or_string(object_type: th.CustomType) -> th.CustomType:
    """An object that QBO may also send as a bare string (seen in Preferences and JAXB leaks)."""
    type_dict = object_type.type_dict
    return th.CustomType({**type_dict, "type": ["object", "string"]})


# --------------------------------------------------------------------------------------------
# Shared building blocks (IntuitBaseTypes.xsd)
# --------------------------------------------------------------------------------------------
REF = obj(value=ID, name=STRING, type=STRING)
"""ReferenceType: ``{"value": "42", "name": "Amy's Bird Sanctuary", "type": "Customer"}``."""

CURRENCY_REF = REF
"""Multi-currency: the currency an entity or transaction is expressed in (``value`` = ISO code)."""

MEMO_REF = obj(value=STRING, id=ID)
"""MemoRef: a customer-facing memo, optionally taken from a CustomerMsg (``id``)."""

PHYSICAL_ADDRESS = obj(
    Id=ID,
    Line1=STRING,
    Line2=STRING,
    Line3=STRING,
    Line4=STRING,
    Line5=STRING,
    City=STRING,
    Country=STRING,
    CountryCode=STRING,
    County=STRING,
    CountrySubDivisionCode=STRING,
    PostalCode=STRING,
    PostalCodeSuffix=STRING,
    Lat=STRING,  # strings, and QBO sends "INVALID" when it cannot geocode
    Long=STRING,
    Tag=STRING,
    Note=STRING,
)
EMAIL_ADDRESS = obj(Id=ID, Address=STRING, Default=BOOL, Tag=STRING)
TELEPHONE_NUMBER = obj(
    Id=ID,
    DeviceType=STRING,
    CountryCode=STRING,
    AreaCode=STRING,
    ExchangeCode=STRING,
    Extension=STRING,
    FreeFormNumber=STRING,
    Default=BOOL,
    Tag=STRING,
)
WEB_SITE_ADDRESS = obj(Id=ID, URI=STRING, Default=BOOL, Tag=STRING)
GENERIC_CONTACT = obj(Id=ID, Name=STRING, Value=STRING, Type=STRING, Default=BOOL, Tag=STRING)
CONTACT_INFO = obj(
    Type=STRING,
    Telephone=TELEPHONE_NUMBER,
    Email=EMAIL_ADDRESS,
    WebSite=WEB_SITE_ADDRESS,
    OtherContact=GENERIC_CONTACT,
)

META_DATA = obj(
    CreatedByRef=REF,
    CreateTime=DATETIME,
    LastModifiedByRef=REF,
    LastUpdatedTime=DATETIME,
    LastChangedInQB=DATETIME,
    Synchronized=BOOL,
)
"""ModificationMetaData, set by QBO and read-only."""

CUSTOM_FIELD = obj(
    DefinitionId=ID,
    Name=STRING,
    Type=STRING,  # StringType | BooleanType | NumberType | DateType
    StringValue=STRING,
    NumberValue=DECIMAL,
    DateValue=DATE,
    BooleanValue=BOOL,
)

NAME_VALUE = obj(Name=STRING, Value=STRING)

JAXB_ELEMENT = obj(
    name=STRING,
    declaredType=STRING,
    scope=STRING,
    value=_or_string(NAME_VALUE),
    nil=BOOL,
    globalScope=BOOL,
    typeSubstituted=BOOL,
)
"""One element of an ``IntuitAnyType`` extension, as QBO's serialiser leaks it (a JAXBElement)."""

ANY_EXTENSION = obj(any=array(JAXB_ELEMENT))
"""IntuitAnyType: the ``*Ex`` extension wrappers (``LineEx``, ``PurchaseEx``, ``InvoiceEx``...)."""

LINKED_TXN = obj(TxnId=ID, TxnType=STRING, TxnLineId=ID)

ATTACHABLE_REF = obj(
    EntityRef=REF,
    LineInfo=ID,
    IncludeOnSend=BOOL,
    Inactive=BOOL,
    NoRefOnly=BOOL,
    CustomField=array(CUSTOM_FIELD),
    AttachableRefEx=ANY_EXTENSION,
)

INTUIT_ENTITY = fields(
    Id=ID,
    SyncToken=STRING,
    MetaData=META_DATA,
    CustomField=array(CUSTOM_FIELD),
    AttachableRef=array(ATTACHABLE_REF),
    # XML attributes, serialised as properties in JSON:
    domain=STRING,
    status=STRING,  # "Deleted" on CDC and delete stubs, "Voided", ...
    sparse=BOOL,
)
"""IntuitEntity: what every top-level QBO entity has."""

EMAIL_MESSAGE = obj(Subject=STRING, Message=STRING)

TRANSACTION_DELIVERY_INFO = obj(
    DeliveryType=STRING, DeliveryTime=DATETIME, DeliveryErrorType=STRING
)

CREDIT_CHARGE_INFO = obj(
    Number=STRING,
    Type=STRING,
    NameOnAcct=STRING,
    CcExpiryMonth=INT,
    CcExpiryYear=INT,
    BillAddrStreet=STRING,
    PostalCode=STRING,
    CommercialCardCode=STRING,
    CCTxnMode=STRING,
    CCTxnType=STRING,
    PrevCCTransId=STRING,
    Amount=DECIMAL,
    ProcessPayment=BOOL,
    CreditCardChargeInfoEx=ANY_EXTENSION,
)
CREDIT_CHARGE_RESPONSE = obj(
    CCProcessor=STRING,
    CCTransId=STRING,
    Status=STRING,
    ResultCode=INT,
    ResultMsg=STRING,
    MerchantAcctNum=STRING,
    CardSecurityCodeMatch=STRING,
    AuthCode=STRING,
    AvsStreet=STRING,
    AvsZip=STRING,
    SecurityCode=STRING,
    ReconBatchId=STRING,
    PaymentGroupingCode=INT,
    TxnAuthorizationTime=DATETIME,
    TxnAuthorizationStamp=INT,
    ClientTransID=STRING,
    CreditChargeResponseEx=ANY_EXTENSION,
)
CREDIT_CARD_PAYMENT = obj(
    CreditChargeInfo=CREDIT_CHARGE_INFO, CreditChargeResponse=CREDIT_CHARGE_RESPONSE
)
"""Card details on a sales transaction or payment (not the CreditCardPayment entity)."""

CHECK_PAYMENT = obj(
    CheckNum=STRING,
    Status=STRING,
    NameOnAcct=STRING,
    AcctNum=STRING,
    BankName=STRING,
    CheckPaymentEx=ANY_EXTENSION,
)

# --------------------------------------------------------------------------------------------
# Lines (Finance.xsd: Line and its *LineDetail types)
# --------------------------------------------------------------------------------------------
UOM_REF = obj(Unit=STRING, UOMSetRef=REF)

MARKUP_INFO = obj(
    PercentBased=BOOL,
    Value=DECIMAL,
    Percent=DECIMAL,
    PriceLevelRef=REF,
    MarkUpIncomeAccountRef=REF,
)

DISCOUNT_OVERRIDE = fields(
    DiscountRef=REF,
    PercentBased=BOOL,
    DiscountPercent=DECIMAL,
    DiscountAccountRef=REF,
)

ITEM_LINE_DETAIL = fields(
    ItemRef=REF,
    ClassRef=REF,
    UnitPrice=DECIMAL,
    RatePercent=DECIMAL,
    PriceLevelRef=REF,
    MarkupInfo=MARKUP_INFO,
    Qty=DECIMAL,
    UOMRef=UOM_REF,
    ItemAccountRef=REF,
    InventorySiteRef=REF,
    TaxCodeRef=REF,
    TaxClassificationRef=REF,
)
"""ItemLineDetail, the abstract base of the item-based line details."""

SALES_ITEM_LINE_DETAIL = fields(
    ITEM_LINE_DETAIL,
    ServiceDate=DATE,
    TaxInclusiveAmt=DECIMAL,
    DiscountRate=DECIMAL,
    DiscountAmt=DECIMAL,
    SalesItemLineDetailEx=ANY_EXTENSION,
)

LINE_DETAILS = fields(
    SalesItemLineDetail=obj(SALES_ITEM_LINE_DETAIL),
    DescriptionLineDetail=obj(
        ServiceDate=DATE, TaxCodeRef=REF, DescriptionLineDetailEx=ANY_EXTENSION
    ),
    DiscountLineDetail=obj(
        DISCOUNT_OVERRIDE,
        ServiceDate=DATE,
        ClassRef=REF,
        TaxCodeRef=REF,
        DiscountLineDetailEx=ANY_EXTENSION,
    ),
    SubTotalLineDetail=obj(ItemRef=REF, ServiceDate=DATE),
    TaxLineDetail=obj(
        TaxRateRef=REF,
        PercentBased=BOOL,
        TaxPercent=DECIMAL,
        NetAmountTaxable=DECIMAL,
        TaxInclusiveAmount=DECIMAL,
        OverrideDeltaAmount=DECIMAL,
        ServiceDate=DATE,
        TaxLineDetailEx=ANY_EXTENSION,
    ),
    ItemBasedExpenseLineDetail=obj(
        ITEM_LINE_DETAIL,
        CustomerRef=REF,
        BillableStatus=STRING,
        TaxInclusiveAmt=DECIMAL,
        ItemBasedExpenseLineDetailEx=ANY_EXTENSION,
    ),
    AccountBasedExpenseLineDetail=obj(
        CustomerRef=REF,
        ClassRef=REF,
        AccountRef=REF,
        BillableStatus=STRING,
        MarkupInfo=MARKUP_INFO,
        TaxAmount=DECIMAL,
        TaxCodeRef=REF,
        TaxInclusiveAmt=DECIMAL,
        ExpenseDetailLineDetailEx=ANY_EXTENSION,
    ),
    ReimburseLineDetail=obj(ITEM_LINE_DETAIL),
    JournalEntryLineDetail=obj(
        PostingType=STRING,  # Debit | Credit
        Entity=obj(Type=STRING, EntityRef=REF),  # EntityTypeRef
        AccountRef=REF,
        ClassRef=REF,
        DepartmentRef=REF,
        TaxCodeRef=REF,
        TaxApplicableOn=STRING,
        TaxAmount=DECIMAL,
        BillableStatus=STRING,
        JournalCodeRef=REF,
        JournalEntryLineDetailEx=ANY_EXTENSION,
    ),
    DepositLineDetail=obj(
        Entity=REF,
        ClassRef=REF,
        AccountRef=REF,
        PaymentMethodRef=REF,
        CheckNum=STRING,
        TxnType=STRING,
        TaxCodeRef=REF,
        TaxApplicableOn=STRING,
        DepositLineDetailEx=ANY_EXTENSION,
    ),
    PaymentLineDetail=obj(
        ItemRef=REF,
        ServiceDate=DATE,
        ClassRef=REF,
        Balance=DECIMAL,
        HomeBalance=DECIMAL,
        Discount=obj(DISCOUNT_OVERRIDE),
        PaymentLineEx=ANY_EXTENSION,
    ),
    PurchaseOrderItemLineDetail=obj(
        SALES_ITEM_LINE_DETAIL,
        ManPartNum=STRING,
        ManuallyClosed=BOOL,
        OpenQty=DECIMAL,
        PurchaseOrderItemLineDetailEx=ANY_EXTENSION,
    ),
    SalesOrderItemLineDetail=obj(SALES_ITEM_LINE_DETAIL, ManuallyClosed=BOOL),
    ItemReceiptLineDetail=obj(ItemReceiptLineDetailEx=ANY_EXTENSION),
    ItemAdjustmentLineDetail=obj(
        ItemRef=REF, SalesPrice=DECIMAL, QtyDiff=DECIMAL, NewQty=DECIMAL, ClassRef=REF
    ),
    TDSLineDetail=obj(TDSAccountRef=REF, TDSSectionTypeId=INT, TDSLineDetailEx=ANY_EXTENSION),
)
"""Every line detail object; a line carries the one its ``DetailType`` names."""

LINE_BASE = fields(
    Id=ID,
    LineNum=INT,
    Description=STRING,
    Amount=DECIMAL,
    Received=DECIMAL,
    DetailType=STRING,
    LinkedTxn=array(LINKED_TXN),
    CustomField=array(CUSTOM_FIELD),
    LineEx=ANY_EXTENSION,
)

GROUP_MEMBER_LINE = obj(
    LINE_BASE,
    SalesItemLineDetail=LINE_DETAILS["SalesItemLineDetail"],
    DescriptionLineDetail=LINE_DETAILS["DescriptionLineDetail"],
)
"""A line of a bundle (group): QBO expands a group into its item and description lines."""

TAX_LINE = obj(LINE_BASE, TaxLineDetail=LINE_DETAILS["TaxLineDetail"])
"""A line of TxnTaxDetail: one tax rate's share of the transaction's tax."""

LINE = obj(
    LINE_BASE,
    LINE_DETAILS,
    GroupLineDetail=obj(
        GroupItemRef=REF,
        Quantity=DECIMAL,
        UOMRef=UOM_REF,
        ServiceDate=DATE,
        Line=array(GROUP_MEMBER_LINE),
        GroupLineDetailEx=ANY_EXTENSION,
    ),
)

TXN_TAX_DETAIL = obj(
    DefaultTaxCodeRef=REF,
    TxnTaxCodeRef=REF,
    TotalTax=DECIMAL,
    TaxLine=array(TAX_LINE),
)

RECURRING_INFO = obj(
    Name=STRING,
    RecurType=STRING,
    Active=BOOL,
    ScheduleInfo=obj(
        IntervalType=STRING,
        NumInterval=INT,
        DayOfMonth=INT,
        DayOfWeek=STRING,
        WeekOfMonth=INT,
        MonthOfYear=STRING,
        RemindDays=INT,
        DaysBefore=INT,
        MaxOccurrences=INT,
        StartDate=DATE,
        EndDate=DATE,
        NextDate=DATE,
        PreviousDate=DATE,
    ),
)

TXN_APPROVAL_INFO = obj(
    ApprovalStatus=STRING,
    ApprovalStatusDetail=STRING,
    LastChangedByUser=STRING,
    LastChangedDate=STRING,
)

TAG = obj(INTUIT_ENTITY, Name=STRING)

# --------------------------------------------------------------------------------------------
# Field groups shared by entities
# --------------------------------------------------------------------------------------------
TRANSACTION = fields(
    INTUIT_ENTITY,
    DocNumber=STRING,
    TxnDate=DATE,
    DepartmentRef=REF,
    CurrencyRef=CURRENCY_REF,
    ExchangeRate=DECIMAL,
    PrivateNote=STRING,
    TxnStatus=STRING,
    LinkedTxn=array(LINKED_TXN),
    Line=array(LINE),
    TxnTaxDetail=TXN_TAX_DETAIL,
    TxnSource=STRING,
    TaxFormType=STRING,
    TaxFormNum=STRING,
    TransactionLocationType=STRING,
    GlobalTaxCalculation=STRING,  # TaxInclusive | TaxExcluded | NotApplicable
    TotalAmt=DECIMAL,
    HomeTotalAmt=DECIMAL,
    ProjectRef=REF,
    Tag=array(TAG),
    TxnApprovalInfo=TXN_APPROVAL_INFO,
    RecurDataRef=REF,
    RecurringInfo=RECURRING_INFO,
)
"""Transaction: the header every QBO transaction shares."""

SALES_TRANSACTION = fields(
    TRANSACTION,
    AutoDocNumber=BOOL,
    CustomerRef=REF,
    CustomerMemo=MEMO_REF,
    BillAddr=PHYSICAL_ADDRESS,
    ShipAddr=PHYSICAL_ADDRESS,
    ShipFromAddr=PHYSICAL_ADDRESS,
    FreeFormAddress=BOOL,
    RemitToRef=REF,
    ClassRef=REF,
    SalesTermRef=REF,
    DueDate=DATE,
    SalesRepRef=REF,
    PONumber=STRING,
    FOB=STRING,
    ShipMethodRef=REF,
    ShipDate=DATE,
    TrackingNum=STRING,
    ApplyTaxAfterDiscount=BOOL,
    TemplateRef=REF,
    PrintStatus=STRING,
    EmailStatus=STRING,
    BillEmail=EMAIL_ADDRESS,
    BillEmailCc=EMAIL_ADDRESS,
    BillEmailBcc=EMAIL_ADDRESS,
    ARAccountRef=REF,
    Balance=DECIMAL,
    HomeBalance=DECIMAL,
    FinanceCharge=BOOL,
    PaymentMethodRef=REF,
    PaymentRefNum=STRING,
    PaymentType=STRING,
    CheckPayment=CHECK_PAYMENT,
    CreditCardPayment=CREDIT_CARD_PAYMENT,
    DepositToAccountRef=REF,
    DeliveryInfo=TRANSACTION_DELIVERY_INFO,
    DiscountRate=DECIMAL,
    DiscountAmt=DECIMAL,
    GovtTxnRefIdentifier=STRING,
    TaxExemptionRef=REF,
)
"""SalesTransaction: Invoice, SalesReceipt, Estimate, CreditMemo, RefundReceipt."""

PURCHASE_BY_VENDOR = fields(
    TRANSACTION,
    VendorRef=REF,
    APAccountRef=REF,
    BillEmail=EMAIL_ADDRESS,
    ReplyEmail=EMAIL_ADDRESS,
    Memo=STRING,
)
"""PurchaseByVendor: Bill, VendorCredit, PurchaseOrder."""

NAMED = fields(INTUIT_ENTITY, Name=STRING, Active=BOOL)
"""A name-list entry: Name and Active."""

HIERARCHICAL = fields(NAMED, ParentRef=REF, FullyQualifiedName=STRING)
"""A name-list entry that can have a parent (FullyQualifiedName is ``Parent:Child``)."""

NAME_BASE = fields(
    INTUIT_ENTITY,
    IntuitId=STRING,
    Organization=BOOL,
    Title=STRING,
    GivenName=STRING,
    MiddleName=STRING,
    FamilyName=STRING,
    Suffix=STRING,
    FullyQualifiedName=STRING,
    CompanyName=STRING,
    DisplayName=STRING,
    PrintOnCheckName=STRING,
    UserId=STRING,
    Active=BOOL,
    PrimaryPhone=TELEPHONE_NUMBER,
    AlternatePhone=TELEPHONE_NUMBER,
    Mobile=TELEPHONE_NUMBER,
    Fax=TELEPHONE_NUMBER,
    PrimaryEmailAddr=EMAIL_ADDRESS,
    WebAddr=WEB_SITE_ADDRESS,
    OtherContactInfo=array(CONTACT_INFO),
    DefaultTaxCodeRef=REF,
    Source=STRING,
)
"""NameBase: Customer, Vendor, Employee (and TaxAgency, a Vendor)."""

TAX_RATE_LIST = obj(
    TaxRateDetail=array(
        obj(TaxRateRef=REF, TaxTypeApplicable=STRING, TaxOrder=INT, TaxOnTaxOrder=INT)
    ),
    originatingGroupId=STRING,
)

CUSTOM_FIELD_DEFINITIONS = obj(CustomField=array(CUSTOM_FIELD))
"""A group of custom-field settings as Preferences lists them."""

# --------------------------------------------------------------------------------------------
# Entities
# --------------------------------------------------------------------------------------------
VENDOR = fields(
    NAME_BASE,
    ContactName=STRING,
    AltContactName=STRING,
    Notes=STRING,
    BillAddr=PHYSICAL_ADDRESS,
    ShipAddr=PHYSICAL_ADDRESS,
    OtherAddr=array(PHYSICAL_ADDRESS),
    TaxCountry=STRING,
    TaxIdentifier=STRING,
    TaxIdEffectiveDate=DATE,
    BusinessNumber=STRING,
    ParentRef=REF,
    VendorTypeRef=REF,
    TermRef=REF,
    PrefillAccountRef=REF,
    Balance=DECIMAL,
    BillRate=DECIMAL,
    CostRate=DECIMAL,
    OpenBalanceDate=DATE,
    CreditLimit=DECIMAL,
    AcctNum=STRING,
    Vendor1099=BOOL,
    T4AEligible=BOOL,
    T5018Eligible=BOOL,
    HasTPAR=BOOL,
    CurrencyRef=CURRENCY_REF,
    TDSEnabled=BOOL,
    TDSEntityTypeId=INT,
    TDSSectionTypeId=INT,
    TDSOverrideThreshold=BOOL,
    TaxReportingBasis=STRING,
    APAccountRef=REF,
    GSTIN=STRING,
    GSTRegistrationType=STRING,
    V4IDPseudonym=STRING,
    VendorPaymentBankDetail=obj(
        BankAccountName=STRING,
        BankBranchIdentifier=STRING,
        BankAccountNumber=STRING,
        StatementText=STRING,
    ),
    VendorEx=ANY_EXTENSION,
)

INVOICE = fields(
    SALES_TRANSACTION,
    Deposit=DECIMAL,
    AllowIPNPayment=BOOL,
    AllowOnlinePayment=BOOL,
    AllowOnlineCreditCardPayment=BOOL,
    AllowOnlineACHPayment=BOOL,
    EInvoiceStatus=STRING,
    ECloudStatusTimeStamp=DATETIME,
    invoiceStatus=STRING,
    callToAction=STRING,
    invoiceStatusLog=array(obj(status=STRING, statusDate=DATE, callToAction=STRING)),
    InvoiceLink=STRING,
    InvoiceEx=ANY_EXTENSION,
)
SALES_RECEIPT = fields(SALES_TRANSACTION, SalesReceiptEx=ANY_EXTENSION)
ESTIMATE = fields(
    SALES_TRANSACTION,
    ExpirationDate=DATE,
    AcceptedBy=STRING,
    AcceptedDate=DATE,
    EstimateEx=ANY_EXTENSION,
)
CREDIT_MEMO = fields(
    SALES_TRANSACTION, RemainingCredit=DECIMAL, InvoiceRef=REF, CreditMemoEx=ANY_EXTENSION
)
REFUND_RECEIPT = fields(SALES_TRANSACTION, RemainingCredit=DECIMAL, RefundReceiptEx=ANY_EXTENSION)

BILL = fields(
    PURCHASE_BY_VENDOR,
    PayerRef=REF,
    SalesTermRef=REF,
    DueDate=DATE,
    RemitToAddr=PHYSICAL_ADDRESS,
    ShipAddr=PHYSICAL_ADDRESS,
    VendorAddr=PHYSICAL_ADDRESS,
    Balance=DECIMAL,
    HomeBalance=DECIMAL,
    IncludeInAnnualTPAR=BOOL,
    BillEx=ANY_EXTENSION,
)
VENDOR_CREDIT = fields(
    PURCHASE_BY_VENDOR,
    Balance=DECIMAL,
    IncludeInAnnualTPAR=BOOL,
    VendorCreditEx=ANY_EXTENSION,
)
PURCHASE_ORDER = fields(
    PURCHASE_BY_VENDOR,
    TaxCodeRef=REF,
    ClassRef=REF,
    ReimbursableInfoRef=REF,
    SalesTermRef=REF,
    DueDate=DATE,
    ExpectedDate=DATE,
    VendorAddr=PHYSICAL_ADDRESS,
    DropShipToEntity=REF,
    InventorySiteRef=REF,
    ShipAddr=PHYSICAL_ADDRESS,
    ShipTo=REF,
    ShipMethodRef=REF,
    FOB=STRING,
    POEmail=EMAIL_ADDRESS,
    TemplateRef=REF,
    PrintStatus=STRING,
    EmailStatus=STRING,
    ManuallyClosed=BOOL,
    POStatus=STRING,  # Open | Closed
    PurchaseOrderEx=ANY_EXTENSION,
)
PURCHASE = fields(
    TRANSACTION,
    AccountRef=REF,
    PaymentMethodRef=REF,
    PaymentRefNum=STRING,
    PaymentType=STRING,  # Cash | Check | CreditCard
    CheckPayment=CHECK_PAYMENT,
    CreditCardPayment=CREDIT_CARD_PAYMENT,
    EntityRef=REF,
    Credit=BOOL,
    RemitToAddr=PHYSICAL_ADDRESS,
    TxnId=ID,
    TxnNum=STRING,
    Memo=STRING,
    PrintStatus=STRING,
    IncludeInAnnualTPAR=BOOL,
    PurchaseEx=ANY_EXTENSION,
)
DEPOSIT = fields(
    TRANSACTION,
    DepositToAccountRef=REF,
    CashBack=obj(AccountRef=REF, Amount=DECIMAL, Memo=STRING),
    DepositEx=ANY_EXTENSION,
)
TRANSFER = fields(
    TRANSACTION,
    FromAccountRef=REF,
    ToAccountRef=REF,
    Amount=DECIMAL,
    ClassRef=REF,
    TransferEx=ANY_EXTENSION,
)
JOURNAL_ENTRY = fields(
    TRANSACTION,
    Adjustment=BOOL,
    HomeCurrencyAdjustment=BOOL,
    EnteredInHomeCurrency=BOOL,
    JournalEntryEx=ANY_EXTENSION,
)

_RECURRING_TEMPLATES: dict[str, Fields] = {
    "Bill": BILL,
    "CreditMemo": CREDIT_MEMO,
    "Deposit": DEPOSIT,
    "Estimate": ESTIMATE,
    "Invoice": INVOICE,
    "JournalEntry": JOURNAL_ENTRY,
    "Purchase": PURCHASE,
    "PurchaseOrder": PURCHASE_ORDER,
    "RefundReceipt": REFUND_RECEIPT,
    "SalesReceipt": SALES_RECEIPT,
    "Transfer": TRANSFER,
    "VendorCredit": VENDOR_CREDIT,
}
"""Transactions that can be recurring templates; a RecurringTransaction wraps one of them."""

_ENTITY_FIELDS: dict[str, Fields] = {
    "Account": fields(
        HIERARCHICAL,
        SubAccount=BOOL,
        Description=STRING,
        AccountAlias=STRING,
        TxnLocationType=STRING,
        Classification=STRING,
        AccountType=STRING,
        AccountSubType=STRING,
        AcctNum=STRING,
        AcctNumExtn=STRING,
        BankNum=STRING,
        OpeningBalance=DECIMAL,
        OpeningBalanceDate=DATE,
        CurrentBalance=DECIMAL,
        CurrentBalanceWithSubAccounts=DECIMAL,
        CurrencyRef=CURRENCY_REF,
        TaxAccount=BOOL,
        TaxCodeRef=REF,
        OnlineBankingEnabled=BOOL,
        FIName=STRING,
        JournalCodeRef=REF,
        AccountEx=ANY_EXTENSION,
    ),
    "Attachable": fields(
        INTUIT_ENTITY,
        FileName=STRING,
        FileAccessUri=STRING,
        TempDownloadUri=STRING,
        Size=INT,
        ContentType=STRING,
        Category=STRING,
        Lat=STRING,
        Long=STRING,
        PlaceName=STRING,
        Note=STRING,
        Tag=STRING,
        ThumbnailFileAccessUri=STRING,
        ThumbnailTempDownloadUri=STRING,
        AttachableEx=ANY_EXTENSION,
    ),
    "Bill": BILL,
    "BillPayment": fields(
        TRANSACTION,
        VendorRef=REF,
        APAccountRef=REF,
        PayType=STRING,  # Check | CreditCard
        CheckPayment=obj(
            BankAccountRef=REF,
            PrintStatus=STRING,
            CheckDetail=CHECK_PAYMENT,
            PayeeAddr=PHYSICAL_ADDRESS,
            BillPaymentCheckEx=ANY_EXTENSION,
        ),
        CreditCardPayment=obj(
            CCAccountRef=REF,
            CCDetail=CREDIT_CARD_PAYMENT,
            BillPaymentCreditCardEx=ANY_EXTENSION,
        ),
        ProcessBillPayment=BOOL,
        BillPaymentEx=ANY_EXTENSION,
    ),
    "Budget": fields(
        NAMED,
        StartDate=DATE,
        EndDate=DATE,
        BudgetType=STRING,
        BudgetEntryType=STRING,
        BudgetDetail=array(
            obj(
                BudgetDate=DATE,
                Amount=DECIMAL,
                AccountRef=REF,
                CustomerRef=REF,
                ClassRef=REF,
                DepartmentRef=REF,
            )
        ),
    ),
    "Class": fields(HIERARCHICAL, SubClass=BOOL, ClassEx=ANY_EXTENSION),
    "CompanyCurrency": fields(NAMED, Code=STRING, CompanyCurrencyEx=ANY_EXTENSION),
    "CompanyInfo": fields(
        INTUIT_ENTITY,
        CompanyName=STRING,
        LegalName=STRING,
        CompanyAddr=PHYSICAL_ADDRESS,
        CustomerCommunicationAddr=PHYSICAL_ADDRESS,
        LegalAddr=PHYSICAL_ADDRESS,
        CompanyEmailAddr=EMAIL_ADDRESS,
        CustomerCommunicationEmailAddr=EMAIL_ADDRESS,
        CompanyURL=WEB_SITE_ADDRESS,
        PrimaryPhone=TELEPHONE_NUMBER,
        OtherContactInfo=array(CONTACT_INFO),
        CompanyFileName=STRING,
        FlavorStratum=STRING,
        SampleFile=BOOL,
        CompanyUserId=STRING,
        CompanyUserAdminEmail=STRING,
        CompanyStartDate=DATE,
        EmployerId=STRING,
        FiscalYearStartMonth=STRING,
        TaxYearStartMonth=STRING,
        QBVersion=STRING,
        Country=STRING,
        ShipAddr=PHYSICAL_ADDRESS,
        OtherAddr=array(PHYSICAL_ADDRESS),
        Mobile=TELEPHONE_NUMBER,
        Fax=TELEPHONE_NUMBER,
        Email=EMAIL_ADDRESS,
        WebAddr=WEB_SITE_ADDRESS,
        LastImportedTime=DATETIME,
        LastSyncTime=DATETIME,
        SupportedLanguages=STRING,
        DefaultTimeZone=STRING,
        MultiByteCharsSupported=BOOL,
        NameValue=array(NAME_VALUE),
        FifoCalculationStatus=obj(),
        CompanyInfoEx=ANY_EXTENSION,
    ),
    "CreditCardPayment": fields(
        TRANSACTION,
        CreditCardAccountRef=REF,
        BankAccountRef=REF,
        Amount=DECIMAL,
        VendorRef=REF,
        Memo=STRING,
        PrintStatus=STRING,
        CheckNum=STRING,
        CreditCardPaymentEx=ANY_EXTENSION,
    ),
    "CreditMemo": CREDIT_MEMO,
    "Customer": fields(
        NAME_BASE,
        Taxable=BOOL,
        BillAddr=PHYSICAL_ADDRESS,
        ShipAddr=PHYSICAL_ADDRESS,
        OtherAddr=array(PHYSICAL_ADDRESS),
        ContactName=STRING,
        AltContactName=STRING,
        Notes=STRING,
        Job=BOOL,
        BillWithParent=BOOL,
        RootCustomerRef=REF,
        ParentRef=REF,
        Level=INT,
        CustomerTypeRef=REF,
        SalesTermRef=REF,
        SalesRepRef=REF,
        TaxGroupCodeRef=REF,
        TaxRateRef=REF,
        PaymentMethodRef=REF,
        CCDetail=CREDIT_CHARGE_INFO,
        PriceLevelRef=REF,
        Balance=DECIMAL,
        OpenBalanceDate=DATE,
        BalanceWithJobs=DECIMAL,
        CreditLimit=DECIMAL,
        AcctNum=STRING,
        CurrencyRef=CURRENCY_REF,
        OverDueBalance=DECIMAL,
        TotalRevenue=DECIMAL,
        TotalExpense=DECIMAL,
        PreferredDeliveryMethod=STRING,
        ResaleNum=STRING,
        JobInfo=obj(
            Status=STRING,
            StartDate=DATE,
            ProjectedEndDate=DATE,
            EndDate=DATE,
            Description=STRING,
            JobTypeRef=REF,
        ),
        TDSEnabled=BOOL,
        PrimaryTaxIdentifier=STRING,
        SecondaryTaxIdentifier=STRING,
        ARAccountRef=REF,
        # QBO documents it as a string code ("1".."15"); accept a number too.
        TaxExemptionReasonId=th.CustomType({"type": ["string", "integer"]}),
        GSTIN=STRING,
        GSTRegistrationType=STRING,
        BusinessNumber=STRING,
        IsProject=BOOL,
        ClientEntityId=STRING,
        CustomerEx=ANY_EXTENSION,
    ),
    "CustomerType": fields(HIERARCHICAL),
    "Department": fields(HIERARCHICAL, SubDepartment=BOOL, DepartmentEx=ANY_EXTENSION),
    "Deposit": DEPOSIT,
    "Employee": fields(
        NAME_BASE,
        EmployeeType=STRING,
        EmployeeNumber=STRING,
        SSN=STRING,
        PrimaryAddr=PHYSICAL_ADDRESS,
        OtherAddr=array(PHYSICAL_ADDRESS),
        BillableTime=BOOL,
        BillRate=DECIMAL,
        CostRate=DECIMAL,
        BirthDate=DATE,
        Gender=STRING,
        HiredDate=DATE,
        ReleasedDate=DATE,
        UseTimeEntry=STRING,
        V4IDPseudonym=STRING,
        EmployeeEx=ANY_EXTENSION,
    ),
    "Estimate": ESTIMATE,
    "ExchangeRate": fields(
        INTUIT_ENTITY,
        SourceCurrencyCode=STRING,
        TargetCurrencyCode=STRING,
        Rate=DECIMAL,
        AsOfDate=DATE,
        ExchangeRateEx=ANY_EXTENSION,
    ),
    "InventoryAdjustment": fields(
        TRANSACTION,
        ShippingAdjustment=BOOL,
        AdjustAccountRef=REF,
        CustomerRef=REF,
    ),
    "Invoice": INVOICE,
    "Item": fields(
        HIERARCHICAL,
        Sku=STRING,
        Description=STRING,
        SubItem=BOOL,
        Level=INT,
        Taxable=BOOL,
        SalesTaxIncluded=BOOL,
        PercentBased=BOOL,
        UnitPrice=DECIMAL,
        RatePercent=DECIMAL,
        Type=STRING,
        PaymentMethodRef=REF,
        UOMSetRef=REF,
        IncomeAccountRef=REF,
        PurchaseDesc=STRING,
        PurchaseTaxIncluded=BOOL,
        PurchaseCost=DECIMAL,
        ExpenseAccountRef=REF,
        COGSAccountRef=REF,
        AssetAccountRef=REF,
        PrefVendorRef=REF,
        AvgCost=DECIMAL,
        TrackQtyOnHand=BOOL,
        QtyOnHand=DECIMAL,
        QtyOnPurchaseOrder=DECIMAL,
        QtyOnSalesOrder=DECIMAL,
        ReorderPoint=DECIMAL,
        ManPartNum=STRING,
        DepositToAccountRef=REF,
        SalesTaxCodeRef=REF,
        PurchaseTaxCodeRef=REF,
        TaxClassificationRef=REF,
        ClassRef=REF,
        InvStartDate=DATE,
        BuildPoint=DECIMAL,
        PrintGroupedItems=BOOL,
        SpecialItem=BOOL,
        SpecialItemType=STRING,
        ItemGroupDetail=obj(ItemGroupLine=array(obj(ItemRef=REF, Qty=DECIMAL, UOMRef=UOM_REF))),
        ItemAssemblyDetail=obj(
            ItemAssemblyLine=array(obj(ItemRef=REF, Qty=DECIMAL, UOMRef=UOM_REF))
        ),
        AbatementRate=DECIMAL,
        ReverseChargeRate=DECIMAL,
        ServiceType=STRING,
        ItemCategoryType=STRING,
        Source=STRING,
        ItemEx=ANY_EXTENSION,
    ),
    "JournalCode": fields(NAMED, Type=STRING, Description=STRING, JournalCodeEx=ANY_EXTENSION),
    "JournalEntry": JOURNAL_ENTRY,
    "Payment": fields(
        TRANSACTION,
        CustomerRef=REF,
        RemitToRef=REF,
        ARAccountRef=REF,
        DepositToAccountRef=REF,
        PaymentMethodRef=REF,
        PaymentRefNum=STRING,
        PaymentType=STRING,
        CheckPayment=CHECK_PAYMENT,
        CreditCardPayment=CREDIT_CARD_PAYMENT,
        UnappliedAmt=DECIMAL,
        ProcessPayment=BOOL,
        TaxExemptionRef=REF,
        PaymentEx=ANY_EXTENSION,
    ),
    "PaymentMethod": fields(NAMED, Type=STRING, PaymentMethodEx=ANY_EXTENSION),
    "Preferences": fields(
        INTUIT_ENTITY,
        AccountingInfoPrefs=obj(
            UseAccountNumbers=BOOL,
            DefaultARAccount=REF,
            DefaultAPAccount=REF,
            RequiresAccounts=BOOL,
            TrackDepartments=BOOL,
            DepartmentTerminology=STRING,
            ClassTrackingPerTxn=BOOL,
            ClassTrackingPerTxnLine=BOOL,
            AutoJournalEntryNumber=BOOL,
            FirstMonthOfFiscalYear=STRING,
            TaxYearMonth=STRING,
            TaxForm=STRING,
            BookCloseDate=DATE,
            OtherContactInfo=array(CONTACT_INFO),
            CustomerTerminology=STRING,
        ),
        AdvancedInventoryPrefs=obj(
            MLIAvailable=BOOL,
            MLIEnabled=BOOL,
            EnhancedInventoryReceivingEnabled=BOOL,
            TrackingSerialOrLotNumber=BOOL,
            TrackingOnSalesTransactionsEnabled=BOOL,
            TrackingOnPurchaseTransactionsEnabled=BOOL,
            TrackingOnInventoryAdjustmentEnabled=BOOL,
            TrackingOnBuildAssemblyEnabled=BOOL,
            FIFOEnabled=BOOL,
            FIFOEffectiveDate=DATE,
            RowShelfBinEnabled=BOOL,
            BarcodeEnabled=BOOL,
        ),
        ProductAndServicesPrefs=obj(
            ForSales=BOOL,
            ForPurchase=BOOL,
            InventoryAndPurchaseOrder=BOOL,
            QuantityWithPriceAndRate=BOOL,
            QuantityOnHand=BOOL,
            UOM=STRING,
            RevenueRecognition=BOOL,
            RevenueRecognitionEnabled=BOOL,
            RevenueRecognitionFrequency=STRING,
        ),
        SalesFormsPrefs=obj(
            UsingProgressInvoicing=BOOL,
            CustomField=array(CUSTOM_FIELD_DEFINITIONS),
            CustomTxnNumbers=BOOL,
            DelayedCharges=BOOL,
            SalesEmailCc=EMAIL_ADDRESS,
            SalesEmailBcc=EMAIL_ADDRESS,
            EmailCopyToCompany=BOOL,
            AllowDeposit=BOOL,
            AllowDiscount=BOOL,
            # An account id, or false when none is set.
            DefaultDiscountAccount=th.CustomType({"type": ["string", "boolean"]}),
            AllowEstimates=BOOL,
            EstimateMessage=STRING,
            ETransactionEnabledStatus=STRING,
            ETransactionAttachPDF=BOOL,
            ETransactionPaymentEnabled=BOOL,
            IPNSupportEnabled=BOOL,
            InvoiceMessage=STRING,
            AllowServiceDate=BOOL,
            AllowShipping=BOOL,
            DefaultShippingAccount=th.CustomType({"type": ["string", "boolean"]}),
            DefaultItem=REF,
            DefaultTerms=REF,
            DefaultDeliveryMethod=STRING,
            AutoApplyCredit=BOOL,
            AutoApplyPayments=BOOL,
            PrintItemWithZeroAmount=BOOL,
            DefaultShipMethodRef=REF,
            DefaultMarkup=DECIMAL,
            TrackReimbursableExpensesAsIncome=BOOL,
            UsingSalesOrders=BOOL,
            UsingPriceLevels=BOOL,
            DefaultFOB=STRING,
            DefaultCustomerMessage=STRING,
        ),
        EmailMessagesPrefs=obj(
            NameValue=array(NAME_VALUE),
            InvoiceMessage=EMAIL_MESSAGE,
            EstimateMessage=EMAIL_MESSAGE,
            SalesReceiptMessage=EMAIL_MESSAGE,
            StatementMessage=EMAIL_MESSAGE,
        ),
        PrintDocumentPrefs=obj(NameValue=array(NAME_VALUE)),
        VendorAndPurchasesPrefs=obj(
            EnableBills=BOOL,
            TrackingByCustomer=BOOL,
            BillableExpenseTracking=BOOL,
            DefaultTerms=REF,
            DefaultMarkup=DECIMAL,
            DefaultMarkupAccount=REF,
            AutomaticBillPayment=BOOL,
            POCustomField=array(CUSTOM_FIELD_DEFINITIONS),
            MsgToVendors=STRING,
            UsingInventory=BOOL,
            UsingMultiLocationInventory=BOOL,
            DaysBillsAreDue=INT,
            DiscountAccountRef=REF,
            TPAREnabled=BOOL,
        ),
        TimeTrackingPrefs=obj(
            UseServices=BOOL,
            DefaultTimeItem=REF,
            BillCustomers=BOOL,
            ShowBillRateToAll=BOOL,
            WorkWeekStartDate=STRING,
            TimeTrackingEnabled=BOOL,
            MarkTimeEntriesBillable=BOOL,
            MarkExpensesAsBillable=BOOL,
        ),
        TaxPrefs=obj(
            UsingSalesTax=BOOL,
            PartnerTaxEnabled=BOOL,
            HideTaxManagement=BOOL,
            # Preferences sends these as bare ids ("TaxGroupCodeRef": "2"), the XSD as references.
            TaxGroupCodeRef=_or_string(REF),
            TaxRateRef=_or_string(REF),
            PaySalesTax=STRING,
            NonTaxableSalesTaxCodeRef=_or_string(REF),
            TaxableSalesTaxCodeRef=_or_string(REF),
        ),
        FinanceChargesPrefs=obj(
            AnnualInterestRate=DECIMAL,
            MinFinChrg=DECIMAL,
            GracePeriod=INT,
            CalcFinChrgFromTxnDate=BOOL,
            AssessFinChrgForOverdueCharges=BOOL,
            FinChrgAccountRef=REF,
        ),
        CurrencyPrefs=obj(MultiCurrencyEnabled=BOOL, HomeCurrency=CURRENCY_REF),
        ReportPrefs=obj(ReportBasis=STRING, CalcAgingReportFromTxnDate=BOOL),
        OtherPrefs=obj(NameValue=array(NAME_VALUE)),
    ),
    "Purchase": PURCHASE,
    "PurchaseOrder": PURCHASE_ORDER,
    "RecurringTransaction": fields(
        INTUIT_ENTITY, {name: obj(template) for name, template in _RECURRING_TEMPLATES.items()}
    ),
    "RefundReceipt": REFUND_RECEIPT,
    "ReimburseCharge": fields(
        TRANSACTION,
        CustomerRef=REF,
        HasBeenInvoiced=BOOL,
        Amount=DECIMAL,
    ),
    "SalesReceipt": SALES_RECEIPT,
    "TaxAgency": fields(
        VENDOR,
        SalesTaxCodeRef=REF,
        SalesTaxCountry=STRING,
        SalesTaxReturnRef=REF,
        TaxRegistrationNumber=STRING,
        ReportingPeriod=STRING,
        TaxTrackedOnPurchases=BOOL,
        TaxOnPurchasesAccountRef=REF,
        TaxTrackedOnSales=BOOL,
        TaxTrackedOnSalesAccountRef=REF,
        TaxOnTax=BOOL,
        LastFileDate=DATE,
        TaxAgencyConfig=STRING,
        TaxAgencyExt=ANY_EXTENSION,
    ),
    # Served by Intuit's tax service in its own lower-case names (Intuit's sample shows them
    # so); declaring Id beside id would collide in targets that fold case.
    "TaxClassification": fields(
        id=ID,
        code=STRING,
        name=STRING,
        description=STRING,
        level=STRING,
        ParentRef=REF,
        applicableTo=array(STRING),
    ),
    "TaxCode": fields(
        NAMED,
        Description=STRING,
        Hidden=BOOL,
        Taxable=BOOL,
        TaxGroup=BOOL,
        SalesTaxRateList=TAX_RATE_LIST,
        PurchaseTaxRateList=TAX_RATE_LIST,
        AdjustmentTaxRateList=TAX_RATE_LIST,
        # USER_DEFINED or SYSTEM_GENERATED: whether the company or QBO made the code.
        TaxCodeConfigType=STRING,
        TaxCodeEx=ANY_EXTENSION,
    ),
    "TaxPayment": fields(
        INTUIT_ENTITY,
        PaymentDate=DATE,
        PaymentAccountRef=REF,
        PaymentAmount=DECIMAL,
        Description=STRING,
        Refund=BOOL,
    ),
    "TaxRate": fields(
        NAMED,
        Description=STRING,
        RateValue=DECIMAL,
        AgencyRef=REF,
        TaxReturnLineRef=REF,
        EffectiveTaxRate=array(
            obj(
                RateValue=DECIMAL,
                EffectiveDate=DATETIME,
                EndDate=DATETIME,
                EffectiveTaxRateEx=ANY_EXTENSION,
            )
        ),
        SpecialTaxType=STRING,
        DisplayType=STRING,
        TaxRateEx=ANY_EXTENSION,
    ),
    "Term": fields(
        NAMED,
        Type=STRING,  # Standard | DateDriven
        DiscountPercent=DECIMAL,
        DueDays=INT,
        DiscountDays=INT,
        DayOfMonthDue=INT,
        DueNextMonthDays=INT,
        DiscountDayOfMonth=INT,
        SalesTermEx=ANY_EXTENSION,
    ),
    "TimeActivity": fields(
        INTUIT_ENTITY,
        TimeZone=STRING,
        TxnDate=DATE,
        NameOf=STRING,  # Employee | Vendor | Other
        EmployeeRef=REF,
        VendorRef=REF,
        OtherNameRef=REF,
        CustomerRef=REF,
        DepartmentRef=REF,
        ProjectRef=REF,
        ItemRef=REF,
        ClassRef=REF,
        PayrollItemRef=REF,
        BillableStatus=STRING,
        Taxable=BOOL,
        HourlyRate=DECIMAL,
        CostRate=DECIMAL,
        Hours=INT,
        Minutes=INT,
        BreakHours=INT,
        BreakMinutes=INT,
        StartTime=DATETIME,
        EndTime=DATETIME,
        Description=STRING,
        TimeActivityEx=ANY_EXTENSION,
    ),
    "Transfer": TRANSFER,
    "Vendor": VENDOR,
    "VendorCredit": VENDOR_CREDIT,
}

ENTITY_NAMES: tuple[str, ...] = (
    "Account",
    "Attachable",
    "Bill",
    "BillPayment",
    "Budget",
    "Class",
    "CompanyCurrency",
    "CompanyInfo",
    "CreditCardPayment",
    "CreditMemo",
    "Customer",
    "CustomerType",
    "Department",
    "Deposit",
    "Employee",
    "Estimate",
    "ExchangeRate",
    "InventoryAdjustment",
    "Invoice",
    "Item",
    "JournalCode",
    "JournalEntry",
    "Payment",
    "PaymentMethod",
    "Preferences",
    "Purchase",
    "PurchaseOrder",
    "RecurringTransaction",
    "RefundReceipt",
    "ReimburseCharge",
    "SalesReceipt",
    "TaxAgency",
    "TaxClassification",
    "TaxCode",
    "TaxPayment",
    "TaxRate",
    "Term",
    "TimeActivity",
    "Transfer",
    "Vendor",
    "VendorCredit",
)
"""The QBO entities the tap extracts, by their REST names."""

_SCHEMAS: dict[str, dict] = {name: obj(_ENTITY_FIELDS[name]).type_dict for name in ENTITY_NAMES}


def entity_schema(entity: str, *, fresh: bool = True) -> dict:
    """JSON schema (a fresh dict) of one record of the QBO entity ``entity``, e.g. ``"Invoice"``.

    ``fresh=False``: the module's own dict, shared (for schemas built on it once a process,
    client.record_schema): never change it.

    Raises:
        KeyError: ``entity`` is not one of :data:`ENTITY_NAMES`.
    """
    try:
        schema = _SCHEMAS[entity]
    except KeyError:
        msg = f"No schema for QBO entity {entity!r}; known: {', '.join(ENTITY_NAMES)}"
        raise KeyError(msg) from None
    return copy.deepcopy(schema) if fresh else schema
