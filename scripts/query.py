"""`make query`: SQL on the demo's warehouse, run by the duckdb that loaded it.

Runs in target-duckdb's own environment (`.meltano/loaders/target-duckdb/venv`), whose duckdb
(1.2.2, pinned) wrote the file, so no duckdb needs installing. Standalone: imports only duckdb.

    make query                              # revenue by month
    make query SQL="select count(*) from quickbooks.invoices"
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb

WAREHOUSE = Path(__file__).resolve().parent.parent / "output" / "warehouse.duckdb"

# Invoiced revenue by month, deleted invoices left out (target-duckdb keeps them, flagged).
REVENUE_BY_MONTH = """
select strftime(cast(txndate as date), '%Y-%m') as month,
       count(*) as invoices,
       cast(sum(cast(totalamt as decimal(18, 2))) as decimal(18, 2)) as revenue
from quickbooks.invoices
where _sdc_deleted_at is null
group by 1
order by 1 desc
limit 12
"""


def main() -> int:
    if not WAREHOUSE.exists():
        print(f"No {WAREHOUSE.name} yet: run `make demo` first.", file=sys.stderr)
        return 1
    sql = os.environ.get("SQL") or (sys.argv[1] if len(sys.argv) > 1 else REVENUE_BY_MONTH)
    with duckdb.connect(str(WAREHOUSE), read_only=True) as con:
        try:
            result = con.sql(sql)
        except duckdb.Error as exc:
            print(f"The query failed: {exc}", file=sys.stderr)
            return 1
        if result is None:
            return 0
        result.show(max_rows=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
