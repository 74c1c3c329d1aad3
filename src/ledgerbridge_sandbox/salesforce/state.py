"""Everything one running Salesforce sandbox holds: the org, sessions, queries, jobs, logs.

Composition layer of the sandbox; imports the domain modules, never HTTP. ``SandboxState`` is
what ``create_app`` builds and what tests and the admin API operate on. It is not thread-safe:
use it from the server's event loop (``SalesforceSandbox.call`` runs a function there).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ledgerbridge_sandbox.salesforce.auth import (
    JwtKeys,
    Sessions,
    ensure_jwt_keys,
    load_public_key,
    shared_key_dir,
)
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.governance import RequestLog
from ledgerbridge_sandbox.salesforce.org import Org
from ledgerbridge_sandbox.salesforce.seed import seed_org
from ledgerbridge_sandbox.salesforce.soql.service import QueryService


class SandboxState:
    """One sandbox org and its runtime parts.

    Args:
        config: the settings; the org is seeded with ``config.seed`` when its store is new.
    """

    def __init__(self, config: SalesforceSandboxConfig | None = None) -> None:
        self.config = config or SalesforceSandboxConfig()
        self.org = Org(self.config)
        self.schema_loaded = self.config.clock.now()
        if not self.org.is_seeded():
            seed_org(self.org, self.config.seed, self.config.scale, self.config.seed_number)
        self.sessions = Sessions(
            self.org.store, self.config.clock, self.org.org_id, self.config.token_lifetime_s
        )
        self.queries = QueryService(self.org)
        self.requests = RequestLog()
        self.key_dir = self._key_dir()
        self.jwt_keys: JwtKeys = ensure_jwt_keys(self.key_dir)
        cert = self.config.jwt_certificate_file or self.jwt_keys.certificate_file
        self.jwt_public_key = load_public_key(Path(cert))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.public_url: str | None = None
        from ledgerbridge_sandbox.salesforce.bulk import BulkJobs

        self.bulk = BulkJobs(self)

    def _key_dir(self) -> Path:
        if self.config.key_dir is not None:
            return Path(self.config.key_dir)
        if self.config.data != ":memory:":
            data = Path(self.config.data)
            return data.parent / (data.stem + "-keys")
        return shared_key_dir()

    @property
    def org_id(self) -> str:
        """The organisation id."""
        return self.org.org_id

    def reset(self, seed: str | None = None, scale: int | None = None) -> None:
        """Wipe the org and load a seed (``None`` = the configured one); sessions stay valid."""
        self.config.seed = seed or self.config.seed
        self.config.scale = scale
        seed_org(self.org, self.config.seed, scale, self.config.seed_number)
        self.queries.clear()
        self.bulk.clear()

    def default_token(self) -> str:
        """A valid access token for the integration user, kept across restarts of a file-backed org."""
        store = self.org.store
        token = store.get_meta("preissued_token")
        if token is None or self.sessions.user_of(token) is None:
            token = self.sessions.issue(self.org.user_id)
            store.set_meta("preissued_token", token)
        return token

    def default_refresh_token(self) -> str:
        """A refresh token for the integration user (as a web-server flow would have issued)."""
        store = self.org.store
        token = store.get_meta("preissued_refresh_token")
        if token is None or self.sessions.user_of(token, "refresh") is None:
            token = self.sessions.issue(self.org.user_id, "refresh")
            store.set_meta("preissued_refresh_token", token)
        return token

    def info(self, base_url: str, ca_file: Path | None = None) -> dict[str, Any]:
        """The JSON line printed on start: URLs, credentials and files for every auth mode."""
        cfg = self.config
        out: dict[str, Any] = {
            "instance_url": base_url,
            "login_url": base_url,
            "api_version": cfg.api_version,
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "username": cfg.username,
            "password": cfg.password,
            "security_token": cfg.security_token,
            "access_token": self.default_token(),
            "refresh_token": self.default_refresh_token(),
            "org_id": self.org_id,
            "user_id": self.org.user_id,
            "jwt_private_key_file": str(self.jwt_keys.private_key_file),
            "jwt_certificate_file": str(cfg.jwt_certificate_file or self.jwt_keys.certificate_file),
            "admin_url": f"{base_url}/__sandbox__",
        }
        if ca_file is not None:
            out["ca_file"] = str(ca_file)
        return out
