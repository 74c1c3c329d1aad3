"""``find`` on a boolean field: ``"true"``/``"false"`` become SOQL booleans (a quoted literal would not
compare); other fields keep string literals, and look-ups that are not true/false cost no describe."""

from __future__ import annotations

import pytest
from sf_contract_support import request_counts

from ledgerbridge.core.records import Write

pytestmark = pytest.mark.anyio


async def test_find_by_a_boolean_field_renders_soql_booleans(connect) -> None:
    conn = connect()
    [custom] = await conn.upsert("Pricebook2", [Write({"Name": "Partner", "IsActive": True})])
    assert custom.ok
    standard = await conn.find("Pricebook2", "IsStandard", ["true"], fields=["Id", "Name", "IsStandard"])
    assert [r.fields["Name"] for r in standard] == ["Standard Price Book"]
    assert standard[0].fields["IsStandard"] is True
    others = await conn.find("Pricebook2", "IsStandard", ["FALSE"], fields=["Id", "Name"])
    assert [r.id for r in others] == [custom.id]
    both = await conn.find("Pricebook2", "IsActive", ["true", "false"], fields=["Id"])
    assert len(both) == 2


async def test_true_on_a_text_field_stays_a_string(connect) -> None:
    conn = connect()
    await conn.upsert("Account", [Write({"Name": "true"}), Write({"Name": "Other"})])
    found = await conn.find("Account", "Name", ["true"], fields=["Name"])
    assert [r.fields["Name"] for r in found] == ["true"]


async def test_other_look_ups_make_no_describe_call(connect, admin) -> None:
    conn = connect()
    await conn.find("Account", "Name", ["Other"], fields=["Name"])
    routes = [route for (_, route, _) in await request_counts(admin)]
    assert routes and not any("describe" in route for route in routes), routes
