"""Authentication as NetSuite does it: TBA (OAuth 1.0a, HMAC-SHA256) and OAuth 2.0 client credentials.

Layer: security; imports ``config``, ``clock`` and ``errors``; uses cryptography and pyjwt.

TBA (reference §2.1, Oracle "The Signature for Web Services and RESTlets"):
signature base string = ``METHOD & enc(base URL without query) & enc(sorted params)`` where the
params are every ``oauth_*`` parameter except ``oauth_signature`` and ``realm``, plus every query
string parameter (and form fields of a form-encoded body); key = ``enc(consumer secret) &
enc(token secret)``; signature = base64(HMAC-SHA256). Only HMAC-SHA256 is accepted, the
timestamp must be within the window (default ±5 minutes), a (token, nonce, timestamp) triple is
accepted once, and the realm must be the account id. Every failure is the same 401 INVALID_LOGIN
on the wire; the Login Audit Trail reason is kept in ``AuthFailure.reason``.

OAuth 2.0 machine-to-machine (reference §2.4): ``POST /services/rest/auth/oauth2/v1/token`` with
``grant_type=client_credentials`` and a JWT ``client_assertion`` signed PS256/384/512 or
ES256/384/512 by the private key of a certificate registered under its ``kid``; ``iss`` = client
id, ``aud`` = the token endpoint, ``exp - iat <= 3600``, ``scope`` a list or comma-separated
string including ``rest_webservices``. The answer is ``{"access_token", "expires_in": 3600,
"token_type": "bearer"}``; there is no refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerbridge_sandbox.netsuite.config import NetSuiteSandboxConfig
from ledgerbridge_sandbox.netsuite.errors import AuthFailure

OAUTH2_ALGORITHMS = ("PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""JWT algorithms NetSuite accepts for client assertions."""
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"


@dataclass(frozen=True)
class Principal:
    """Who a request runs as.

    Attributes:
        kind: ``tba`` or ``oauth2``.
        integration: consumer key (TBA) or client id (OAuth 2.0) - the integration record.
    """

    kind: str
    integration: str


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as OAuth 1.0a requires (unreserved: ``A-Z a-z 0-9 - . _ ~``)."""
    return quote(value, safe="-._~")


def normalize_base_url(url: str) -> str:
    """The base string URI of a request URL: lower-case scheme and host, default port and query dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def signature_base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """The OAuth 1.0a signature base string.

    Args:
        method: HTTP method.
        url: request URL (its query, if any, is ignored: pass query parameters in ``params``).
        params: every signed parameter (oauth_* without signature and realm, query, form).

    Returns:
        ``METHOD&enc(url)&enc(normalized params)``.
    """
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join([method.upper(), percent_encode(normalize_base_url(url)), percent_encode(normalized)])


def hmac_sha256_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    """base64(HMAC-SHA256(enc(consumer secret)&enc(token secret), base string))."""
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def parse_oauth_header(value: str) -> dict[str, str]:
    """Parse ``Authorization: OAuth k="v", ...`` into decoded parameters.

    Raises:
        ValueError: not an OAuth header.
    """
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "oauth":
        raise ValueError("not an OAuth header")
    params: dict[str, str] = {}
    for part in _split_params(rest):
        key, sep, raw = part.strip().partition("=")
        if not sep:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1]
        params[unquote(key.strip())] = unquote(raw)
    return params


def _split_params(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    return parts


class TBAVerifier:
    """Checks OAuth 1.0a TBA headers against the configured integration and token."""

    def __init__(self, config: NetSuiteSandboxConfig) -> None:
        self.config = config
        self._nonces: dict[tuple[str, str, str], float] = {}
        # (expiry, key) in expiry order, so pruning costs only the entries that expired.
        self._expiries: list[tuple[float, tuple[str, str, str]]] = []
        self._lock = threading.Lock()

    def verify(
        self, method: str, urls: list[str], header: str, extra_params: list[tuple[str, str]]
    ) -> Principal:
        """Verify a request signed with TBA.

        Args:
            method: HTTP method.
            urls: candidate request URLs (as the client may have signed them), with query.
            header: the ``Authorization`` value.
            extra_params: form fields of a form-encoded body.

        Returns:
            The principal.

        Raises:
            AuthFailure: any check fails (the reason names the Login Audit Trail entry).
        """
        try:
            oauth = parse_oauth_header(header)
        except ValueError:
            raise AuthFailure("MissingAuthorization") from None
        cfg = self.config
        if oauth.get("oauth_signature_method", "") != "HMAC-SHA256":
            raise AuthFailure("UnknownAlgorithm")
        if oauth.get("oauth_version", "1.0") != "1.0":
            raise AuthFailure("VersionRejected")
        for required in (
            "oauth_consumer_key",
            "oauth_token",
            "oauth_nonce",
            "oauth_timestamp",
            "oauth_signature",
        ):
            if not oauth.get(required):
                raise AuthFailure("parameter_rejected")
        if not hmac.compare_digest(oauth["oauth_consumer_key"], cfg.consumer_key):
            raise AuthFailure("consumer_key_unknown")
        if not hmac.compare_digest(oauth["oauth_token"], cfg.token_id):
            raise AuthFailure("token_rejected")
        if oauth.get("realm", "").upper() != cfg.realm:
            raise AuthFailure("InvalidRealm")
        if len(oauth["oauth_nonce"]) < cfg.nonce_min_length or len(oauth["oauth_nonce"]) > 64:
            raise AuthFailure("nonce_rejected")
        try:
            stamp = int(oauth["oauth_timestamp"])
        except ValueError:
            raise AuthFailure("InvalidTimestamp") from None
        now = cfg.clock.now().timestamp()
        if abs(now - stamp) > cfg.timestamp_window_s:
            raise AuthFailure("InvalidTimestamp")
        signed = [(k, v) for k, v in oauth.items() if k.startswith("oauth_") and k != "oauth_signature"]
        valid = False
        for url in urls:
            query = [(k, v) for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
            base = signature_base_string(method, url, signed + query + extra_params)
            expected = hmac_sha256_signature(base, cfg.consumer_secret, cfg.token_secret)
            if hmac.compare_digest(expected, oauth["oauth_signature"]):
                valid = True
                break
        if not valid:
            raise AuthFailure("InvalidSignature")
        key = (oauth["oauth_token"], oauth["oauth_nonce"], oauth["oauth_timestamp"])
        with self._lock:
            self._prune(now)
            if key in self._nonces:
                raise AuthFailure("NonceUsed")
            expiry = stamp + 2 * cfg.timestamp_window_s
            self._nonces[key] = expiry
            heapq.heappush(self._expiries, (expiry, key))
        return Principal("tba", cfg.consumer_key)

    def _prune(self, now: float) -> None:
        """Forget nonces whose timestamps can no longer pass the window check."""
        while self._expiries and self._expiries[0][0] < now:
            _, key = heapq.heappop(self._expiries)
            if self._nonces.get(key, now) < now:
                del self._nonces[key]


@dataclass(frozen=True)
class M2MKey:
    """The sandbox's generated M2M key pair (the "certificate uploaded to the integration")."""

    private_key_file: Path
    certificate_file: Path

    def certificate_pem(self) -> str:
        """The certificate (PEM)."""
        return self.certificate_file.read_text(encoding="utf-8")


def ensure_m2m_key(directory: Path) -> M2MKey:
    """Create (or reuse) an EC P-256 private key and a self-signed certificate for OAuth 2.0 M2M.

    Args:
        directory: where ``oauth2-m2m-key.pem`` and ``oauth2-m2m-cert.pem`` are kept.

    Returns:
        The key files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "oauth2-m2m-key.pem"
    cert_file = directory / "oauth2-m2m-cert.pem"
    if key_file.exists() and cert_file.exists():
        return M2MKey(key_file, cert_file)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LedgerBridge NetSuite sandbox M2M")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return M2MKey(key_file, cert_file)


def public_key_from_pem(pem: str) -> Any:
    """The public key of a PEM certificate or public key."""
    data = pem.encode()
    if b"CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def _bearer_challenge(realm: str) -> str:
    return f'Bearer realm="{realm}", error="invalid_token", error_description="Invalid login attempt."'


class OAuth2Error(Exception):
    """A token endpoint failure (``{"error": ...}``), with the debug reason."""

    def __init__(self, error: str, reason: str, status: int = 400) -> None:
        super().__init__(f"{error}: {reason}")
        self.error = error
        self.reason = reason
        self.status = status


class OAuth2Server:
    """The client-credentials token endpoint and bearer token checks."""

    def __init__(self, config: NetSuiteSandboxConfig) -> None:
        self.config = config
        self._secret = secrets.token_bytes(32)
        self._tokens: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}

    def _key(self, kid: str) -> Any:
        pem = self.config.oauth2_certificates.get(kid)
        if pem is None:
            return None
        if kid not in self._keys:
            self._keys[kid] = public_key_from_pem(pem)
        return self._keys[kid]

    def issue(self, form: dict[str, str], audiences: set[str]) -> dict[str, Any]:
        """Handle a token request.

        Args:
            form: the form fields.
            audiences: accepted ``aud`` values (the token endpoint URLs of this account).

        Returns:
            The token response.

        Raises:
            OAuth2Error: the request or the assertion is not acceptable.
        """
        if form.get("grant_type") != "client_credentials":
            raise OAuth2Error("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER:
            raise OAuth2Error("invalid_request", "client_assertion_type must be jwt-bearer")
        assertion = form.get("client_assertion") or ""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise OAuth2Error("invalid_request", "client_assertion is not a JWT") from None
        alg = str(header.get("alg", ""))
        allowed = set(OAUTH2_ALGORITHMS) | ({"RS256"} if self.config.allow_rs256 else set())
        if alg not in allowed:
            raise OAuth2Error("invalid_grant", f"algorithm {alg} not accepted")
        key = self._key(str(header.get("kid", "")))
        if key is None:
            raise OAuth2Error("invalid_grant", "unknown certificate id (kid)")
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[alg],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            raise OAuth2Error("invalid_grant", "assertion signature does not verify") from None
        now = self.config.clock.now().timestamp()
        if claims.get("iss") != self.config.oauth2_client_id:
            raise OAuth2Error("invalid_grant", "iss is not the integration's client id")
        aud = claims.get("aud")
        aud_values = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in aud_values):
            raise OAuth2Error("invalid_grant", "aud is not the token endpoint")
        try:
            iat, exp = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise OAuth2Error("invalid_grant", "iat and exp are required") from None
        if exp - iat > 3600 or exp <= iat:
            raise OAuth2Error("invalid_grant", "exp - iat must be at most 3600 seconds")
        if exp <= now:
            raise OAuth2Error("invalid_grant", "assertion expired")
        if iat > now + 300:
            raise OAuth2Error("invalid_grant", "iat is in the future")
        scope = claims.get("scope")
        scopes = (
            scope
            if isinstance(scope, list)
            else [s.strip() for s in str(scope or "").replace(" ", ",").split(",")]
        )
        if "rest_webservices" not in scopes:
            raise OAuth2Error("invalid_scope", "scope must include rest_webservices")
        ttl = self.config.token_ttl_s
        jti = secrets.token_hex(16)
        token = jwt.encode(
            {
                "sub": f"{self.config.account_id};{self.config.oauth2_client_id}",
                "aud": [self.config.oauth2_client_id],
                "scope": [s for s in scopes if s],
                "iss": "https://system.netsuite.com",
                "iat": int(now),
                "exp": int(now + ttl),
                "jti": jti,
            },
            self._secret,
            algorithm="HS256",
            headers={"kid": "s.SYSTEM.sandbox"},
        )
        with self._lock:
            self._tokens[token] = (now + ttl, self.config.oauth2_client_id)
        return {"access_token": token, "expires_in": ttl, "token_type": "bearer"}

    def verify(self, token: str) -> Principal:
        """Check a bearer token.

        Raises:
            AuthFailure: unknown or expired token.
        """
        realm = self.config.account_id
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None:
            raise AuthFailure(
                "invalid_token",
                www_authenticate=_bearer_challenge(realm),
            )
        expiry, client = entry
        if self.config.clock.now().timestamp() >= expiry:
            raise AuthFailure(
                "token_expired",
                www_authenticate=_bearer_challenge(realm),
            )
        return Principal("oauth2", client)
