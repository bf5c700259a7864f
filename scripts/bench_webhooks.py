"""Webhooks: ack latency of quickbooks-webhooks under a burst, and a change's way to the warehouse.

    .venv/bin/python -m scripts.bench_webhooks [--events 5000] [--batch 20] [--senders 25]
                                               [--changes 20]

1. Starts the receiver as a process on a free port, sends the burst (5,000 events for 50
   companies) from ``--senders`` threads and prints the median and worst time to the 200
   (Intuit retries after 3 s).
2. End to end (tests/webhook_pipeline.py): ``--changes`` times, one customer changed in the
   emulator -> signed webhook -> receiver -> webhook sensor -> tap | loader -> the warehouse
   file; prints the median and worst seconds (the goal: 60 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.webhook_pipeline import WebhookPipeline, change_to_warehouse
from tests.webhook_receiver import Receiver, cloud_event


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--companies", type=int, default=50)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--senders", type=int, default=25)
    p.add_argument("--changes", type=int, default=20)
    args = p.parse_args()
    acks_ok = burst(args)
    worst = end_to_end(args.changes) if args.changes else 0.0
    return 0 if acks_ok and worst <= 60 else 1


def burst(args) -> bool:
    realms = [str(9130350000000100 + n) for n in range(args.companies)]
    events = [cloud_event(realms[i % len(realms)], "Invoice", str(i)) for i in range(args.events)]
    bodies = [
        json.dumps(events[i : i + args.batch]).encode() for i in range(0, len(events), args.batch)
    ]
    with tempfile.TemporaryDirectory() as tmp, Receiver(Path(tmp), companies=realms) as rx:

        def send(body: bytes) -> tuple[int, float]:
            started = time.perf_counter()
            status, _ = rx.post(body)
            return status, time.perf_counter() - started

        began = time.perf_counter()
        with ThreadPoolExecutor(args.senders) as pool:
            results = list(pool.map(send, bodies))
        wall = time.perf_counter() - began
        stored = rx.status()["received"]
    took = sorted(t for _, t in results)
    bad = sum(1 for s, _ in results if s != 200)
    print(
        f"webhooks: {args.events} events / {len(bodies)} deliveries / {args.companies} companies,"
        f" {args.senders} senders: ack median {statistics.median(took) * 1000:.1f} ms,"
        f" worst {took[-1] * 1000:.1f} ms, wall {wall:.2f} s, stored {stored}, non-200 {bad}"
    )
    return not bad and took[-1] < 3.0


def end_to_end(changes: int) -> float:
    with (
        tempfile.TemporaryDirectory() as tmp,
        WebhookPipeline(
            Path(tmp), realms=2, scale=40, streams=["customers", "invoices"], log_level="WARNING"
        ) as pipe,
    ):
        realm = pipe.emu.realm_ids[0]
        took = sorted(change_to_warehouse(pipe, realm, n) for n in range(changes))
        runs = pipe.webhook_runs[realm]
    print(
        f"webhooks end to end: {changes} changes, mutation -> warehouse median "
        f"{statistics.median(took):.2f} s, worst {took[-1]:.2f} s ({runs} runs; goal <= 60 s)"
    )
    return took[-1]


if __name__ == "__main__":
    raise SystemExit(main())
