from __future__ import annotations

import pytest
from engine_world import world

from ledgerbridge.core.records import System
from ledgerbridge.core.store import ReviewStatus
from ledgerbridge.engine import Operations

pytestmark = pytest.mark.anyio


async def test_exact_key_after_normalisation_links_instead_of_creating():
    w = world()
    ns_id = w.ns.create("customer", {"companyName": "Globex Inc", "email": "info@globex.com"})
    sf_id = w.sf.create("Account", {"Name": "Globex", "Email__c": "  INFO@Globex.com "})
    summary = await w.engine.sync()
    assert len(w.ns.all("customer")) == 1 and len(w.sf.all("Account")) == 1
    x = await w.store.get_xref("accounts", System.SALESFORCE, sf_id)
    assert x is not None and x.ns_id == ns_id
    assert summary.actions["link"] == 1
    audit = await w.store.list_audit(link="accounts", record_id=sf_id)
    assert any(e.action == "link" and e.rule == "key:Email__c=email" for e in audit)


async def test_external_id_on_the_other_side_links_first():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Initech"})
    ns_id = w.ns.create("customer", {"companyName": "Initech LLC", "externalId": sf_id})
    await w.engine.sync()
    x = await w.store.get_xref("accounts", System.NETSUITE, ns_id)
    assert x is not None and x.sf_id == sf_id
    assert len(w.ns.all("customer")) == 1


async def test_fuzzy_name_auto_links_above_threshold_and_creates_below():
    w = world()
    acme = w.ns.create("customer", {"companyName": "ACME Corporation"})
    w.ns.create("customer", {"companyName": "Umbrella Pharmaceuticals"})
    a = w.sf.create("Account", {"Name": "Acme Corp."})
    b = w.sf.create("Account", {"Name": "Stark Industries"})
    await w.engine.sync()
    xa = await w.store.get_xref("accounts", System.SALESFORCE, a)
    assert xa is not None and xa.ns_id == acme
    xb = await w.store.get_xref("accounts", System.SALESFORCE, b)
    assert xb is not None and w.ns.get("customer", xb.ns_id).fields["companyName"] == "Stark Industries"  # type: ignore[union-attr]


async def test_between_thresholds_goes_to_review_then_a_person_links():
    w = world()
    cand = w.ns.create("customer", {"companyName": "Wayne Enterprises Europe"})
    sf_id = w.sf.create("Account", {"Name": "Wayne Enterprise"})
    summary = await w.engine.sync()
    assert summary.counts["waiting"] == 2  # both records wait on the same review
    assert len(w.ns.all("customer")) == 1 and len(w.sf.all("Account")) == 1  # nothing created
    [review] = await w.store.list_reviews()
    assert review.record_id == sf_id and review.candidates[0].id == cand
    assert 75 <= review.candidates[0].score < 92
    # a second pass does not re-open or create
    await w.engine.sync()
    assert len(await w.store.list_reviews()) == 1 and len(w.ns.all("customer")) == 1
    outcome = await Operations(w.engine).link_review(review.id, cand)
    assert outcome is not None and outcome.outcome.value == "synced"
    x = await w.store.get_xref("accounts", System.SALESFORCE, sf_id)
    assert x is not None and x.ns_id == cand
    assert (await w.store.get_review(review.id)).status is ReviewStatus.LINKED  # type: ignore[union-attr]


async def test_review_decided_as_create_creates_the_partner():
    w = world()
    w.ns.create("customer", {"companyName": "Wayne Enterprises Europe"})
    sf_id = w.sf.create("Account", {"Name": "Wayne Enterprise"})
    await w.engine.sync()
    [review] = await w.store.list_reviews()
    await Operations(w.engine).create_from_review(review.id)
    assert len(w.ns.all("customer")) == 2
    assert await w.store.get_xref("accounts", System.SALESFORCE, sf_id) is not None


async def test_two_records_sharing_a_key_go_to_review_not_a_guess():
    w = world()
    w.ns.create("customer", {"companyName": "A", "email": "x@y.com"})
    w.ns.create("customer", {"companyName": "B", "email": "X@Y.com"})
    w.sf.create("Account", {"Name": "Zed", "Email__c": "x@y.com"})
    await w.engine.sync()
    [review] = await w.store.list_reviews(link="accounts")
    assert len(review.candidates) == 2 and review.candidates[0].rule == "key:Email__c=email"
