"""QBO's error envelopes, read into one plain sentence.

QBO answers errors in several shapes: ``{"Fault": {"Error": [...]}}`` (JSON, even inside a 200),
the lower-case ``{"fault": {"error": [...]}}`` of a 401, XML ``<Fault>`` for throttling and
gateway errors, and HTML pages from the edge. The sentence names QBO's message, detail, error
code and ``intuit_tid`` (what Intuit support asks for); never a token or a request header.
"""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

import requests

MAX_DETAIL = 600
_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def intuit_tid(response: requests.Response) -> str:
    return response.headers.get("intuit_tid") or response.headers.get("Intuit-Tid") or "-"


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
    detail = " ".join((detail or response.reason or "").split())
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
