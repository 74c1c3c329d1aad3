from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerbridge.flows.cron import CronSchedule
from ledgerbridge.flows.transforms import (
    normalise_domain,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_tax_id,
)


@pytest.mark.parametrize(("raw", "out"), [(" John.Doe@Example.COM ", "john.doe@example.com"),
                                          ("mailto:a@b.io", "a@b.io"), ("not an email", None), (None, None)])
def test_email(raw, out):
    assert normalise_email(raw) == out


@pytest.mark.parametrize(("raw", "out"), [
    ("https://www.Acme.com/about", "acme.com"), ("acme.com", "acme.com"),
    ("sales@Acme.co.uk", "acme.co.uk"), ("localhost", None)])
def test_domain(raw, out):
    assert normalise_domain(raw) == out


@pytest.mark.parametrize(("raw", "out"), [
    ("(415) 555-0100", "+14155550100"), ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"), ("415.555.0100 x12", "+14155550100"), ("12", None)])
def test_phone_e164(raw, out):
    assert normalise_phone(raw) == out


def test_tax_id_and_name():
    assert normalise_tax_id("de 123.456-789") == "DE123456789"
    assert normalise_name("Acme Corp., Inc.") == "acme"
    assert normalise_name("Müller GmbH") == "muller"
    assert normalise_name("The Widget Company") == "widget"


@given(st.text())
def test_normalisers_are_idempotent(text):
    for fn in (normalise_email, normalise_domain, normalise_phone, normalise_tax_id, normalise_name):
        once = fn(text)
        assert fn(once) == once


def test_cron():
    c = CronSchedule.parse("*/15 9-17 * * 1-5")
    assert c.next_after(datetime(2026, 1, 2, 17, 50, tzinfo=UTC)) == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert CronSchedule.parse("@daily").matches(datetime(2026, 1, 3, 0, 0, tzinfo=UTC))
    with pytest.raises(ValueError):
        CronSchedule.parse("* * *")
