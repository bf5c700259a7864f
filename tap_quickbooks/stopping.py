"""Stopping on SIGTERM or SIGINT without breaking the output.

Schedulers stop a task with SIGTERM (Ctrl-C sends SIGINT). A stop raises :class:`Stopped` in
the main thread at once (a wait for a page, a retry's sleep, a request) except while lines
are being written to stdout: there it waits until the lines are out, so a target never reads
half a line. The tap then writes a STATE covering exactly the records written and exits with
the shell's code for the signal (143, 130).
"""

from __future__ import annotations

import signal
import threading
import typing as t

if t.TYPE_CHECKING:
    from types import FrameType


class Stopped(BaseException):
    """A stop signal arrived. A BaseException, so that no ``except Exception`` (the SDK's,
    a retry loop's) takes it for a failure to handle."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_writing = 0  # depth of output being written by the main thread
_deferred: list[int] = []  # a signal that arrived meanwhile
_stopping = False  # once stopping, later signals must not cut the final STATE short


def on_signal(signum: int, frame: FrameType | None) -> None:
    """The handler of SIGTERM and SIGINT (Python runs it in the main thread)."""
    if _stopping:
        return
    if _writing:
        _deferred.append(signum)
        return
    _stop(signum)


def _stop(signum: int) -> t.NoReturn:
    global _stopping  # noqa: PLW0603
    _stopping = True
    raise Stopped(signum)


def install() -> None:
    """Handle SIGTERM and SIGINT with :func:`on_signal` (from the main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


class _WholeLines:
    """Output being written: a stop signal waits until it is out (main thread only; other
    threads never receive signals, and the writer's lock keeps their lines whole). A class,
    not a generator: it is entered for every record."""

    def __enter__(self) -> None:
        global _writing  # noqa: PLW0603
        if threading.get_ident() == _MAIN:
            _writing += 1

    def __exit__(self, *exc: object) -> None:
        global _writing  # noqa: PLW0603
        if threading.get_ident() == _MAIN:
            _writing -= 1
            if not _writing and _deferred and not _stopping:
                _stop(_deferred.pop())


_MAIN = threading.main_thread().ident
whole_lines = _WholeLines()
