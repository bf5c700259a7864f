"""Imported at start-up by a tap process whose PYTHONPATH starts here (tests only): the disk
that holds the token file fills up mid-run.

``FULL_DISK_DIR`` names the token file's folder and ``FULL_DISK_AFTER`` how many token writes
still succeed there; every later one fails as a full disk does, with ENOSPC when its bytes are
forced out (``fsync``). The tap's start-up probe of the folder (``.*.probe.*``) still succeeds,
as it would on a disk that fills up after the run began.
"""

import errno
import os
import threading

if folder := os.environ.get("FULL_DISK_DIR"):
    folder = os.path.realpath(folder)
    allowed = [int(os.environ.get("FULL_DISK_AFTER", "0"))]
    lock = threading.Lock()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        if os.path.dirname(path) == folder and ".probe." not in os.path.basename(path):
            with lock:
                allowed[0] -= 1
                full = allowed[0] < 0
            if full:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        real_fsync(fd)

    os.fsync = fsync
