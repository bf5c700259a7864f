"""Gives the demo's DuckDB tables the types the tap declares: money DECIMAL, dates DATE.

target-duckdb 0.8.0 (the only target-duckdb on PyPI, and the version meltano.yml pins)
creates every JSON number as DOUBLE and every `date` as VARCHAR, whatever the schema says: a
sum of invoices then reads 503976.11999999936. The tap emits exact decimals and typed dates,
so after the load this sets each such column to DECIMAL(38, 9) (exact to QBO's precision:
money has 2 places, rates and quantities up to 9) and DATE. The values survive: each DOUBLE
is the nearest one to QBO's decimal, and rounds back to it.

Runs in target-duckdb's environment (its duckdb wrote the file). Standalone: imports only
duckdb. Usage: python duckdb_types.py WAREHOUSE SCHEMA COLUMNS_JSON, COLUMNS_JSON mapping
table -> {column: "decimal" | "date"}.
"""

from __future__ import annotations

import json
import sys

import duckdb

SQL_TYPES = {"decimal": "DECIMAL(38, 9)", "date": "DATE"}


def main(path: str, schema: str, columns: dict[str, dict[str, str]]) -> int:
    with duckdb.connect(path) as con:
        present = {
            (table, column): data_type
            for table, column, data_type in con.sql(
                "select table_name, column_name, data_type from information_schema.columns "
                f"where table_schema = '{schema}'"
            ).fetchall()
        }
        changed, kept = 0, []
        for table, kinds in columns.items():
            for name, kind in kinds.items():
                column = name.lower()  # target-duckdb lower-cases column names
                current = present.get((table, column))
                want = SQL_TYPES[kind]
                if current is None or current.startswith(want.split("(")[0]):
                    continue
                alter = f'alter table "{schema}"."{table}" alter column "{column}" type {want}'
                try:
                    con.execute(alter)
                    changed += 1
                except duckdb.BinderException:  # DuckDB keeps a key column's type
                    kept.append(f"{table}.{column}")
    print(f"{changed} columns typed (money DECIMAL, dates DATE).")
    if kept:
        print(f"Key columns left as loaded: {', '.join(kept)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
