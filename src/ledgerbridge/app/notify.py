"""Notifications: email over SMTP and Slack-compatible incoming webhooks (layer ``app``).

Both raise :class:`NotificationFailed` with a message that names what went wrong without any
secret (no password, no webhook URL - the URL embeds a token).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

import httpx2

from ledgerbridge.core.errors import ErrorKind, LedgerBridgeError
from ledgerbridge.flows.config import OnboardingEmailSpec, OnboardingWebhookSpec

__all__ = ["NotificationFailed", "post_webhook", "send_email"]


class NotificationFailed(LedgerBridgeError):
    """An email or webhook notification could not be delivered (it is retried on the next pass)."""

    kind = ErrorKind.TRANSIENT


def _tls_context(spec: OnboardingEmailSpec) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=spec.ca_file) if spec.ca_file else ssl.create_default_context()


def _send_blocking(spec: OnboardingEmailSpec, message: EmailMessage) -> None:
    smtp: smtplib.SMTP
    if spec.tls == "ssl":
        smtp = smtplib.SMTP_SSL(spec.host, spec.port, timeout=spec.timeout_s, context=_tls_context(spec))
    else:
        smtp = smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout_s)
    with smtp:
        if spec.tls == "starttls":
            smtp.starttls(context=_tls_context(spec))
        if spec.username:
            password = spec.password.get_secret_value() if spec.password is not None else ""
            smtp.login(spec.username, password)
        smtp.send_message(message)


async def send_email(spec: OnboardingEmailSpec, subject: str, body: str, *, message_id: str) -> None:
    """Send one plain-text email to ``spec.to``.

    Args:
        spec: the SMTP settings.
        subject: the subject line.
        body: the text.
        message_id: a stable ``Message-ID`` (``<...@...>``) so receivers can spot a repeat.

    Raises:
        NotificationFailed: connection, TLS, authentication or refusal.
    """
    message = EmailMessage()
    message["From"] = spec.sender
    message["To"] = ", ".join(spec.to)
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(body)
    try:
        await asyncio.to_thread(_send_blocking, spec, message)
    except smtplib.SMTPAuthenticationError as exc:
        where = f"SMTP {spec.host}:{spec.port}"
        raise NotificationFailed(f"{where} refused the login ({exc.smtp_code})") from None
    except smtplib.SMTPException as exc:
        raise NotificationFailed(f"SMTP {spec.host}:{spec.port} failed: {type(exc).__name__}") from None
    except (OSError, ssl.SSLError) as exc:
        raise NotificationFailed(
            f"SMTP {spec.host}:{spec.port} unreachable: {exc.strerror or type(exc).__name__}") from None


async def post_webhook(spec: OnboardingWebhookSpec, text: str, *,
                       transport: httpx2.AsyncBaseTransport | None = None) -> None:
    """POST ``{"text": text}`` to the incoming webhook.

    Raises:
        NotificationFailed: unreachable, or an answer other than 2xx.
    """
    assert spec.url is not None  # required by the model
    try:
        async with httpx2.AsyncClient(timeout=spec.timeout_s, transport=transport, trust_env=False) as http:
            response = await http.post(spec.url.get_secret_value(), json={"text": text})
    except httpx2.HTTPError as exc:
        raise NotificationFailed(f"webhook unreachable: {type(exc).__name__}") from None
    if response.status_code >= 300:
        raise NotificationFailed(f"webhook answered HTTP {response.status_code}")
