"""OAuth 2.0 for QBO: refresh before expiry, keep every rotated refresh token.

Intuit rotates refresh tokens (a new one every 24 hours of use, the old one dying 24 hours
later, or at once). An extractor that loses the new token strands its next run with
``invalid_grant``. So every refresh token QBO returns is handed to ``on_refresh_token`` (which
writes it to the token file at once, and has the next STATE message carry it) before the access
token that came with it is used for anything.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import tempfile
import threading
import time
import typing as t
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from singer_sdk.authenticators import OAuthAuthenticator

from tap_quickbooks import errors, wire
from tap_quickbooks.timefmt import read_instant

logger = logging.getLogger("tap_quickbooks.auth")

PRODUCTION_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"  # noqa: S105
REAUTHORIZE_HINT = (
    "Re-authorize the connection: run `tap-quickbooks-auth --config <your config.json>` "
    "(or the Intuit OAuth Playground), which writes a fresh refresh_token into the config, "
    "then run the tap again."
)
REALM_HINT = (
    "check realm_id in the config: it must be the company this refresh token was authorized "
    "for (the realmId shown by `tap-quickbooks-auth` or the OAuth Playground)"
)
_TRANSIENT_TRIES = 4


class QuickBooksAuthError(Exception):
    """Authorization failed in a way no retry can fix. The message never holds a secret."""


class TokenStoreError(QuickBooksAuthError):
    """The token file cannot be written: the run's setup is wrong, not any company's token
    (one error naming the file, not a re-authorization asked of every company)."""


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
        # Imported here: --about and --discover never seal (a hundredth of a second each).
        from cryptography.fernet import Fernet  # noqa: PLC0415
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: PLC0415

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
        from cryptography.fernet import InvalidToken  # noqa: PLC0415 - loaded by __init__

        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            return None


def default_token_store(realm_id: str) -> Path:
    """Where rotated refresh tokens go unless token_store_path says otherwise: the user's state
    directory, so that a run whose STATE is not kept (--test, meltano invoke) strands no one."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "tap-quickbooks" / f"{realm_id}.json"


class TokenFile:
    """A durable home for the newest refresh token of a company: written atomically, 0600.

    Each write goes to a temporary ``.<name>.*`` beside the file, then replaces it; a process
    killed between the two leaves the newest token in the temporary, so reading looks there too.
    Readers hold the lock shared (writers hold it alone): a temporary they see is such a
    leftover, never one still being written.

    One company's file holds ``{"refresh_token", "realm_id", "updated_at"}``. A file shared by
    many companies (``keyed``, or one already in that shape) holds ``{"companies": {realm_id:
    {"refresh_token", "updated_at"}}}``; every write takes a lock (``<name>.lock``), re-reads
    the file and changes only its own company, so runs sharing the file never drop each
    other's tokens.
    """

    def __init__(self, path: str | Path, realm_id: str, *, keyed: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.realm_id = realm_id
        self.keyed = keyed

    def _copies(self) -> list[Path]:
        try:
            leftovers = sorted(self.path.parent.glob(f".{self.path.name}.*"))
        except OSError:
            leftovers = []
        return [self.path, *leftovers]

    def read(self) -> RefreshTokenCandidate | None:
        """The newest token of this company in the file or a leftover temporary, or None."""
        found = self.read_all()
        return found[0] if found else None

    def _entry(self, data: object, copy: Path) -> dict | None:
        """This company's entry of a file's content, in either shape."""
        if not isinstance(data, dict):
            return None
        if isinstance(data.get("companies"), dict):
            entry = data["companies"].get(self.realm_id)
            return entry if isinstance(entry, dict) else None
        realm = data.get("realm_id")
        if data.get("refresh_token") and realm is not None and str(realm) != self.realm_id:
            if not self.keyed:
                logger.warning(
                    "Token file %s holds a token of realm %s, not of this run's realm %s: not "
                    "used. Give each company its own token_store_path, or list them all in "
                    "`companies` (one token file then keeps every company's token).",
                    copy,
                    realm,
                    self.realm_id,
                )
            return None
        return data

    @contextlib.contextmanager
    def _shared(self) -> t.Iterator[None]:
        """Held while reading: no writer is between its temporary and the rename, so any
        temporary seen is a killed writer's leftover, never one being written."""
        try:
            lock = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:  # a folder not writable: no writer can be at work in it either
            yield
            return
        try:
            fcntl.flock(lock, fcntl.LOCK_SH)
            yield
        finally:
            os.close(lock)  # releases the lock

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def read_all(self) -> list[RefreshTokenCandidate]:
        """Every token of this company in the file and leftover temporaries, newest first."""
        with self._shared():
            return self._read_all()

    def _read_all(self) -> list[RefreshTokenCandidate]:
        found: list[RefreshTokenCandidate] = []
        for copy in self._copies():
            if copy.name.endswith(".lock") or ".probe." in copy.name:
                continue
            try:
                data = json.loads(copy.read_text())
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                if copy == self.path:
                    logger.warning(
                        "Ignoring unreadable token file %s: %s", copy, type(exc).__name__
                    )
                continue  # a temporary cut short by a kill
            entry = self._entry(data, copy)
            token = entry.get("refresh_token") if entry else None
            if not entry or not token or not isinstance(token, str):
                continue
            errors.register_secret(token)
            if self.realm_id in (entry.get("refused_by") or []):
                continue
            source = "token file" if copy == self.path else f"token file (leftover {copy.name})"
            found.append(RefreshTokenCandidate(source, token, _parse_time(entry.get("updated_at"))))
        return newest_first(found)

    def problem(self) -> str | None:
        """Why a token could not be saved here, found before any refresh; None when it can."""
        try:
            if self.path.is_dir():
                return f"token_store_path {self.path} is a directory; name a file in it instead."
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.probe.")
            try:
                os.write(fd, b"{}" * 256)  # a full disk refuses bytes, not the empty file
                os.fsync(fd)
            finally:
                os.close(fd)
                Path(tmp).unlink(missing_ok=True)
        except OSError as exc:
            return (
                f"token_store_path {self.path} cannot be written ({exc.strerror or exc}): a "
                "rotated refresh token would be lost. Point token_store_path at a writable file."
            )
        return None

    @contextlib.contextmanager
    def _locked(self) -> t.Iterator[dict | None]:
        """The file's current content (None if absent or unreadable), under its lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # other runs sharing the file wait here
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = None
            yield data if isinstance(data, dict) else None
        finally:
            os.close(lock)  # releases the lock

    def write(self, token: str, realm_id: str | None = None, **extra: object) -> None:
        with self._locked() as current:
            self._put(current, token, realm_id, {"updated_at": _now_text(), **extra})

    def replace(self, expected: str | None, token: str, received: dt.datetime) -> bool:
        """Put ``token``, received then, in place of ``expected`` (this company's token as
        last read; None: it had none). False, changing nothing, when the entry is another by
        now (a run rotated it meanwhile) or one this company refused (kept for its owner)."""
        with self._locked() as current:
            entry = self._entry(current, self.path) if current is not None else None
            found = self._read_all()  # what read() gives: a killed writer's temporary too
            if (found[0].token if found else None) != expected or (
                entry and self.realm_id in (entry.get("refused_by") or [])
            ):
                return False
            when = received.astimezone(dt.UTC).isoformat(timespec="microseconds")
            self._put(current, token, None, {"updated_at": when})
            return True

    def _put(self, current: dict | None, token: str, realm_id: str | None, extra: dict) -> None:
        if self.keyed or (current is not None and "companies" in current):
            body = self._merged(current or {}, {"refresh_token": token, **extra})
        else:
            realm = self.realm_id if realm_id is None else realm_id
            body = {"refresh_token": token, "realm_id": realm, **extra}
        self._replace(json.dumps(body, indent=2))

    def _merged(self, current: dict, entry: dict) -> dict:
        """The keyed content with this company's entry put in; a one-company file's token
        (another realm's) is kept under its realm."""
        companies = dict(current.get("companies") or {})
        if current.get("refresh_token") and current.get("realm_id"):
            flat = {k: v for k, v in current.items() if k != "realm_id"}
            companies.setdefault(str(current["realm_id"]), flat)
        companies[self.realm_id] = entry
        return {"companies": companies}

    def _replace(self, body: str) -> None:
        write_private(self.path, body)

    def disown(self, token: str) -> None:
        """The token proved not to be this company's: keep it (it may be the only live one of
        another company) but never offer it to this company again."""
        try:
            with self._shared():
                data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        entry = self._entry(data, self.path)
        if entry is not None and entry.get("refresh_token") == token:
            refused = [*(entry.get("refused_by") or []), self.realm_id]
            if isinstance(data, dict) and "companies" in data:
                self.write(token, refused_by=refused)
            else:
                self.write(token, realm_id=None, refused_by=refused)


class TokenKeeper:
    """Where one company's refresh tokens are kept, for the tap and the target alike.

    Three homes, tried newest first: the config's token, the token file (written at once on
    every rotation) and a sealed copy kept beside the caller's progress (Singer state for the
    tap, the ledger for the target), given here as ``{"refresh_token": sealed, "updated_at"}``.
    """

    def __init__(
        self, config: t.Mapping[str, t.Any], realm_id: str, *, keyed: bool = False
    ) -> None:
        self.realm_id = realm_id
        self._config_token = str(config["refresh_token"])
        self.sealer = TokenSealer(str(config["client_id"]), str(config["client_secret"]))
        path = config.get("token_store_path") or default_token_store(realm_id)
        # One token_store_path shared by many companies keeps each under its realm_id.
        self.file = TokenFile(path, realm_id, keyed=keyed and bool(config.get("token_store_path")))

    def candidates(self, sealed: t.Mapping[str, t.Any] | None) -> list[RefreshTokenCandidate]:
        """Every known token, newest first. Raises when a rotated token would have no home."""
        # Before any refresh: a token QBO rotates must have somewhere to go.
        if problem := self.file.problem():
            raise TokenStoreError(problem)
        found = [RefreshTokenCandidate("config", self._config_token), *self.file.read_all()]
        if opened := self.open_sealed(sealed):
            found.append(opened)
        return newest_first(found)

    def open_sealed(self, sealed: t.Mapping[str, t.Any] | None) -> RefreshTokenCandidate | None:
        if not sealed or not sealed.get("refresh_token"):
            return None
        token = self.sealer.open(str(sealed["refresh_token"]))
        if token is None:
            logger.warning(
                "The kept refresh token was sealed under another client_id or client_secret "
                "(changed since it was kept), so it cannot be read; using the token file %s and "
                "the config's refresh_token instead. If the run then fails with invalid_grant, "
                "run once with the previous client_secret, or re-authorize with "
                "`tap-quickbooks-auth`.",
                self.file.path,
            )
            return None
        return RefreshTokenCandidate("state", token, _parse_time(sealed.get("updated_at")))

    def save(self, token: str) -> str | None:
        """Write ``token`` to the token file unless it is there already; the error, if any."""
        try:
            stored = self.file.read()
            if not stored or stored.token != token:
                self.file.write(token)
        except OSError as exc:
            return exc.strerror or type(exc).__name__
        return None

    def sealed(self, token: str) -> dict[str, str]:
        """``token`` sealed for the caller's own store, stamped now."""
        return {"refresh_token": self.sealer.seal(token), "updated_at": _now_text()}


class QuickBooksAuthenticator(OAuthAuthenticator):
    """Refresh-token grant against Intuit's token endpoint, shared by every stream of a run."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str,
        candidates: list[RefreshTokenCandidate],
        on_refresh_token: Callable[[str], str | None],
        timeout: float = 60,
        reread: Callable[[], RefreshTokenCandidate | None] | None = None,
        on_wrong_company: Callable[[str], None] | None = None,
        realm_id: str = "?",
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
        for secret in (client_secret, *(c.token for c in candidates)):
            errors.register_secret(secret)
        self._candidates = candidates
        self._on_refresh_token = on_refresh_token
        self._reread = reread
        self._on_wrong_company = on_wrong_company
        self.realm_id = realm_id
        self._timeout = timeout
        # Its own session, not the SDK's (a private one, with a hidden urllib3 Retry).
        self.token_session = wire.session()
        self._lock = threading.Lock()
        self.refresh_count = 0
        self._proven = False  # a request succeeded with the current access token
        self._wrong_company = 0  # fresh tokens QBO refused for this company
        self._refusal = ""  # QBO's answer to the last of them, as errors.describe reads it

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

    def worked(self, request: requests.PreparedRequest) -> None:
        """QBO answered a request: the access token it carried is good for this company."""
        if not self._proven and request.headers.get("Authorization") == self._bearer:
            self._proven = True

    def not_authorized(self, request: requests.PreparedRequest, answer: str = "") -> None:
        """QBO refused a token for this company (403 3100, or a 401 not about expiry).

        A token that already worked was revoked: refresh. A fresh one that never worked is not
        authorized for the company: try the next candidate once, then stop with the cause.
        """
        with self._lock:
            if request.headers.get("Authorization") != self._bearer:
                return  # sent with an older token; the current one is judged by its own answer
            self.access_token = None
            if self._proven:
                return
            self._wrong_company += 1
            self._refusal = answer
            final = self._wrong_company > 1
            # The one retry: with the next candidate if there is one, else a fresh refresh.
            if self._candidates and (final or len(self._candidates) > 1):
                refused = self._candidates.pop(0)
                if self._on_wrong_company:
                    self._on_wrong_company(refused.token)
            if final or not self._candidates:
                raise QuickBooksAuthError(self._wrong_company_message())
            logger.warning(
                "QuickBooks refused a fresh access token for realm %s; trying once more with "
                "the refresh token from %s.",
                self.realm_id,
                self._candidates[0].source,
            )

    def _wrong_company_message(self) -> str:
        return (
            f"QuickBooks refused freshly issued access tokens for realm {self.realm_id}: the "
            f"token is not authorized for that company; {REALM_HINT}. QBO said: "
            f"{self._refusal or '-'}"
        )

    @property
    def _bearer(self) -> str:
        return f"Bearer {self.access_token}"

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if not self.is_token_valid():
                self.update_access_token()
            self.auth_headers["Authorization"] = self._bearer
        request.headers.update(self.auth_headers)
        return request

    def update_access_token(self) -> None:
        """Refresh, trying each known refresh token newest first until QBO takes one."""
        refused: list[str] = []
        tried = {c.token for c in self._candidates}
        reread = False
        answer = None  # none left to try: another thread's request found them all refused
        while True:
            while self._candidates:
                candidate = self._candidates[0]
                answer = self._request_token(candidate)
                if answer is not None:
                    break
                refused.append(candidate.source)
                self._candidates.pop(0)
            if answer is not None:
                break
            # Another run of this company may have rotated the token meanwhile: its token file
            # holds the live one. Read it once more before giving up.
            newer = self._reread() if self._reread and not reread else None
            reread = True
            if newer is not None and newer.token not in tried:
                logger.warning("Another run rotated the refresh token meanwhile; using its token.")
                tried.add(newer.token)
                self._candidates.append(newer)
                continue
            raise QuickBooksAuthError(self._refused_message(refused, raced=newer is not None))
        if refused:
            logger.warning(
                "Refresh token from %s was refused; the one from %s worked.",
                ", ".join(refused),
                candidate.source,
            )
        request_time, body = answer
        new_refresh = body.get("refresh_token") or candidate.token
        errors.register_secret(new_refresh)
        errors.register_secret(body["access_token"])
        # Persist first: if the process dies right after this line, the next run has the token.
        # The callback says where it went, as a phrase for the log line below.
        kept_in = self._on_refresh_token(new_refresh)
        self._candidates[0] = RefreshTokenCandidate("rotation", new_refresh, request_time)
        self.access_token = body["access_token"]
        self._proven = False
        self.expires_in = int(body.get("expires_in") or 3600)
        self.last_refreshed = request_time
        self.refresh_count += 1
        logger.info(
            "Access token refreshed (valid %ss)%s.",
            self.expires_in,
            f"; QBO rotated the refresh token: {kept_in or 'kept in this run only'}"
            if new_refresh != candidate.token
            else "",
        )

    def _refused_message(self, refused: list[str], *, raced: bool) -> str:
        if self._wrong_company:
            return self._wrong_company_message()
        if raced:
            return (
                "QuickBooks refused the refresh token (invalid_grant): another run of this "
                "company rotated it while this one ran. Run again (one run per company at a "
                "time); no re-authorization is needed."
            )
        return (
            "QuickBooks refused the refresh token (invalid_grant) from "
            f"{', '.join(refused)}: the connection was revoked, or the token expired or "
            f"was replaced and lost. {REAUTHORIZE_HINT}"
        )

    def _request_token(  # noqa: C901 - each answer of the token endpoint, in one place
        self, candidate: RefreshTokenCandidate
    ) -> tuple[dt.datetime, dict] | None:
        """POST the refresh grant; None when QBO says invalid_grant."""
        headers = {
            "Authorization": basic_authorization(self.client_id, self.client_secret),
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        data = {"grant_type": "refresh_token", "refresh_token": candidate.token}
        for attempt in range(1, _TRANSIENT_TRIES + 1):
            request_time = dt.datetime.now(dt.UTC)
            try:
                response = post_token_request(
                    self.token_session, self.auth_endpoint, headers, data, self._timeout
                )
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__} reaching the token endpoint"
            else:
                if response.is_redirect:
                    msg = (
                        f"The token endpoint answered HTTP {response.status_code}, a redirect: "
                        "the refresh token is never sent anywhere else. Check token_url (it "
                        "must be Intuit's token endpoint itself)."
                    )
                    raise QuickBooksAuthError(msg)
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


def post_token_request(
    session: requests.Session, url: str, headers: dict, data: dict, timeout: float
) -> requests.Response:
    """The one HTTP call of a token grant. Never follows a redirect: a 307/308 would re-post
    the refresh token and the client secret to wherever it points."""
    # Read by wire.py: the timeout bounds the whole answer, and its size is capped.
    return wire.mounted(session).post(
        url, headers=headers, data=data, timeout=timeout, allow_redirects=False
    )


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _now_text() -> str:
    # Microseconds: a temporary left by a kill must read as newer than the file it would replace.
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _parse_time(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return read_instant(text)
    except ValueError:
        return None


def newest_first(candidates: list[RefreshTokenCandidate]) -> list[RefreshTokenCandidate]:
    """Order candidates newest first; undated ones (the config) last; no token twice."""
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    ordered = sorted(candidates, key=lambda c: c.updated_at or epoch, reverse=True)
    unique: list[RefreshTokenCandidate] = []
    for candidate in ordered:
        if candidate.token not in {u.token for u in unique}:
            unique.append(candidate)
    return unique


def basic_authorization(client_id: str | None, client_secret: str | None) -> str:
    """The Authorization header of Intuit's token endpoint (HTTP Basic: id and secret)."""
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable by its owner only: a temporary copy
    beside it, flushed to disk, then renamed (a kill leaves the old file or the new one)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
