"""Local certificate authority for serving the sandboxes over HTTPS.

Real Salesforce is HTTPS only and real clients (simple-salesforce among them) rewrite any
instance URL to ``https://``. With ``--tls`` a sandbox creates a CA and a server certificate for
127.0.0.1 and localhost, keeps them next to its data, and reports the CA bundle's path.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files a TLS sandbox uses."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def ensure_tls_files(directory: Path) -> TLSFiles:
    """Create (or reuse) a CA and a server certificate for 127.0.0.1 and localhost.

    Args:
        directory: where the PEM files are kept; created when missing.

    Returns:
        The paths of the CA bundle, the server certificate chain and its key.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    if files.ca_file.exists() and files.cert_file.exists() and files.key_file.exists():
        return files
    ca = trustme.CA(organization_name="LedgerBridge sandbox CA")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca.cert_pem.write_to_path(str(files.ca_file))
    cert.private_key_pem.write_to_path(str(files.key_file))
    with files.cert_file.open("wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    return files


def client_ssl_context(ca_file: Path) -> ssl.SSLContext:
    """An SSL context that trusts only the sandbox CA (for tests and tools)."""
    return ssl.create_default_context(cafile=str(ca_file))
