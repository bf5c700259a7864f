"""How answers come off the wire: whole, within one deadline, and of a bounded size.

Every request of the tap (API and token calls alike) goes through :class:`AnswerAdapter`:

- ``request_timeout`` bounds the whole answer, from sending the request to the last byte of
  its body. A socket timeout alone bounds only each wait for a byte: a peer trickling one
  byte a second would hold a run forever. A watchdog thread shuts the connection's socket
  down when an answer's time is up (never closes it: the descriptor stays the reading
  thread's), and the reading thread reports a timeout, which is retried like any other.
- An answer's body, once inflated, is refused beyond :data:`MAX_ANSWER_BYTES`: QBO's largest
  pages are a few MB, and a gzip bomb or an endless chunked body must not take the memory.
- The body is read in large pieces rather than requests' 10 KB ones: each piece is a round
  of Python through urllib3, and for a 2 MB page those cost more CPU than splitting it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import typing as t
import weakref

import requests
import urllib3
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import FatalAPIError
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python 3.11
    from typing_extensions import override

MAX_ANSWER_BYTES = 64 << 20
_PIECE = 1 << 20


class AnswerTooLarge(FatalAPIError):
    """An answer larger than any QBO sends: refused, not retried (it would come again)."""


class _Alarm:
    __slots__ = ("connection", "deadline", "fired")

    def __init__(self, connection: HTTPConnection, deadline: float) -> None:
        self.connection = connection
        self.deadline = deadline
        self.fired = False


class _Watchdog:
    """One thread for the process: cuts off every answer whose deadline has passed."""

    def __init__(self) -> None:
        self._alarms: set[_Alarm] = set()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, connection: HTTPConnection, deadline: float) -> _Alarm:
        alarm = _Alarm(connection, deadline)
        with self._changed:
            self._alarms.add(alarm)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="answer-deadlines")
                self._thread.daemon = True  # it only ever waits; nothing of it is to finish
                self._thread.start()
            self._changed.notify()
        return alarm

    def disarm(self, alarm: _Alarm) -> None:
        with self._changed:
            self._alarms.discard(alarm)

    def _watch(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for alarm in [a for a in self._alarms if a.deadline <= now]:
                    self._alarms.discard(alarm)
                    alarm.fired = True
                    sock = alarm.connection.sock
                    # (Already closed: nothing waits on it.) The base class's shutdown: an SSL
                    # socket's own would drop its TLS state under the reading thread.
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)
                nearest = min((a.deadline for a in self._alarms), default=None)
                self._changed.wait(None if nearest is None else max(0.0, nearest - now))


_WATCHDOG = _Watchdog()
_current = threading.local()  # the deadline of the request this thread is sending


class _DeadlineMixin:
    """A connection whose answer is cut off at the deadline of the request being sent."""

    @override
    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        deadline = getattr(_current, "deadline", None)
        if deadline is not None and getattr(_current, "alarm", None) is None:
            _current.alarm = _WATCHDOG.arm(self, deadline)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _Connection(_DeadlineMixin, HTTPConnection):
    pass


class _TLSConnection(_DeadlineMixin, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class AnswerAdapter(HTTPAdapter):
    """Reads each answer whole, within ``request_timeout`` and :data:`MAX_ANSWER_BYTES`.

    The deadline is the read part of the timeout the request is sent with (requests'
    ``(connect, read)`` pair, or one number): the tap passes ``request_timeout`` there.
    """

    def __init__(self, *args: t.Any, max_bytes: int = MAX_ANSWER_BYTES, **kwargs: t.Any) -> None:
        self.max_bytes = max_bytes
        super().__init__(*args, **kwargs)

    @override
    def init_poolmanager(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}

    @override
    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: t.Any = None,
        **kwargs: t.Any,
    ) -> requests.Response:
        total = timeout[1] if isinstance(timeout, tuple) else timeout
        if total is not None:
            _current.deadline = time.monotonic() + float(total)
        try:
            try:
                response = super().send(request, stream=True, timeout=timeout, **kwargs)
                if not stream:
                    response._content = self._read_body(response, request)
                    response._content_consumed = True
            except requests.RequestException as exc:
                if _fired():
                    raise _timed_out(request, total) from exc
                raise
            if _fired():  # complete, but too late: the connection was cut under it
                raise _timed_out(request, total)
            return response
        finally:
            if (alarm := getattr(_current, "alarm", None)) is not None:
                _WATCHDOG.disarm(alarm)
            _current.deadline = _current.alarm = None

    def _read_body(self, response: requests.Response, request: requests.PreparedRequest) -> bytes:
        pieces = []
        size = 0
        try:  # failures worded as requests words them, so that retries see the same errors
            while piece := response.raw.read(_PIECE, decode_content=True):
                size += len(piece)
                if size > self.max_bytes:
                    response.close()
                    msg = (
                        f"The answer to {request.method} {_path(request)} grew past "
                        f"{self.max_bytes >> 20} MiB (once inflated); QBO's largest are a few "
                        "MB, so it was refused. Is a proxy between the tap and QBO rewriting "
                        "answers?"
                    )
                    raise AnswerTooLarge(msg)
                pieces.append(piece)
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        except OSError as exc:  # a socket shut down by the watchdog, mid-read
            raise requests.exceptions.ConnectionError(exc) from exc
        return b"".join(pieces)  # one piece: joined without a copy


def _fired() -> bool:
    alarm = getattr(_current, "alarm", None)
    return alarm is not None and alarm.fired


def _timed_out(request: requests.PreparedRequest, total: float | None) -> requests.Timeout:
    return requests.exceptions.ReadTimeout(
        f"no complete answer to {request.method} {_path(request)} within "
        f"{total:g}s (request_timeout)"
    )


def _path(request: requests.PreparedRequest) -> str:
    return (request.path_url or "/").split("?")[0]


def session() -> requests.Session:
    """A session whose every answer is read by :class:`AnswerAdapter`."""
    return mounted(requests.Session())


def mounted(session: requests.Session) -> requests.Session:
    """The session, its http(s) answers read by :class:`AnswerAdapter` (once mounted, kept)."""
    if not isinstance(session.get_adapter("https://"), AnswerAdapter):
        session.mount("https://", AnswerAdapter())
        session.mount("http://", AnswerAdapter())
    return session


# An answer's JSON, parsed once inside the retried call (QuickBooksTransport.validate_response)
# and kept for whoever reads the page after it: in a side table, not an attribute set on the
# response (requests has no field for it); gone with the response.
_PARSED: weakref.WeakKeyDictionary[requests.Response, t.Any] = weakref.WeakKeyDictionary()


def parsed_body(response: requests.Response) -> t.Any:
    """The answer's JSON as the stream parsed and checked it (KeyError if it did not)."""
    return _PARSED[response]


def parsed_body_if_any(response: requests.Response) -> t.Any:
    """The answer's JSON if the stream parsed it, else None."""
    return _PARSED.get(response)


def keep_parsed_body(response: requests.Response, body: t.Any) -> None:
    _PARSED[response] = body
