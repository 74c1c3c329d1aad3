"""Onboarding settings and notifications: validation, and failures reported without secrets."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from pydantic import ValidationError

from ledgerbridge.app.notify import NotificationFailed, post_webhook
from ledgerbridge.flows.config import OnboardingSpec, OnboardingWebhookSpec

SECRET_URL = "https://hooks.example.com/services/T000/B000/secret-token"


def test_onboarding_spec_defaults_and_strictness():
    spec = OnboardingSpec.model_validate({"invoice": {"item": "7", "amount": 250}})
    assert spec.link == "accounts" and spec.task is not None and spec.email is None
    with pytest.raises(ValidationError):
        OnboardingSpec.model_validate({"invoices": {}})
    with pytest.raises(ValidationError):
        OnboardingWebhookSpec.model_validate({})
    with pytest.raises(ValidationError):
        OnboardingWebhookSpec.model_validate({"url": "ftp://x"})


def test_webhook_posts_text_and_failures_hide_the_url():
    seen: list[bytes] = []

    def ok(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.content)
        return httpx2.Response(200)

    spec = OnboardingWebhookSpec.model_validate({"url": SECRET_URL})
    asyncio.run(post_webhook(spec, "hello", transport=httpx2.MockTransport(ok)))
    assert seen == [b'{"text":"hello"}'] or seen == [b'{"text": "hello"}']
    with pytest.raises(NotificationFailed) as info:
        failing = httpx2.MockTransport(lambda r: httpx2.Response(500))
        asyncio.run(post_webhook(spec, "hello", transport=failing))
    assert "500" in str(info.value) and "secret-token" not in str(info.value)
    assert "secret-token" not in repr(spec)
