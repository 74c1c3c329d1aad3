"""What quote-to-cash relies on in the sandbox, as NetSuite does it: a sales order or invoice
without terms takes the customer's (given terms win, and later changes of the customer leave
existing transactions alone); an invoice created directly is upserted by ``eid:`` (no second one);
a Discount item line with an amount rate counts that amount once, whatever its quantity."""

from __future__ import annotations

from netsuite_sandbox_support import NS


def test_transactions_without_terms_take_the_customers_and_given_terms_win(ns: NS) -> None:
    cid, item = ns.customer(terms={"id": "1"}), ns.item("SVC", 100.0)
    lines = {"items": [{"item": {"id": item}, "quantity": 1}]}
    defaulted = ns.order(cid, lines["items"], tranDate="2025-06-02")
    given = ns.order(cid, lines["items"], tranDate="2025-06-02", terms={"id": "3"})
    terms = ns.record("salesOrder", defaulted)["terms"]
    assert (terms["id"], terms["refName"]) == ("1", "Net 15")
    assert ns.record("salesOrder", given)["terms"]["refName"] == "Net 60"
    invoice = ns.create("invoice", {"entity": {"id": cid}, "tranDate": "2025-06-02", "item": lines})
    body = ns.record("invoice", invoice)
    assert (body["terms"]["refName"], body["dueDate"]) == ("Net 15", "2025-06-17")
    ns.update("customer", cid, {"terms": {"id": "2"}})
    assert ns.record("salesOrder", defaulted)["terms"]["refName"] == "Net 15"
    assert ns.record("invoice", invoice)["terms"]["refName"] == "Net 15"
    no_terms = ns.customer("Cash Co")
    assert "terms" not in ns.record("salesOrder", ns.order(no_terms, lines["items"]))


def test_an_invoice_is_upserted_by_its_external_id(ns: NS) -> None:
    cid, item = ns.customer(), ns.item("SVC", 100.0)
    body = {"entity": {"id": cid}, "item": {"items": [{"item": {"id": item}, "quantity": 2}]}}
    for payload in (body, {"memo": "again"}):  # created, then updated (lines would be appended)
        r = ns.put("/record/v1/invoice/eid:006000000000001AAA", json=payload)
        assert r.status_code == 204, r.text
    rows = ns.rows("SELECT id, externalid FROM transaction WHERE type = 'CustInvc'")
    assert [row["externalid"] for row in rows] == ["006000000000001AAA"]
    invoice = ns.record("invoice", "eid:006000000000001AAA")
    assert (invoice["total"], invoice["status"]["refName"], invoice["tranId"], invoice["memo"]) == \
        (200.0, "Open", "INV1001", "again")


def test_an_amount_discount_line_counts_once_whatever_its_quantity(ns: NS) -> None:
    cid, item = ns.customer(), ns.item("SVC", 10.0)
    discount = ns.create("discountItem", {"itemId": "DISC", "rate": -1})
    so = ns.order(cid, [{"item": {"id": item}, "quantity": 3},
                        {"item": {"id": discount}, "rate": -4.5, "quantity": 3}])
    body = ns.record("salesOrder", so, expandSubResources="true")
    assert [ln["amount"] for ln in body["item"]["items"]] == [30.0, -4.5]
    assert body["total"] == 25.5
