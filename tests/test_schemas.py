"""Entity schemas: valid, open, typed, and lossless on real recorded QBO records."""

from __future__ import annotations

import copy
import datetime
import decimal
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from singer_sdk import typing as th
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_quickbooks import schemas
from tap_quickbooks.schemas import ENTITY_NAMES, entity_schema

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
LOGGER = logging.getLogger("tests.test_schemas")

EXPECTED_ENTITIES = [
    "Account", "Attachable", "Bill", "BillPayment", "Budget", "Class", "CompanyCurrency",
    "CompanyInfo", "CreditCardPayment", "CreditMemo", "Customer", "CustomerType", "Department",
    "Deposit", "Employee", "Estimate", "ExchangeRate", "InventoryAdjustment", "Invoice", "Item",
    "JournalCode", "JournalEntry", "Payment", "PaymentMethod", "Preferences", "Purchase",
    "PurchaseOrder", "RecurringTransaction", "RefundReceipt", "ReimburseCharge", "SalesReceipt",
    "TaxAgency", "TaxClassification", "TaxCode", "TaxPayment", "TaxRate", "Term", "TimeActivity",
    "Transfer", "Vendor", "VendorCredit",
]  # fmt: skip

# Field names whose type is fixed wherever they appear in any schema.
MONEY_OR_QUANTITY = {
    "Amount", "TotalAmt", "HomeTotalAmt", "Balance", "HomeBalance", "UnitPrice", "Qty",
    "QtyOnHand", "ExchangeRate", "RateValue", "TotalTax", "UnappliedAmt", "Deposit",
    "RemainingCredit", "DiscountAmt", "DiscountRate", "TaxAmount", "TaxInclusiveAmt",
    "NetAmountTaxable", "OpeningBalance", "CurrentBalance", "CurrentBalanceWithSubAccounts",
    "BalanceWithJobs", "PurchaseCost", "AvgCost", "HourlyRate", "Rate", "PaymentAmount",
    "CreditLimit", "BillRate", "TaxPercent", "DiscountPercent", "QtyDiff",
}  # fmt: skip
DATES = {
    "TxnDate", "DueDate", "ShipDate", "ExpirationDate", "AcceptedDate", "ServiceDate",
    "OpeningBalanceDate", "OpenBalanceDate", "BirthDate", "HiredDate", "ReleasedDate",
    "StartDate", "AsOfDate", "PaymentDate", "ExpectedDate", "InvStartDate",
    "BookCloseDate", "CompanyStartDate", "BudgetDate",
}  # fmt: skip
DATETIMES = {"CreateTime", "LastUpdatedTime", "StartTime", "EndTime", "DeliveryTime"}
STRINGS = {"Id", "SyncToken", "TxnId", "TxnLineId", "DefinitionId", "DocNumber"}
INTEGERS = {"LineNum", "DueDays", "TaxOrder"}
TAP_OWN_FIELDS = {"realm_id", "LastUpdatedTime"}
# Every *Ref is a ReferenceType {value, name, type}, except UOMRef {Unit, UOMSetRef} (XSD).

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

FORMAT_CHECKER = jsonschema.FormatChecker()


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError(value)
    datetime.datetime.fromisoformat(value)
    return True


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_iso_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _ISO_DATE.match(value):
        raise ValueError(value)
    datetime.date.fromisoformat(value)
    return True


def _is_number(_checker: object, instance: object) -> bool:
    """JSON number, including Decimal (how the tap parses QBO amounts); never bool."""
    return isinstance(instance, int | float | decimal.Decimal) and not isinstance(instance, bool)


Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("number", _is_number),
)


def validate(record: dict, schema: dict) -> None:
    Validator(schema, format_checker=FORMAT_CHECKER).validate(record)


def conform(entity: str, record: dict, schema: dict | None = None) -> dict:
    return conform_record_data_types(
        entity,
        record,
        schema if schema is not None else entity_schema(entity),
        TypeConformanceLevel.RECURSIVE,
        LOGGER,
    )


def load(path: Path) -> Any:
    with path.open() as f:
        return json.load(f, parse_float=decimal.Decimal)


# --------------------------------------------------------------------------------------------
# Records recorded from the real API
# --------------------------------------------------------------------------------------------
def _query_rows(query_response: dict) -> Iterator[tuple[str, dict]]:
    for key, value in query_response.items():
        if key in ENTITY_NAMES and isinstance(value, list):
            for row in value:
                yield key, row


def _records_in(name: str, body: Any) -> Iterator[tuple[str, dict]]:
    """(entity, record) pairs in one recorded body, whatever its envelope."""
    if name.startswith("Payment__airbyte"):  # a bare record, not an envelope
        yield "Payment", body
        return
    if "QueryResponse" in body:
        yield from _query_rows(body["QueryResponse"])
    for cdc in body.get("CDCResponse", []):
        for query_response in cdc["QueryResponse"]:
            yield from _query_rows(query_response)
    for item in body.get("BatchItemResponse", []):
        yield from _query_rows(item.get("QueryResponse", {}))
        yield from ((k, v) for k, v in item.items() if k in ENTITY_NAMES)
    yield from ((k, v) for k, v in body.items() if k in ENTITY_NAMES)  # read/create/update


def recorded_records() -> list[tuple[str, str, dict]]:
    index = {entry["file"] for entry in load(RECORDED / "_index_qbo_api.json")}
    names = sorted(index | {"Payment__airbyte_expected_records_LineEx.json"})
    return [
        (name, entity, record)
        for name in names
        for entity, record in _records_in(name, load(RECORDED / name))
    ]


RECORDS = recorded_records()


def _record_id(param: tuple[str, str, dict]) -> str:
    name, entity, record = param
    return f"{name.removesuffix('.json')}:{entity}:{record.get('Id')}"


def test_recorded_fixtures_are_found() -> None:
    entities = {entity for _, entity, _ in RECORDS}
    assert len(RECORDS) >= 90
    assert {"Customer", "Vendor", "Employee", "Invoice", "SalesReceipt", "Estimate"} <= entities
    assert {"Attachable", "Payment"} <= entities
    assert any(record.get("status") == "Deleted" for _, _, record in RECORDS)


@pytest.mark.parametrize("param", RECORDS, ids=_record_id)
def test_recorded_record_is_kept_whole_and_valid(
    param: tuple[str, str, dict], caplog: pytest.LogCaptureFixture
) -> None:
    _, entity, record = param
    schema = entity_schema(entity)
    original = copy.deepcopy(record)

    with caplog.at_level(logging.WARNING):
        out = conform(entity, record, schema)

    assert out == original
    assert not [r for r in caplog.records if "not found in catalog schema" in r.getMessage()]
    validate(out, schema)
    assert not list(_floats(out)), "amounts must stay Decimal, never float"


@pytest.mark.parametrize("param", RECORDS, ids=_record_id)
def test_recorded_fields_are_all_declared(param: tuple[str, str, dict]) -> None:
    """Every field QBO sent is typed by the schema, not merely let through."""
    _, entity, record = param
    assert list(_undeclared(record, entity_schema(entity))) == []


def _undeclared(value: Any, schema: dict, path: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                yield f"{path}.{key}"
            else:
                yield from _undeclared(item, properties[key], f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _undeclared(item, schema.get("items", {}), f"{path}[]")


def _floats(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, float):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _floats(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _floats(item, f"{path}[]")


def _one(name: str, entity: str) -> dict:
    return next(r for n, e, r in RECORDS if n == name and e == entity)


def test_money_stays_decimal() -> None:
    invoice = conform("Invoice", _one("Invoice__qbo_api_create.json", "Invoice"))
    assert invoice["TotalAmt"] == decimal.Decimal("100.0")
    assert isinstance(invoice["TotalAmt"], decimal.Decimal)
    assert isinstance(invoice["Balance"], decimal.Decimal)
    assert all(isinstance(line["Amount"], decimal.Decimal) for line in invoice["Line"])
    assert invoice["Line"][0]["LineNum"] == 1

    receipt = conform(
        "SalesReceipt", _one("SalesReceipt__qbo_api_update_with_requestid.json", "SalesReceipt")
    )
    detail = receipt["Line"][0]["SalesItemLineDetail"]
    assert detail["Qty"] == decimal.Decimal("4.5")
    assert isinstance(detail["Qty"], decimal.Decimal)
    assert receipt["TotalAmt"] == decimal.Decimal("337.5")

    vendors = [
        conform("Vendor", r)
        for n, e, r in RECORDS
        if n == "Vendor__qbo_api_query_active_in_true_false.json"
    ]
    assert decimal.Decimal("241.23") in {v["Balance"] for v in vendors}


def test_payment_line_ex_jaxb_wrapper_is_kept() -> None:
    payment = conform("Payment", load(RECORDED / "Payment__airbyte_expected_records_LineEx.json"))
    assert payment["TotalAmt"] == decimal.Decimal("81.0")
    assert isinstance(payment["Line"][0]["Amount"], decimal.Decimal)
    wrapped = payment["Line"][0]["LineEx"]["any"]
    assert [item["value"]["Name"] for item in wrapped] == [
        "txnId",
        "txnOpenBalance",
        "txnReferenceNumber",
    ]
    assert wrapped[1]["value"]["Value"] == "81.00"  # QBO's own string, not a number
    assert wrapped[0]["declaredType"] == "com.intuit.schema.finance.v3.NameValue"


@pytest.mark.parametrize(
    ("path", "bad_value"),
    [
        (("TotalAmt",), "100.00"),  # an amount as a string
        (("Line", 0, "Amount"), "100.00"),
        (("Line", 0, "LineNum"), decimal.Decimal("1.5")),
        (("TxnDate",), "2020-09-29T00:00:00-07:00"),  # a date-time where QBO sends a date
        (("DueDate",), "29/10/2020"),
        (("MetaData", "CreateTime"), "2020-09-29"),  # a date where QBO sends a date-time
        (("MetaData", "LastUpdatedTime"), "2020-09-29 05:58:07"),
        (("Id",), 266),  # ids are strings
        (("SyncToken",), 0),
        (("CustomerRef", "value"), 1),
        (("ApplyTaxAfterDiscount",), "false"),
        (("BillAddr",), "4581 Finch St."),
    ],
)
def test_schema_rejects_mistyped_values(path: tuple, bad_value: object) -> None:
    record = copy.deepcopy(_one("Invoice__qbo_api_create.json", "Invoice"))
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad_value
    with pytest.raises(jsonschema.ValidationError):
        validate(record, entity_schema("Invoice"))


def test_unknown_fields_pass_through(caplog: pytest.LogCaptureFixture) -> None:
    record = copy.deepcopy(_one("Invoice__qbo_api_create.json", "Invoice"))
    record["BrandNewTopLevel"] = {"Nested": [1, 2]}
    record["MetaData"]["NewTimestamp"] = "2024-01-01T00:00:00-08:00"
    record["Line"][0]["NewLineField"] = decimal.Decimal("1.10")
    record["Line"][0]["SalesItemLineDetail"]["NewDetailField"] = "x"
    record["Line"][0]["BrandNewLineDetail"] = {"Whatever": True}
    record["CustomerRef"]["newAttribute"] = "y"
    record["BillAddr"]["Line6"] = "z"
    record["TxnTaxDetail"]["TaxLine"] = [{"Amount": 1, "Surprise": {"deep": {"er": None}}}]
    expected = copy.deepcopy(record)

    with caplog.at_level(logging.WARNING):
        out = conform("Invoice", record)

    assert out == expected
    assert out["Line"][0]["NewLineField"] == decimal.Decimal("1.10")
    assert not [r for r in caplog.records if "not found in catalog schema" in r.getMessage()]
    validate(out, entity_schema("Invoice"))


# --------------------------------------------------------------------------------------------
# The schemas themselves
# --------------------------------------------------------------------------------------------
def test_entity_names() -> None:
    assert list(ENTITY_NAMES) == EXPECTED_ENTITIES
    assert len(ENTITY_NAMES) == 41


def test_unknown_entity_raises() -> None:
    with pytest.raises(KeyError, match="Invoices"):
        entity_schema("Invoices")


def test_entity_schema_returns_a_fresh_copy() -> None:
    first = entity_schema("Invoice")
    first["properties"].clear()
    assert entity_schema("Invoice")["properties"]


def test_obj_builds_what_singer_sdk_object_type_builds() -> None:
    types = {
        "Text": th.StringType,
        "Amount": th.DecimalType,
        "Count": th.IntegerType,
        "On": th.DateType,
        "At": th.DateTimeType,
        "Flag": th.BooleanType,
        "Ref": schemas.REF,
        "Links": schemas.array(schemas.LINKED_TXN),
        "Either": th.CustomType({"type": ["string", "boolean"]}),
    }
    expected = th.ObjectType(
        *(th.Property(name, type_) for name, type_ in types.items()), additional_properties=True
    ).type_dict
    assert schemas.obj(**types).type_dict == expected


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_entity_schema_is_what_singer_sdk_builds(entity: str) -> None:
    built = th.ObjectType(
        *(th.Property(name, type_) for name, type_ in schemas._ENTITY_FIELDS[entity].items()),
        additional_properties=True,
    ).to_dict()
    assert entity_schema(entity) == built


def _nodes(schema: dict, path: str = "$") -> Iterator[tuple[str, dict]]:
    """Every (path, sub-schema) in a schema, the root included."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")


def _types(node: dict) -> list[str]:
    types = node.get("type", [])
    return types if isinstance(types, list) else [types]


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_schema_is_valid_open_and_nullable(entity: str) -> None:
    schema = entity_schema(entity)
    jsonschema.Draft7Validator.check_schema(schema)

    assert _types(schema) == ["object"]
    assert schema["additionalProperties"] is True
    if entity == "TaxClassification":  # Intuit's tax service: lower-case names, no MetaData
        assert {"id", "code", "name"} <= set(schema["properties"])
    else:
        assert {"Id", "SyncToken", "MetaData", "domain", "sparse"} <= set(schema["properties"])
    # A target that folds case must not see two columns of one name.
    assert len({n.lower() for n in schema["properties"]}) == len(schema["properties"])
    assert not TAP_OWN_FIELDS & set(schema["properties"])
    assert not [name for name in schema["properties"] if name.startswith("_sdc_")]

    for path, node in _nodes(schema):
        assert node, f"{path}: an empty schema breaks the SDK's type detection"
        assert "required" not in node, path
        if "object" in _types(node):
            assert node.get("additionalProperties") is True, path
            assert "properties" in node, path
    for path, node in _nodes(schema):
        for name, sub in node.get("properties", {}).items():
            assert "null" in _types(sub), f"{path}.{name} must be nullable"


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_field_types_follow_the_conventions(entity: str) -> None:
    for path, node in _nodes(entity_schema(entity)):
        for name, sub in node.get("properties", {}).items():
            where = f"{path}.{name}"
            types = set(_types(sub)) - {"null"}
            if entity == "RecurringTransaction" and path == "$" and name in ENTITY_NAMES:
                assert types == {"object"}, where  # a wrapped template, e.g. "Invoice"
            elif name in MONEY_OR_QUANTITY:
                assert types == {"number"}, where
            elif name in DATES:
                assert (types, sub.get("format")) == ({"string"}, "date"), where
            elif name in DATETIMES:
                assert (types, sub.get("format")) == ({"string"}, "date-time"), where
            elif name in STRINGS:
                assert types == {"string"}, where
            elif name in INTEGERS:
                assert types == {"integer"}, where
            elif name.endswith("Ref") and name != "UOMRef" and "object" in types:
                assert {"value", "name", "type"} <= set(sub["properties"]), where
                assert _types(sub["properties"]["value"]) == ["string", "null"], where


def test_line_carries_every_detail_type() -> None:
    line = entity_schema("Invoice")["properties"]["Line"]["items"]["properties"]
    details = {
        "SalesItemLineDetail", "GroupLineDetail", "DescriptionLineDetail", "DiscountLineDetail",
        "SubTotalLineDetail", "TaxLineDetail", "ItemBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail", "JournalEntryLineDetail", "DepositLineDetail",
        "PaymentLineDetail", "ReimburseLineDetail", "TDSLineDetail", "PurchaseOrderItemLineDetail",
        "SalesOrderItemLineDetail", "ItemReceiptLineDetail", "ItemAdjustmentLineDetail",
    }  # fmt: skip
    assert {"Id", "LineNum", "Description", "Amount", "DetailType", "LinkedTxn", "LineEx"} <= set(
        line
    )
    assert details <= set(line)
    group_lines = line["GroupLineDetail"]["properties"]["Line"]["items"]["properties"]
    assert "SalesItemLineDetail" in group_lines
    assert "GroupLineDetail" not in group_lines  # a group cannot contain a group
    jaxb = line["LineEx"]["properties"]["any"]["items"]["properties"]
    assert set(jaxb) == {
        "name", "declaredType", "scope", "value", "nil", "globalScope", "typeSubstituted",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ("Invoice", {"DocNumber", "TxnDate", "PrivateNote", "CurrencyRef", "ExchangeRate",
                     "DepartmentRef", "TxnSource", "LinkedTxn", "CustomField", "Line",
                     "TotalAmt", "HomeTotalAmt", "CustomerRef", "BillAddr", "DueDate",
                     "Balance", "HomeBalance", "TxnTaxDetail", "Deposit", "InvoiceEx"}),
        ("Purchase", {"AccountRef", "PaymentType", "EntityRef", "Credit", "PurchaseEx"}),
        ("Bill", {"VendorRef", "APAccountRef", "DueDate", "Balance", "SalesTermRef"}),
        ("BillPayment", {"VendorRef", "PayType", "CheckPayment", "CreditCardPayment"}),
        ("JournalEntry", {"Adjustment", "TotalAmt", "HomeTotalAmt", "Line"}),
        ("Customer", {"DisplayName", "Active", "Balance", "BalanceWithJobs", "ParentRef",
                      "Job", "PrimaryEmailAddr", "BillAddr", "CurrencyRef"}),
        ("Vendor", {"DisplayName", "Vendor1099", "TermRef", "Balance", "TaxIdentifier"}),
        ("Item", {"Name", "Type", "UnitPrice", "QtyOnHand", "IncomeAccountRef"}),
        ("Account", {"Name", "AccountType", "AccountSubType", "CurrentBalance", "Classification"}),
        ("TaxRate", {"RateValue", "AgencyRef", "EffectiveTaxRate"}),
        ("TaxAgency", {"DisplayName", "TaxTrackedOnSales", "TaxRegistrationNumber"}),
        ("ExchangeRate", {"SourceCurrencyCode", "TargetCurrencyCode", "Rate", "AsOfDate"}),
        ("CompanyInfo", {"CompanyName", "LegalAddr", "FiscalYearStartMonth", "NameValue"}),
        ("Preferences", {"AccountingInfoPrefs", "SalesFormsPrefs", "CurrencyPrefs", "TaxPrefs"}),
        ("RecurringTransaction", {"Invoice", "Bill", "JournalEntry", "Purchase"}),
        ("TimeActivity", {"TxnDate", "Hours", "Minutes", "HourlyRate", "StartTime"}),
        ("InventoryAdjustment", {"AdjustAccountRef", "Line", "TxnDate"}),
        ("CreditCardPayment", {"CreditCardAccountRef", "BankAccountRef", "Amount"}),
        ("TaxPayment", {"PaymentDate", "PaymentAmount", "Refund", "PaymentAccountRef"}),
    ],
)  # fmt: skip
def test_documented_fields_are_present(entity: str, expected: set[str]) -> None:
    assert expected <= set(entity_schema(entity)["properties"])


def test_recurring_transaction_wraps_typed_templates() -> None:
    invoice = entity_schema("RecurringTransaction")["properties"]["Invoice"]
    assert invoice["additionalProperties"] is True
    schedule = invoice["properties"]["RecurringInfo"]["properties"]["ScheduleInfo"]
    assert _types(schedule["properties"]["NextDate"]) == ["string", "null"]
    assert _types(invoice["properties"]["TotalAmt"]) == ["number", "null"]


# --------------------------------------------------------------------------------------------
# A synthetic record filling every declared field survives conformance and validates
# --------------------------------------------------------------------------------------------
def _sample(schema: dict) -> Any:
    types = [t for t in _types(schema) if t != "null"]
    kind = types[0]
    if kind == "object":
        return {name: _sample(sub) for name, sub in schema["properties"].items()}
    if kind == "array":
        return [_sample(schema["items"])]
    if kind == "number":
        return decimal.Decimal("1234.56")
    if kind == "integer":
        return 7
    if kind == "boolean":
        return True
    return {"date": "2024-02-29", "date-time": "2024-02-29T13:45:00-08:00"}.get(
        schema.get("format", ""), "text"
    )


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_every_declared_field_round_trips(entity: str) -> None:
    schema = entity_schema(entity)
    record = _sample(schema)
    out = conform(entity, copy.deepcopy(record), schema)
    assert out == record
    validate(out, schema)
