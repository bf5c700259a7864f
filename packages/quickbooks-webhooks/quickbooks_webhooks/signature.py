"""The ``intuit-signature`` header: base64(HMAC-SHA256(verifier token, raw body))."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


def sign(body: bytes, verifier_token: str) -> str:
    return base64.b64encode(_mac(body, verifier_token)).decode("ascii")


def verify(body: bytes, header: str | None, verifier_token: str) -> bool:
    """True only for the exact bytes Intuit signed; compared in constant time."""
    if not header:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    # compare_digest also takes constant time when the lengths differ.
    return hmac.compare_digest(given, _mac(body, verifier_token))


def _mac(body: bytes, verifier_token: str) -> bytes:
    return hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
