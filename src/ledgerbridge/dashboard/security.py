"""Sessions, CSRF tokens and credential checks for the dashboard (layer ``dashboard``; no imports).

A session is a signed cookie (HMAC-SHA256 over a small JSON payload) holding a random session id,
the session's CSRF token, whether it is logged in, and its expiry. Nothing secret is in it; the
signature only stops forgery. Logging out revokes the session id in memory until it would have
expired anyway, so a copied cookie stops working too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["LoginThrottle", "Session", "SessionCodec", "Signer", "matches_any"]


class Signer:
    """Signs and verifies short strings with HMAC-SHA256; a different ``purpose`` gives a different key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, data: bytes) -> str:
        digest = hmac.new(self._key, purpose.encode() + b"\x00" + data, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, purpose: str, payload: dict[str, object]) -> str:
        """``payload`` as base64url JSON, a dot, and its MAC."""
        data = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
        return f"{data.decode()}.{self._mac(purpose, data)}"

    def unsign(self, purpose: str, token: str) -> dict[str, object] | None:
        """The payload of a token :meth:`sign` made for ``purpose``, or ``None`` when forged or garbled."""
        data, _, mac = token.partition(".")
        if not data or not mac or not hmac.compare_digest(mac, self._mac(purpose, data.encode())):
            return None
        try:
            raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            value = json.loads(raw)
        except (binascii.Error, ValueError):
            return None
        return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True)
class Session:
    """One browser session."""

    sid: str
    csrf: str
    authenticated: bool
    expires_at: float  # POSIX seconds


class SessionCodec:
    """Creates, encodes and decodes sessions; remembers revoked ids until they expire."""

    PURPOSE = "session"

    def __init__(self, signer: Signer, ttl_s: float) -> None:
        self._signer = signer
        self._ttl_s = ttl_s
        self._revoked: dict[str, float] = {}

    def new(self, now: float, *, authenticated: bool) -> Session:
        """A fresh session with new random id and CSRF token."""
        return Session(secrets.token_urlsafe(18), secrets.token_urlsafe(24), authenticated, now + self._ttl_s)

    def encode(self, session: Session) -> str:
        """The cookie value."""
        return self._signer.sign(self.PURPOSE, {"sid": session.sid, "csrf": session.csrf,
                                                "auth": session.authenticated, "exp": session.expires_at})

    def decode(self, cookie: str | None, now: float) -> Session | None:
        """The session in a cookie, or ``None`` when absent, forged, expired or revoked."""
        if not cookie:
            return None
        value = self._signer.unsign(self.PURPOSE, cookie)
        if value is None:
            return None
        sid, csrf, auth, exp = value.get("sid"), value.get("csrf"), value.get("auth"), value.get("exp")
        if not (isinstance(sid, str) and isinstance(csrf, str) and isinstance(auth, bool)
                and isinstance(exp, int | float)):
            return None
        if exp <= now or sid in self._revoked:
            return None
        return Session(sid, csrf, auth, float(exp))

    def revoke(self, session: Session, now: float) -> None:
        """Make a session's cookie useless from now on."""
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        self._revoked[session.sid] = session.expires_at


def matches_any(given: str, secrets_: Iterable[str]) -> bool:
    """Constant-time check of ``given`` against every configured credential."""
    candidate = given.encode()
    found = False
    for secret in secrets_:
        found |= hmac.compare_digest(candidate, secret.encode())
    return found


class LoginThrottle:
    """Counts failed logins per client address; too many within the window refuses more tries."""

    def __init__(self, max_failures: int, window_s: float = 300.0) -> None:
        self._max = max_failures
        self._window_s = window_s
        self._failures: dict[str, list[float]] = {}

    def _recent(self, client: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(client, []) if now - t < self._window_s]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        return recent

    def is_blocked(self, client: str, now: float) -> bool:
        """True when ``client`` failed too often recently."""
        return len(self._recent(client, now)) >= self._max

    def failed(self, client: str, now: float) -> None:
        """Count one failed login."""
        self._failures.setdefault(client, []).append(now)

    def succeeded(self, client: str) -> None:
        """Forget a client's failures after a good login."""
        self._failures.pop(client, None)
