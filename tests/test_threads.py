"""Page chains read pages in threads of their own: nothing they share may crash the process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.singer import FAULTHANDLER

# Threads read their entity's first page at once, as the page chains of a run do when they
# all start together, with GIL switches as frequent as they go; each trial reloads the
# module, so that its structs are prepared for decoding for the first time, as in a new run.
FIRST_PAGES_AT_ONCE = textwrap.dedent(
    """
    import importlib, sys, threading
    import msgspec
    from tap_quickbooks import passthrough
    sys.setswitchinterval(1e-6)
    entities = ["Invoice", "Bill", "Customer", "Payment", "Vendor", "Item", "Account", "Term"]
    def page(entity):
        rows = [{"Id": str(i), "MetaData": {"LastUpdatedTime": "2025-01-02T03:04:05-08:00"}}
                for i in range(50)]
        return msgspec.json.encode({"QueryResponse": {entity: rows}, "time": "2025-01-02"})
    for trial in range(300):
        importlib.reload(passthrough)
        start = threading.Barrier(len(entities))
        def read(entity):
            start.wait()
            for _ in range(3):
                rows = passthrough.read_page(entity, page(entity))["QueryResponse"][entity]
                assert len(rows) == 50
        threads = [threading.Thread(target=read, args=(e,)) for e in entities]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print("read", flush=True)
    """
)


def test_pages_read_by_many_threads_at_once_never_crash_the_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_PAGES_AT_ONCE],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **FAULTHANDLER},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]  # -11 before: SIGSEGV inside msgspec
    assert done.stdout.strip() == "read"
