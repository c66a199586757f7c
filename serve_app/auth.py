"""Optional bearer-token authentication of the forecast API. No Ray here.

The token is a secret shared with the callers (``Authorization: Bearer <token>``). It comes from
a file (``energy serve --token-file``, ``serve.yaml`` ``args.token_file``: e.g. a mounted
Kubernetes secret) or from an environment variable of the replicas (``ENERGY_SERVE_TOKEN`` by
default); it never travels in the deployment's ``user_config`` (``serve status`` shows that).
Replicas keep only its SHA-256 and compare in constant time.

Without a token the API is open, which is only allowed on a loopback address:
:func:`require_token_off_loopback` is the check ``energy serve`` and the replicas run.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TOKEN_ENV = "ENERGY_SERVE_TOKEN"
MIN_TOKEN_CHARS = 16
# paths answered without a token: probes (load balancers, Kubernetes) and the API description
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/openapi.json"})


class AuthConfigError(ValueError):
    """The token settings cannot be used (missing file, too short a token, open on a network)."""


@dataclass(frozen=True)
class TokenAuth:
    """Checks ``Authorization`` headers against one token (kept as its SHA-256 digest)."""

    digest: bytes

    @classmethod
    def from_token(cls, token: str) -> TokenAuth:
        token = token.strip()
        if len(token) < MIN_TOKEN_CHARS:
            raise AuthConfigError(
                f"token: at least {MIN_TOKEN_CHARS} characters are needed, got {len(token)} "
                "(generate one with `python -c 'import secrets; print(secrets.token_urlsafe())'`)"
            )
        return cls(hashlib.sha256(token.encode()).digest())

    def allows(self, authorization: str | None) -> bool:
        """True when ``authorization`` (the header's value) is ``Bearer <the token>``."""
        if not authorization:
            return False
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), self.digest)


def load_token(token_file: str | None, token_env: str = DEFAULT_TOKEN_ENV) -> TokenAuth | None:
    """The configured token: from ``token_file`` when given (it must exist), else from the
    environment variable ``token_env`` when set, else None (no authentication).

    Raises:
        AuthConfigError: the file is missing or unreadable, or the token is too short.
    """
    if token_file:
        try:
            text = Path(token_file).read_text()
        except OSError as e:
            raise AuthConfigError(
                f"token_file: cannot read {token_file!r} ({e.strerror})"
            ) from None
        return TokenAuth.from_token(text)
    value = os.environ.get(token_env, "") if token_env else ""
    return TokenAuth.from_token(value) if value.strip() else None


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``127.0.0.0/8``, ``::1``, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def require_token_off_loopback(host: str, auth: TokenAuth | None) -> None:
    """Refuse to serve without a token on an address other machines can reach.

    Raises:
        AuthConfigError: ``host`` is not a loopback address and ``auth`` is None.
    """
    if auth is None and not is_loopback(host):
        raise AuthConfigError(
            f"host {host!r} is reachable from other machines: give a token (--token-file FILE, "
            f"or {DEFAULT_TOKEN_ENV}) or listen on 127.0.0.1"
        )
