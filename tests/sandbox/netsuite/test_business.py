"""Business behaviour: pricing, totals, statuses, transforms, payments, balances, stages, OneWorld rules."""

from __future__ import annotations

from typing import Any

import pytest
from netsuite_sandbox_support import NS, error_code


def detail(response: Any) -> str:
    return str(response.json()["o:errorDetails"][0]["detail"])


# --- pricing and totals ----------------------------------------------------------------------------


def test_line_amount_is_quantity_times_base_price(ns: NS) -> None:
    cid, item = ns.customer(), ns.item("SVC", 125.0)
    so = ns.order(cid, [{"item": {"id": item}, "quantity": 2}])
    body = ns.record("salesOrder", so, expandSubResources="true")
    line = body["item"]["items"][0]
    assert (line["quantity"], line["rate"], line["amount"]) == (2.0, 125.0, 250.0)
    assert line["price"]["refName"] == "Base Price" and line["itemType"]["id"] == "Service"
    assert (body["subtotal"], body["discountTotal"], body["taxTotal"], body["total"]) == (
        250.0,
        0.0,
        0.0,
        250.0,
    )


def test_price_levels_apply_their_discount(ns: NS) -> None:
    partner = ns.customer("Partner Co", priceLevel={"id": "2"})
    item = ns.item("SVC", 200.0)
    so = ns.order(
        partner,
        [
            {"item": {"id": item}, "quantity": 1},
            {"item": {"id": item}, "quantity": 1, "price": {"id": "3"}},
            {"item": {"id": item}, "quantity": 3, "rate": 50},
        ],
    )
    lines = ns.record("salesOrder", so, expandSubResources="true")["item"]["items"]
    assert [(ln["price"]["refName"], ln["rate"], ln["amount"]) for ln in lines] == [
        ("Partner", 180.0, 180.0),
        ("Enterprise", 170.0, 170.0),
        ("Custom", 50.0, 150.0),
    ]
    ns.update("priceLevel", "2", {"discountPct": -20})
    so2 = ns.order(partner, [{"item": {"id": item}}])
    assert ns.record("salesOrder", so2)["total"] == 160.0
    assert ns.rows(f"SELECT unitprice FROM pricing WHERE item = {item} AND pricelevel = 2") == [
        {"unitprice": "160"}
    ]


def test_foreign_currency_prices(ns: NS) -> None:
    gbp = ns.customer("London Co", subsidiary={"id": "3"})
    assert ns.record("customer", gbp)["currency"]["refName"] == "GBP"
    item = ns.item(
        "SVC",
        127.0,
        price={"items": [{"currencyPage": {"id": "4"}, "priceLevel": {"id": "1"}, "price": 110}]},
    )
    so = ns.order(gbp, [{"item": {"id": item}}])
    assert ns.record("salesOrder", so)["total"] == 100.0  # 127 USD / 1.27
    eur = ns.customer("Berlin Co", subsidiary={"id": "4"})
    assert ns.record("salesOrder", ns.order(eur, [{"item": {"id": item}}]))["total"] == 110.0


def test_discount_items_reduce_the_total(ns: NS) -> None:
    cid, item = ns.customer(), ns.item("SVC", 100.0)
    pct = ns.create("discountItem", {"itemId": "DISC-10", "rate": "-10%"})
    fixed = ns.create("discountItem", {"itemId": "DISC-5", "rate": -5})
    so = ns.order(
        cid,
        [
            {"item": {"id": item}, "quantity": 3},
            {"item": {"id": pct}},
            {"item": {"id": item}, "quantity": 1},
            {"item": {"id": fixed}},
        ],
        discountItem={"id": pct},
    )
    body = ns.record("salesOrder", so, expandSubResources="true")
    assert [ln["amount"] for ln in body["item"]["items"]] == [300.0, -30.0, 100.0, -5.0]
    assert body["item"]["items"][1]["rate"] == "-10.0%"
    assert (body["subtotal"], body["discountRate"], body["discountTotal"], body["total"]) == (
        365.0,
        "-10.0%",
        -36.5,
        328.5,
    )
    r = ns.post(
        "/record/v1/salesOrder",
        json={
            "entity": {"id": cid},
            "discountItem": {"id": item},
            "item": {"items": [{"item": {"id": item}}]},
        },
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_CONTENT"


def test_tran_id_numbering(ns: NS) -> None:
    cid, item = ns.customer(), ns.item()
    first = ns.order(cid, [{"item": {"id": item}}])
    second = ns.order(cid, [{"item": {"id": item}}])
    assert [ns.record("salesOrder", s)["tranId"] for s in (first, second)] == ["SO1001", "SO1002"]
    assert ns.record("invoice", ns.transform("salesOrder", first, "invoice"))["tranId"] == "INV1001"
    mine = ns.order(cid, [{"item": {"id": item}}], tranId="MY-ORDER-7")
    assert ns.record("salesOrder", mine)["tranId"] == "MY-ORDER-7"


# --- sales order status and billing --------------------------------------------------------------


def test_order_status_approval(ns: NS) -> None:
    cid, svc = ns.customer(), ns.item()
    inv = ns.item("HW", 10.0, rtype="inventoryItem")
    so = ns.create("salesOrder", {"entity": {"id": cid}, "item": {"items": [{"item": {"id": svc}}]}})
    body = ns.record("salesOrder", so)
    assert body["orderStatus"] == {"id": "A", "refName": "Pending Approval"} and body["status"]["id"] == "A"
    r = ns.post(f"/record/v1/salesOrder/{so}/!transform/invoice", json={})
    assert r.status_code == 400 and error_code(r) == "USER_ERROR"
    ns.update("salesOrder", so, {"orderStatus": "B"})
    assert ns.record("salesOrder", so)["status"] == {"id": "F", "refName": "Pending Billing"}
    r = ns.patch(f"/record/v1/salesOrder/{so}", json={"orderStatus": {"id": "A"}})
    assert r.status_code == 400 and error_code(r) == "USER_ERROR"
    hw = ns.order(cid, [{"item": {"id": inv}}])
    assert ns.record("salesOrder", hw)["status"]["refName"] == "Pending Fulfillment"
    r = ns.patch(f"/record/v1/salesOrder/{so}", json={"orderStatus": "C"})
    assert r.status_code == 400 and error_code(r) == "INVALID_CONTENT"


def test_sales_order_to_invoice_full_and_partial(ns: NS) -> None:
    cid, a, b = ns.customer(terms={"id": "2"}), ns.item("A", 10.0), ns.item("B", 20.0)
    so = ns.order(cid, [{"item": {"id": a}, "quantity": 5}, {"item": {"id": b}, "quantity": 2}])
    inv1 = ns.transform(
        "salesOrder",
        so,
        "invoice",
        {"item": {"items": [{"orderLine": 1, "quantity": 3}, {"orderLine": 2, "quantity": 0}]}},
    )
    first = ns.record("invoice", inv1, expandSubResources="true")
    assert [(ln["orderLine"], ln["quantity"], ln["amount"]) for ln in first["item"]["items"]] == [
        (1, 3.0, 30.0)
    ]
    assert first["createdFrom"]["id"] == so and first["createdFrom"]["refName"] == "Sales Order #SO1001"
    assert first["dueDate"] == "2025-07-02" and first["status"]["refName"] == "Open"
    assert first["amountRemaining"] == 30.0 and first["amountPaid"] == 0.0
    order = ns.record("salesOrder", so, expandSubResources="true")
    assert [ln["quantityBilled"] for ln in order["item"]["items"]] == [3.0, 0.0]
    assert order["status"]["id"] == "F"
    r = ns.post(
        f"/record/v1/salesOrder/{so}/!transform/invoice",
        json={"item": {"items": [{"orderLine": 1, "quantity": 9}]}},
    )
    assert r.status_code == 400 and error_code(r) == "USER_ERROR"
    inv2 = ns.transform("salesOrder", so, "invoice")
    assert ns.record("invoice", inv2)["total"] == 60.0
    assert ns.record("salesOrder", so)["status"] == {"id": "G", "refName": "Billed"}
    r = ns.post(f"/record/v1/salesOrder/{so}/!transform/invoice", json={})
    assert r.status_code == 400 and "no billable lines" in detail(r)
    rows = ns.rows(f"SELECT t.tranid, BUILTIN.DF(t.status) s FROM transaction t WHERE t.id = {so}")
    assert rows == [{"tranid": "SO1001", "s": "Sales Order : Billed"}]


def test_transform_of_missing_record(ns: NS) -> None:
    r = ns.post("/record/v1/salesOrder/4242/!transform/invoice", json={})
    assert r.status_code == 400 and error_code(r) == "RCRD_DSNT_EXIST"
    r = ns.post(f"/record/v1/customer/{ns.customer()}/!transform/employee", json={})
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"


def test_customer_transforms_to_sales_order(ns: NS) -> None:
    cid, item = ns.customer(), ns.item()
    so = ns.transform(
        "customer", cid, "salesOrder", {"orderStatus": "B", "item": {"items": [{"item": {"id": item}}]}}
    )
    assert ns.record("salesOrder", so)["entity"]["id"] == cid


# --- payments, credit memos, balances --------------------------------------------------------------


def _invoice(ns: NS, cid: str, amount: float = 100.0, **extra: Any) -> str:
    item = ns.item(f"ITEM-{amount}-{len(extra)}-{cid}", amount)
    so = ns.order(cid, [{"item": {"id": item}}], **extra)
    return ns.transform("salesOrder", so, "invoice")


def test_payments_drive_invoice_status(ns: NS) -> None:
    cid = ns.customer()
    inv = _invoice(ns, cid, 100.0)
    pay = ns.create(
        "customerPayment",
        {
            "customer": {"id": cid},
            "payment": 40,
            "apply": {"items": [{"doc": {"id": inv}, "apply": True, "amount": 40}]},
        },
    )
    invoice = ns.record("invoice", inv)
    assert (invoice["amountPaid"], invoice["amountRemaining"], invoice["status"]["refName"]) == (
        40.0,
        60.0,
        "Open",
    )
    payment = ns.record("customerPayment", pay, expandSubResources="true")
    assert (payment["applied"], payment["unapplied"], payment["total"]) == (40.0, 0.0, 40.0)
    line = payment["apply"]["items"][0]
    assert line["doc"]["id"] == inv and line["due"] == 60.0 and line["refNum"] == "INV1001"
    assert line["links"][0]["href"].endswith(f"/customerPayment/{pay}/apply/doc={inv},line=0")
    rest = ns.transform("invoice", inv, "customerPayment")
    assert ns.record("customerPayment", rest)["payment"] == 60.0
    invoice = ns.record("invoice", inv)
    assert (invoice["amountRemaining"], invoice["status"]) == (0.0, {"id": "B", "refName": "Paid In Full"})
    r = ns.post(f"/record/v1/invoice/{inv}/!transform/customerPayment", json={})
    assert r.status_code == 400 and error_code(r) == "USER_ERROR"
    assert ns.delete(f"/record/v1/customerPayment/{rest}").status_code == 204
    assert ns.record("invoice", inv)["status"]["id"] == "A"
    rows = ns.rows(
        f"SELECT foreigntotal, foreignamountpaid, foreignamountunpaid FROM transaction WHERE id = {inv}"
    )
    assert rows == [{"foreigntotal": "100", "foreignamountpaid": "40", "foreignamountunpaid": "60"}]


def test_payment_application_limits(ns: NS) -> None:
    cid, other = ns.customer("A Co"), ns.customer("B Co")
    inv = _invoice(ns, cid, 100.0)
    r = ns.post(
        "/record/v1/customerPayment",
        json={
            "customer": {"id": cid},
            "payment": 500,
            "apply": {"items": [{"doc": {"id": inv}, "amount": 150}]},
        },
    )
    assert r.status_code == 400 and error_code(r) == "USER_ERROR"
    assert r.json()["o:errorDetails"][0]["o:errorPath"] == "apply.items[0].amount"
    r = ns.post(
        "/record/v1/customerPayment",
        json={
            "customer": {"id": cid},
            "payment": 10,
            "apply": {"items": [{"doc": {"id": inv}, "amount": 50}]},
        },
    )
    assert r.status_code == 400 and error_code(r) == "USER_ERROR"
    r = ns.post(
        "/record/v1/customerPayment",
        json={
            "customer": {"id": other},
            "payment": 10,
            "apply": {"items": [{"doc": {"id": inv}, "amount": 10}]},
        },
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_KEY_OR_REF"
    r = ns.post("/record/v1/customerPayment", json={"customer": {"id": cid}})
    assert r.status_code == 400 and detail(r).endswith("Please enter value(s) for: Payment Amount")


def test_unapplied_payment_and_auto_apply(ns: NS) -> None:
    cid = ns.customer()
    inv1, inv2 = _invoice(ns, cid, 100.0), _invoice(ns, cid, 50.0, memo="second")
    ns.create("customerPayment", {"customer": {"id": cid}, "payment": 120, "autoApply": True})
    assert [ns.record("invoice", i)["amountRemaining"] for i in (inv1, inv2)] == [0.0, 30.0]
    ns.create("customerPayment", {"customer": {"id": cid}, "payment": 25})
    assert ns.record("customer", cid)["balance"] == 5.0


def test_credit_memo_from_invoice(ns: NS) -> None:
    cid = ns.customer()
    inv = _invoice(ns, cid, 80.0)
    memo = ns.transform("invoice", inv, "creditMemo")
    body = ns.record("creditMemo", memo)
    assert (body["total"], body["applied"], body["unapplied"], body["status"]["refName"]) == (
        80.0,
        80.0,
        0.0,
        "Fully Applied",
    )
    assert ns.record("invoice", inv)["status"]["refName"] == "Paid In Full"
    assert ns.record("customer", cid)["balance"] == 0.0


def test_customer_balance_overdue_and_aging_follow_the_clock(ns: NS, clock: Any) -> None:
    cid = ns.customer(terms={"id": "2"})
    inv = _invoice(ns, cid, 300.0)
    body = ns.record("customer", cid)
    assert (body["balance"], body["overdueBalance"], body["daysOverdue"], body["aging"]) == (
        300.0,
        0.0,
        0,
        300.0,
    )
    clock.advance(days=45)
    body = ns.record("customer", cid)
    assert (body["balance"], body["overdueBalance"], body["daysOverdue"]) == (300.0, 300.0, 15)
    assert (body["aging"], body["aging1"]) == (0.0, 300.0)
    rows = ns.rows(
        f"SELECT c.balancesearch b, c.overduebalancesearch o, c.consoldaysoverduesearch d, "
        f"t.daysoverduesearch td FROM customer c JOIN transaction t ON t.entity = c.id "
        f"WHERE c.id = {cid} AND t.type = 'CustInvc'"
    )
    assert rows == [{"b": "300", "o": "300", "d": "15", "td": "15"}]
    ns.transform("invoice", inv, "customerPayment")
    body = ns.record("customer", cid)
    assert (body["balance"], body["overdueBalance"], body["daysOverdue"]) == (0.0, 0.0, 0)


def test_unbilled_orders_and_sale_dates(ns: NS) -> None:
    cid, item = ns.customer(), ns.item("X", 40.0)
    so = ns.order(cid, [{"item": {"id": item}, "quantity": 2}])
    body = ns.record("customer", cid)
    assert body["unbilledOrders"] == 80.0 and body["firstOrderDate"] == "2025-06-02"
    ns.transform("salesOrder", so, "invoice")
    body = ns.record("customer", cid)
    assert body["unbilledOrders"] == 0.0 and body["balance"] == 80.0 and body["lastSaleDate"] == "2025-06-02"


@pytest.mark.parametrize(
    ("override", "limit", "expected"),
    [
        ("AUTO", 100.0, "T"),
        ("AUTO", 1000.0, "F"),
        ("OFF", 100.0, "F"),
        ("ON", 1000.0, "T"),
        ("AUTO", None, "F"),
    ],
)
def test_credit_hold(ns: NS, override: str, limit: float | None, expected: str) -> None:
    body: dict[str, Any] = {"creditHoldOverride": {"id": override}}
    if limit is not None:
        body["creditLimit"] = limit
    cid = ns.customer(**body)
    _invoice(ns, cid, 150.0)
    assert ns.rows(f"SELECT oncredithold, creditholdoverride FROM customer WHERE id = {cid}") == [
        {"oncredithold": expected, "creditholdoverride": override}
    ]


def test_derived_changes_do_not_touch_customer_last_modified_unless_configured(
    make_ns: Any, clock: Any
) -> None:
    for touch, expected in ((False, "2025-06-02T09:00:00Z"), (True, "2025-06-02T10:00:00Z")):
        clock.set(__import__("datetime").datetime(2025, 6, 2, 9, 0, tzinfo=__import__("datetime").UTC))
        ns = make_ns(derived_touch_last_modified=touch)
        cid, item = ns.customer(), ns.item()
        clock.advance(3600)
        ns.transform("salesOrder", ns.order(cid, [{"item": {"id": item}}]), "invoice")
        assert ns.record("customer", cid)["lastModifiedDate"] == expected


# --- customer stages -------------------------------------------------------------------------------


def test_prospect_becomes_customer_with_first_sales_order(ns: NS) -> None:
    cid, item = ns.customer("Prospect Co", entityStatus={"id": "10"}), ns.item()
    body = ns.record("customer", cid)
    assert body["searchStage"] == "Prospect" and body["entityStatus"]["refName"] == "PROSPECT-Proposal"
    ns.order(cid, [{"item": {"id": item}}])
    body = ns.record("customer", cid)
    assert body["searchStage"] == "Customer" and body["entityStatus"]["id"] == "13"
    assert ns.rows(f"SELECT searchstage FROM customer WHERE id = {cid}") == [{"searchstage": "Customer"}]


def test_lead_to_prospect_to_customer_and_never_back(ns: NS) -> None:
    cid = ns.customer("Lead Co", entityStatus={"id": "7"}, custentity_lead_score=81)
    assert ns.record("customer", cid)["searchStage"] == "Lead"
    ns.update("customer", cid, {"entityStatus": {"id": "9"}})
    assert ns.record("customer", cid)["searchStage"] == "Prospect"
    ns.update("customer", cid, {"entityStatus": {"id": "13"}})
    r = ns.patch(f"/record/v1/customer/{cid}", json={"entityStatus": {"id": "6"}})
    assert r.status_code == 400 and error_code(r) == "INVALID_KEY_OR_REF"


def test_opportunity_makes_a_lead_a_prospect_and_closes_won_on_order(ns: NS) -> None:
    cid, item = ns.customer("Lead Co", entityStatus={"id": "6"}), ns.item("SVC", 500.0)
    opp = ns.create(
        "opportunity",
        {
            "entity": {"id": cid},
            "title": "Big deal",
            "expectedCloseDate": "2025-07-15",
            "item": {"items": [{"item": {"id": item}, "quantity": 2}]},
        },
    )
    body = ns.record("opportunity", opp)
    assert body["status"]["id"] == "A" and body["projectedTotal"] == 1000.0 and body["probability"] == 10.0
    assert ns.record("customer", cid)["searchStage"] == "Prospect"
    so = ns.transform("opportunity", opp, "salesOrder", {"orderStatus": "B"})
    order = ns.record("salesOrder", so)
    assert (
        order["opportunity"]["id"] == opp and order["total"] == 1000.0 and order["createdFrom"]["id"] == opp
    )
    assert ns.record("opportunity", opp)["status"] == {"id": "C", "refName": "Closed – Won"}
    assert ns.record("customer", cid)["searchStage"] == "Customer"
    r = ns.post("/record/v1/opportunity", json={"entity": {"id": cid}, "probability": 150})
    assert r.status_code == 400 and error_code(r) == "INVALID_CONTENT"


# --- OneWorld, required fields, duplicates, references --------------------------------------------


def test_required_fields(ns: NS) -> None:
    r = ns.post("/record/v1/customer", json={"email": "x@y.example"})
    assert r.status_code == 400 and error_code(r) == "USER_ERROR"
    assert (
        detail(r) == "Error while accessing a resource. Please enter value(s) for: Company Name, Subsidiary"
    )
    r = ns.post("/record/v1/customer", json={"isPerson": True, "firstName": "Ada", "subsidiary": {"id": "2"}})
    assert detail(r).endswith("Please enter value(s) for: Last Name")
    r = ns.post("/record/v1/salesOrder", json={"item": {"items": []}})
    assert r.status_code == 400 and detail(r).endswith("Please enter value(s) for: Customer")
    r = ns.post("/record/v1/salesOrder", json={"entity": {"id": ns.customer()}})
    assert r.status_code == 400 and detail(r).endswith("Please enter value(s) for: Items")
    r = ns.post("/record/v1/inventoryItem", json={"displayName": "No id"})
    assert r.status_code == 400 and detail(r).endswith("Please enter value(s) for: Item Name/Number")


def test_person_customer(ns: NS) -> None:
    cid = ns.create(
        "customer", {"isPerson": True, "firstName": "John", "lastName": "Smith", "subsidiary": {"id": "2"}}
    )
    assert ns.record("customer", cid)["entityId"] == "John Smith"


def test_one_world_subsidiary_and_currency_must_agree(ns: NS) -> None:
    us, uk = ns.customer("US Co"), ns.customer("UK Co", subsidiary={"id": "3"})
    item = ns.item()
    uk_only = ns.item("UK-ONLY", 10.0, subsidiary={"items": [{"id": "3"}]}, includeChildren=False)
    r = ns.post(
        "/record/v1/salesOrder",
        json={"entity": {"id": us}, "subsidiary": {"id": "3"}, "item": {"items": [{"item": {"id": item}}]}},
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_KEY_OR_REF"
    assert detail(r) == f"Invalid entity reference key {us} for subsidiary 3."
    r = ns.post(
        "/record/v1/salesOrder", json={"entity": {"id": us}, "item": {"items": [{"item": {"id": uk_only}}]}}
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_KEY_OR_REF"
    assert r.json()["o:errorDetails"][0]["o:errorPath"] == "item.items[0].item"
    assert ns.order(uk, [{"item": {"id": uk_only}}])
    r = ns.post(
        "/record/v1/salesOrder",
        json={"entity": {"id": us}, "currency": {"id": "4"}, "item": {"items": [{"item": {"id": item}}]}},
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_KEY_OR_REF"
    multi = ns.customer("Multi Co", currencyList={"items": [{"currency": {"id": "4"}}]})
    assert (
        ns.record("salesOrder", ns.order(multi, [{"item": {"id": item}}], currency={"id": "4"}))[
            "exchangeRate"
        ]
        == 1.08
    )
    r = ns.post(
        "/record/v1/contact",
        json={"firstName": "A", "lastName": "B", "company": {"id": us}, "subsidiary": {"id": "3"}},
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_KEY_OR_REF"


def test_without_one_world_no_subsidiary_is_needed(make_ns: Any) -> None:
    ns = make_ns(one_world=False)
    cid = ns.create("customer", {"companyName": "Single Co"})
    assert ns.record("customer", cid)["currency"]["refName"] == "USD"


def test_duplicate_detection(make_ns: Any) -> None:
    ns = make_ns()
    ns.customer("Acme Corp", email="ap@acme.example")
    r = ns.post("/record/v1/customer", json={"companyName": "ACME CORP", "subsidiary": {"id": "2"}})
    assert r.status_code == 400 and error_code(r) == "DUP_ENTITY"
    assert "already exists" in detail(r)
    assert ns.customer("Other Co", email="ap@acme.example")
    strict = make_ns(duplicate_detection=("entityid", "email", "companyname"))
    strict.customer("Acme Corp", email="ap@acme.example", entityId="C-1")
    r = strict.post(
        "/record/v1/customer",
        json={"companyName": "Other", "subsidiary": {"id": "2"}, "email": "AP@acme.example"},
    )
    assert r.status_code == 400 and error_code(r) == "DUP_ENTITY"
    r = strict.post(
        "/record/v1/customer", json={"companyName": "acme corp", "subsidiary": {"id": "2"}, "entityId": "C-2"}
    )
    assert r.status_code == 400 and error_code(r) == "DUP_ENTITY"
    ns.create("inventoryItem", {"itemId": "SKU-1"})
    r = ns.post("/record/v1/inventoryItem", json={"itemId": "sku-1"})
    assert r.status_code == 400 and error_code(r) == "DUP_ITEM"


def test_delete_blocked_by_dependent_records(ns: NS) -> None:
    cid, item = ns.customer(), ns.item()
    so = ns.order(cid, [{"item": {"id": item}}])
    for path in (f"customer/{cid}", f"serviceSaleItem/{item}"):
        r = ns.delete(f"/record/v1/{path}")
        assert r.status_code == 400 and error_code(r) == "USER_ERROR"
    inv = ns.transform("salesOrder", so, "invoice")
    assert ns.delete(f"/record/v1/salesOrder/{so}").status_code == 400
    assert ns.delete(f"/record/v1/invoice/{inv}").status_code == 204
    assert ns.record("salesOrder", so)["status"]["id"] == "F"
    assert ns.delete(f"/record/v1/salesOrder/{so}").status_code == 204
