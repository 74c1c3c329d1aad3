"""Helpers for tests and benchmarks: the sandbox on a real loopback socket, in-process.

Layer: tooling; imports ``app``, ``config``, and the shared ``serve``/``tls`` helpers; signs with
oauthlib (an implementation independent of the sandbox's verifier).

Usage::

    from ledgerbridge_sandbox.netsuite.testing import NetSuiteSandbox

    with NetSuiteSandbox(seed="demo") as ns:
        with ns.client() as client:          # httpx2.Client, TBA-signed, base = .../services/rest
            client.get("/record/v1/customer?limit=5")
        ns.set_config(concurrency_limit=15)   # admin API
        ns.info["consumer_key"]               # same keys as the CLI's --json line

``TBAAuth`` is an ``httpx2.Auth`` that signs each request with OAuth 1.0a HMAC-SHA256 and the realm.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx2
import oauthlib.oauth1

from ledgerbridge_sandbox.netsuite.app import Sandbox, create_app
from ledgerbridge_sandbox.netsuite.clock import Clock
from ledgerbridge_sandbox.netsuite.config import NetSuiteSandboxConfig
from ledgerbridge_sandbox.serve import ServerThread
from ledgerbridge_sandbox.tls import client_ssl_context, ensure_tls_files


class TBAAuth(httpx2.Auth):
    """OAuth 1.0a (HMAC-SHA256, with realm) request signing, as NetSuite TBA expects.

    A fresh nonce and timestamp are used for every request; a JSON body is not signed.
    """

    def __init__(
        self,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
        *,
        clock: Clock | None = None,
    ) -> None:
        """Create the signer.

        Args:
            account_id: account id; the realm is its upper-case form.
            consumer_key: integration consumer key.
            consumer_secret: integration consumer secret.
            token_id: token id.
            token_secret: token secret.
            clock: where ``oauth_timestamp`` comes from (default: the system clock); pass the
                sandbox's ``ManualClock`` when it runs on one.
        """
        self.params = {
            "client_key": consumer_key,
            "client_secret": consumer_secret,
            "resource_owner_key": token_id,
            "resource_owner_secret": token_secret,
            "signature_method": oauthlib.oauth1.SIGNATURE_HMAC_SHA256,
            "realm": account_id.upper().replace("-", "_"),
        }
        self.clock = clock

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Sign the request."""
        stamp = str(int(self.clock.now().timestamp())) if self.clock is not None else None
        client = oauthlib.oauth1.Client(**self.params, timestamp=stamp)
        _, headers, _ = client.sign(str(request.url), request.method)
        request.headers["Authorization"] = headers["Authorization"]
        yield request

    @classmethod
    def from_info(cls, info: dict[str, Any], **kwargs: Any) -> TBAAuth:
        """A signer from the sandbox's connection details (``NetSuiteSandbox.info`` or the CLI's JSON)."""
        return cls(
            info["account_id"],
            info["consumer_key"],
            info["consumer_secret"],
            info["token_id"],
            info["token_secret"],
            **kwargs,
        )


class NetSuiteSandbox:
    """A sandbox serving on a loopback socket in a background thread (context manager)."""

    def __init__(
        self,
        config: NetSuiteSandboxConfig | None = None,
        *,
        seed: str = "empty",
        scale: int | None = None,
        tls: bool = False,
        directory: Path | None = None,
    ) -> None:
        """Prepare the sandbox (it starts on ``__enter__``).

        Args:
            config: settings (default: in memory, limit 5, no latency).
            seed: ``empty`` or ``demo``.
            scale: demo size.
            tls: serve HTTPS with a local CA (``info["ca_file"]``).
            directory: where keys and certificates go (default: a temporary directory).
        """
        self.config = config or NetSuiteSandboxConfig()
        self.seed = seed
        self.scale = scale
        self.tls = tls
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="ns-sandbox-"))
        self._server: ServerThread | None = None
        self.app: Any = None

    def __enter__(self) -> NetSuiteSandbox:
        if self.config.key_dir is None:
            self.config.key_dir = self.directory / "keys"
        tls_files = ensure_tls_files(self.directory / "tls") if self.tls else None
        self.app = create_app(self.config, seed=self.seed, scale=self.scale, info=lambda: self.info)
        self._server = ServerThread(self.app, tls=tls_files).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.sandbox.store.conn.close()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    # connection details -----------------------------------------------------------------------

    @property
    def sandbox(self) -> Sandbox:
        """The running account (records, store, SuiteQL engine, config)."""
        sandbox: Sandbox = self.app.state.sandbox
        return sandbox

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        assert self._server is not None, "the sandbox is not running"
        return self._server.url

    @property
    def rest_url(self) -> str:
        """``{url}/services/rest``."""
        return f"{self.url}/services/rest"

    @property
    def info(self) -> dict[str, Any]:
        """Connection details, with the same keys as the CLI's ``--json`` line."""
        cfg = self.config
        out: dict[str, Any] = {
            "base_url": self.url,
            "rest_url": self.rest_url,
            "account_id": cfg.account_id,
            "realm": cfg.realm,
            "consumer_key": cfg.consumer_key,
            "consumer_secret": cfg.consumer_secret,
            "token_id": cfg.token_id,
            "token_secret": cfg.token_secret,
            "oauth2_client_id": cfg.oauth2_client_id,
            "oauth2_certificate_id": cfg.oauth2_certificate_id,
            "oauth2_token_url": f"{self.rest_url}/auth/oauth2/v1/token",
            "admin_url": f"{self.url}/__sandbox__",
        }
        if self.sandbox.m2m_key is not None:
            out["oauth2_private_key_file"] = str(self.sandbox.m2m_key.private_key_file)
        if self.tls:
            out["ca_file"] = str(self.directory / "tls" / "ca.pem")
        return out

    def tba_auth(self, **kwargs: Any) -> TBAAuth:
        """A TBA signer for this sandbox's default token (on the sandbox's clock)."""
        kwargs.setdefault("clock", self.config.clock)
        return TBAAuth.from_info(self.info, **kwargs)

    def _verify(self) -> Any:
        return client_ssl_context(self.directory / "tls" / "ca.pem") if self.tls else True

    def client(self, **kwargs: Any) -> httpx2.Client:
        """An ``httpx2.Client`` on ``rest_url``, signing with TBA (pass ``auth=`` to override)."""
        kwargs.setdefault("auth", self.tba_auth())
        kwargs.setdefault("timeout", 30.0)
        return httpx2.Client(base_url=self.rest_url, verify=self._verify(), trust_env=False, **kwargs)

    def async_client(self, **kwargs: Any) -> httpx2.AsyncClient:
        """An ``httpx2.AsyncClient`` on ``rest_url``, signing with TBA."""
        kwargs.setdefault("auth", self.tba_auth())
        kwargs.setdefault("timeout", 30.0)
        return httpx2.AsyncClient(base_url=self.rest_url, verify=self._verify(), trust_env=False, **kwargs)

    # admin API --------------------------------------------------------------------------------

    def admin(self, method: str, path: str, json: Any = None) -> httpx2.Response:
        """Call the admin API (``/__sandbox__/{path}``)."""
        with httpx2.Client(
            base_url=f"{self.url}/__sandbox__", verify=self._verify(), trust_env=False, timeout=60.0
        ) as client:
            return client.request(method, "/" + path.lstrip("/"), json=json)

    def reset(self, seed: str | None = None, scale: int | None = None) -> dict[str, Any]:
        """Wipe and reseed the account."""
        body: dict[str, Any] = {}
        if seed:
            body["seed"] = seed
        if scale is not None:
            body["scale"] = scale
        result: dict[str, Any] = self.admin("POST", "reset", body).json()
        return result

    def set_config(self, **changes: Any) -> dict[str, Any]:
        """Change run-time settings (``concurrency_limit``, ``latency``, ``error_rate``, ...)."""
        response = self.admin("PUT", "config", changes)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def occupy(self, slots: int) -> None:
        """Hold ``slots`` concurrency slots, as another integration would."""
        self.admin("POST", "occupy", {"slots": slots}).raise_for_status()

    def requests(self) -> dict[str, Any]:
        """The request log (counts by method, route and status)."""
        result: dict[str, Any] = self.admin("GET", "requests").json()
        return result
