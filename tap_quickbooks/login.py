"""`tap-quickbooks-auth`: authorize the tap once, and again whenever a connection is revoked.

Runs Intuit's authorization-code flow: opens (or prints) the consent URL with a random CSRF
``state``, receives the redirect on a localhost listener (or, on a headless machine, takes the
redirect URL pasted back), checks ``state``, exchanges the code, and writes ``client_id``,
``client_secret``, ``refresh_token`` and ``realm_id`` into the config file (mode 0600).
"""

from __future__ import annotations

import argparse
import http.server
import json
import secrets
import sys
import time
import webbrowser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from tap_quickbooks.auth import (
    PRODUCTION_TOKEN_URL,
    TokenFile,
    basic_authorization,
    default_token_store,
    write_private,
)

AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
SCOPE = "com.intuit.quickbooks.accounting"
DEFAULT_REDIRECT = "http://localhost:8765/callback"


class LoginError(Exception):
    """The flow failed; the message says why and holds no secret."""


def authorization_url(authorize_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    query = {
        "client_id": client_id,
        "response_type": "code",
        "scope": SCOPE,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    return f"{authorize_url}?{urlencode(query)}"


def default_authorize_url(token_url: str) -> str:
    """Intuit's consent page; for a token URL on this machine (the bundled emulator), that
    server's own consent page, so trying the login offline needs no extra option."""
    parts = urlparse(token_url)
    if parts.hostname in ("localhost", "127.0.0.1", "::1"):
        return f"{parts.scheme}://{parts.netloc}/connect/oauth2"
    return AUTHORIZE_URL


def read_redirect(url: str, expected_state: str) -> tuple[str, str]:
    """The (code, realm_id) of Intuit's redirect, after checking the CSRF state."""
    if not url.strip():
        raise LoginError("Nothing was pasted: paste the whole URL your browser was sent to.")
    params = parse_qs(urlparse(url.strip()).query)
    if "error" in params:
        raise LoginError(f"Intuit refused the authorization: {params['error'][0]}")
    if params.get("state", [""])[0] != expected_state:
        raise LoginError("The redirect's state does not match this login (possible CSRF): stop.")
    code = params.get("code", [""])[0]
    realm = params.get("realmId", [""])[0]
    if not code or not realm:
        raise LoginError("The redirect URL carries no code and realmId: paste the whole URL.")
    return code, realm


def exchange_code(
    token_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str
) -> dict:
    response = requests.post(
        token_url,
        headers={
            "Authorization": basic_authorization(client_id, client_secret),
            "Accept": "application/json",
        },
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        timeout=60,
        allow_redirects=False,  # a redirect would re-post the code and the client secret
    )
    if response.status_code != 200:
        try:
            error = response.json().get("error", "")
        except ValueError:
            error = ""
        raise LoginError(f"The code exchange failed: HTTP {response.status_code} {error}".strip())
    return response.json()


def write_config(path: Path, updates: dict) -> None:
    """Merge into the config file atomically, readable by its owner only."""
    config = json.loads(path.read_text()) if path.exists() else {}
    config.update(updates)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(config, indent=2))


def wait_for_redirect(redirect_uri: str, timeout: float) -> str:
    """Serve the redirect URI on localhost until Intuit's redirect arrives; return its URL."""
    target = urlparse(redirect_uri)
    received: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if urlparse(self.path).path != (target.path or "/"):
                self.send_error(404)
                return
            received.append(f"{redirect_uri.split('?', maxsplit=1)[0]}?{urlparse(self.path).query}")
            body = b"tap-quickbooks is authorized. You can close this window."
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # the URL holds the code: never log it
            pass

    server = http.server.HTTPServer((target.hostname or "localhost", target.port or 80), Handler)
    server.timeout = 1  # handle_request returns each second, so the deadline is kept
    deadline = time.monotonic() + timeout
    while not received and time.monotonic() < deadline:
        server.handle_request()
    server.server_close()
    if not received:
        raise LoginError(f"No redirect reached {redirect_uri} within {timeout:.0f}s.")
    return received[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tap-quickbooks-auth",
        description="Authorize tap-quickbooks for a QuickBooks company and save the tokens.",
    )
    parser.add_argument("--config", required=True, type=Path, help="config file to write")
    parser.add_argument("--client-id", help="default: client_id from the config")
    parser.add_argument("--client-secret", help="default: client_secret from the config")
    parser.add_argument(
        "--redirect-uri",
        default=DEFAULT_REDIRECT,
        help=f"a redirect URI registered on your Intuit app ({DEFAULT_REDIRECT})",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no listener: paste the URL your browser was redirected to",
    )
    parser.add_argument(
        "--authorize-url",
        help="Intuit's consent page, or the bundled emulator's: default, derived from a "
        "loopback token URL (the emulator's /connect/oauth2), else Intuit's",
    )
    parser.add_argument("--token-url", help="default: token_url from the config, or Intuit's")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait (listener)")
    parser.add_argument("--no-browser", action="store_true", help="print the URL only")
    args = parser.parse_args(argv)

    existing = json.loads(args.config.read_text()) if args.config.exists() else {}
    client_id = args.client_id or existing.get("client_id")
    client_secret = args.client_secret or existing.get("client_secret")
    if not client_id or not client_secret:
        parser.error("client_id and client_secret are needed (in the config or as options)")
    token_url = args.token_url or existing.get("token_url") or PRODUCTION_TOKEN_URL

    authorize_url = args.authorize_url or default_authorize_url(token_url)
    state = secrets.token_urlsafe(24)
    url = authorization_url(authorize_url, client_id, args.redirect_uri, state)
    print("Open this URL, sign in and choose the company to connect:\n", flush=True)
    print(url, flush=True)
    try:
        if args.headless:
            print("\nThen paste the full URL your browser was sent to:", flush=True)
            redirected = sys.stdin.readline()
        else:
            if not args.no_browser:
                webbrowser.open(url)
            redirected = wait_for_redirect(args.redirect_uri, args.timeout)
        code, realm_id = read_redirect(redirected, state)
        tokens = exchange_code(token_url, client_id, client_secret, code, args.redirect_uri)
    except LoginError as exc:
        print(f"\nAuthorization failed: {exc}", file=sys.stderr)
        return 1
    write_config(
        args.config,
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": tokens["refresh_token"],
            "realm_id": realm_id,
        },
    )
    # The token file is newer than the config to the tap: it must not hold a revoked token.
    store = existing.get("token_store_path") or default_token_store(realm_id)
    TokenFile(store, realm_id).write(tokens["refresh_token"])
    print(f"\nAuthorized realm {realm_id}; tokens saved to {args.config} (mode 0600).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
