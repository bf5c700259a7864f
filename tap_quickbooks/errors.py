"""QBO's error envelopes, read into one plain sentence.

QBO answers errors in several shapes: ``{"Fault": {"Error": [...]}}`` (JSON, even inside a 200),
the lower-case ``{"fault": {"error": [...]}}`` of a 401, XML ``<Fault>`` for throttling and
gateway errors, and HTML pages from the edge. The sentence names QBO's message, detail, error
code and ``intuit_tid`` (what Intuit support asks for); never a token or a request header.

This module is also the one home of redaction (:func:`redact`): every log record of the process
and every error message about a response passes through it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import typing as t
from xml.etree import ElementTree as ET

import requests

MAX_DETAIL = 600
REDACTED = "[redacted]"
_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


# -- secrets never leave the process: one redaction, applied where text is logged or raised ---

_known: set[str] = set()  # secret values seen this run (config secrets, every token)
_known_lock = threading.Lock()
_known_pattern: re.Pattern | None = None
# Token-shaped: a long run of token characters mixing upper case, lower case and digits
# (Intuit's access, refresh and code values, client secrets). Hex ids (intuit_tid), words,
# identifiers and paths lack one of the three, and stay readable.
_TOKEN_RUN = re.compile(r"(?<![\w.~+/=-])[\w.~+/=-]{20,}(?![\w.~+/=-])")
# A value after its label: a header's scheme, a form or URL's ``name=``, a JSON ``"name": "``.
_LABELLED = re.compile(
    r"(?i)((?:bearer|basic)\s+|\b(?:access_token|refresh_token|client_secret|id_token|code|"
    r"token|password|secret)(?:=|[\"']\s*:\s*[\"']))([^\s\"'&,;}]+)"
)
_ECHOED = re.compile(r"(?i)(token (?:expired|invalid|revoked):?\s*)(\S+)")


def register_secret(value: object) -> None:
    """Remember a secret value, so that it is redacted wherever it would appear."""
    text = "" if value is None else str(value)
    if len(text) < 8 or text in _known:  # shorter values would blank ordinary words
        return
    global _known_pattern  # noqa: PLW0603 - one process-wide set, rebuilt when it grows
    with _known_lock:
        _known.add(text)
        ordered = sorted(_known, key=len, reverse=True)
        # Whole values only: a short test secret such as "secret" must not blank the word
        # inside "client_secret" for the rest of the process.
        alternatives = "|".join(map(re.escape, ordered))
        _known_pattern = re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])")


def _token_shaped(match: re.Match) -> str:
    run = match.group(0)
    kinds = (
        any(c.isupper() for c in run)
        + any(c.islower() for c in run)
        + any(c.isdigit() for c in run)
    )
    return REDACTED if kinds == 3 else run


def redact(text: str) -> str:
    """The text with every secret value and token-shaped value replaced by ``[redacted]``."""
    if not text:
        return text
    if _known_pattern is not None:
        text = _known_pattern.sub(REDACTED, text)
    text = _LABELLED.sub(lambda m: m.group(1) + REDACTED, text)
    text = _ECHOED.sub(lambda m: m.group(1) + REDACTED, text)
    return _TOKEN_RUN.sub(_token_shaped, text)


class RedactingFilter(logging.Filter):
    """Redacts a log record's message and traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Redact every record of every logger (the tap's, the SDK's, urllib3's, ...).

    A filter on a logger misses records of its children, and handlers come and go as the SDK
    configures logging: a record factory sees every record once, where it is made.
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return

    def make(*args: t.Any, **kwargs: t.Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _FILTER.filter(record)
        return record

    make.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)


def is_secret_setting(name: str, schema: dict | None = None) -> bool:
    """A setting whose value must never be shown: marked secret, or named like one
    (``token_url`` and ``token_store_path`` name where tokens go, and are no secret)."""
    prop = ((schema or {}).get("properties") or {}).get(name) or {}
    lowered = name.lower()
    return (
        bool(prop.get("secret"))
        or any(word in lowered for word in ("secret", "password", "passwd"))
        or lowered.endswith(("token", "_key", "apikey"))
    )


def hide_secret_values(
    messages: list[str], config: t.Mapping[str, t.Any], schema: dict | None = None
) -> list[str]:
    """Messages about a config with the values of its secret settings taken out.

    A schema error reads ``98765432109876 is not of type 'string' in config['client_secret']``:
    the value goes, the setting's name stays.
    """
    values: list[str] = []
    for name, value in config.items():
        if is_secret_setting(name, schema) and value not in (None, ""):
            values += {json.dumps(value), repr(value), str(value)}
    values = sorted({v for v in values if v and v not in {"''", '""'}}, key=len, reverse=True)
    hidden = []
    for message in messages:
        text = message
        for value in values:
            text = text.replace(value, REDACTED)
        hidden.append(redact(text))
    return hidden


def intuit_tid(response: requests.Response) -> str:
    return response.headers.get("intuit_tid") or response.headers.get("Intuit-Tid") or "-"


def not_authorized_for_company(response: requests.Response) -> bool:
    """QBO's answers to a live token used for a company it does not grant: 403
    AuthorizationFailed 003100, or the XML 401 AuthenticationFault 100 "General Authentication
    Error" (an expired token is answered 401 code 3200 instead)."""
    status = response.status_code
    if status not in {401, 403}:
        return False  # not decoded: a page's text is megabytes
    text = response.text or ""
    if status == 403:
        return "003100" in text and "scope" not in text
    if status == 401:
        return "General Authentication Error" in text or 'code="100"' in text
    return False


def fault_of(body: object) -> dict | None:
    """The Fault object of a parsed JSON body, in either casing, or None."""
    if not isinstance(body, dict):
        return None
    fault = body.get("Fault") or body.get("fault")
    return fault if isinstance(fault, dict) else None


def fault_text(fault: dict) -> str:
    errors = fault.get("Error") or fault.get("error") or []
    parts = []
    for error in errors if isinstance(errors, list) else [errors]:
        if not isinstance(error, dict):
            continue
        code = error.get("code") or "?"
        message = error.get("Message") or error.get("message") or ""
        detail = error.get("Detail") or error.get("detail") or ""
        parts.append(f"code {code}: {message}" + (f" ({detail})" if detail else ""))
    kind = fault.get("type") or "Fault"
    return f"{kind} " + "; ".join(parts) if parts else str(kind)


def describe(response: requests.Response) -> str:
    """One line on why QBO refused a request."""
    head = f"HTTP {response.status_code} from {response.request.path_url.split('?')[0]}"
    text = response.text or ""
    detail = ""
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            fault = fault_of(json.loads(text))
        except ValueError:
            detail = "a body that is not valid JSON (cut short?)"
        else:
            detail = fault_text(fault) if fault else ""
    elif text.lstrip().startswith("<"):
        detail = _xml_or_html(text)
    # One line, of a size a log can hold: QBO details can list 80 field names.
    # QBO's 401 echoes the token it refused: redacted before it can reach a log or an error.
    detail = redact(" ".join((detail or response.reason or "").split()))
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + " ..."
    return f"{head}: {detail} [intuit_tid={intuit_tid(response)}]"


def _xml_or_html(text: str) -> str:
    try:
        root = ET.fromstring(text)  # noqa: S314 - QBO's own error document, no entities
    except ET.ParseError:
        root = None
    if root is None or not any(el.tag.endswith("Fault") for el in root.iter()):
        # An HTML page from the edge (503, maintenance): its title says it all.
        title = _TITLE.search(text)
        snippet = title.group(1) if title else _TAG.sub(" ", text)
        return " ".join(snippet.split())[:200]
    fault = (
        root
        if root.tag.endswith("Fault")
        else next((el for el in root.iter() if el.tag.endswith("Fault")), root)
    )
    parts = []
    for error in (el for el in fault.iter() if el.tag.endswith("Error")):
        message = next((el.text for el in error if el.tag.endswith("Message")), "") or ""
        detail = next((el.text for el in error if el.tag.endswith("Detail")), "") or ""
        parts.append(f"code {error.get('code', '?')}: {message} ({detail})".strip())
    return f"{fault.get('type', 'Fault')} " + "; ".join(parts)
