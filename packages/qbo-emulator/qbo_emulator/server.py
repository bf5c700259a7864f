"""The HTTP front: a stdlib ``ThreadingHTTPServer`` that routes requests and applies behaviours.

Routes::

    POST /oauth2/v1/tokens/bearer          token endpoint (refresh_token, authorization_code)
    POST /oauth2/v1/tokens/revoke          revoke a token (also /v2/oauth2/tokens/revoke)
    GET  /.well-known/openid_configuration discovery document (intuitlib's ``environment``)
    GET  /connect/oauth2                   authorization endpoint (auto-consent, 302)
    GET|POST /v3/company/{realm}/query     query (POST body = the statement)
    POST /v3/company/{realm}/batch         batch
    GET  /v3/company/{realm}/cdc           change data capture
    GET  /v3/company/{realm}/reports/{N}   reports
    GET  /v3/company/{realm}/preferences   preferences
    GET  /v3/company/{realm}/exchangerate  ?sourcecurrencycode=EUR[&asofdate=...]
    GET  /v3/company/{realm}/{entity}/{id} read by id (companyinfo/{realm} too)
    POST /v3/company/{realm}/{entity}      create / update / ?operation=delete|void
    *    /_emulator/...                    admin API (see admin.py)

Every API request is numbered, counted per realm and kind, shown to the hooks, checked
against the rate limits, possibly given a fault, authenticated, answered, and delayed by the
configured latency. Every response carries an ``intuit_tid`` header.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from . import admin, api, responses, writes
from .behaviours import ODD_ANSWERS, odd_answer
from .oauth import OAuthError
from .responses import (
    HTML,
    JSON_ERR,
    JSON_OK,
    OAUTH_JSON,
    WWW_AUTHENTICATE,
    XML,
    ApiError,
    new_tid,
)

if TYPE_CHECKING:
    from .hosting import Host


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, app: Host):
        super().__init__(addr, handler)
        self.app = app

    def handle_error(self, request, client_address):  # quiet on client disconnects
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def log_message(self, format, *args):
        pass

    def version_string(self) -> str:
        return "nginx"

    def setup(self) -> None:
        super().setup()
        # Small answers must not wait for the client's delayed ACK (40 ms per request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        route(self, "GET")

    def do_POST(self):
        route(self, "POST")

    def do_PUT(self):
        route(self, "PUT")

    def do_DELETE(self):
        route(self, "DELETE")


def make_server(app: Host, host: str, port: int) -> _Server:
    return _Server((host, port), _Handler, app)


# ----- sending ---------------------------------------------------------------------------------


def send(  # noqa: PLR0917 - (handler, status, body, type, headers, mode) reads naturally
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str = JSON_OK,
    headers: dict | None = None,
    mode: str | None = None,
) -> None:
    if mode == "truncated_json":
        body = body[: max(1, len(body) // 2)]
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("intuit_tid", new_tid())
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    if mode == "truncated_close":
        h.send_header("Connection", "close")
        body = body[: max(1, len(body) // 2)]
    # Headers and body in one write (end_headers() would send the headers on their own).
    h._headers_buffer.append(b"\r\n")
    h._headers_buffer.append(body)
    h.flush_headers()
    if mode == "truncated_close":
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)


def reset(h: BaseHTTPRequestHandler) -> None:
    """Abort the connection with a TCP RST and no response."""
    h.close_connection = True
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
    except OSError:
        pass


def send_json(h, status: int, doc, content_type: str = JSON_OK, headers=None) -> None:
    send(h, status, json.dumps(doc, separators=(",", ":")).encode(), content_type, headers)


# ----- routing ---------------------------------------------------------------------------------


def route(h: BaseHTTPRequestHandler, method: str) -> None:
    app: Host = h.server.app
    url = urlsplit(h.path)
    path = url.path
    params = dict(parse_qsl(url.query, keep_blank_values=True))
    length = int(h.headers.get("Content-Length") or 0)
    raw = h.rfile.read(length) if length > 0 else b""
    try:
        if path.startswith("/_emulator/") or path == "/_emulator":
            status, doc = admin.handle(app, method, path, params, raw)
            send_json(h, status, doc, "application/json")
        elif path == "/oauth2/v1/tokens/bearer" and method == "POST":
            token_endpoint(app, h, raw)
        elif path.rstrip("/") in (  # intuit-oauth's AuthClient asks with a trailing slash
            "/.well-known/openid_configuration",
            "/.well-known/openid_sandbox_configuration",
        ):
            send_json(h, 200, discovery_document(app), "application/json")
        elif path in ("/oauth2/v1/tokens/revoke", "/v2/oauth2/tokens/revoke") and method == "POST":
            revoke_endpoint(app, h, raw)
        elif path == "/connect/oauth2" and method == "GET":
            authorize_endpoint(app, h, params)
        elif path.startswith("/v3/company/"):
            api_request(app, h, method, path, params=params, raw=raw)
        else:
            send(h, 404, responses.unsupported_operation(path).body(app.clock.epoch()), JSON_ERR)
    except (BrokenPipeError, ConnectionResetError):
        h.close_connection = True
    except Exception:  # an emulator bug must still look like a QBO answer
        traceback.print_exc()
        try:
            send(h, 500, responses.system_fault().body(app.clock.epoch()), JSON_ERR)
        except OSError:
            h.close_connection = True


def _form(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def discovery_document(app: Host) -> dict:
    """Intuit's OpenID discovery document, pointing at the emulator (intuitlib reads it)."""
    base = app.base_url
    return {
        "issuer": "https://oauth.platform.intuit.com/op/v1",
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
        "jwks_uri": f"{base}/op/v1/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


def token_endpoint(app: Host, h, raw: bytes) -> None:
    form = _form(raw)
    realm = app.oauth.realm_of_refresh(form.get("refresh_token", ""))
    app._count(realm, "token")
    try:
        body, realm = app.oauth.token(h.headers, form)
    except OAuthError as err:
        send_json(
            h,
            err.status,
            err.body,
            OAUTH_JSON,
            {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"},
        )
        return
    send_json(
        h, 200, body, OAUTH_JSON, {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}
    )


def revoke_endpoint(app: Host, h, raw: bytes) -> None:
    try:
        doc = json.loads(raw or b"{}")
    except ValueError:
        doc = _form(raw)
    try:
        app.oauth.check_client(h.headers, {})
    except OAuthError as err:
        send_json(h, err.status, err.body, OAUTH_JSON)
        return
    app.oauth.revoke(str(doc.get("token", "")))
    send(h, 200, b"", OAUTH_JSON)


def authorize_endpoint(app: Host, h, params: dict) -> None:
    app._count(params.get("realmId"), "authorize")
    try:
        location = app.oauth.authorize(params)
    except OAuthError as err:
        send_json(h, err.status, err.body, OAUTH_JSON)
        return
    send(h, 302, b"", "text/plain", {"Location": location})


def classify(rest: list[str], method: str) -> str:
    if not rest:
        return "other"
    head = rest[0].lower()
    if head in ("query", "batch", "cdc"):
        return head
    if head == "reports":
        return "report"
    if method == "POST":
        return "write"
    return "read"


def api_request(app: Host, h, method: str, path: str, *, params: dict, raw: bytes) -> None:  # noqa: C901, PLR0911, PLR0912, PLR0915 - one request's path: auth, limits, faults, dispatch and the answer, in QBO's order
    parts = [unquote(p) for p in path.split("/")]
    realm_id = parts[3] if len(parts) > 3 else ""
    rest = [p for p in parts[4:] if p != ""]
    kind = classify(rest, method)
    behaviour = app.behaviour
    number, fault = behaviour.next_api_request()
    app._count(realm_id, kind)
    app._run_hooks(realm_id, kind, number)
    now = app.clock.epoch()
    if not behaviour.admit(realm_id, kind):
        app._count(realm_id, "throttled")
        send(h, 429, responses.throttled_429(now), XML)
        return
    try:
        if fault:
            if fault == "reset":
                reset(h)
                return
            if fault == "429":
                send(h, 429, responses.throttled_429(now), XML)
                return
            if fault == "500":
                send(h, 500, responses.system_fault().body(now), JSON_ERR)
                return
            if fault == "502":
                send(h, 502, responses.BAD_GATEWAY_502, HTML)
                return
            if fault == "503":
                send(h, 503, responses.SERVICE_UNAVAILABLE_503, HTML)
                return
            if fault == "504":
                send(h, 504, responses.gateway_timeout_504(now), XML)
                return
            if fault == "401":
                app.oauth.revoke_access(h.headers.get("Authorization"))
        status, detail = app.oauth.check_bearer(h.headers.get("Authorization"), realm_id)
        if status == "ok" and realm_id not in app.realms:
            # A live token for a company it was never authorized for (a wrong realm_id).
            send(h, 403, responses.authorization_failed_403(now), JSON_ERR)
            return
        if status == "wrong_realm":
            send(
                h, 401, responses.wrong_realm_401(now), XML, {"WWW-Authenticate": WWW_AUTHENTICATE}
            )
            return
        if status != "ok":
            send(
                h,
                401,
                responses.auth_failed_401(detail or "Token invalid", now),
                JSON_ERR,
                {"WWW-Authenticate": WWW_AUTHENTICATE},
            )
            return
        realm = app.realms[realm_id]
        try:
            salt = hash((app.seed, number)) if behaviour.shuffle_ties else None
            if writes.handles(kind, method, rest):
                reply = app.writes.handle(realm, kind, rest[0], params, raw, now=now, path=path)
            else:
                reply = dispatch(
                    realm, method, rest, params=params, raw=raw, now=now, path=path, h=h, salt=salt
                )
        except ApiError as err:
            reply = api.Reply(err.status, err.body(now), JSON_ERR)
        except writes.BeforeCommit:
            behaviour.delay()
            send(h, 503, responses.SERVICE_UNAVAILABLE_503, HTML)
            return
        except writes.LostAnswer as lost:
            behaviour.delay()
            if lost.how == "reset":
                reset(h)
            else:
                send(h, 504, responses.gateway_timeout_504(now), XML)
            return
        if fault == "slow":
            behaviour.stall()
        behaviour.delay(reply.records)
        if fault == "fault200":
            reply = api.Reply(200, responses.system_fault().body(now), JSON_OK)
        headers = dict(reply.headers)
        if fault in ODD_ANSWERS and reply.status == 200:
            body, extra = odd_answer(fault, kind, reply.body)
            reply = api.Reply(200, body, reply.content_type, reply.headers, reply.records)
            headers.update(extra)
        if reply.status == 200:
            headers.setdefault("QBO-Version", "1944.190")
        mode = fault if fault in ("truncated_json", "truncated_close") else None
        send(h, reply.status, reply.body, reply.content_type, headers, mode)
    finally:
        behaviour.release(realm_id)


def dispatch(realm, method, rest, *, params, raw, now, path, h, salt=None) -> api.Reply:  # noqa: C901, PLR0911 - the API route table: a branch and a return per endpoint
    head = rest[0].lower() if rest else ""
    if head == "query" and method in ("GET", "POST"):
        text = params.get("query")
        if text is None and method == "POST":
            ctype = (h.headers.get("Content-Type") or "").lower()
            body = raw.decode("utf-8", "replace")
            if "x-www-form-urlencoded" in ctype and body.lower().startswith("query="):
                text = _form(raw).get("query", "")
            else:
                text = body
        return api.query(realm, text or "", now, salt)
    if head == "batch" and method == "POST" and len(rest) == 1:
        return api.batch(realm, raw, now)
    if head == "cdc" and method == "GET" and len(rest) == 1:
        return api.cdc(realm, params, now)
    if head == "reports" and method == "GET" and len(rest) == 2:
        return api.report(realm, rest[1], params, now)
    if head == "preferences" and len(rest) == 1:
        if method == "GET":
            return api.preferences(realm, now)
        return api.write(realm, "preferences", params, raw, now=now, path=path)
    if head == "exchangerate" and method == "GET" and len(rest) == 1:
        return api.exchange_rate(realm, params, now)
    if method == "GET" and len(rest) == 2:
        return api.read(realm, rest[0], rest[1], now, path)
    if method == "POST" and len(rest) == 1:
        return api.write(realm, rest[0], params, raw, now=now, path=path)
    raise responses.unsupported_operation(path)


__all__ = ["make_server", "route", "send", "threading"]
