"""A local QuickBooks Online Accounting API v3 for tests, the demo and benchmarks.

Everything is offline and deterministic by seed. The emulator answers in the shapes the real
API sends (see ``tests/fixtures/recorded``): queries, batch, CDC, reads, writes, reports and the
OAuth token endpoint, with QBO's quirks (inactive name-list rows hidden unless the WHERE names
``Active``, ``maxResults`` = rows returned, ``{"QueryResponse": {}}`` past the end, Pacific
second-precision timestamps, the lower-case 401, XML 429/504, HTML 503, ...).

In-process API::

    from qbo_emulator import Emulator

    emu = Emulator(seed=1, scale=500, realms=1)   # scale ~ records per realm (few hundred..1M)
    emu.start()                 # 127.0.0.1, free port, background thread (or ``with Emulator()``)
    emu.base_url                # "http://127.0.0.1:PORT"; API at f"{base_url}/v3/company/{realm}"
    emu.token_url               # f"{base_url}/oauth2/v1/tokens/bearer"
    emu.authorize_url           # f"{base_url}/connect/oauth2"
    emu.realm_ids               # ["9130...", ...]
    emu.client_id, emu.client_secret
    emu.refresh_token(realm)    # the realm's live refresh token (the one issued at start
                                #   until a refresh rotates it)
    emu.access_token(realm)     # a fresh access token (for clients that skip the refresh)
    emu.tap_config(realm=None)  # {client_id, client_secret, refresh_token, realm_id,
                                #  api_url, token_url}
    emu.ground_truth(realm, entity)  # objects as served, incl. inactive, excl. deleted
    emu.deleted(realm, entity)       # deleted stubs {domain, status, Id, MetaData.LastUpdatedTime}
    emu.store(realm)            # the Store: update / create / delete / void / deactivate /
                                #   reactivate / merge / touch_many (see store.py)
    emu.clock                   # now() / epoch() / iso() / advance(seconds=, days=, hours=) /
                                #   freeze(at=None) / unfreeze(); second precision, ties possible
    emu.behaviour               # latency_ms, per_record_ms, rate_limits, faults, slow_ms,
                                #   strict_rotation, access_token_lifetime, shuffle_ties
    emu.writes                  # the write side (writes.py): lost_after_commit,
                                #   fail_before_commit, requestid_dedup, edit_between
    emu.add_hook(fn)            # fn(realm_id, kind, request_number) before each API request
    emu.remove_hook(fn)
    emu.request_counts(realm=None)  # {"query": n, "batch": n, "cdc": n, "read": n,
                                    #  "report": n, "write": n, "token": n, "throttled": n, ...}
    emu.reset_counts()
    emu.stop()

Company profiles (``profiles.py``): ``Emulator(profiles=["us_simple_start", "fr"])`` gives
each realm an edition, country and features (a single name applies to every realm; default
``default``, the historic company with everything); what a company cannot have is refused
as QBO refuses it. ``emu.profile(realm)``, ``emu.set_profile(realm, name)`` (an upgrade).

Constructor extras: ``prewarm`` (serialize every object up front; default from scale 20000),
``now`` (pin the clock's start: epoch, datetime or ISO string; default the real current
time - the data is generated relative to it, so a seed gives the same ids, names and amounts
whatever the day, while timestamps and dates follow the clock), ``host``, ``port``.

Out of process: ``qbo-emulator --port 0 --seed 1 --scale 2000 --realms 1 --write-config PATH``
(see ``cli.py``) and the admin API under ``/_emulator/`` (see ``admin.py``).

Behaviours (all off by default; see ``behaviours.py``): ``latency_ms``, ``per_record_ms``,
``rate_limits`` (500/min, 10/s, 10 in flight per realm -> XML 429), ``faults`` (a list of
``(kind, probability)`` drawn from a seeded RNG, or ``{n: kind}`` where ``n`` counts API requests
from the moment ``faults`` is set; kinds ``429 500 502 503 504 401 truncated reset slow
fault200``, and odd answers such as ``empty_page future_row disorder cdc_empty``),
``slow_ms``, ``strict_rotation``, ``access_token_lifetime``, ``shuffle_ties``.
Faults and limits apply to ``/v3/company/...`` requests, not to the OAuth endpoints.

Choices where the real API's behaviour is not documented (the facts file marks them
UNCONFIRMED) - the emulator takes the stricter reading:

- CDC: more than 1000 changed objects are silently cut (entities in the order asked, oldest
  change first, deleted stubs last); ``changedSince`` older than 30 days is a 400 (code 500,
  "Operation cdc with changedSince date ... which is older than fixed days is not
  supported."); entities QBO leaves out of CDC are a 400.
- Queries: ``OR`` is refused (4001); ties on ``MetaData.LastUpdatedTime`` are ordered by Id
  unless ``shuffle_ties``; without ORDERBY, transactions come newest first (LastUpdatedTime
  descending, as the recorded SalesReceipt page), name lists by name; string comparisons
  ignore case; STARTPOSITION/MAXRESULTS below 1 are 4001 errors.
- Strict rotation rotates on every refresh (not only after 24 hours).
- A customer's or vendor's ``Balance`` is computed at generation and not kept up to date by
  later mutations; renaming a name-list row does not rename the ``name`` inside references.
- TaxCode ``TAX``/``NON`` rows carry no MetaData (Intuit's doc sample shows MetaData but no
  SyncToken/domain), so a MetaData filter never returns them.

Modules: ``entities`` (catalogue), ``datagen`` (company), ``store`` (data, clock, mutations),
``query`` (query language), ``api`` (endpoints), ``oauth``, ``reports``, ``behaviours``,
``server`` (HTTP routing), ``writes`` (the write side), ``admin``, ``cli``, ``bench``,
``timefmt``, ``responses``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime

from . import datagen
from . import profiles as company_profiles
from .api import Realm
from .behaviours import Behaviour
from .entities import ENTITY_NAMES, spec
from .oauth import OAuth
from .query import Engine
from .server import make_server
from .store import Clock, Store, to_epoch
from .webhooks import WebhookSender
from .writes import WriteSide

__all__ = ["ENTITY_NAMES", "Emulator"]

#: From this scale up the constructor serializes every object once, up front, so that even
#: the first pass of a sync is served from cached JSON (about +60% generation time).
PREWARM_FROM_SCALE = 20_000


class Emulator:
    def __init__(
        self,
        seed: int = 1,
        scale: int = 500,
        realms: int = 1,
        *,
        now: float | datetime | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        prewarm: bool | None = None,
        profiles: str | list[str] | tuple[str, ...] | None = None,
    ):
        self.seed = seed
        self.scale = scale
        self.host = host
        self.port = port
        self.clock = Clock(to_epoch(now) if now is not None else None)
        self.behaviour = Behaviour(seed)
        self.writes = WriteSide(seed)  # the write side's switches and requestid memory
        rng = random.Random(f"emulator:{seed}")
        self.client_id = "AB" + "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            for _ in range(48)
        )
        self.client_secret = "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            for _ in range(40)
        )
        self.oauth = OAuth(self.clock, self.behaviour, self.client_id, self.client_secret, seed)
        self.realms: dict[str, Realm] = {}
        self.realm_ids: list[str] = []
        anchor = self.clock.seconds()
        if isinstance(profiles, str):
            profiles = [profiles] * realms
        elif profiles is not None:
            profiles = list(profiles)
            realms = max(realms, len(profiles)) if realms != 1 else len(profiles)
            if len(profiles) != realms:
                raise ValueError(f"{len(profiles)} profiles for {realms} realms")
        for i in range(realms):
            realm_id = str(9130350000000000 + rng.randrange(10**10))
            while realm_id in self.realms:
                realm_id = str(9130350000000000 + rng.randrange(10**10))
            store = Store(realm_id, self.clock)
            profile = company_profiles.get(profiles[i] if profiles else None)
            datagen.generate(store, seed * 1000 + i, scale, anchor, profile)
            if prewarm or (prewarm is None and scale >= PREWARM_FROM_SCALE):
                for table in store.tables.values():
                    table.prewarm()
            self.realms[realm_id] = Realm(store, Engine(store))
            self.realm_ids.append(realm_id)
            self.oauth.issue_initial(realm_id)
        self.webhooks = WebhookSender(self, seed)  # off until given a url (webhooks.py)
        self._hooks: list = []
        self._counts: dict[str | None, Counter] = {}
        self._counts_lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # ----- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._server = make_server(self, self.host, self.port)
        host, port = self._server.server_address[:2]
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="qbo-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/v1/tokens/bearer"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/connect/oauth2"

    def api_base(self, realm_id: str | None = None) -> str:
        return f"{self.base_url}/v3/company/{realm_id or self.realm_ids[0]}"

    # ----- credentials -------------------------------------------------------------------------
    def _realm(self, realm_id: str | None) -> str:
        realm_id = str(realm_id) if realm_id is not None else self.realm_ids[0]
        if realm_id not in self.realms:
            raise KeyError(f"unknown realm {realm_id}; realms: {self.realm_ids}")
        return realm_id

    def refresh_token(self, realm_id: str | None = None) -> str:
        return self.oauth.current_refresh_token(self._realm(realm_id))

    def access_token(self, realm_id: str | None = None) -> str:
        return self.oauth.issue_access(self._realm(realm_id))

    def tap_config(self, realm_id: str | None = None) -> dict:
        realm_id = self._realm(realm_id)
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token(realm_id),
            "realm_id": realm_id,
            "api_url": self.base_url,
            "token_url": self.token_url,
        }

    def info(self) -> dict:
        return {
            "base_url": self.base_url,
            "token_url": self.token_url,
            "authorize_url": self.authorize_url,
            "realm_ids": list(self.realm_ids),
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_tokens": {r: self.refresh_token(r) for r in self.realm_ids},
            "seed": self.seed,
            "scale": self.scale,
            "now": self.clock.iso(),
            "frozen": self.clock.frozen,
            "entities": ENTITY_NAMES,
            "profiles": {r: self.realms[r].store.profile.name for r in self.realm_ids},
            "behaviour": self.behaviour.settings(),
        }

    # ----- data --------------------------------------------------------------------------------
    def store(self, realm_id: str | None = None) -> Store:
        return self.realms[self._realm(realm_id)].store

    def profile(self, realm_id: str | None = None) -> company_profiles.Profile:
        return self.store(realm_id).profile

    def set_profile(self, realm_id: str | None, profile: str) -> None:
        """Change what a company has (an upgrade or downgrade); its data stays as it is."""
        self.store(realm_id).set_profile(profile)

    def ground_truth(self, realm_id: str | None, entity: str) -> list[dict]:
        return self.store(realm_id).all(spec(entity).name)

    def deleted(self, realm_id: str | None, entity: str) -> list[dict]:
        return self.store(realm_id).deleted_stubs(spec(entity).name)

    # ----- hooks and counts --------------------------------------------------------------------
    def add_hook(self, fn) -> None:
        self._hooks.append(fn)

    def remove_hook(self, fn) -> None:
        if fn in self._hooks:
            self._hooks.remove(fn)

    def _run_hooks(self, realm_id: str, kind: str, number: int) -> None:
        for fn in list(self._hooks):
            fn(realm_id, kind, number)

    def _count(self, realm_id: str | None, kind: str) -> None:
        with self._counts_lock:
            self._counts.setdefault(realm_id, Counter())[kind] += 1

    def request_counts(self, realm_id: str | None = None) -> dict:
        with self._counts_lock:
            if realm_id is not None:
                return dict(self._counts.get(str(realm_id), Counter()))
            total: Counter = Counter()
            for c in self._counts.values():
                total.update(c)
            return dict(total)

    def reset_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()
