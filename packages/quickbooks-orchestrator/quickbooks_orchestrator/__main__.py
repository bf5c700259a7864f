"""``python -m quickbooks_orchestrator``: the company registry and the month's usage.

    add REALM_ID        (the refresh token on stdin, never on the command line)
    remove REALM_ID
    list
    usage [YYYY-MM]

The home directory is ``QBO_ORCH_HOME`` (default ``.quickbooks_orchestrator``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from .runner import Settings
from .store import month_of


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m quickbooks_orchestrator")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("add", help="connect a company (refresh token on stdin)").add_argument(
        "realm_id"
    )
    sub.add_parser("remove", help="disconnect a company").add_argument("realm_id")
    sub.add_parser("list", help="the connected companies")
    sub.add_parser("usage", help="metered calls this month").add_argument("month", nargs="?")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    store = settings.store
    if args.command == "add":
        token = sys.stdin.readline().strip()
        if not token:
            print("Give the company's refresh token on stdin, e.g.: ", file=sys.stderr)
            print(
                f"  python -m quickbooks_orchestrator add {args.realm_id} < token.txt",
                file=sys.stderr,
            )
            return 2
        store.add_company(args.realm_id, token)
        print(f"Added {args.realm_id}; its shard is synced from the next run on.")
    elif args.command == "remove":
        store.remove_company(args.realm_id)
        print(f"Removed {args.realm_id}; its state and token file are kept.")
    elif args.command == "list":
        for company in store.companies():
            print(company.realm_id)
    else:
        month = args.month or month_of(dt.datetime.now(dt.UTC))
        for realm, n in sorted(store.usage_by_company(month).items()):
            print(f"{realm}\t{n}")
        used = store.usage(month)
        budget = f"budget {settings.monthly_budget}, reads stop at {settings.budget_stop}"
        print(f"total\t{used}\t({budget})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
