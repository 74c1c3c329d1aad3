"""Ids (checksum, prefixes) and value formats of the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgerbridge_sandbox.salesforce import ids
from ledgerbridge_sandbox.salesforce.values import canonical_datetime, format_datetime, parse_datetime


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001M000000qfPyS", "001M000000qfPySIAU"),
        ("a01M00000062mPg", "a01M00000062mPgIAI"),
        ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
        ("aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"),
        ("aBcDEfgHIJKLMNO", "aBcDEfgHIJKLMNO025"),
    ],
)
def test_checksum_matches_published_vectors(id15: str, id18: str) -> None:
    assert ids.to18(id15) == id18
    assert ids.normalize(id15) == id18
    assert ids.normalize(id18) == id18


def test_normalize_rejects_bad_suffix_and_non_ids() -> None:
    assert ids.normalize("001M000000qfPySAAA") is None
    assert ids.normalize("123") is None
    assert ids.normalize("not an id at all") is None


def test_made_ids_carry_prefix_and_valid_checksum() -> None:
    rid = ids.make_id("001", 12345)
    assert len(rid) == 18 and rid.startswith("001")
    assert ids.normalize(rid[:15]) == rid


def test_datetimes_use_salesforce_output_format() -> None:
    assert format_datetime(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000+0000"
    assert canonical_datetime("2024-01-01T02:00:00+02:00") == "2024-01-01T00:00:00.000+0000"
    assert canonical_datetime("2024-01-01T00:00:00.123Z") == "2024-01-01T00:00:00.123+0000"
    assert canonical_datetime("2024-01-01T00:00:00.000+0000") == "2024-01-01T00:00:00.000+0000"
    assert parse_datetime("2024-13-01T00:00:00Z") is None
