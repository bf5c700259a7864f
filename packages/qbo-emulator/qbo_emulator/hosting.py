"""The emulator as its HTTP server, admin API and webhook sender see it.

:class:`qbo_emulator.Emulator` starts all three and hands itself to them; they are typed
against this protocol instead, so none of them imports the package that starts it (the
import graph stays one-way: ``qbo_emulator -> server -> admin``, never back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .api import Realm
    from .behaviours import Behaviour
    from .oauth import OAuth
    from .profiles import Profile
    from .store import Clock, Store
    from .writes import WriteSide


class Webhooks(Protocol):
    """What the admin API asks of the webhook sender (webhooks.WebhookSender)."""

    def configure(self, **knobs: object) -> dict: ...
    def settings(self) -> dict: ...
    def flush(self, timeout_s: float) -> bool: ...


class Host(Protocol):
    seed: int
    base_url: str
    clock: Clock
    behaviour: Behaviour
    oauth: OAuth
    writes: WriteSide
    realms: dict[str, Realm]
    realm_ids: list[str]

    @property
    def webhooks(self) -> Webhooks: ...  # read-only here, so WebhookSender qualifies

    def info(self) -> dict: ...
    def tap_config(self, realm_id: str | None = None) -> dict: ...
    def store(self, realm_id: str | None = None) -> Store: ...
    def profile(self, realm_id: str | None = None) -> Profile: ...
    def set_profile(self, realm_id: str | None, profile: str) -> None: ...
    def ground_truth(self, realm_id: str | None, entity: str) -> list[dict]: ...
    def deleted(self, realm_id: str | None, entity: str) -> list[dict]: ...
    def request_counts(self, realm_id: str | None = None) -> dict: ...
    def reset_counts(self) -> None: ...
    def _count(self, realm_id: str | None, kind: str) -> None: ...
    def _run_hooks(self, realm_id: str, kind: str, number: int) -> None: ...
