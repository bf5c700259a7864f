"""Which shard a company belongs to: one Dagster partition, one tap process, many companies.

A company's shard is sha256(realm_id) mod ``QBO_ORCH_SHARDS`` (default 20): stable across
processes and machines (Python's ``hash`` is salted per process), spread evenly, and a new
company lands in a shard without moving the others. Changing the shard count moves companies
between shards; nothing is lost, as each company's state and token are kept by realm_id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

DEFAULT_SHARDS = 20
PREFIX = "shard-"


def shard_of(realm_id: str, shards: int) -> str:
    """The partition key of the shard holding ``realm_id``."""
    digest = hashlib.sha256(realm_id.encode()).digest()
    return f"{PREFIX}{int.from_bytes(digest[:8], 'big') % shards:03d}"


def members(shard: str, realm_ids: Iterable[str], shards: int) -> list[str]:
    """The companies of ``shard`` among ``realm_ids``, in order."""
    return sorted(r for r in realm_ids if shard_of(r, shards) == shard)


def occupied(realm_ids: Iterable[str], shards: int) -> set[str]:
    """The shards holding at least one of ``realm_ids``: the partitions to have."""
    return {shard_of(r, shards) for r in realm_ids}
