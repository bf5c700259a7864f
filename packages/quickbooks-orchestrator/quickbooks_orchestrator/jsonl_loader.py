"""A minimal Singer loader: records appended to ``<dir>/<realm_id>/<stream>.jsonl`` (each record
names its company; one without goes to ``<dir>/<stream>.jsonl``), state echoed.

The offline default of the orchestrator (and its tests): each STATE line is written to
stdout only once the records before it are flushed, as a Singer target confirms state.
Usage: ``python -m quickbooks_orchestrator.jsonl_loader DIR < singer-messages``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m quickbooks_orchestrator.jsonl_loader DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[str, str], object] = {}
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            message = json.loads(line)
            kind = message.get("type")
            if kind == "RECORD":
                record = message["record"]
                key = (Path(str(record.get("realm_id") or "")).name, message["stream"])
                if key not in files:
                    (out / key[0]).mkdir(exist_ok=True)
                    files[key] = (out / key[0] / f"{Path(key[1]).name}.jsonl").open("a")
                files[key].write(json.dumps(record) + "\n")
            elif kind == "STATE":
                for f in files.values():
                    f.flush()
                print(json.dumps(message["value"]), flush=True)
    finally:
        for f in files.values():
            f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
