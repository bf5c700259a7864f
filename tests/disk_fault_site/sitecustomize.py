"""Imported at start-up by a tap process whose PYTHONPATH starts here (tests only): the disk
that holds the token file fails as a full or read-only disk does.

``DISK_FAULT_DIR`` names the token file's folder, ``DISK_FAULT_ERRNO`` the failure (``ENOSPC``,
the default, or ``EROFS``) and ``DISK_FAULT_AFTER`` how many token writes there still succeed;
every later one fails when its bytes are forced out (``fsync``), as on a disk that fills up.
The tap's start-up probe of the folder (``.*.probe.*``) succeeds too, unless
``DISK_FAULT_PROBE=fail``: the disk is full (or read-only) before the run begins.
"""

import errno
import os
import threading

if folder := os.environ.get("DISK_FAULT_DIR"):
    folder = os.path.realpath(folder)
    code = getattr(errno, os.environ.get("DISK_FAULT_ERRNO", "ENOSPC"))
    probes_fail = os.environ.get("DISK_FAULT_PROBE") == "fail"
    allowed = [int(os.environ.get("DISK_FAULT_AFTER", "0"))]
    lock = threading.Lock()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        if os.path.dirname(path) == folder:
            if ".probe." in os.path.basename(path):
                failing = probes_fail
            else:
                with lock:
                    allowed[0] -= 1
                    failing = allowed[0] < 0
            if failing:
                raise OSError(code, os.strerror(code), path)
        real_fsync(fd)

    os.fsync = fsync
