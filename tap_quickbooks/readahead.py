"""A stream's pages, fetched by a thread of their own ahead of the rows being written.

QBO lets a company have 10 requests in flight, but a stream's pages form a chain (each
query starts where the last page ended) and the SDK writes one stream after another. So,
in a full run, every stream's chain starts at once and runs as fast as QBO's limits allow;
pages that arrive before their stream's turn wait in a spool file on disk, so memory stays
flat however far ahead the chains get. Otherwise (a dry run, a stream synced alone) a chain
keeps one page ready in memory while the previous one is written.

Either way rows reach the SDK in page order, so state still follows the rows written; a
failure reaches the SDK where its own loop would have met it, after every earlier row.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import typing as t
from dataclasses import dataclass

from tap_quickbooks.passthrough import rows_from_json, rows_to_json

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_quickbooks.client import QuickBooksStream

_END = object()


@dataclass
class Page:
    """One answered request of a chain and the rows it brought (or where they wait)."""

    request: requests.PreparedRequest
    response: requests.Response
    rows: list[dict] | None = None
    spooled: tuple[int, int, bool] | None = None  # offset, length, raw rows


class PageChain:
    """Fetches one stream's pages in order, in a thread, ahead of the consumer."""

    def __init__(self, stream: QuickBooksStream, context: Context | None, *, spool: bool) -> None:
        self.stream = stream
        self.context = context
        # In memory, one page waits while the next is fetched; spooled, any number.
        self._pages: queue.Queue = queue.Queue(maxsize=0 if spool else 1)
        self._spool = (
            tempfile.TemporaryFile(prefix=f"tap-quickbooks-{stream.name}-")  # noqa: SIM115 - lives as long as the chain
            if spool
            else None
        )
        self._spooled_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fetch, name=f"{stream.name}-pages", daemon=True
        )

    def start(self) -> PageChain:
        self._thread.start()
        return self

    def pages(self) -> t.Iterator[Page]:
        """The chain's pages in order, rows loaded; raises the chain's failure in its place."""
        while (item := self._pages.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            if item.spooled is not None:
                offset, length, raw = item.spooled
                item.rows = rows_from_json(os.pread(self._spool.fileno(), length, offset), raw=raw)
            yield item

    def stop(self) -> None:
        """Stop fetching: the consumer stopped early, or is done. (The spool, a file with
        no name, goes when the chain does.)"""
        self._stop.set()

    def _fetch(self) -> None:
        stream, context = self.stream, self.context
        try:
            paginator = stream.get_new_paginator()
            send = stream.request_decorator(stream._request)
            while not self._stop.is_set():
                request = stream._prepare_request(context=context, page=paginator)
                response = send(request, context)
                rows = list(stream.parse_response(response))  # the paginator sees the page
                last = not rows and not paginator.continue_if_empty(response)
                if not last:
                    paginator.advance(response)
                    last = paginator.finished
                self._put(self._keep(Page(request, response, rows)))
                if last:
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
        self._put(_END)

    def _keep(self, page: Page) -> Page:
        """Move a page's rows to the spool, if there is one, and drop the parsed body."""
        if self._spool is None:
            return page
        data, raw = rows_to_json(page.rows or [])
        os.pwrite(self._spool.fileno(), data, self._spooled_bytes)
        page.spooled = (self._spooled_bytes, len(data), raw)
        self._spooled_bytes += len(data)
        page.rows = None
        page.response.qbo_body = None
        page.response._content = b""
        return page

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._pages.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
