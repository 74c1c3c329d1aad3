"""Dashboard settings and the bind-address safety check (layer ``dashboard``; imports ``core``).

Settings come from init arguments, then ``LEDGERBRIDGE_DASHBOARD_*`` environment variables
(``LEDGERBRIDGE_DASHBOARD_PASSWORD``, ``LEDGERBRIDGE_DASHBOARD_ACCESS_TOKEN``, ...).
"""

from __future__ import annotations

import ipaddress

from prometheus_client import CollectorRegistry
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledgerbridge.core.errors import ConfigError

__all__ = ["LOOPBACK_HOSTS", "DashboardSettings", "is_loopback", "require_auth_for_host"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class DashboardSettings(BaseSettings):
    """How the dashboard authenticates, signs sessions and what it exports.

    Attributes:
        password: when set (or ``access_token``), every page needs a login.
        access_token: a second credential for machines: accepted by the login form and as
            ``Authorization: Bearer`` on ``/metrics`` and ``/api/...``.
        session_secret: key that signs session cookies; a random one per process when unset
            (then sessions end when the process restarts).
        session_ttl_s: how long a login lasts.
        secure_cookies: mark cookies ``Secure`` (set it behind a TLS-terminating proxy).
        allowed_hosts: accepted ``Host`` headers (protects a loopback dashboard against DNS
            rebinding); ``"*"`` accepts any.
        trusted_origins: origins (``https://ops.example.com``) whose POSTs are accepted besides the
            request's own host; needed behind a reverse proxy that rewrites the ``Host`` header.
        registry: the Prometheus registry ``/metrics`` exports (default: the global one).
        title: shown in the page header.
        max_login_failures: failed logins per client address before it is refused for a while.
    """

    model_config = SettingsConfigDict(env_prefix="LEDGERBRIDGE_DASHBOARD_", arbitrary_types_allowed=True,
                                      extra="forbid", frozen=True)

    password: SecretStr | None = None
    access_token: SecretStr | None = None
    session_secret: SecretStr | None = None
    session_ttl_s: float = Field(default=8 * 3600.0, gt=0)
    secure_cookies: bool = False
    allowed_hosts: tuple[str, ...] = (*LOOPBACK_HOSTS, "[::1]")
    trusted_origins: tuple[str, ...] = ()
    registry: CollectorRegistry | None = Field(default=None, exclude=True)
    title: str = "LedgerBridge"
    max_login_failures: int = Field(default=10, ge=1)

    @property
    def auth_required(self) -> bool:
        """True when a password or an access token is configured."""
        return bool(self.credentials())

    def credentials(self) -> tuple[str, ...]:
        """The configured secrets that open a session (never log or render these)."""
        return tuple(s.get_secret_value() for s in (self.password, self.access_token)
                     if s is not None and s.get_secret_value())


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_auth_for_host(host: str, settings: DashboardSettings) -> None:
    """Refuse to serve on a non-loopback address without a password or access token.

    Args:
        host: the address the server will bind.
        settings: the dashboard settings.

    Raises:
        ConfigError: ``host`` is reachable from other machines and no credential is set.
    """
    if is_loopback(host) or settings.auth_required:
        return
    raise ConfigError(
        f"the dashboard would listen on {host!r}, which other machines can reach, without a login; "
        "set a password (LEDGERBRIDGE_DASHBOARD_PASSWORD) or an access token "
        "(LEDGERBRIDGE_DASHBOARD_ACCESS_TOKEN), or bind 127.0.0.1")
