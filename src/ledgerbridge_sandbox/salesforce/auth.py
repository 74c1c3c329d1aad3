"""Authentication of the Salesforce sandbox: sessions, OAuth 2.0 grants and SOAP ``login``.

Domain layer; imports the store, the config and ``pyjwt``/``cryptography``. Answers follow
reference §1: the token endpoint's success shape (``access_token, instance_url, id, token_type,
issued_at, signature``) and its ``{"error","error_description"}`` failures; SOAP login returns
the partner API envelope simple-salesforce reads (``sessionId``, ``serverUrl``).

Access tokens look like real ones (``<15-char org id>!<opaque>``) and time out after
``token_lifetime_s`` without use, as Salesforce sessions do; each use extends them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from ledgerbridge_sandbox.salesforce.clock import Clock
from ledgerbridge_sandbox.salesforce.store import Store
from ledgerbridge_sandbox.salesforce.values import epoch_ms

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_PERSIST_EVERY_S = 60.0


@dataclass(frozen=True)
class JwtKeys:
    """The key pair whose certificate the sandbox trusts for the JWT bearer flow."""

    private_key_file: Path
    certificate_file: Path


def ensure_jwt_keys(directory: Path) -> JwtKeys:
    """Create (or reuse) an RSA key and a self-signed certificate for JWT bearer.

    Args:
        directory: where ``jwt_private_key.pem`` and ``jwt_certificate.pem`` are kept.

    Returns:
        Their paths.
    """
    directory.mkdir(parents=True, exist_ok=True)
    keys = JwtKeys(directory / "jwt_private_key.pem", directory / "jwt_certificate.pem")
    if keys.private_key_file.exists() and keys.certificate_file.exists():
        return keys
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LedgerBridge sandbox connected app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    keys.private_key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    keys.certificate_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return keys


@lru_cache(maxsize=1)
def shared_key_dir() -> Path:
    """A per-process temporary directory for keys of in-memory orgs (generated once)."""
    return Path(tempfile.mkdtemp(prefix="lb-sf-sandbox-"))


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    """The RSA public key of a PEM certificate or PEM public key file (JWT bearer is RS256 only).

    Raises:
        ValueError: the file does not hold an RSA key.
    """
    data = path.read_bytes()
    key: PublicKeyTypes
    if b"BEGIN CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path}: JWT bearer needs an RSA certificate or public key")
    return key


class OAuthError(Exception):
    """A token request failed: ``{"error": code, "error_description": description}``."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.code, "error_description": self.description}


class Sessions:
    """Issued access and refresh tokens, stored in SQLite and cached in memory.

    Args:
        store: the org's store.
        clock: the sandbox clock.
        org_id: the 18-character organisation id (its 15-char form prefixes tokens).
        lifetime_s: inactivity timeout of access tokens.
    """

    def __init__(self, store: Store, clock: Clock, org_id: str, lifetime_s: float) -> None:
        self.store = store
        self.clock = clock
        self.org_id = org_id
        self.lifetime_s = lifetime_s
        self._cache: dict[str, list[Any]] = {}  # token -> [kind, user_id, last_used, persisted_at]
        for token, kind, user_id, last_used in store.db.execute(
            "SELECT token, kind, user_id, last_used FROM sessions"
        ):
            self._cache[token] = [kind, user_id, last_used, last_used]

    def issue(self, user_id: str, kind: str = "access") -> str:
        """Create a token for a user (``kind`` is ``access`` or ``refresh``)."""
        if kind == "refresh":
            token = "5Aep" + secrets.token_urlsafe(60)
        else:
            token = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(66)}"
        now = self.clock.now().timestamp()
        self.store.db.execute(
            "INSERT INTO sessions (token, kind, user_id, issued_at, last_used) VALUES (?,?,?,?,?)",
            (token, kind, user_id, now, now),
        )
        self._cache[token] = [kind, user_id, now, now]
        return token

    def user_of(self, token: str, kind: str = "access") -> str | None:
        """The user of a valid token (and extend its session), else ``None``."""
        entry = self._cache.get(token)
        if entry is None or entry[0] != kind:
            return None
        now = self.clock.now().timestamp()
        if kind == "access" and now - entry[2] > self.lifetime_s:
            return None
        entry[2] = now
        if now - entry[3] > _PERSIST_EVERY_S:
            entry[3] = now
            self.store.db.execute("UPDATE sessions SET last_used = ? WHERE token = ?", (now, token))
        return str(entry[1])

    def revoke(self, token: str) -> bool:
        """Invalidate a token; returns whether it existed."""
        found = self._cache.pop(token, None) is not None
        self.store.db.execute("DELETE FROM sessions WHERE token = ?", (token,))
        return found

    def expire_all(self) -> int:
        """Invalidate every access token (refresh tokens stay); returns how many."""
        doomed = [t for t, e in self._cache.items() if e[0] == "access"]
        for token in doomed:
            self.revoke(token)
        return len(doomed)


def signature(client_secret: str, identity_url: str, issued_at: str) -> str:
    """Base64 HMAC-SHA256 over identity URL + issued_at, keyed with the client secret."""
    mac = hmac.new(client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def token_response(
    *,
    access_token: str,
    instance_url: str,
    org_id: str,
    user_id: str,
    client_secret: str,
    issued: datetime,
    scope: str | None = None,
) -> dict[str, Any]:
    """The token endpoint's success body, keys in the recorded order (reference §1.2)."""
    identity = f"{instance_url}/id/{org_id}/{user_id}"
    issued_at = str(epoch_ms(issued))
    body: dict[str, Any] = {
        "access_token": access_token,
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature(client_secret, identity, issued_at),
    }
    if scope:
        body["scope"] = scope
    return body


def verify_jwt(
    assertion: str, public_key: rsa.RSAPublicKey, *, client_id: str, audiences: list[str], now: datetime
) -> str:
    """Check a JWT bearer assertion; returns its subject (the username).

    Raises:
        OAuthError: with the description Salesforce gives for the failure.
    """
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if header.get("alg") != "RS256":
        raise OAuthError("invalid_grant", "invalid assertion")
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if claims.get("iss") != client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    aud = claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(str(a).rstrip("/") in audiences for a in aud_values):
        raise OAuthError("invalid_grant", "audience is invalid")
    try:
        exp = float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if exp < now.timestamp():
        raise OAuthError("invalid_grant", "expired authorization code")
    subject = claims.get("sub") or claims.get("prn")
    if not subject:
        raise OAuthError("invalid_grant", "invalid assertion")
    return str(subject)


# -- SOAP login (partner API) ------------------------------------------------------------------

_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass
class SoapLogin:
    """Fields of a SOAP ``login`` request."""

    username: str
    password: str
    organization_id: str | None


def parse_soap_login(body: bytes) -> SoapLogin | None:
    """Read username, password and an optional LoginScopeHeader organizationId; ``None`` if malformed."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    found: dict[str, str] = {}
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1]
        if local in {"username", "password", "organizationId"} and el.text is not None:
            found.setdefault(local, el.text)
        elif local in {"username", "password"}:
            found.setdefault(local, "")
    if "username" not in found or "password" not in found:
        return None
    return SoapLogin(found["username"], found["password"], found.get("organizationId"))


def soap_login_response(
    *,
    instance_url: str,
    version: str,
    org_id: str,
    org_name: str,
    session_id: str,
    user: dict[str, Any],
    lifetime_s: float,
    currency: str,
    multi_currency: bool,
) -> str:
    """The partner API ``loginResponse`` envelope."""
    server = f"{instance_url}/services/Soap/u/{version}/{org_id[:15]}"
    meta = f"{instance_url}/services/Soap/m/{version}/{org_id[:15]}"

    def e(v: Any) -> str:
        return escape(str(v))

    role = (
        f"<roleId>{e(user['UserRoleId'])}</roleId>" if user.get("UserRoleId") else '<roleId xsi:nil="true"/>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{e(meta)}</metadataServerUrl><passwordExpired>false</passwordExpired>"
        f"<sandbox>false</sandbox><serverUrl>{e(server)}</serverUrl><sessionId>{e(session_id)}</sessionId>"
        f"<userId>{e(user['Id'])}</userId><userInfo><accessibilityMode>false</accessibilityMode>"
        "<chatterExternal>false</chatterExternal><currencySymbol>$</currencySymbol>"
        "<orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit>"
        f"<orgDefaultCurrencyIsoCode>{e(currency)}</orgDefaultCurrencyIsoCode>"
        "<orgDefaultCurrencyLocale>en_US</orgDefaultCurrencyLocale>"
        "<orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments>"
        "<orgHasPersonAccounts>false</orgHasPersonAccounts>"
        f"<organizationId>{e(org_id)}</organizationId>"
        f"<organizationMultiCurrency>{str(multi_currency).lower()}</organizationMultiCurrency>"
        f"<organizationName>{e(org_name)}</organizationName>"
        f"<profileId>{e(user.get('ProfileId', ''))}</profileId>"
        f"{role}<sessionSecondsValid>{int(lifetime_s)}</sessionSecondsValid>"
        '<userDefaultCurrencyIsoCode xsi:nil="true"/>'
        f"<userEmail>{e(user.get('Email', ''))}</userEmail>"
        f"<userFullName>{e(user.get('Name', ''))}</userFullName>"
        f"<userId>{e(user['Id'])}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale>"
        f"<userName>{e(user['Username'])}</userName><userTimeZone>{e(user.get('TimeZoneSidKey', 'GMT'))}"
        "</userTimeZone><userType>Standard</userType><userUiSkin>Theme3</userUiSkin></userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def soap_fault(code: str, text: str) -> str:
    """A partner API SOAP fault (HTTP 500) such as INVALID_LOGIN."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{escape(code)}</faultcode>"
        f"<faultstring>{escape(code)}: {escape(text)}</faultstring><detail>"
        '<sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{escape(code)}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(text)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
