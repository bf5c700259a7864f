"""Imported at start-up by every Python process of `python -m tests.any_day` (on PYTHONPATH).

libfaketime 0.9.10 (Debian 12) breaks ``time.sleep`` on Python 3.11: the absolute monotonic
deadline it passes to ``clock_nanosleep`` comes back EINVAL, or never arrives. A sleep here
waits on a lock instead, which libfaketime leaves alone (measured in monotonic time).
"""

import os
import threading
import time

if os.environ.get("ANY_DAY"):

    def sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        threading.Event().wait(seconds)

    time.sleep = sleep
