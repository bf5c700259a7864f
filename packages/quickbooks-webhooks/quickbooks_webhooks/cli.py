"""``quickbooks-webhooks --config webhooks.json``: serve the receiver until SIGTERM/SIGINT.

Prints ``LISTENING http://HOST:PORT`` on stdout (flushed) once the socket is bound, so
``port: 0`` (any free port) can be used by tests and supervisors.
"""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn

from . import config
from .app import build_app
from .store import open_store


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="quickbooks-webhooks", description="Receive QuickBooks Online webhooks."
    )
    p.add_argument(
        "--config", metavar="PATH", help="webhooks.json (keys: " + ", ".join(config.KEYS) + ")"
    )
    args = p.parse_args(argv)
    try:
        settings = config.load(args.config)
        store = open_store(settings.store_url, settings.registry())
    except (config.ConfigError, ValueError) as exc:
        print(f"quickbooks-webhooks: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"quickbooks-webhooks: cannot open the store: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if settings.companies is None:
        print(
            "quickbooks-webhooks: no companies configured: events of every realm are accepted",
            file=sys.stderr,
        )
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        print(
            f"quickbooks-webhooks: cannot listen on {settings.host}:{settings.port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    sock.listen(2048)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    app = build_app(store, settings.verifier_token, settings.max_body_bytes)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=2048)
    )
    print(f"LISTENING http://{shown}:{port}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
