"""One shard's Singer state from its companies' own, and back: the store keeps each company's.

The tap with ``companies`` keeps each company's bookmarks as an SDK partition (context
``{"realm_id"}``) and its sealed refresh token under ``quickbooks_auth.companies.<realm_id>``
(docs/design.md, "Many companies"). A shard run is given the union of its companies' states
and each company's part is split back from the last state the loader confirmed, so a company
that changes shard (``QBO_ORCH_SHARDS`` changed) keeps its bookmarks.
"""

from __future__ import annotations

import copy
import logging

from tap_quickbooks.companies import UNCLAIMED_STATE_KEY, settle_state
from tap_quickbooks.company import AUTH_STATE_KEY

_LOG = logging.getLogger(__name__)


def merged(states: dict[str, dict]) -> dict:
    """The state of a run of these companies (realm_id -> its stored state)."""
    out: dict = {"bookmarks": {}}
    sealed: dict = {}
    for realm, stored in states.items():
        own = copy.deepcopy(stored)
        # A state kept by a single-company run has its bookmarks at the streams' top: the
        # store says whose they are (owner), so they become this company's partitions.
        settle_state(own, [realm], single=False, owner=realm, logger=_LOG)
        for stream, bookmark in (own.get("bookmarks") or {}).items():
            if not isinstance(bookmark, dict):
                continue
            parts = out["bookmarks"].setdefault(stream, {}).setdefault("partitions", [])
            parts.extend(p for p in bookmark.get("partitions") or [] if _realm(p) == realm)
        auth = own.get(AUTH_STATE_KEY)
        by_realm = auth.get("companies") if isinstance(auth, dict) else None
        if isinstance(by_realm, dict) and realm in by_realm:
            sealed[realm] = by_realm[realm]
    if sealed:
        out[AUTH_STATE_KEY] = {"companies": sealed}
    return out


def split(state: dict, realm: str) -> dict:
    """One company's part of a run's state, in the same (partitioned) form: the tap's own
    ``settle_state`` moves it out, the other companies' parts left aside."""
    own = copy.deepcopy(state)
    settle_state(own, [realm], single=False, owner=None, logger=_LOG)
    own.pop(UNCLAIMED_STATE_KEY, None)
    # settle_state keeps an entry for every stream the state knows; only the realm's stay.
    own["bookmarks"] = {stream: b for stream, b in own["bookmarks"].items() if b}
    return own


def take_sealed(state: dict, realm: str) -> dict | None:
    """Take the company's sealed refresh token (``{"refresh_token": sealed, "updated_at"}``)
    out of its state, in either shape the tap writes; None if it had none."""
    kept = state.pop(AUTH_STATE_KEY, None)
    if isinstance(kept, dict) and "companies" in kept:
        by_realm = kept["companies"]
        kept = by_realm.get(realm) if isinstance(by_realm, dict) else None
    return kept if isinstance(kept, dict) and kept.get("refresh_token") else None


def _realm(partition: object) -> str | None:
    context = partition.get("context") if isinstance(partition, dict) else None
    return str(context.get("realm_id")) if isinstance(context, dict) else None
