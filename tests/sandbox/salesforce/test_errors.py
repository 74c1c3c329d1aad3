"""One test per error code: the real HTTP status and body shape (reference §7)."""

from __future__ import annotations

from typing import Any

import pytest
from salesforce_sandbox_support import Api

from ledgerbridge_sandbox.salesforce import ValidationRule

pytestmark = pytest.mark.anyio


def _single(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["errorCode"] == code
    return dict(body[0])


async def test_required_field_missing(api: Api) -> None:
    err = _single(await api.post("/sobjects/Contact", json={"FirstName": "x"}), 400, "REQUIRED_FIELD_MISSING")
    assert err == {
        "errorCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [LastName]",
        "fields": ["LastName"],
    }


async def test_required_field_nulled_on_update(api: Api) -> None:
    rid = await api.create("Account", {"Name": "x"})
    err = _single(
        await api.patch(f"/sobjects/Account/{rid}", json={"Name": None}), 400, "REQUIRED_FIELD_MISSING"
    )
    assert err["fields"] == ["Name"]


async def test_invalid_field(api: Api) -> None:
    err = _single(await api.post("/sobjects/Account", json={"Name": "x", "foo": 1}), 400, "INVALID_FIELD")
    assert err["message"] == "No such column 'foo' on sobject of type Account"


async def test_invalid_field_for_insert_update(api: Api) -> None:
    err = _single(
        await api.post(
            "/sobjects/Opportunity",
            json={"Name": "x", "StageName": "Prospecting", "CloseDate": "2024-01-01", "IsWon": True},
        ),
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
    )
    assert err["fields"] == ["IsWon"]
    assert err["message"].startswith(
        "Unable to create/update fields: IsWon. Please check the security settings"
    )


async def test_string_too_long(api: Api) -> None:
    city = "x" * 41
    err = _single(
        await api.post("/sobjects/Account", json={"Name": "x", "BillingCity": city}), 400, "STRING_TOO_LONG"
    )
    assert err == {
        "errorCode": "STRING_TOO_LONG",
        "fields": ["BillingCity"],
        "message": f"Billing City: data value too large: {city} (max length=40)",
    }


async def test_invalid_or_null_for_restricted_picklist(api: Api) -> None:
    err = _single(
        await api.post("/sobjects/Account", json={"Name": "x", "BillingGeocodeAccuracy": "Nowhere"}),
        400,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    )
    assert err["message"] == "Billing Geocode Accuracy: bad value for restricted picklist field: Nowhere"
    assert err["fields"] == ["BillingGeocodeAccuracy"]


async def test_invalid_cross_reference_key(api: Api) -> None:
    ghost = "001Hp00000ZZZZZAAA"
    from ledgerbridge_sandbox.salesforce import ids

    ghost = ids.to18(ghost[:15])
    err = _single(
        await api.post("/sobjects/Contact", json={"LastName": "x", "AccountId": ghost}),
        400,
        "INVALID_CROSS_REFERENCE_KEY",
    )
    assert err["fields"] == ["AccountId"]


async def test_malformed_id(api: Api) -> None:
    err = _single(
        await api.post("/sobjects/Contact", json={"LastName": "x", "AccountId": "123"}), 400, "MALFORMED_ID"
    )
    assert err == {
        "errorCode": "MALFORMED_ID",
        "message": "Account ID: id value of incorrect type: 123",
        "fields": ["AccountId"],
    }
    user = api.state.org.user_id  # right format, wrong object
    assert _single(
        await api.post("/sobjects/Contact", json={"LastName": "x", "AccountId": user}), 400, "MALFORMED_ID"
    )


async def test_duplicate_value_on_unique_external_id(api: Api) -> None:
    first = await api.create("Account", {"Name": "a", "NetSuite_Id__c": "42"})
    err = _single(
        await api.post("/sobjects/Account", json={"Name": "b", "NetSuite_Id__c": "42"}),
        400,
        "DUPLICATE_VALUE",
    )
    assert err == {
        "errorCode": "DUPLICATE_VALUE",
        "fields": [],
        "message": f"duplicate value found: NetSuite_Id__c duplicates value on record with id: {first}",
    }


async def test_duplicates_detected_and_allow_save_header(api: Api) -> None:
    first = await api.create("Account", {"Name": "Acme"})
    err = _single(await api.post("/sobjects/Account", json={"Name": "ACME"}), 400, "DUPLICATES_DETECTED")
    result = err["duplicateResult"]
    assert result["allowSave"] is True and result["duplicateRuleEntityType"] == "Account"
    match = result["matchResults"][0]
    assert match["matchRecords"][0]["record"]["Id"] == first and match["size"] == 1
    ok = await api.post(
        "/sobjects/Account", json={"Name": "ACME"}, headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"}
    )
    assert ok.status_code == 201
    await api.create("Contact", {"LastName": "a", "Email": "x@y.example"})
    assert _single(
        await api.post("/sobjects/Contact", json={"LastName": "b", "Email": "X@y.example"}),
        400,
        "DUPLICATES_DETECTED",
    )
    await api.client.patch("/__sandbox__/config", json={"duplicate_rules": False})
    assert (
        await api.post("/sobjects/Contact", json={"LastName": "b", "Email": "X@y.example"})
    ).status_code == 201


async def test_entity_is_deleted(api: Api) -> None:
    rid = await api.create("Account", {"Name": "x"})
    await api.delete(f"/sobjects/Account/{rid}")
    err = _single(await api.patch(f"/sobjects/Account/{rid}", json={"Name": "y"}), 404, "ENTITY_IS_DELETED")
    assert err["message"] == "entity is deleted"
    _single(await api.delete(f"/sobjects/Account/{rid}"), 404, "ENTITY_IS_DELETED")


async def test_not_found_for_unknown_record_object_and_external_field(api: Api) -> None:
    from ledgerbridge_sandbox.salesforce import ids

    missing = ids.make_id("001", 99_999)
    err = _single(await api.get(f"/sobjects/Account/{missing}"), 404, "NOT_FOUND")
    assert err == {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    _single(await api.get("/sobjects/Whizbang__c/describe"), 404, "NOT_FOUND")
    err = _single(await api.get("/sobjects/Account/23foo"), 404, "NOT_FOUND")
    assert err["message"] == "Provided external ID field does not exist or is not accessible: 23foo"
    err = _single(await api.patch("/sobjects/Account/Namez/x", json={}), 404, "NOT_FOUND")
    assert err["message"].endswith(": Namez")


async def test_field_custom_validation_exception(api: Api) -> None:
    r = await api.client.patch(
        "/__sandbox__/config",
        json={
            "validation_rules": [
                {
                    "object": "Account",
                    "name": "Credit_Limit_Positive",
                    "condition": "Credit_Limit__c < 0",
                    "message": "Credit limit must not be negative",
                    "field": "Credit_Limit__c",
                }
            ]
        },
    )
    assert r.status_code == 200
    err = _single(
        await api.post("/sobjects/Account", json={"Name": "x", "Credit_Limit__c": -5}),
        400,
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    )
    assert err == {
        "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "message": "Credit limit must not be negative",
        "fields": ["Credit_Limit__c"],
    }
    assert (await api.post("/sobjects/Account", json={"Name": "y", "Credit_Limit__c": 5})).status_code == 201
    api.state.org.set_validation_rules([ValidationRule("Account", "r", "Name LIKE 'Bad%'", "No bad names")])
    assert (
        _single(
            await api.post("/sobjects/Account", json={"Name": "Bad Co"}),
            400,
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        )["fields"]
        == []
    )


async def _prices(api: Api) -> tuple[str, str]:
    prod = await api.create("Product2", {"Name": "P", "IsActive": True})
    std = api.state.org.standard_pricebook_id
    await api.create(
        "PricebookEntry", {"Pricebook2Id": std, "Product2Id": prod, "UnitPrice": 10, "IsActive": True}
    )
    other = await api.create("Pricebook2", {"Name": "Partner", "IsActive": True})
    pbe = await api.create(
        "PricebookEntry", {"Pricebook2Id": other, "Product2Id": prod, "UnitPrice": 8, "IsActive": True}
    )
    return prod, pbe


async def test_standard_price_not_defined(api: Api) -> None:
    prod = await api.create("Product2", {"Name": "P", "IsActive": True})
    book = await api.create("Pricebook2", {"Name": "Custom", "IsActive": True})
    err = _single(
        await api.post(
            "/sobjects/PricebookEntry", json={"Pricebook2Id": book, "Product2Id": prod, "UnitPrice": 5}
        ),
        400,
        "STANDARD_PRICE_NOT_DEFINED",
    )
    assert err["message"] == "Before creating a custom price, create a standard price."


async def test_field_integrity_exception_for_entry_from_another_price_book(api: Api) -> None:
    _, partner_pbe = await _prices(api)
    oid = await api.create(
        "Opportunity",
        {
            "Name": "D",
            "StageName": "Prospecting",
            "CloseDate": "2024-07-01",
            "Pricebook2Id": api.state.org.standard_pricebook_id,
        },
    )
    err = _single(
        await api.post(
            "/sobjects/OpportunityLineItem",
            json={"OpportunityId": oid, "PricebookEntryId": partner_pbe, "Quantity": 1, "UnitPrice": 1},
        ),
        400,
        "FIELD_INTEGRITY_EXCEPTION",
    )
    assert err["fields"] == ["PricebookEntryId"]
    err = _single(
        await api.post(
            "/sobjects/OpportunityLineItem", json={"OpportunityId": oid, "Quantity": 1, "UnitPrice": 1}
        ),
        400,
        "FIELD_INTEGRITY_EXCEPTION",
    )
    assert err["fields"] == ["PricebookEntryId", "unknown"]
    assert err["message"].startswith("field integrity exception: PricebookEntryId, unknown")


async def test_duplicate_price_book_entry(api: Api) -> None:
    prod, _ = await _prices(api)
    std = api.state.org.standard_pricebook_id
    _single(
        await api.post(
            "/sobjects/PricebookEntry", json={"Pricebook2Id": std, "Product2Id": prod, "UnitPrice": 3}
        ),
        400,
        "DUPLICATE_VALUE",
    )


async def test_unable_to_lock_row(api: Api) -> None:
    await api.client.patch("/__sandbox__/config", json={"lock_row_rate": 1.0})
    err = _single(await api.post("/sobjects/Account", json={"Name": "x"}), 400, "UNABLE_TO_LOCK_ROW")
    assert err["message"].startswith("unable to obtain exclusive access to this record or 1 records: 001")
    assert err["fields"] == []


async def test_request_limit_exceeded(api: Api) -> None:
    await api.client.patch("/__sandbox__/config", json={"api_allocation": 5})
    await api.client.post("/__sandbox__/api-usage", json={"used": 5})
    r = await api.get("/limits")
    assert r.status_code == 403
    assert r.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert r.headers["sforce-limit-info"] == "api-usage=5/5"


async def test_invalid_session_id(api: Api) -> None:
    r = await api.client.get("/services/data/v62.0/limits", headers={"Authorization": "Bearer expired"})
    assert r.status_code == 401
    assert r.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


async def test_server_unavailable(api: Api) -> None:
    await api.client.patch("/__sandbox__/config", json={"server_error_rate": 1.0})
    _single(await api.get("/limits"), 503, "SERVER_UNAVAILABLE")


async def test_malformed_query(api: Api) -> None:
    err = _single(
        await api.get("/query", params={"q": "SELECT Id FROM Account WHERE"}), 400, "MALFORMED_QUERY"
    )
    assert err["message"] == (
        "\nSELECT Id FROM Account WHERE\n                            ^\n"
        "ERROR at Row:1:Column:29\nunexpected token: <EOF>"
    )


async def test_invalid_field_in_query_uses_the_caret_message(api: Api) -> None:
    q = "SELECT Id,Invalid__x FROM Contact LIMIT 1"
    err = _single(await api.get("/query", params={"q": q}), 400, "INVALID_FIELD")
    assert err["message"] == (
        "\nSELECT Id,Invalid__x FROM Contact LIMIT 1\n          ^\nERROR at Row:1:Column:11\n"
        "No such column 'Invalid__x' on entity 'Contact'. If you are attempting to use a custom field, "
        "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names."
    )


async def test_invalid_type_in_query(api: Api) -> None:
    err = _single(await api.get("/query", params={"q": "select count() from XYZZY"}), 400, "INVALID_TYPE")
    assert err["message"].startswith(
        "\nselect count() from XYZZY\n                    ^\nERROR at Row:1:Column:21\n"
        "sObject type 'XYZZY' is not supported."
    )


async def test_json_parser_error(api: Api) -> None:
    err = _single(
        await api.post("/sobjects/Account", content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "JSON_PARSER_ERROR",
    )
    assert "line:1, column:2" in err["message"]
    _single(
        await api.post("/sobjects/Account", json={"Name": "x", "NumberOfEmployees": "many"}),
        400,
        "JSON_PARSER_ERROR",
    )


async def test_invalid_email_address(api: Api) -> None:
    err = _single(
        await api.post("/sobjects/Contact", json={"LastName": "x", "Email": "123"}),
        400,
        "INVALID_EMAIL_ADDRESS",
    )
    assert err == {
        "errorCode": "INVALID_EMAIL_ADDRESS",
        "message": "Email: invalid email address: 123",
        "fields": ["Email"],
    }


async def test_invalid_query_locator(api: Api) -> None:
    _single(await api.get("/query/01gHp00000000AAAAA-2000"), 400, "INVALID_QUERY_LOCATOR")


async def test_invalid_replication_date(api: Api) -> None:
    _single(
        await api.get(
            "/sobjects/Account/updated",
            params={"start": "2024-06-03T09:00:00Z", "end": "2024-06-02T09:00:00Z"},
        ),
        400,
        "INVALID_REPLICATION_DATE",
    )


async def test_unsupported_api_version_and_unknown_route(api: Api) -> None:
    _single(await api.client.get("/services/data/v41.0/limits", headers=api.headers), 404, "NOT_FOUND")
    _single(await api.get("/nothing/here"), 404, "NOT_FOUND")


async def test_collections_rolled_back_and_composite_processing_halted(api: Api) -> None:
    r = await api.post(
        "/composite/sobjects",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "ok"},
                {"attributes": {"type": "Account"}},
            ],
        },
    )
    assert r.status_code == 200
    first, second = r.json()
    assert first == {
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": (
                    "Record rolled back because not all records were valid and the request was using "
                    "AllOrNone header"
                ),
                "fields": [],
            }
        ],
    }
    assert second["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert (await api.query("SELECT COUNT() FROM Account WHERE Name = 'ok'"))["totalSize"] == 0
    r = await api.post(
        "/composite",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": "/services/data/v62.0/sobjects/Account",
                    "referenceId": "a",
                    "body": {"Name": "c"},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v62.0/sobjects/Contact",
                    "referenceId": "b",
                    "body": {},
                },
            ],
        },
    )
    a, b = r.json()["compositeResponse"]
    assert a["httpStatusCode"] == 400 and a["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert b["httpStatusCode"] == 400 and b["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert (await api.query("SELECT COUNT() FROM Account WHERE Name = 'c'"))["totalSize"] == 0
