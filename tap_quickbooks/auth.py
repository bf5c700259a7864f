"""OAuth 2.0 for QBO: refresh before expiry, keep every rotated refresh token.

Intuit rotates refresh tokens (a new one every 24 hours of use, the old one dying 24 hours
later, or at once). An extractor that loses the new token strands its next run with
``invalid_grant``. So every refresh token QBO returns is handed to ``on_refresh_token`` (which
writes it to the token file and to Singer state) before the access token that came with it is
used for anything.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from singer_sdk.authenticators import OAuthAuthenticator

from tap_quickbooks import wire

logger = logging.getLogger("tap_quickbooks.auth")

PRODUCTION_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"  # noqa: S105
REAUTHORIZE_HINT = (
    "Re-authorize the connection: run `tap-quickbooks-auth --config <your config.json>` "
    "(or the Intuit OAuth Playground), which writes a fresh refresh_token into the config, "
    "then run the tap again."
)
_TRANSIENT_TRIES = 4


class QuickBooksAuthError(Exception):
    """Authorization failed in a way no retry can fix. The message never holds a secret."""


@dataclass(frozen=True)
class RefreshTokenCandidate:
    """A refresh token and where it was found, to try newest first."""

    source: str
    token: str
    updated_at: dt.datetime | None = None


class TokenSealer:
    """Encrypts refresh tokens for Singer state, so that state alone grants nothing.

    The key is derived from the client secret, which lives only in the config.
    """

    def __init__(self, client_id: str, client_secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=f"tap-quickbooks:{client_id}".encode(),
            info=b"refresh-token-in-state",
        ).derive(client_secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def open(self, sealed: str) -> str | None:
        """The token, or None when it was sealed under other credentials or is corrupt."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            return None


class TokenFile:
    """A durable home for the newest refresh token: written atomically, mode 0600."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()

    def read(self) -> RefreshTokenCandidate | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable token file %s: %s", self.path, type(exc).__name__)
            return None
        token = data.get("refresh_token") if isinstance(data, dict) else None
        if not token:
            return None
        return RefreshTokenCandidate("token file", token, _parse_time(data.get("updated_at")))

    def write(self, token: str, realm_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {"refresh_token": token, "realm_id": realm_id, "updated_at": _now_text()}, indent=2
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class QuickBooksAuthenticator(OAuthAuthenticator):
    """Refresh-token grant against Intuit's token endpoint, shared by every stream of a run."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str,
        candidates: list[RefreshTokenCandidate],
        on_refresh_token: Callable[[str], None],
        timeout: float = 60,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            auth_endpoint=token_url,
            default_expiration=3600,
        )
        if not candidates:
            msg = "No refresh token: set refresh_token in the config. " + REAUTHORIZE_HINT
            raise QuickBooksAuthError(msg)
        self._candidates = candidates
        self._on_refresh_token = on_refresh_token
        self._timeout = timeout
        self._lock = threading.Lock()
        self.refresh_count = 0

    @property
    def oauth_request_body(self) -> dict:
        return {"grant_type": "refresh_token", "refresh_token": self._candidates[0].token}

    def is_token_valid(self) -> bool:
        if self.last_refreshed is None or not self.access_token:
            return False
        lifetime = self.expires_in or 3600
        # Refresh early: a request must never set out with a token about to die.
        margin = min(300, lifetime / 10)
        elapsed = (dt.datetime.now(dt.UTC) - self.last_refreshed).total_seconds()
        return elapsed < lifetime - margin

    def expire(self) -> None:
        """Forget the access token (QBO answered 401), so the next request refreshes."""
        with self._lock:
            self.access_token = None

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if not self.is_token_valid():
                self.update_access_token()
            self.auth_headers["Authorization"] = f"Bearer {self.access_token}"
        request.headers.update(self.auth_headers)
        return request

    def update_access_token(self) -> None:
        """Refresh, trying each known refresh token newest first until QBO takes one."""
        refused: list[str] = []
        while self._candidates:
            candidate = self._candidates[0]
            answer = self._request_token(candidate)
            if answer is not None:
                break
            refused.append(candidate.source)
            self._candidates.pop(0)
        else:
            msg = (
                "QuickBooks refused the refresh token (invalid_grant) from "
                f"{', '.join(refused)}: the connection was revoked, or the token expired or "
                f"was replaced and lost. {REAUTHORIZE_HINT}"
            )
            raise QuickBooksAuthError(msg)
        if refused:
            logger.warning(
                "Refresh token from %s was refused; the one from %s worked.",
                ", ".join(refused),
                candidate.source,
            )
        request_time, body = answer
        new_refresh = body.get("refresh_token") or candidate.token
        # Persist first: if the process dies right after this line, the next run has the token.
        self._on_refresh_token(new_refresh)
        self._candidates[0] = RefreshTokenCandidate("rotation", new_refresh, request_time)
        self.access_token = body["access_token"]
        self.expires_in = int(body.get("expires_in") or 3600)
        self.last_refreshed = request_time
        self.refresh_count += 1
        logger.info(
            "Access token refreshed (valid %ss)%s.",
            self.expires_in,
            "; QBO rotated the refresh token and it was saved"
            if new_refresh != candidate.token
            else "",
        )

    def _request_token(self, candidate: RefreshTokenCandidate) -> tuple[dt.datetime, dict] | None:
        """POST the refresh grant; None when QBO says invalid_grant."""
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        headers = {
            "Authorization": f"Basic {basic}",
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        data = {"grant_type": "refresh_token", "refresh_token": candidate.token}
        for attempt in range(1, _TRANSIENT_TRIES + 1):
            request_time = dt.datetime.now(dt.UTC)
            try:
                response = wire.mounted(self._session).post(
                    self.auth_endpoint, headers=headers, data=data, timeout=self._timeout
                )
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__} reaching the token endpoint"
            else:
                if response.status_code == 200:
                    try:
                        body = response.json()
                        body["access_token"]
                    except (ValueError, KeyError, TypeError):
                        problem = "a token response without an access token"
                    else:
                        return request_time, body
                else:
                    error = _oauth_error(response)
                    tid = response.headers.get("intuit_tid", "")
                    if error == "invalid_grant":
                        logger.warning(
                            "Token endpoint refused the refresh token from %s "
                            "(invalid_grant, intuit_tid=%s).",
                            candidate.source,
                            tid,
                        )
                        return None
                    if error == "invalid_client" or response.status_code == 401:
                        msg = (
                            "QuickBooks rejected the client credentials (invalid_client, "
                            f"intuit_tid={tid}): check client_id and client_secret in the "
                            "config against your app's Keys & credentials page."
                        )
                        raise QuickBooksAuthError(msg)
                    problem = f"HTTP {response.status_code} ({error or 'no error code'})"
                    if response.status_code < 500 and response.status_code != 429:
                        msg = f"Token refresh failed: {problem}, intuit_tid={tid}."
                        raise QuickBooksAuthError(msg)
            wait = min(30.0, 2.0**attempt)
            logger.warning(
                "Token refresh attempt %d/%d failed: %s; retrying in %.0fs.",
                attempt,
                _TRANSIENT_TRIES,
                problem,
                wait,
            )
            if attempt < _TRANSIENT_TRIES:
                time.sleep(wait)
        msg = f"Token refresh failed after {_TRANSIENT_TRIES} attempts: {problem}."
        raise QuickBooksAuthError(msg)


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _parse_time(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def newest_first(candidates: list[RefreshTokenCandidate]) -> list[RefreshTokenCandidate]:
    """Order candidates newest first; undated ones (the config) last; no token twice."""
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    ordered = sorted(candidates, key=lambda c: c.updated_at or epoch, reverse=True)
    unique: list[RefreshTokenCandidate] = []
    for candidate in ordered:
        if candidate.token not in {u.token for u in unique}:
            unique.append(candidate)
    return unique
