"""The ASGI app: ``POST /webhooks/quickbooks``, ``GET /webhooks/quickbooks/status``, ``/metrics``.

Inside a request only the bounded read, the HMAC check, the parse and one SQLite transaction
happen (well under a second even for a 1 MiB body), so Intuit's 3-second limit holds under load;
syncing is the scheduler's job, outside.
"""

from __future__ import annotations

import logging
import time

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from .events import BodyError, parse_body
from .signature import verify
from .store import EventStore

log = logging.getLogger("quickbooks_webhooks")


class TooLarge(Exception):
    pass


async def _read_bounded(request: Request, limit: int) -> bytes:
    """The body, refusing it as soon as it passes ``limit`` (never buffered whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(store: EventStore, verifier_token: str, max_body_bytes: int) -> Starlette:
    async def receive(request: Request):
        try:
            raw = await _read_bounded(request, max_body_bytes)
        except TooLarge:
            await run_in_threadpool(store.reject, "size")
            return JSONResponse(
                {"error": f"body over max_body_bytes ({max_body_bytes})"}, status_code=413
            )
        if not verify(raw, request.headers.get("intuit-signature"), verifier_token):
            await run_in_threadpool(store.reject, "signature")
            return JSONResponse({"error": "invalid or missing intuit-signature"}, status_code=401)
        try:
            events = parse_body(raw)
        except BodyError as exc:
            await run_in_threadpool(store.reject, "body")
            return JSONResponse({"error": str(exc)}, status_code=400)
        new, duplicates = await run_in_threadpool(store.add, events)
        return JSONResponse({"stored": new, "duplicates": duplicates})

    async def status(request: Request):
        return JSONResponse(await run_in_threadpool(store.status, time.time()))

    async def metrics(request: Request):
        s = await run_in_threadpool(store.status, time.time())
        lines = []
        for key in ("received", "duplicates", "pending", "synced", "ignored"):
            lines.append(f"# TYPE quickbooks_webhooks_events_{key} gauge")
            lines.append(f"quickbooks_webhooks_events_{key} {s[key]}")
        lines.append("# TYPE quickbooks_webhooks_rejected_deliveries counter")
        for why, n in s["rejected"].items():
            lines.append(f'quickbooks_webhooks_rejected_deliveries{{reason="{why}"}} {n}')
        lines.append("# TYPE quickbooks_webhooks_oldest_pending_age_seconds gauge")
        lines.append(f"quickbooks_webhooks_oldest_pending_age_seconds {s['oldest_pending_age_s']}")
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return Starlette(
        routes=[
            Route("/webhooks/quickbooks", receive, methods=["POST"]),
            Route("/webhooks/quickbooks/status", status, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
