"""``qbo-emulator``: serve the emulator from the command line until SIGTERM/SIGINT.

    qbo-emulator --port 0 --seed 1 --scale 2000 --realms 1 --write-config PATH \\
                 [--latency-ms 50] [--per-record-ms 0.1] [--rate-limits] [--host 127.0.0.1]
                 [--webhook-url URL --webhook-token TOKEN --webhook-format legacy
                  --webhook-delay SECONDS]

Prints the base URL on stdout (one line, flushed) once it is serving; ``--write-config`` writes
the tap config JSON (client_id, client_secret, refresh_token, realm_id, api_url, token_url) of
the first realm, ``--write-info`` the full ``/_emulator/info`` document.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import threading
from pathlib import Path

from . import Emulator
from . import profiles as company_profiles


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="qbo-emulator", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=int, default=2000)
    p.add_argument("--realms", type=int, default=1)
    p.add_argument(
        "--profile",
        action="append",
        metavar="NAME",
        help="company profile of a realm (repeat: one per realm); one of "
        + ", ".join(company_profiles.PROFILES),
    )
    p.add_argument("--write-config", metavar="PATH")
    p.add_argument("--write-info", metavar="PATH")
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--per-record-ms", type=float, default=0)
    p.add_argument("--rate-limits", action="store_true")
    p.add_argument("--strict-rotation", action="store_true")
    p.add_argument("--access-token-lifetime", type=int, default=3600)
    p.add_argument("--webhook-url", help="send webhooks of every mutation here (loopback only)")
    p.add_argument("--webhook-token", default="emulator-verifier-token")
    p.add_argument("--webhook-format", choices=["cloudevents", "legacy"], default="cloudevents")
    p.add_argument("--webhook-delay", type=float, default=0.2, help="aggregation delay, seconds")
    args = p.parse_args(argv)

    emu = Emulator(
        seed=args.seed,
        scale=args.scale,
        realms=args.realms,
        host=args.host,
        port=args.port,
        profiles=args.profile,
    )
    # The companies live as long as this process: out of the cyclic collector's sight, its
    # passes while serving stay short. A process knob, so here, never in the library.
    gc.freeze()
    emu.behaviour.latency_ms = args.latency_ms
    emu.behaviour.per_record_ms = args.per_record_ms
    emu.behaviour.rate_limits = args.rate_limits
    emu.behaviour.strict_rotation = args.strict_rotation
    emu.behaviour.access_token_lifetime = args.access_token_lifetime
    emu.start()
    if args.webhook_url:
        emu.webhooks.configure(
            url=args.webhook_url,
            verifier_token=args.webhook_token,
            format=args.webhook_format,
            delay_s=args.webhook_delay,
        )
    if args.write_config:
        Path(args.write_config).write_text(json.dumps(emu.tap_config(), indent=2) + "\n")
    if args.write_info:
        Path(args.write_info).write_text(json.dumps(emu.info(), indent=2) + "\n")
    print(emu.base_url, flush=True)

    done = threading.Event()

    def _stop(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not done.wait(0.5):
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
