"""Serving-speed benchmark: ``python -m qbo_emulator.bench [--scale 200000]``.

Generates a company, then pages through every transaction entity (and the big name lists)
the way an incremental tap does - ``SELECT * FROM X WHERE MetaData.LastUpdatedTime >= '...'
ORDERBY MetaData.LastUpdatedTime STARTPOSITION n MAXRESULTS 1000`` - over one keep-alive
HTTP connection, parsing every page as JSON, and prints records served per second. The client
runs in its own process (as a tap does), so server and client do not share one interpreter
lock; two passes are timed. From scale 20000 the emulator serializes every object at start-up
(``prewarm``), so the first pass is served from cached JSON; ``--no-prewarm`` measures lazy
serialization instead.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import time
from urllib.parse import quote, urlsplit

from . import Emulator

ENTITIES = (
    "Invoice",
    "Payment",
    "Bill",
    "Purchase",
    "BillPayment",
    "SalesReceipt",
    "Estimate",
    "Customer",
)


def _page_all(conn, realm: str, token: str, entity: str) -> int:
    total, start = 0, 1
    while True:
        q = (
            f"SELECT * FROM {entity} WHERE MetaData.LastUpdatedTime >= '2000-01-01T00:00:00-08:00' "
            f"ORDERBY MetaData.LastUpdatedTime STARTPOSITION {start} MAXRESULTS 1000"
        )
        conn.request(
            "GET",
            f"/v3/company/{realm}/query?query={quote(q)}&minorversion=75",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{resp.status}: {body[:300]!r}")
        rows = json.loads(body)["QueryResponse"].get(entity, [])
        total += len(rows)
        if len(rows) < 1000:
            return total
        start += 1000


def _client(base_url: str, realm: str, token: str, results) -> None:
    """Runs in its own process, like a tap would: one pass over every entity."""
    host = urlsplit(base_url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=300)
    t = time.perf_counter()
    n = sum(_page_all(conn, realm, token, e) for e in ENTITIES)
    results.put((n, time.perf_counter() - t))
    conn.close()


def run(scale: int, seed: int = 1, prewarm: bool | None = None) -> dict:
    t0 = time.perf_counter()
    emu = Emulator(seed=seed, scale=scale, prewarm=prewarm)
    gen_s = time.perf_counter() - t0
    emu.start()
    ctx = multiprocessing.get_context("spawn")
    try:
        realm = emu.realm_ids[0]
        token = emu.access_token(realm)
        out = {"scale": scale, "startup_s": round(gen_s, 2)}
        for label in ("first", "second"):
            results = ctx.Queue()
            proc = ctx.Process(target=_client, args=(emu.base_url, realm, token, results))
            proc.start()
            n, dt = results.get()
            proc.join()
            out[f"{label}_records"] = n
            out[f"{label}_s"] = round(dt, 2)
            out[f"{label}_records_per_s"] = round(n / dt)
        return out
    finally:
        emu.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qbo_emulator.bench")
    p.add_argument("--scale", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-prewarm", action="store_true", help="serialize lazily, on first use")
    args = p.parse_args(argv)
    res = run(args.scale, args.seed, False if args.no_prewarm else None)
    print(
        f"scale {res['scale']}: emulator ready in {res['startup_s']}s; served "
        f"{res['first_records']} records at {res['first_records_per_s']} records/s on the first "
        f"pass and {res['second_records_per_s']} records/s on the second "
        "(1000-row LastUpdatedTime pages, client in its own process parsing every page)"
    )
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
