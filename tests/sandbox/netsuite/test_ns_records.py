"""Record service wire behaviour: shapes, CRUD, upsert, sublists, collections, filters, metadata."""

from __future__ import annotations

import json
from typing import Any

import pytest
from netsuite_sandbox_support import NS, error_code


def test_create_answers_204_with_location_and_no_body(ns: NS) -> None:
    r = ns.post(
        "/record/v1/customer", json={"companyName": "Glenrock General Hospital", "subsidiary": {"id": "2"}}
    )
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["location"].startswith("http://testserver/services/rest/record/v1/customer/")


def test_get_shape_references_enums_and_omitted_empty_fields(ns: NS) -> None:
    cid = ns.customer(
        "Glenrock General Hospital", email="ap@glenrock.example", custentity_sf_account_id="001X"
    )
    body = ns.record("customer", cid)
    assert body["links"] == [
        {"rel": "self", "href": f"http://testserver/services/rest/record/v1/customer/{cid}"}
    ]
    assert body["id"] == cid
    assert body["companyName"] == "Glenrock General Hospital" and body["isPerson"] is False
    assert body["subsidiary"] == {
        "links": [{"rel": "self", "href": "http://testserver/services/rest/record/v1/subsidiary/2"}],
        "id": "2",
        "refName": "Northstar Holdings Inc. : Northstar US",
    }
    assert body["currency"]["refName"] == "USD"
    assert body["entityStatus"]["refName"] == "CUSTOMER-Closed Won"
    assert body["creditHoldOverride"] == {"id": "AUTO", "refName": "Auto"}
    assert (
        body["lastModifiedDate"] == "2025-06-02T09:00:00Z" and body["dateCreated"] == "2025-06-02T09:00:00Z"
    )
    assert body["custentity_sf_account_id"] == "001X"
    assert body["addressBook"] == {
        "links": [
            {"rel": "self", "href": f"http://testserver/services/rest/record/v1/customer/{cid}/addressBook"}
        ]
    }
    for absent in ("phone", "firstName", "parent", "creditLimit", "terms"):
        assert absent not in body
    assert all(v is not None for v in body.values())


def test_fields_expand_and_simple_enum(ns: NS) -> None:
    cid = ns.customer(
        addressBook={
            "items": [
                {
                    "defaultBilling": True,
                    "label": "HQ",
                    "addressBookAddress": {
                        "addr1": "1 Main St",
                        "city": "Austin",
                        "state": "TX",
                        "zip": "78701",
                        "country": "US",
                    },
                }
            ]
        }
    )
    assert set(ns.record("customer", cid, fields="companyName,creditHoldOverride")) == {
        "links",
        "id",
        "companyName",
        "creditHoldOverride",
    }
    assert ns.record("customer", cid, simpleEnumFormat="true")["creditHoldOverride"] == "AUTO"
    book = ns.record("customer", cid, expandSubResources="true")["addressBook"]
    assert book["totalResults"] == 1
    line = book["items"][0]
    assert line["label"] == "HQ" and line["defaultBilling"] is True
    assert line["links"][0]["href"].endswith(f"/customer/{cid}/addressBook/{line['id']}")
    assert line["addressBookAddress"]["country"] == {"id": "US", "refName": "United States"}
    assert line["addressBookAddress"]["addrText"] == "1 Main St\nAustin TX 78701\nUnited States"
    r = ns.get(f"/record/v1/customer/{cid}", params={"fields": "nope"})
    assert r.status_code == 400 and error_code(r) == "NONEXISTENT_FIELD"


def test_input_names_are_case_insensitive_output_is_camel_case(ns: NS) -> None:
    cid = ns.create(
        "customer",
        {
            "companyname": "lower co",
            "SUBSIDIARY": {"id": 2},
            "EntityStatus": {"id": 13},
            "creditholdoverride": {"refName": "On"},
        },
    )
    body = ns.record("customer", cid)
    assert body["companyName"] == "lower co" and body["creditHoldOverride"]["id"] == "ON"
    assert "companyname" not in body


def test_get_and_patch_by_external_id(ns: NS) -> None:
    cid = ns.customer(externalId="SF-0015g00000XyZab")
    assert ns.record("customer", "eid:SF-0015g00000XyZab")["id"] == cid
    assert ns.get("/record/v1/customer/eid:missing").status_code == 404
    ns.update("customer", "eid:SF-0015g00000XyZab", {"phone": "+1 512 555 0100"})
    assert ns.record("customer", cid)["phone"] == "+1 512 555 0100"


def test_patch_is_partial_and_null_clears(ns: NS) -> None:
    cid = ns.customer(email="a@b.example", phone="1", comments="keep")
    ns.update("customer", cid, {"phone": "2", "email": None, "balance": 999, "id": "77"})
    body = ns.record("customer", cid)
    assert body["phone"] == "2" and "email" not in body and body["comments"] == "keep"
    assert body["balance"] == 0.0 and body["id"] == cid


def test_replace_selected_fields_limits_clearing(ns: NS) -> None:
    cid = ns.customer(email="a@b.example", phone="1")
    ns.update("customer", cid, {"email": None, "phone": None}, replaceSelectedFields="true", replace="email")
    body = ns.record("customer", cid)
    assert "email" not in body and body["phone"] == "1"


def test_put_eid_upserts(ns: NS) -> None:
    r = ns.put("/record/v1/customer/eid:CID002", json={"companyName": "Upsert Co", "subsidiary": {"id": "2"}})
    assert r.status_code == 204
    cid = r.headers["location"].rsplit("/", 1)[1]
    r = ns.put("/record/v1/customer/eid:CID002", json={"phone": "42"})
    assert r.status_code == 204 and r.headers["location"].endswith(f"/customer/{cid}")
    body = ns.record("customer", cid)
    assert body["externalId"] == "CID002" and body["phone"] == "42" and body["companyName"] == "Upsert Co"
    r = ns.put(f"/record/v1/customer/{cid}", json={"phone": "1"})
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"


def test_duplicate_external_id_on_create(ns: NS) -> None:
    ns.customer("One Co", externalId="X-1")
    r = ns.post(
        "/record/v1/customer", json={"companyName": "Two Co", "subsidiary": {"id": "2"}, "externalId": "X-1"}
    )
    assert r.status_code == 400 and error_code(r) == "DUP_RCRD"


def test_delete_and_deleted_record_log(ns: NS, clock: Any) -> None:
    cid = ns.customer("Gone Co")
    clock.advance(60)
    assert ns.delete(f"/record/v1/customer/{cid}").status_code == 204
    r = ns.get(f"/record/v1/customer/{cid}")
    assert r.status_code == 404
    assert r.json()["o:errorDetails"] == [
        {"detail": "Record does not exist.", "o:errorCode": "NONEXISTENT_ID"}
    ]
    assert ns.delete(f"/record/v1/customer/{cid}").status_code == 404
    rows = ns.rows(
        "SELECT recordid, type, name, TO_CHAR(deleteddate, 'YYYY-MM-DD HH24:MI:SS') dd FROM deletedrecord"
    )
    assert rows == [{"recordid": cid, "type": "customer", "name": "Gone Co", "dd": "2025-06-02 09:01:00"}]


def test_last_modified_moves_on_every_change_including_line_edits(ns: NS, clock: Any) -> None:
    cid, item = ns.customer(), ns.item()
    so = ns.order(cid, [{"item": {"id": item}, "quantity": 1}])
    clock.advance(120)
    ns.update("salesOrder", so, {"item": {"items": [{"line": 1, "quantity": 3}]}})
    body = ns.record("salesOrder", so)
    assert body["lastModifiedDate"] == "2025-06-02T09:02:00Z"
    rows = ns.rows(
        f"SELECT TO_CHAR(linelastmodifieddate, 'HH24:MI') t FROM transactionline "
        f"WHERE transaction = {so} AND mainline = 'F'"
    )
    assert rows == [{"t": "09:02"}]


# --- sublists (reference §3.4) --------------------------------------------------------------------


def _lines(ns: NS, so: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ns.record("salesOrder", so, expandSubResources="true")["item"]["items"]
    return items


def test_sublist_patch_merges_keyed_lines_and_appends_new(ns: NS) -> None:
    cid, a, b = ns.customer(), ns.item("A", 10), ns.item("B", 20)
    so = ns.order(cid, [{"item": {"id": a}, "quantity": 1}, {"item": {"id": b}, "quantity": 1}])
    ns.update(
        "salesOrder",
        so,
        {"item": {"items": [{"line": 2, "quantity": 5}, {"item": {"id": a}, "quantity": 2}]}},
    )
    lines = _lines(ns, so)
    assert [(ln["line"], ln["item"]["id"], ln["quantity"]) for ln in lines] == [
        (1, a, 1.0),
        (2, b, 5.0),
        (3, a, 2.0),
    ]


def test_sublist_replace_drops_lines_not_sent(ns: NS) -> None:
    cid, a, b = ns.customer(), ns.item("A", 10), ns.item("B", 20)
    so = ns.order(cid, [{"item": {"id": a}, "quantity": 1}, {"item": {"id": b}, "quantity": 1}])
    ns.update(
        "salesOrder",
        so,
        {"item": {"items": [{"line": 2, "quantity": 4}, {"item": {"id": a}}]}},
        replace="item",
    )
    lines = _lines(ns, so)
    assert [(ln["line"], ln["item"]["id"]) for ln in lines] == [(2, b), (3, a)]
    assert ns.record("salesOrder", so)["total"] == 90.0


def test_sublist_null_empties_and_unkeyed_sublists_append(ns: NS) -> None:
    cid = ns.customer(addressBook={"items": [{"label": "A", "addressBookAddress": {"addr1": "1"}}]})
    ns.update(
        "customer", cid, {"addressBook": {"items": [{"label": "B", "addressBookAddress": {"addr1": "2"}}]}}
    )
    book = ns.record("customer", cid, expandSubResources="true")["addressBook"]["items"]
    assert [ln["label"] for ln in book] == ["A", "B"]
    first = book[0]["id"]
    ns.update("customer", cid, {"addressBook": {"items": [{"id": first, "label": "A2"}]}})
    assert [
        ln["label"] for ln in ns.record("customer", cid, expandSubResources="true")["addressBook"]["items"]
    ] == ["A2", "B"]
    ns.update("customer", cid, {"addressBook": {"items": None}})
    assert "items" not in ns.record("customer", cid)["addressBook"]
    assert ns.record("customer", cid, expandSubResources="true")["addressBook"]["totalResults"] == 0
    item = ns.item(
        "P", 10, price={"items": [{"currencyPage": {"id": "2"}, "priceLevel": {"id": "1"}, "price": 8}]}
    )
    ns.update(
        "serviceSaleItem",
        item,
        {"price": {"items": [{"currencyPage": {"id": "4"}, "priceLevel": {"id": "1"}, "price": 9}]}},
    )
    prices = ns.record("serviceSaleItem", item, expandSubResources="true")["price"]["items"]
    assert sorted((p["currencyPage"]["id"], p["price"]) for p in prices) == [
        ("1", 10.0),
        ("2", 8.0),
        ("4", 9.0),
    ]
    ns.update(
        "serviceSaleItem",
        item,
        {"price": {"items": [{"currencyPage": {"id": "1"}, "priceLevel": {"id": "1"}, "price": 12}]}},
        replace="price",
    )
    prices = ns.record("serviceSaleItem", item, expandSubResources="true")["price"]["items"]
    assert [(p["currencyPage"]["id"], p["price"]) for p in prices] == [("1", 12.0)]
    assert ns.record("serviceSaleItem", item)["basePrice"] == 12.0


def test_sub_resources(ns: NS) -> None:
    cid, a = (
        ns.customer(addressBook={"items": [{"label": "HQ", "addressBookAddress": {"city": "Austin"}}]}),
        ns.item(),
    )
    so = ns.order(cid, [{"item": {"id": a}, "quantity": 1}])
    coll = ns.get(f"/record/v1/customer/{cid}/addressbook").json()
    assert coll["totalResults"] == 1 and coll["items"][0]["links"][0]["href"].endswith(
        f"/customer/{cid}/addressbook/1"
    )
    line = ns.get(f"/record/v1/customer/{cid}/addressBook/1").json()
    assert line["label"] == "HQ"
    addr = ns.get(f"/record/v1/customer/{cid}/addressBook/1/addressBookAddress").json()
    assert addr["city"] == "Austin"
    so_line = ns.get(f"/record/v1/salesOrder/{so}/item/1").json()
    assert so_line["item"]["id"] == a and so_line["amount"] == 100.0
    assert ns.get(f"/record/v1/salesOrder/{so}/item/9").status_code == 404
    assert ns.get(f"/record/v1/inventoryitem/{a}/price").status_code == 404  # a is a service item
    assert (
        ns.get(f"/record/v1/servicesaleitem/{a}/price", params={"expandSubResources": "true"}).json()[
            "items"
        ][0]["price"]
        == 100.0
    )


# --- collections -----------------------------------------------------------------------------------


def test_collection_paging_shape_and_links(ns: NS) -> None:
    ids = [ns.customer(f"Page Co {n}") for n in range(5)]
    first = ns.get("/record/v1/customer", params={"limit": 2}).json()
    assert (
        first["count"] == 2
        and first["hasMore"] is True
        and first["offset"] == 0
        and first["totalResults"] == 5
    )
    assert [i["id"] for i in first["items"]] == ids[:2]
    assert first["items"][0] == {
        "links": [{"rel": "self", "href": f"http://testserver/services/rest/record/v1/customer/{ids[0]}"}],
        "id": ids[0],
    }
    assert [link["rel"] for link in first["links"]] == ["next", "last", "self"]
    middle = ns.get("/record/v1/customer", params={"limit": 2, "offset": 2}).json()
    assert [link["rel"] for link in middle["links"]] == ["prev", "first", "next", "last", "self"]
    last = ns.get("/record/v1/customer", params={"limit": 2, "offset": 4}).json()
    assert last["hasMore"] is False and [link["rel"] for link in last["links"]] == ["prev", "first", "self"]
    assert last["links"][0]["href"].endswith("/customer?limit=2&offset=2")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 2, "offset": 3}, "offset"),
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "x"}, "limit"),
    ],
)
def test_bad_paging_parameters(ns: NS, params: dict[str, Any], param: str) -> None:
    r = ns.get("/record/v1/customer", params=params)
    assert r.status_code == 400 and error_code(r) == "INVALID_PARAMETER"
    assert r.json()["o:errorDetails"][0]["o:errorQueryParam"] == param


def test_q_filters(ns: NS, clock: Any) -> None:
    a = ns.customer("Another Company", email="barbara@x.example", creditLimit=100)
    clock.advance(days=3)
    b = ns.customer("Barbara Ltd", email="barbara@y.example", creditLimit=5000)
    c = ns.customer("Carol Inc", email="carol@z.example", isInactive=True)

    def ids(q: str) -> list[str]:
        r = ns.get("/record/v1/customer", params={"q": q})
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert ids("email START_WITH barbara") == [a, b]
    assert ids('companyname START_WITH "Another Company"') == [a]
    assert ids("companyName CONTAIN ltd") == [b]
    assert ids("companyName END_WITH Inc") == [c]
    assert ids("isinactive IS true") == [c]
    assert ids("creditlimit GREATER 1000") == [b]
    assert ids("creditLimit BETWEEN [50, 200]") == [a]
    assert ids("creditLimit EMPTY") == [c]
    assert ids("subsidiary ANY_OF [2, 3] AND email START_WITH carol") == [c]
    assert ids("email START_WITH carol OR email START_WITH barbara AND creditLimit GREATER 1000") == [b, c]
    assert ids("(email START_WITH carol OR email START_WITH barbara) AND creditLimit GREATER 1000") == [b]
    assert ids('dateCreated ON_OR_AFTER "6/3/2025"') == [b, c]
    assert ids('dateCreated ON "6/2/2025"') == [a]
    assert ids('lastModifiedDate BEFORE "6/3/2025"') == [a]
    r = ns.get("/record/v1/customer", params={"q": 'dateCreated AFTER "2025-06-01"'})
    assert r.status_code == 400 and error_code(r) == "INVALID_PARAMETER"
    assert r.json()["o:errorDetails"][0]["detail"].startswith("Unparseable date:")
    r = ns.get("/record/v1/customer", params={"q": "nosuchfield IS 1"})
    assert r.status_code == 400 and error_code(r) == "NONEXISTENT_FIELD"
    r = ns.get("/record/v1/customer", params={"q": "email GREATER 3"})
    assert r.status_code == 400 and error_code(r) == "INVALID_PARAMETER"


def test_unknown_record_type(ns: NS) -> None:
    r = ns.get("/record/v1/nosuchrecord/1")
    assert r.status_code == 404 and error_code(r) == "INVALID_RCRD_TYPE"


# --- validation errors -----------------------------------------------------------------------------


def test_invalid_reference_is_invalid_content_with_path(ns: NS) -> None:
    cid = ns.customer()
    r = ns.post(
        "/record/v1/salesOrder",
        json={"entity": {"id": cid}, "item": {"items": [{"item": {"id": 9999}, "amount": 1}]}},
    )
    assert r.status_code == 400
    assert r.json() == {
        "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [
            {
                "detail": "Error while accessing resource: You have entered an Invalid Field Value 9999 "
                "for the following field: item",
                "o:errorCode": "INVALID_CONTENT",
                "o:errorPath": "item.items[0].item",
            }
        ],
    }


def test_malformed_values(ns: NS) -> None:
    r = ns.post(
        "/record/v1/customer", json={"companyName": "X", "subsidiary": {"id": "2"}, "creditLimit": "lots"}
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_CONTENT"
    assert r.json()["o:errorDetails"][0]["o:errorPath"] == "creditLimit"
    r = ns.post(
        "/record/v1/customer",
        json={"companyName": "X", "subsidiary": {"id": "2"}, "creditHoldOverride": {"id": "MAYBE"}},
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_CONTENT"
    r = ns.post("/record/v1/customer", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == "INVALID_CONTENT"
    r = ns.post(
        "/record/v1/customer",
        json={"companyName": "X", "subsidiary": {"id": "2"}, "creditLimit": "lots"},
        headers={"X-NetSuite-PropertyValueValidation": "ignore"},
    )
    assert r.status_code == 204


def test_unknown_property_names_follow_the_validation_header(ns: NS) -> None:
    body = {"companyName": "Typo Co", "subsidiary": {"id": "2"}, "compnyName": "oops"}
    r = ns.post("/record/v1/customer", json=body)
    assert r.status_code == 204 and "compnyName" in r.headers["x-netsuite-warning"]
    body["companyName"] = "Typo Co 2"
    r = ns.post("/record/v1/customer", json=body, headers={"X-NetSuite-PropertyNameValidation": "error"})
    assert r.status_code == 400 and error_code(r) == "NONEXISTENT_FIELD"
    assert r.json()["o:errorDetails"][0]["o:errorPath"] == "compnyName"


# --- custom fields ---------------------------------------------------------------------------------


def test_custom_fields_on_body_lines_and_items(ns: NS) -> None:
    cid = ns.customer(custentity_sf_account_id="0015g00000XyZab", custentity_lead_score=72)
    item = ns.item(custitem_sf_product_id="01t000000000001")
    so = ns.order(
        cid, [{"item": {"id": item}, "custcol_sf_line_id": "00k1"}], custbody_sf_opportunity_id="006X"
    )
    assert ns.record("customer", cid)["custentity_lead_score"] == 72
    assert ns.record("salesOrder", so)["custbody_sf_opportunity_id"] == "006X"
    assert _lines(ns, so)[0]["custcol_sf_line_id"] == "00k1"
    assert ns.rows(
        f"SELECT custentity_sf_account_id a, custentity_lead_score s FROM customer WHERE id = {cid}"
    ) == [{"a": "0015g00000XyZab", "s": "72"}]
    assert ns.rows(
        f"SELECT custcol_sf_line_id l FROM transactionline WHERE transaction = {so} AND mainline='F'"
    ) == [{"l": "00k1"}]
    r = ns.post(
        "/record/v1/customer",
        json={"companyName": "X", "subsidiary": {"id": "2"}, "custentity_lead_score": "high"},
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_CONTENT"


def test_custom_field_schema_file(make_ns: Any, tmp_path: Any) -> None:
    schema = tmp_path / "fields.json"
    schema.write_text(
        json.dumps(
            {
                "customFields": [
                    {"scriptId": "custentity_region", "type": "string", "appliesTo": ["customer"]},
                    {"scriptId": "custbody_approver", "type": "select:employee"},
                ]
            }
        )
    )
    ns = make_ns(custom_fields_file=schema)
    cid = ns.customer(custentity_region="EMEA")
    assert ns.record("customer", cid)["custentity_region"] == "EMEA"
    r = ns.post(
        "/record/v1/customer",
        json={"companyName": "Y", "subsidiary": {"id": "2"}, "custentity_sf_account_id": "1"},
        headers={"X-NetSuite-PropertyNameValidation": "error"},
    )
    assert r.status_code == 400
    assert ns.rows(f"SELECT custentity_region FROM customer WHERE id = {cid}") == [
        {"custentity_region": "EMEA"}
    ]


# --- metadata catalog ------------------------------------------------------------------------------


def test_metadata_catalog(ns: NS) -> None:
    catalog = ns.get("/record/v1/metadata-catalog").json()
    names = {i["name"] for i in catalog["items"]}
    assert {"customer", "salesOrder", "invoice", "customerPayment", "inventoryItem", "opportunity"} <= names
    entry = next(i for i in catalog["items"] if i["name"] == "customer")
    assert {link["mediaType"] for link in entry["links"] if "mediaType" in link} == {
        "application/json",
        "application/swagger+json",
        "application/schema+json",
    }
    selected = ns.get("/record/v1/metadata-catalog", params={"select": "customer,salesOrder"}).json()
    assert [i["name"] for i in selected["items"]] == ["customer", "salesOrder"]
    schema = ns.get(
        "/record/v1/metadata-catalog/customer", headers={"Accept": "application/schema+json"}
    ).json()
    assert schema["properties"]["companyName"]["type"] == "string"
    assert schema["properties"]["custentity_sf_account_id"]["x-ns-custom-field"] is True
    assert schema["properties"]["creditHoldOverride"]["properties"]["id"]["enum"] == ["AUTO", "ON", "OFF"]
    assert "customer-addressBookCollection" in schema["definitions"]
    api = ns.get(
        "/record/v1/metadata-catalog/salesOrder", headers={"Accept": "application/swagger+json"}
    ).json()
    assert api["openapi"].startswith("3.") and "/salesOrder/{id}" in api["paths"]
    assert "salesOrder-itemElement" in api["components"]["schemas"]
    assert "custcol_sf_line_id" in api["components"]["schemas"]["salesOrder-itemElement"]["properties"]
    r = ns.get("/record/v1/metadata-catalog/customer, salesOrder")
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"


def test_attach_and_detach_contact(ns: NS) -> None:
    cid = ns.customer()
    contact = ns.create("contact", {"firstName": "Ada", "lastName": "Lovelace", "subsidiary": {"id": "2"}})
    r = ns.post(f"/record/v1/customer/{cid}/!attach/contact/{contact}", json={"role": {"id": "-10"}})
    assert r.status_code == 204
    body = ns.record("contact", contact)
    assert body["company"]["id"] == cid and body["contactRole"]["id"] == "-10"
    assert ns.post(f"/record/v1/contact/{contact}/!detach/customer/{cid}", json={}).status_code == 204
    assert "company" not in ns.record("contact", contact)
    r = ns.post(f"/record/v1/customer/{cid}/!attach/employee/1", json={})
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"
