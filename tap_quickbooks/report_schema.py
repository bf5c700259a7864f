"""The report streams' schemas and keys: one typed schema per report family."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_quickbooks.report_catalogue import Kind, Report
from tap_quickbooks.report_records import AGING_FIELDS, DETAIL_FIELDS

PRIMARY_KEYS = ("realm_id", "report", "accounting_method", "period_start", "period_end", "row_key")


def report_schema(report: Report) -> dict:
    """One typed schema per report family."""
    common = [
        th.Property("realm_id", th.StringType, required=True),
        th.Property("report", th.StringType, required=True, description="QBO report name."),
        th.Property("accounting_method", th.StringType, required=True),
        th.Property("period_start", th.DateType, required=True),
        th.Property("period_end", th.DateType, required=True),
        th.Property(
            "row_key",
            th.StringType,
            required=True,
            description="Stable place of the line in the report: section keys, then the "
            "account id, transaction or label of the line.",
        ),
        th.Property("row_number", th.IntegerType, description="Position in QBO's order."),
        th.Property("row_type", th.StringType, description="`data`, or `total` of a section."),
        th.Property("section_path", th.ArrayType(th.StringType), description="Section titles."),
        th.Property("group", th.StringType, description="QBO's group of the line or section."),
        th.Property("label", th.StringType, description="The line's own title."),
        th.Property("currency", th.StringType),
    ]
    amounts = th.Property(
        "amounts",
        th.ObjectType(additional_properties=th.NumberType),
        description="Amount columns with no field of their own, by column title.",
    )
    if report.kind is Kind.DETAIL:
        family = [
            th.Property("account_id", th.StringType),
            th.Property("account_name", th.StringType),
            th.Property("tx_date", th.DateType),
            *(
                th.Property(name, th.StringType)
                for pair in DETAIL_FIELDS.values()
                for name in pair
                if name and name != "tx_date"
            ),
            *(
                th.Property(name, th.NumberType)
                for name in ("amount", "debit", "credit", "balance")
            ),
            th.Property(
                "other_columns",
                th.ObjectType(additional_properties=th.StringType),
                description="Columns with no field of their own, by QBO column key.",
            ),
        ]
    elif report.kind is Kind.AGING:
        party = report.party or "party"
        family = [
            th.Property(f"{party}_id", th.StringType),
            th.Property(f"{party}_name", th.StringType),
            *(th.Property(name, th.NumberType) for name in AGING_FIELDS),
            amounts,
        ]
    else:
        family = [
            th.Property("account_id", th.StringType),
            th.Property("account_name", th.StringType),
            *(th.Property(name, th.NumberType) for name in ("amount", "debit", "credit")),
            amounts,
        ]
    return th.PropertiesList(*common, *family).to_dict()
