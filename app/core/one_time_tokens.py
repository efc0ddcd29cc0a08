"""One-time tokens sent by e-mail (invitations, password resets, e-mail verification), never stored.

A token is HMAC-SHA256(server secret, a random salt) with a prefix naming its purpose: unguessable without
the secret, and derivable again by the worker that e-mails it, so neither the store nor a job payload holds
it. The store keeps the salt and SHA-256(token), which the route that takes the token back looks up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_salt() -> str:
    return secrets.token_urlsafe(24)


def token_of(secret: str, salt: str, prefix: str) -> str:
    digest = hmac.new(secret.encode(), salt.encode(), hashlib.sha256).digest()
    return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
