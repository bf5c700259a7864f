"""The writer of Singer messages (output.py): whole lines, none lost, from any thread."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time

from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_quickbooks.output import BlockWriter

EXTRACTED = dt.datetime(2026, 11, 23, 12, 0, 1, tzinfo=dt.UTC)


class SlowStdout:
    """A stdout whose writes take a while (a full pipe): the GIL passes to other threads
    in the middle of a block's write, as it does when a target reads slowly."""

    def __init__(self) -> None:
        self.buffer = self
        self.data = bytearray()

    def write(self, block: bytes) -> int:
        time.sleep(0.0005)
        self.data += block
        return len(block)

    def flush(self) -> None:
        time.sleep(0.0001)


def test_lines_written_from_several_threads_at_once_are_all_whole(monkeypatch) -> None:
    out = SlowStdout()
    monkeypatch.setattr(sys, "stdout", out)
    writer = BlockWriter()
    writer.BLOCK_BYTES = 2_000  # a block goes out every few records: many chances to race
    per_thread, threads = 400, 4

    def write(n: int) -> None:
        for i in range(per_thread):
            record = {"Id": f"{n}-{i}", "pad": "x" * 50}
            writer.write_message(
                RecordMessage(stream=f"s{n}", record=record, time_extracted=EXTRACTED)
            )
            if i % 50 == 0:  # a STATE flushes, as a token rotation's STATE would
                writer.write_message(StateMessage(value={"thread": n, "i": i}))

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    writer.flush()
    lines = out.data.decode().splitlines()
    messages = [json.loads(line) for line in lines]  # every line whole
    ids = [m["record"]["Id"] for m in messages if m["type"] == "RECORD"]
    assert sorted(ids) == sorted(f"{n}-{i}" for n in range(threads) for i in range(per_thread))
    assert sum(m["type"] == "STATE" for m in messages) == threads * per_thread // 50
