"""Which companies (realms) the receiver serves. Events for any other realm are kept as ignored.

``CompanyRegistry`` is the interface: one method, ``knows(realm)``. The Dagster project can back
it with its own company list; here it is a list in the config (``companies``) or a JSON file
(a list of realm ids, or ``{"companies": [{"realm_id": ...}, ...]}``) re-read when it changes.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Protocol


class CompanyRegistry(Protocol):
    def knows(self, realm: str) -> bool: ...


class AnyCompany:
    """No registry configured: every realm is served."""

    def knows(self, realm: str) -> bool:
        return True


class StaticRegistry:
    def __init__(self, realms) -> None:
        self.realms = frozenset(str(r) for r in realms)

    def knows(self, realm: str) -> bool:
        return realm in self.realms


class FileRegistry:
    """A registry file, re-read whenever its modification time changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._realms: frozenset[str] = frozenset()
        self._load()  # a broken file fails at start, not at the first event

    def knows(self, realm: str) -> bool:
        with self._lock:
            try:
                stamp = self.path.stat().st_mtime
            except OSError:
                stamp = self._stamp  # a file being replaced: keep the last good list
            if stamp != self._stamp:
                # Half-written: keep the last good list, read it again next time.
                with contextlib.suppress(ValueError):
                    self._load()
            return realm in self._realms

    def _load(self) -> None:
        stamp = self.path.stat().st_mtime
        self._realms = read_registry(self.path)
        self._stamp = stamp


def read_registry(path: Path) -> frozenset[str]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"the company registry {path} cannot be read as JSON: {exc}") from exc
    items = doc.get("companies") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ValueError(
            f"the company registry {path} must be a list of realm ids or "
            '{"companies": [{"realm_id": ...}]}'
        )
    realms = set()
    for item in items:
        realm = item.get("realm_id") if isinstance(item, dict) else item
        if not isinstance(realm, str | int) or isinstance(realm, bool) or not str(realm):
            raise ValueError(f"the company registry {path} holds an entry without a realm id")
        realms.add(str(realm))
    return frozenset(realms)
