"""The writer of Singer messages (output.py): whole lines, none lost, from any thread."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time

from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage

from tap_quickbooks.output import BlockWriter, state_line

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
            if i % 50 == 0:  # a STATE flushes, as a token rotation's STATE does
                writer.write_state_line(state_line({"thread": n, "i": i}), at_once=True)

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


def written(monkeypatch) -> tuple[BlockWriter, SlowStdout]:
    out = SlowStdout()
    monkeypatch.setattr(sys, "stdout", out)
    return BlockWriter(), out


def lines_of(out: SlowStdout) -> list[dict]:
    return [json.loads(line) for line in out.data.decode().splitlines()]


def test_a_schema_is_written_again_only_when_it_changed(monkeypatch) -> None:
    writer, out = written(monkeypatch)
    one = {"type": "object", "properties": {"Id": {"type": "string"}}}
    other = {"type": "object", "properties": {"Id": {"type": "integer"}}}
    for schema in (one, dict(one), other, one):
        writer.write_message(SchemaMessage("customers", schema, ["Id"]))
    writer.write_message(SchemaMessage("invoices", one, ["Id"]))
    writer.write_message(SchemaMessage("customers", one, ["Id", "realm_id"]))  # keys differ
    writer.flush()
    got = [(m["stream"], m["schema"], m["key_properties"]) for m in lines_of(out)]
    assert got == [
        ("customers", one, ["Id"]),
        ("customers", other, ["Id"]),
        ("customers", one, ["Id"]),
        ("invoices", one, ["Id"]),
        ("customers", one, ["Id", "realm_id"]),
    ]


def test_a_state_is_held_until_a_block_of_data_or_the_flush_and_never_claims_ahead(
    monkeypatch,
) -> None:
    writer, out = written(monkeypatch)
    writer.BLOCK_BYTES = 1_000
    writer.write_message(StateMessage(value={"at": -1}))  # the run's start: held
    for i in range(30):
        record = {"Id": str(i), "pad": "x" * 80}
        writer.write_message(RecordMessage(stream="s", record=record, time_extracted=EXTRACTED))
        writer.write_message(StateMessage(value={"at": i}))  # covers records 0..i
    writer.write_message(StateMessage(value={"at": 29, "quiet": True}))  # a quiet stream
    writer.flush()  # the end of the company: the held STATE goes out
    messages = lines_of(out)
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    # A STATE a 1,000 bytes of records (30 of ~170 bytes) and the last: not one a record.
    assert 4 <= len(states) <= 7, states
    assert states[-1] == {"at": 29, "quiet": True}  # the newest, last
    seen = -1
    for m in messages:  # every STATE follows every record it covers
        if m["type"] == "RECORD":
            seen = int(m["record"]["Id"])
        else:
            assert m["value"]["at"] == seen, (m, seen)
    assert [int(m["record"]["Id"]) for m in messages if m["type"] == "RECORD"] == list(range(30))


def test_a_state_written_at_once_is_not_held(monkeypatch) -> None:
    writer, out = written(monkeypatch)
    writer.write_state_line(state_line({"token": "sealed"}), at_once=True)
    assert lines_of(out) == [{"type": "STATE", "value": {"token": "sealed"}}]  # out already


def test_a_held_state_is_encoded_once_when_it_goes_out(monkeypatch) -> None:
    # Each STATE of a many-company run holds every company's bookmarks: encoded at every
    # stream's checkpoint, a run's cost grew with the square of its companies.
    writer, out = written(monkeypatch)
    state = {"bookmarks": {}}
    encoded = []

    def encode() -> bytes:
        encoded.append(dict(state["bookmarks"]))
        return state_line(state)

    for n in range(50):
        writer.write_message(RecordMessage("customers", {"Id": str(n)}, time_extracted=EXTRACTED))
        state["bookmarks"] = {"customers": n}  # the state moves on after its record is out
        writer.write_state(encode)
    assert encoded == []  # held: a block of data has not gone out yet
    assert [m["type"] for m in lines_of(out)] == ["RECORD"] * 50  # the records are out
    writer.flush()
    assert encoded == [{"customers": 49}]  # once, of the state as it is when it goes out
    assert lines_of(out)[-1] == {"type": "STATE", "value": {"bookmarks": {"customers": 49}}}


def test_a_state_that_did_not_change_is_not_written(monkeypatch) -> None:
    writer, out = written(monkeypatch)
    writer.write_state(lambda: None, at_once=True)  # the state writer found it unchanged
    writer.write_state(lambda: None)
    writer.flush()
    assert out.data == b""


def test_a_state_asked_for_soon_waits_at_most_a_second_after_the_last(monkeypatch) -> None:
    # A report's finished period: wanted out soon (a metered call not to repeat after a
    # kill), yet a STATE per period per company, each holding every company's bookmarks,
    # grew with the square of the companies. The clock here is the test's, not the machine's.
    clock = [100.0]
    monkeypatch.setattr("tap_quickbooks.output.time.monotonic", lambda: clock[0])
    writer, out = written(monkeypatch)

    def states() -> list:
        return [m["value"] for m in lines_of(out) if m["type"] == "STATE"]

    def soon(value: dict) -> None:
        writer.write_state(lambda: state_line(value), soon=True)

    soon({"period": 1})
    assert states() == [{"period": 1}]  # no STATE yet this run: out at once
    clock[0] += 0.4
    soon({"period": 2})
    clock[0] += 0.4
    soon({"period": 3})
    assert states() == [{"period": 1}]  # 0.8 s after the last: held, the newer replacing
    clock[0] += 0.2
    soon({"period": 4})
    assert states() == [{"period": 1}, {"period": 4}]  # a second after the last: out
    clock[0] += 0.1
    soon({"period": 5})
    writer.write_state_line(state_line({"token": "rotated"}), at_once=True)  # never waits
    assert states() == [{"period": 1}, {"period": 4}, {"token": "rotated"}]
    soon({"period": 6})
    writer.flush()  # the end of a company: what is held goes out
    assert states()[-1] == {"period": 6}


def test_a_state_asked_for_soon_goes_out_with_the_first_line_after_its_second(monkeypatch) -> None:
    # Review of be99d90: a report's periods, read ahead, are written in a burst; the last
    # period's STATE was held, then replaced by the stream's own end-of-stream STATE (not
    # asked for soon), and went out only after a MiB of the next stream's records.
    clock = [100.0]
    monkeypatch.setattr("tap_quickbooks.output.time.monotonic", lambda: clock[0])
    writer, out = written(monkeypatch)
    state: dict = {}

    def states() -> list:
        return [m["value"] for m in lines_of(out) if m["type"] == "STATE"]

    def record(n: int) -> None:
        writer.write_message(RecordMessage("invoices", {"Id": str(n)}, time_extracted=EXTRACTED))

    state["period"] = 1
    writer.write_state(lambda: state_line(dict(state)), soon=True)  # out at once: the first
    state["period"] = 2
    writer.write_state(lambda: state_line(dict(state)), soon=True)  # held
    state["end of stream"] = True
    writer.write_state(lambda: state_line(dict(state)))  # replaces it; not asked for soon
    clock[0] += 0.5
    record(1)
    assert states() == [{"period": 1}]  # half a second: still held
    clock[0] += 0.5
    record(2)  # a second after the last STATE: the held one goes out before this record
    assert states() == [{"period": 1}, {"period": 2, "end of stream": True}]
    # Out on the line after record 1, before record 2, which follows in the next block.
    assert lines_of(out)[-2]["record"] == {"Id": "1"}
    clock[0] += 30
    record(3)
    writer.write_state(lambda: state_line({"stream": "invoices"}))  # an ordinary one: held
    clock[0] += 30
    record(4)
    assert len(states()) == 2  # no deadline without a STATE asked for soon
    writer.flush()
    assert [m.get("record", {}).get("Id") for m in lines_of(out)] == [
        None, "1", None, "2", "3", "4", None,
    ]  # fmt: skip
