"""OAuth 2.0 as Intuit runs it: authorization codes, the refresh grant, rotation, expiry.

- ``POST /oauth2/v1/tokens/bearer`` takes client credentials by HTTP Basic or in the form body
  (``invalid_client``, 401, otherwise) and the grants ``refresh_token`` and
  ``authorization_code``.
- Rotation: a refresh token returns *itself* for 24 hours after it was issued (with a
  decreasing ``x_refresh_token_expires_in``); after that a refresh issues a new token and the old
  one stays usable for 24 more hours. With ``strict_rotation`` every refresh rotates and the
  old token dies at once. A dead, expired or unknown token gets ``invalid_grant`` (400).
- Access tokens live ``access_token_lifetime`` seconds (3600 by default), belong to one realm,
  and can be revoked (the ``401`` fault does that mid-run).
- ``GET /connect/oauth2`` auto-consents and redirects with ``code``, ``state`` and ``realmId``.

All times come from the emulator clock, so ``clock.advance(hours=25)`` rotates tokens and
``clock.advance(seconds=3601)`` expires access tokens.
"""

from __future__ import annotations

import base64
import random
import string
import threading
from dataclasses import dataclass
from urllib.parse import urlencode

REFRESH_LIFETIME = 8_726_400  # 101 days, as Intuit answers
ROTATE_AFTER = 86_400
GRACE_AFTER_ROTATION = 86_400
HARD_LIFETIME = 5 * 365 * 86_400
CODE_LIFETIME = 600


@dataclass
class RefreshToken:
    value: str
    realm: str
    chain: int
    issued: float
    expires: float
    hard_expires: float
    superseded: float | None = None
    dead: bool = False


@dataclass
class AccessToken:
    value: str
    realm: str
    expires: float
    revoked: bool = False


@dataclass
class AuthCode:
    value: str
    realm: str
    redirect_uri: str
    expires: float
    scope: str
    used: bool = False


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str | None = None):
        super().__init__(error)
        self.status = status
        self.body = {"error": error}
        if description:
            self.body = {"error_description": description, "error": error}


class OAuth:
    def __init__(self, clock, behaviour, client_id: str, client_secret: str, seed: int):
        self.clock = clock
        self.behaviour = behaviour
        self.client_id = client_id
        self.client_secret = client_secret
        self._rng = random.Random(f"oauth:{seed}")
        self._lock = threading.Lock()
        self.refresh: dict[str, RefreshToken] = {}
        self.access: dict[str, AccessToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.chains: dict[int, str] = {}  # chain id -> its current refresh token
        self.realms: list[str] = []

    # ----- token values ------------------------------------------------------------------------
    def _rand(self, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(n))

    def _new_refresh(self, realm: str, chain: int | None, now: float, hard: float | None):
        if chain is None:
            chain = len(self.chains) + 1
        tail = self._rand(20, string.ascii_lowercase + string.digits)
        value = f"RT1-{self._rng.randint(10, 99)}-H0-{int(now)}{tail}"
        tok = RefreshToken(
            value,
            realm,
            chain,
            now,
            now + REFRESH_LIFETIME,
            hard if hard is not None else now + HARD_LIFETIME,
        )
        self.refresh[value] = tok
        self.chains[chain] = value
        return tok

    def _new_access(self, realm: str, now: float) -> AccessToken:
        head = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.."
        value = head + self._rand(32) + "." + self._rand(420) + "." + self._rand(22)
        tok = AccessToken(value, realm, now + float(self.behaviour.access_token_lifetime))
        self.access[value] = tok
        return tok

    def issue_initial(self, realm: str) -> str:
        """A refresh token for ``realm`` (what the emulator hands out at start)."""
        with self._lock:
            if realm not in self.realms:
                self.realms.append(realm)
            return self._new_refresh(realm, None, self.clock.epoch(), None).value

    def current_refresh_token(self, realm: str) -> str:
        """The newest live refresh token of the realm's first chain."""
        with self._lock:
            for value in self.chains.values():
                tok = self.refresh[value]
                if tok.realm == realm and not tok.dead:
                    return value
        return self.issue_initial(realm)

    def issue_access(self, realm: str) -> str:
        with self._lock:
            return self._new_access(realm, self.clock.epoch()).value

    # ----- the token endpoint ------------------------------------------------------------------
    def check_client(self, headers, form: dict[str, str]) -> None:
        cid = secret = None
        auth = headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth[6:].strip()).decode()
                cid, _, secret = raw.partition(":")
            except (ValueError, UnicodeDecodeError):
                cid = None
        if cid is None and "client_id" in form:
            cid, secret = form.get("client_id"), form.get("client_secret")
        if cid != self.client_id or secret != self.client_secret:
            raise OAuthError(401, "invalid_client")

    def token(self, headers, form: dict[str, str]) -> tuple[dict, str]:
        """Answer a token request: (body, realm) or raise :class:`OAuthError`."""
        self.check_client(headers, form)
        grant = form.get("grant_type")
        want_hard = (headers.get("x-include-refresh-token-hard-expires-in") or "").lower() == "true"
        if grant == "refresh_token":
            return self._refresh_grant(form.get("refresh_token") or "", want_hard)
        if grant == "authorization_code":
            return self._code_grant(
                form.get("code") or "", form.get("redirect_uri") or "", want_hard
            )
        raise OAuthError(400, "unsupported_grant_type")

    def realm_of_refresh(self, value: str) -> str | None:
        tok = self.refresh.get(value)
        return tok.realm if tok else None

    def _refresh_grant(self, value: str, want_hard: bool) -> tuple[dict, str]:
        now = self.clock.epoch()
        strict = bool(self.behaviour.strict_rotation)
        with self._lock:
            tok = self.refresh.get(value)
            if tok is None or tok.dead or now >= tok.expires or now >= tok.hard_expires:
                raise OAuthError(400, "invalid_grant", "Incorrect or invalid refresh token")
            current = self.refresh[self.chains[tok.chain]]
            if tok is not current:
                if strict or tok.superseded is None or now > tok.superseded + GRACE_AFTER_ROTATION:
                    tok.dead = True
                    raise OAuthError(400, "invalid_grant", "Incorrect or invalid refresh token")
                served = current
            elif strict or now - tok.issued >= ROTATE_AFTER:
                served = self._new_refresh(tok.realm, tok.chain, now, tok.hard_expires)
                tok.superseded = now
                if strict:
                    tok.dead = True
            else:
                served = tok
            access = self._new_access(served.realm, now)
        return self._body(access, served, now, want_hard), served.realm

    def _code_grant(self, code: str, redirect_uri: str, want_hard: bool) -> tuple[dict, str]:
        now = self.clock.epoch()
        with self._lock:
            ac = self.codes.get(code)
            if ac is None or ac.used or now > ac.expires or ac.redirect_uri != redirect_uri:
                raise OAuthError(400, "invalid_grant")
            ac.used = True
            rt = self._new_refresh(ac.realm, None, now, None)
            access = self._new_access(ac.realm, now)
        body = self._body(access, rt, now, want_hard)
        if "openid" in ac.scope:
            body["id_token"] = self._fake_id_token(ac.realm, now)
        return body, ac.realm

    def _body(self, access: AccessToken, rt: RefreshToken, now: float, want_hard: bool) -> dict:
        body = {
            "token_type": "bearer",
            "expires_in": int(access.expires - now),
            "refresh_token": rt.value,
            "x_refresh_token_expires_in": int(rt.expires - now),
            "access_token": access.value,
        }
        if want_hard:
            body["x_refresh_token_hard_expires_in"] = int(rt.hard_expires - now)
        return body

    def _fake_id_token(self, realm: str, now: float) -> str:
        def b64(raw: str) -> str:
            return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

        head = b64('{"alg":"RS256","kid":"emulator"}')
        claims = b64(
            f'{{"sub":"{self._rand(12)}","aud":["{self.client_id}"],"realmid":"{realm}",'
            f'"iss":"https://oauth.platform.intuit.com/op/v1",'
            f'"iat":{int(now)},"exp":{int(now) + 3600}}}'
        )
        return f"{head}.{claims}.{self._rand(43)}"

    def revoke(self, value: str) -> None:
        with self._lock:
            if value in self.refresh:
                tok = self.refresh[value]
                for t in self.refresh.values():
                    if t.chain == tok.chain:
                        t.dead = True
            if value in self.access:
                self.access[value].revoked = True

    # ----- the authorization endpoint ----------------------------------------------------------
    def authorize(self, params: dict[str, str]) -> str:
        """Auto-consent: the redirect URL carrying a fresh code, or raise OAuthError."""
        if params.get("client_id") != self.client_id:
            raise OAuthError(400, "invalid_client")
        if params.get("response_type") != "code":
            raise OAuthError(400, "unsupported_response_type")
        redirect = params.get("redirect_uri")
        if not redirect:
            raise OAuthError(400, "invalid_request", "redirect_uri is required")
        realm = (
            params.get("realmId")
            or params.get("realm_id")
            or (self.realms[0] if self.realms else "")
        )
        if realm not in self.realms:
            raise OAuthError(400, "invalid_request", "unknown realm")
        now = self.clock.epoch()
        with self._lock:
            code = "AB11" + str(int(now)) + self._rand(30)
            self.codes[code] = AuthCode(
                code, realm, redirect, now + CODE_LIFETIME, params.get("scope", "")
            )
        query = {"code": code}
        if "state" in params:
            query["state"] = params["state"]
        query["realmId"] = realm
        sep = "&" if "?" in redirect else "?"
        return f"{redirect}{sep}{urlencode(query)}"

    # ----- bearer checks -----------------------------------------------------------------------
    def check_bearer(self, header: str | None, realm: str) -> tuple[str, str | None]:  # noqa: PLR0911 - one return per kind of bad bearer token
        """Classify a request's bearer token: ``("ok", None)`` or ``(kind, detail)``.

        Kinds: ``expired``/``invalid`` (JSON 401), ``wrong_realm`` (XML 401).
        """
        if not header or not header.lower().startswith("bearer "):
            return "invalid", "Token invalid"
        value = header[7:].strip()
        tok = self.access.get(value)
        if tok is None:
            if len(value) < 40 or len(value) > 2000:
                return "invalid", "Malformed bearer token: too short or too long"
            return "invalid", "Token invalid"
        if tok.revoked:
            return "invalid", "Token revoked"
        if self.clock.epoch() >= tok.expires:
            # QBO echoes the token it refused (recorded Error_401_token_expired): the tap must
            # never log this text unredacted, and the tests catch it if it does.
            return "expired", f"Token expired: {value}"
        if tok.realm != realm:
            return "wrong_realm", None
        return "ok", None

    def revoke_access(self, header: str | None) -> None:
        if header and header.lower().startswith("bearer "):
            tok = self.access.get(header[7:].strip())
            if tok is not None:
                tok.revoked = True
