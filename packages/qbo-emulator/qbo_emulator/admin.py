"""The HTTP admin API under ``/_emulator/``, for out-of-process tests and the demo.

No authentication; never counted, hooked, throttled or faulted. All bodies are JSON.

    GET  /_emulator/info                       realms, credentials, URLs, clock, behaviour
    GET  /_emulator/tap_config[?realm=R]       the tap config for a realm
    GET  /_emulator/counts[?realm=R]           request counts by kind
    POST /_emulator/counts/reset
    GET  /_emulator/ground_truth/{realm}/{Entity}   objects as served (incl. inactive)
    GET  /_emulator/deleted/{realm}/{Entity}        deleted stubs
    GET  /_emulator/changes/{realm}[?since=N]       the mutation log
    POST /_emulator/mutate      {"realm", "op", "entity", ...}
    POST /_emulator/profile     {"realm", "profile"}: what the company has from now on
           op: update {id, changes} | create {obj} | delete {id} | void {id}
               | deactivate {id} | merge {from_id, into_id} | touch_many {ids, when?}
    POST /_emulator/clock       {"advance_seconds"?, "advance_days"?, "freeze"?: bool}
    POST /_emulator/behaviour   any knobs of Behaviour (latency_ms, faults, rate_limits, ...)
    POST /_emulator/writes      knobs of the write side (lost_after_commit, fail_before_commit,
                                requestid_dedup, edit_between; see writes.py)
    POST /_emulator/country     {"realm", "country"}: the company's country (validates writes)
    GET|POST /_emulator/webhooks, POST /_emulator/webhooks/flush   webhook sending (webhooks.py)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import timefmt
from .store import MutationError

if TYPE_CHECKING:
    from .hosting import Host


def handle(app: Host, method: str, path: str, params: dict, raw: bytes) -> tuple[int, object]:
    """Answer an admin request: (HTTP status, JSON document)."""
    parts = [p for p in path.split("/") if p][1:]  # drop "_emulator"
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return 400, {"error": "body is not JSON"}
    try:
        doc = _dispatch(app, method, parts, params=params, body=body)
    except (KeyError, ValueError, MutationError) as exc:
        return 400, {"error": str(exc)}
    if doc is None:
        return 404, {"error": f"no admin route {method} {path}"}
    return 200, doc


def _dispatch(app: Host, method: str, parts: list[str], *, params: dict, body: dict):  # noqa: C901, PLR0911, PLR0912 - the admin route table: a branch and a return per route the module doc lists
    head = parts[0] if parts else "info"
    if head == "info" and method == "GET":
        return app.info()
    if head == "tap_config" and method == "GET":
        return app.tap_config(params.get("realm"))
    if head == "counts":
        if len(parts) > 1 and parts[1] == "reset" and method == "POST":
            app.reset_counts()
            return {"ok": True}
        return app.request_counts(params.get("realm"))
    if head == "ground_truth" and len(parts) == 3:
        return app.ground_truth(parts[1], parts[2])
    if head == "deleted" and len(parts) == 3:
        return app.deleted(parts[1], parts[2])
    if head == "changes" and len(parts) == 2:
        since = int(params.get("since", 0))
        store = app.store(parts[1])
        return [
            {"time": timefmt.fmt(t), "entity": e, "id": k, "op": op}
            for t, e, k, op in store.changes[since:]
        ]
    if head == "mutate" and method == "POST":
        return mutate(app, body)
    if head == "clock" and method == "POST":
        if body.get("freeze") is True:
            app.clock.freeze()
        if "advance_seconds" in body or "advance_days" in body:
            app.clock.advance(
                seconds=float(body.get("advance_seconds", 0)),
                days=float(body.get("advance_days", 0)),
            )
        if body.get("freeze") is False:
            app.clock.unfreeze()
        return {"now": app.clock.iso(), "frozen": app.clock.frozen}
    if head == "profile" and method == "POST":
        app.set_profile(str(body["realm"]), str(body["profile"]))
        return {"realm": str(body["realm"]), "profile": app.profile(str(body["realm"])).name}
    if head == "behaviour" and method == "POST":
        app.behaviour.configure(**body)
        return app.behaviour.settings()
    if head == "writes" and method == "POST":
        return app.writes.configure(**body)
    if head == "country" and method == "POST":
        app.store(str(body["realm"])).meta["country"] = str(body["country"])
        return {"country": body["country"]}
    if head == "webhooks":
        if len(parts) > 1 and parts[1] == "flush" and method == "POST":
            return {"flushed": app.webhooks.flush(float(body.get("timeout_s", 30)))}
        return app.webhooks.configure(**body) if method == "POST" else app.webhooks.settings()
    if head == "behaviour" and method == "GET":
        return app.behaviour.settings()
    return None


def mutate(app: Host, body: dict):  # noqa: PLR0911 - one return per mutation op
    store = app.store(str(body["realm"]))
    op = body["op"]
    entity = body["entity"]
    if op == "update":
        return store.update(entity, str(body["id"]), body.get("changes") or {})
    if op == "create":
        return store.create(entity, body["obj"])
    if op == "delete":
        return store.delete(entity, str(body["id"]))
    if op == "void":
        return store.void(entity, str(body["id"]))
    if op == "deactivate":
        return store.deactivate(entity, str(body["id"]))
    if op == "merge":
        return store.merge(entity, str(body["from_id"]), str(body["into_id"]))
    if op == "touch_many":
        return {
            "touched": store.touch_many(entity, [str(i) for i in body["ids"]], body.get("when"))
        }
    raise ValueError(f"unknown op {op!r}")
