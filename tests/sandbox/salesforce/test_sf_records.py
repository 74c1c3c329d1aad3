"""sObject rows: create/retrieve/update/delete, upsert, replication, derived fields (reference §3, §8)."""

from __future__ import annotations

import pytest
from salesforce_sandbox_support import BASE, Api

pytestmark = pytest.mark.anyio


async def test_create_returns_201_with_location_and_record_has_system_fields(api: Api) -> None:
    r = await api.post("/sobjects/Account/", json={"Name": "xyzzy", "AccountNumber": "420"})
    assert r.status_code == 201
    body = r.json()
    assert body == {"id": body["id"], "success": True, "errors": []}
    assert body["id"].startswith("001") and len(body["id"]) == 18
    assert r.headers["location"] == f"{BASE}/sobjects/Account/{body['id']}"
    rec = (await api.get(f"/sobjects/account/{body['id']}")).json()
    assert next(iter(rec)) == "attributes"
    assert rec["attributes"] == {"type": "Account", "url": f"{BASE}/sobjects/Account/{body['id']}"}
    assert (
        rec["CreatedDate"]
        == rec["LastModifiedDate"]
        == rec["SystemModstamp"]
        == "2024-06-03T09:00:00.000+0000"
    )
    assert rec["CreatedById"] == rec["OwnerId"] == api.state.org.user_id
    assert rec["IsDeleted"] is False and rec["Phone"] is None and rec["Credit_Hold__c"] is False
    assert rec["BillingAddress"] is None


async def test_retrieve_with_fields_and_compound_address(api: Api) -> None:
    rid = await api.create("Account", {"Name": "A", "BillingCity": "Austin", "BillingCountry": "US"})
    rec = (await api.get(f"/sobjects/Account/{rid}", params={"fields": "Name,BillingAddress"})).json()
    assert list(rec) == ["attributes", "Name", "BillingAddress"]
    assert rec["BillingAddress"] == {
        "city": "Austin",
        "country": "US",
        "geocodeAccuracy": None,
        "latitude": None,
        "longitude": None,
        "postalCode": None,
        "state": None,
        "street": None,
    }


async def test_update_204_changes_last_modified_and_null_clears(api: Api) -> None:
    rid = await api.create("Account", {"Name": "A", "Phone": "1"})
    api.state.config.clock.advance(60)
    r = await api.patch(f"/sobjects/Account/{rid}", json={"Phone": None, "Website": "https://a.example"})
    assert r.status_code == 204 and r.content == b""
    rec = (await api.get(f"/sobjects/Account/{rid}")).json()
    assert rec["Phone"] is None and rec["Website"] == "https://a.example"
    assert rec["LastModifiedDate"] == "2024-06-03T09:01:00.000+0000"
    assert rec["CreatedDate"] == "2024-06-03T09:00:00.000+0000"


async def test_delete_goes_to_recycle_bin_visible_to_query_all(api: Api) -> None:
    rid = await api.create("Account", {"Name": "Gone"})
    assert (await api.delete(f"/sobjects/Account/{rid}")).status_code == 204
    assert (await api.get(f"/sobjects/Account/{rid}")).status_code == 404
    q = "SELECT Id, IsDeleted FROM Account WHERE Name = 'Gone'"
    assert (await api.query(q))["totalSize"] == 0
    rows = (await api.get("/queryAll", params={"q": q})).json()["records"]
    assert rows[0]["IsDeleted"] is True


async def test_fifteen_char_ids_are_accepted(api: Api) -> None:
    rid = await api.create("Account", {"Name": "Short"})
    assert (await api.get(f"/sobjects/Account/{rid[:15]}")).json()["Id"] == rid


async def test_upsert_created_updated_and_multiple(api: Api) -> None:
    r = await api.patch("/sobjects/Account/NetSuite_Id__c/NS-1", json={"Name": "Up"})
    assert r.status_code == 201
    assert r.json() == {"id": r.json()["id"], "success": True, "errors": [], "created": True}
    rid = r.json()["id"]
    r = await api.patch("/sobjects/Account/NetSuite_Id__c/ns-1", json={"Phone": "9"})
    assert r.status_code == 200 and r.json() == {"id": rid, "success": True, "errors": [], "created": False}
    rec = (await api.get("/sobjects/Account/NetSuite_Id__c/NS-1")).json()
    assert rec["Id"] == rid and rec["Phone"] == "9"
    # Email on Contact is an idLookup field that is not unique: two matches -> 300
    await api.create("Contact", {"LastName": "A", "Email": "dup@example.com"})
    api.state.config.duplicate_rules = False
    await api.create("Contact", {"LastName": "B", "Email": "dup@example.com"})
    r = await api.patch("/sobjects/Contact/Email/dup@example.com", json={"Title": "x"})
    assert r.status_code == 300
    assert all(u.startswith(f"{BASE}/sobjects/Contact/003") for u in r.json()) and len(r.json()) == 2


async def test_relationship_by_external_id_in_body(api: Api) -> None:
    await api.patch("/sobjects/Account/NetSuite_Id__c/77", json={"Name": "Parent"})
    cid = await api.create("Contact", {"LastName": "Kid", "Account": {"NetSuite_Id__c": "77"}})
    rows = (await api.query(f"SELECT Account.Name FROM Contact WHERE Id = '{cid}'"))["records"]
    assert rows[0]["Account"]["Name"] == "Parent"


async def test_get_updated_and_deleted(api: Api) -> None:
    clock = api.state.config.clock
    a = await api.create("Account", {"Name": "One"})
    clock.advance(120)
    b = await api.create("Account", {"Name": "Two"})
    clock.advance(120)
    await api.delete(f"/sobjects/Account/{a}")
    clock.advance(120)
    r = (
        await api.get(
            "/sobjects/Account/updated/",
            params={"start": "2024-06-03T09:01:00+00:00", "end": "2024-06-03T09:05:00+00:00"},
        )
    ).json()
    assert r == {"ids": [b], "latestDateCovered": "2024-06-03T09:05:00.000+0000"}
    r = (
        await api.get(
            "/sobjects/Account/deleted/",
            params={"start": "2024-06-03T09:00:00Z", "end": "2024-06-03T09:06:00Z"},
        )
    ).json()
    assert r["deletedRecords"] == [{"id": a, "deletedDate": "2024-06-03T09:04:00.000+0000"}]
    assert set(r) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}


async def test_opportunity_stage_drives_probability_and_flags(api: Api) -> None:
    oid = await api.create(
        "Opportunity",
        {"Name": "Deal", "StageName": "Negotiation/Review", "CloseDate": "2024-07-01", "Amount": 1000},
    )
    rec = (await api.get(f"/sobjects/Opportunity/{oid}")).json()
    assert (rec["Probability"], rec["IsClosed"], rec["IsWon"], rec["ForecastCategoryName"]) == (
        90.0,
        False,
        False,
        "Pipeline",
    )
    assert rec["ExpectedRevenue"] == 900.0 and rec["FiscalQuarter"] == 3 and rec["FiscalYear"] == 2024
    await api.patch(f"/sobjects/Opportunity/{oid}", json={"StageName": "Closed Won"})
    rec = (await api.get(f"/sobjects/Opportunity/{oid}")).json()
    assert (
        rec["Probability"],
        rec["IsClosed"],
        rec["IsWon"],
        rec["ForecastCategoryName"],
        rec["ForecastCategory"],
    ) == (100.0, True, True, "Closed", "Closed")
    await api.patch(f"/sobjects/Opportunity/{oid}", json={"StageName": "Closed Lost"})
    rec = (await api.get(f"/sobjects/Opportunity/{oid}")).json()
    assert (rec["Probability"], rec["IsWon"], rec["ForecastCategoryName"]) == (0.0, False, "Omitted")


async def _product_with_prices(api: Api) -> tuple[str, str, str, str]:
    std = api.state.org.standard_pricebook_id
    prod = await api.create("Product2", {"Name": "Widget", "ProductCode": "W-1", "IsActive": True})
    std_pbe = await api.create(
        "PricebookEntry", {"Pricebook2Id": std, "Product2Id": prod, "UnitPrice": 100, "IsActive": True}
    )
    partner = await api.create("Pricebook2", {"Name": "Partner", "IsActive": True})
    partner_pbe = await api.create(
        "PricebookEntry", {"Pricebook2Id": partner, "Product2Id": prod, "UnitPrice": 80, "IsActive": True}
    )
    return prod, std_pbe, partner, partner_pbe


async def test_line_items_price_from_entry_and_roll_up_amount(api: Api) -> None:
    _, std_pbe, _, _ = await _product_with_prices(api)
    oid = await api.create(
        "Opportunity", {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-07-01"}
    )
    line = await api.create(
        "OpportunityLineItem",
        {"OpportunityId": oid, "PricebookEntryId": std_pbe, "Quantity": 3, "UnitPrice": 90, "Discount": 10},
    )
    rec = (await api.get(f"/sobjects/OpportunityLineItem/{line}")).json()
    assert (rec["ListPrice"], rec["Subtotal"], rec["TotalPrice"], rec["ProductCode"]) == (
        100.0,
        270.0,
        243.0,
        "W-1",
    )
    opp = (await api.get(f"/sobjects/Opportunity/{oid}")).json()
    assert opp["Amount"] == 243.0 and opp["HasOpportunityLineItem"] is True
    assert opp["Pricebook2Id"] == api.state.org.standard_pricebook_id
    await api.create(
        "OpportunityLineItem",
        {"OpportunityId": oid, "PricebookEntryId": std_pbe, "Quantity": 1, "TotalPrice": 50},
    )
    assert (await api.get(f"/sobjects/Opportunity/{oid}")).json()["Amount"] == 293.0
    await api.delete(f"/sobjects/OpportunityLineItem/{line}")
    assert (await api.get(f"/sobjects/Opportunity/{oid}")).json()["Amount"] == 50.0
    rows = await api.query(
        f"SELECT Id, (SELECT Quantity FROM OpportunityLineItems) FROM Opportunity WHERE Id = '{oid}'"
    )
    assert rows["records"][0]["OpportunityLineItems"]["totalSize"] == 1


async def test_lead_conversion_creates_account_contact_and_opportunity(api: Api) -> None:
    lead = await api.create(
        "Lead",
        {
            "FirstName": "Ada",
            "LastName": "Byron",
            "Company": "Engines Ltd",
            "Email": "ada@engines.example",
            "Lead_Score__c": 88,
        },
    )
    r = await api.client.post(f"/__sandbox__/leads/{lead}/convert", json={})
    assert r.status_code == 200, r.text
    out = r.json()
    rec = (await api.get(f"/sobjects/Lead/{lead}")).json()
    assert rec["IsConverted"] is True and rec["Status"] == "Closed - Converted"
    assert (rec["ConvertedAccountId"], rec["ConvertedContactId"], rec["ConvertedOpportunityId"]) == (
        out["accountId"],
        out["contactId"],
        out["opportunityId"],
    )
    contact = (await api.get(f"/sobjects/Contact/{out['contactId']}")).json()
    assert contact["AccountId"] == out["accountId"] and contact["Lead_Score__c"] == 88.0
    events = (await api.client.get("/__sandbox__/changes", params={"after": 0})).json()["events"]
    keys = {e["payload"]["ChangeEventHeader"]["transactionKey"] for e in events[-4:]}
    assert len(keys) == 1  # one transaction, several events
    assert [e["payload"]["ChangeEventHeader"]["sequenceNumber"] for e in events[-4:]] == [1, 2, 3, 4]


async def test_change_events_carry_origin_and_changed_fields(api: Api) -> None:
    rid = await api.create("Account", {"Name": "Evt", "BillingCity": "Austin"})
    await api.patch(
        f"/sobjects/Account/{rid}",
        json={"BillingState": "TX", "Phone": "1"},
        headers={"Sforce-Call-Options": "client=ledgerbridge-sync"},
    )
    events = (await api.client.get("/__sandbox__/changes", params={"after": 0, "entity": "account"})).json()
    create, update = events["events"][-2:]
    assert create["channel"] == "/data/AccountChangeEvent"
    head = update["payload"]["ChangeEventHeader"]
    assert head["changeType"] == "UPDATE" and head["recordIds"] == [rid]
    assert head["changeOrigin"] == "com/salesforce/api/rest/62.0;client=ledgerbridge-sync"
    assert set(head["changedFields"]) == {
        "BillingAddress.State",
        "Phone",
        "LastModifiedDate",
        "LastModifiedById",
    }
    assert update["payload"]["BillingAddress"] == {"State": "TX"}
    assert update["replayId"] > create["replayId"]
    assert create["payload"]["ChangeEventHeader"]["changeOrigin"] == "com/salesforce/api/rest/62.0"


async def test_change_events_expire_after_72_hours(api: Api) -> None:
    await api.create("Account", {"Name": "Old"})
    log = api.state.org.changes
    assert log.read_after(0)
    api.state.config.clock.advance(72 * 3600 + 1)
    assert log.read_after(0) == []
    assert log.latest_replay_id() >= 1


async def test_conditional_requests_on_records(api: Api) -> None:
    rid = await api.create("Account", {"Name": "Cond"})
    first = await api.get(f"/sobjects/Account/{rid}")
    etag = first.headers["etag"]
    assert (await api.get(f"/sobjects/Account/{rid}", headers={"If-None-Match": etag})).status_code == 304
    api.state.config.clock.advance(60)
    assert (
        await api.patch(f"/sobjects/Account/{rid}", json={"Phone": "1"}, headers={"If-Match": etag})
    ).status_code == 204
    stale = await api.patch(f"/sobjects/Account/{rid}", json={"Phone": "2"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()[0]["errorCode"] == "PRECONDITION_FAILED"
    old = "Mon, 03 Jun 2024 09:00:30 GMT"
    assert (
        await api.delete(f"/sobjects/Account/{rid}", headers={"If-Unmodified-Since": old})
    ).status_code == 412
    assert (await api.get(f"/sobjects/Account/{rid}")).json()["Phone"] == "1"
