"""Checking the signatures of the vendor's callbacks.

Anyone can reach the host's callback route, so a plugin checks that a callback really comes
from the vendor before turning it into results. The common scheme is an HMAC-SHA256 of the
raw body under a shared secret, hex-encoded in a header::

    secret = settings.require("webhook_secret")
    signature = results.header(request, "x-quiz-signature")
    if signature is None or not webhook.verify_hmac_sha256_hex(secret, request.body, signature):
        return results.reply(results.json_response(401, {"error": "bad signature"}))

Check the raw bytes (``request.body``) before parsing: re-serialised JSON is not the same
bytes. This module needs nothing from the host, so it runs under plain CPython too.
"""

import hashlib
import hmac
import string


def sign_hmac_sha256_hex(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.new(secret.encode(), bytes(body), hashlib.sha256).hexdigest()


def verify_hmac_sha256_hex(secret: str, body: bytes, signature_hex: str) -> bool:
    """Whether ``signature_hex`` is the HMAC-SHA256 of ``body`` under ``secret``, hex in
    either case, optionally prefixed ``sha256=``. Compared in constant time, so a caller
    cannot learn the right signature byte by byte from response times."""
    signature = signature_hex.strip()
    if signature.startswith("sha256="):
        signature = signature[len("sha256="):]
    if not signature or len(signature) % 2 or any(c not in string.hexdigits for c in signature):
        return False
    given = bytes.fromhex(signature)
    expected = hmac.new(secret.encode(), bytes(body), hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)
