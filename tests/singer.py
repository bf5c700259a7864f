"""Run the tap as users do, a process reading config and state files, and read what it wrote."""

from __future__ import annotations

import decimal
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

TAP_ADDED = ("realm_id", "LastUpdatedTime")


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict] = field(default_factory=list)

    @property
    def records(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for message in self.messages:
            if message["type"] == "RECORD":
                out.setdefault(message["stream"], []).append(message["record"])
        return out

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict | None:
        return self.states[-1] if self.states else None

    @property
    def schemas(self) -> dict[str, dict]:
        return {m["stream"]: m for m in self.messages if m["type"] == "SCHEMA"}


def parse_messages(text: str) -> list[dict]:
    """Singer messages of a stdout, money parsed as Decimal; a line cut by a kill is skipped."""
    messages = []
    for line in text.splitlines():
        try:
            messages.append(json.loads(line, parse_float=decimal.Decimal))
        except ValueError:
            continue
    return messages


# A crash of the tap (a segfault in a C extension) prints every thread's stack to stderr.
FAULTHANDLER = {"PYTHONFAULTHANDLER": "1"}


def write_json(directory: Path, name: str, data: object) -> Path:
    path = directory / name
    path.write_text(json.dumps(data, default=str))
    return path


def tap_command(config: dict, state: dict | None, args: list[str], workdir: Path) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "tap_quickbooks",
        "--config",
        str(write_json(workdir, "config.json", config)),
    ]
    if state is not None:
        command += ["--state", str(write_json(workdir, "state.json", state))]
    return command + args


def run_tap(
    config: dict,
    state: dict | None = None,
    args: list[str] | None = None,
    *,
    timeout: float = 600,
    env: dict | None = None,
) -> TapRun:
    with tempfile.TemporaryDirectory() as tmp:
        command = tap_command(config, state, args or [], Path(tmp))
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **FAULTHANDLER, **(env or {})},
            check=False,
        )
    return TapRun(done.returncode, done.stdout, done.stderr, parse_messages(done.stdout))


def run_tap_until_killed(
    config: dict,
    state: dict | None,
    kill_after_records: int,
    args: list[str] | None = None,
    *,
    timeout: float = 600,
) -> TapRun:
    """Start a sync and SIGKILL it once it has written that many RECORD messages."""
    with tempfile.TemporaryDirectory() as tmp:
        command = tap_command(config, state, args or [], Path(tmp))
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **FAULTHANDLER},
        )
        lines = []
        seen = 0
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if '"type":"RECORD"' in line.replace(" ", ""):
                seen += 1
                if seen >= kill_after_records:
                    process.send_signal(signal.SIGKILL)
                    break
        process.stdout.close()
        code = process.wait(timeout=timeout)
    text = "".join(lines)
    return TapRun(code, text, "", parse_messages(text))


def strip_tap_fields(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TAP_ADDED}


def as_decimal_json(obj: object) -> object:
    """Ground truth re-read as the tap's output is: floats as Decimal, via JSON text."""
    return json.loads(json.dumps(obj), parse_float=decimal.Decimal)
