"""Settings from ``--config webhooks.json`` and ``QUICKBOOKS_WEBHOOKS_<KEY>`` (env wins)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .registry import AnyCompany, CompanyRegistry, FileRegistry, StaticRegistry
from .store import DEFAULT_STORE, safe_url

ENV_PREFIX = "QUICKBOOKS_WEBHOOKS_"
KEYS = ("verifier_token", "host", "port", "store_url", "max_body_bytes", "companies")


class ConfigError(ValueError):
    """One sentence for the user; never holds the verifier token."""


@dataclass(frozen=True)
class Settings:
    verifier_token: str
    host: str = "127.0.0.1"
    port: int = 0
    store_url: str = DEFAULT_STORE
    max_body_bytes: int = 1024 * 1024
    companies: object = None
    """A list of realm ids, a path to a registry file, or None (every realm is served)."""

    def __repr__(self) -> str:  # the token never reaches a log through repr
        store = safe_url(self.store_url)  # nor a Postgres password
        return f"Settings(host={self.host!r}, port={self.port}, store_url={store!r})"

    def registry(self) -> CompanyRegistry:
        if self.companies is None:
            return AnyCompany()
        if isinstance(self.companies, list):
            return StaticRegistry(self.companies)
        return FileRegistry(str(self.companies))


def load(path: str | None, environ: dict | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    raw: dict = {}
    if path:
        try:
            raw = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ConfigError(f"the config file {path} is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"the config file {path} must hold a JSON object")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
            )
    for key in KEYS:
        value = environ.get(ENV_PREFIX + key.upper())
        if value is not None:
            raw[key] = _from_env(key, value)
    return _validate(raw)


def _from_env(key: str, value: str):
    if key == "companies" and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ConfigError(f"{ENV_PREFIX}COMPANIES is not a JSON list: {exc}") from exc
    return value


def _int(raw: dict, key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    try:
        number = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and value != number):
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, got {number}")
    return number


def _validate(raw: dict) -> Settings:
    token = raw.get("verifier_token")
    if not isinstance(token, str) or not token.strip():
        raise ConfigError(
            "verifier_token is required: the app's webhook verifier token from the Intuit "
            f"developer portal (config key verifier_token or {ENV_PREFIX}VERIFIER_TOKEN)"
        )
    host = raw.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"host must be an address such as 127.0.0.1, got {host!r}")
    store_url = raw.get("store_url", DEFAULT_STORE)
    if not isinstance(store_url, str) or not store_url.strip():
        raise ConfigError("store_url must be a SQLite file path or a postgresql://user@host/db URL")
    companies = raw.get("companies")
    if companies is not None and not isinstance(companies, list | str):
        raise ConfigError("companies must be a list of realm ids or the path of a registry file")
    if isinstance(companies, list) and not all(
        isinstance(c, str | int) and not isinstance(c, bool) for c in companies
    ):
        raise ConfigError("companies must list realm ids (strings of digits)")
    return Settings(
        verifier_token=token.strip(),
        host=host.strip(),
        port=_int(raw, "port", 0, 0, 65535),
        store_url=store_url.strip(),
        max_body_bytes=_int(raw, "max_body_bytes", 1024 * 1024, 1024, 1024**3),
        companies=companies,
    )
