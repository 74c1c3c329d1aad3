from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgerbridge.core.records import Record, System
from ledgerbridge.engine.conflicts import merge_pair
from ledgerbridge.flows.mapping import LinkMapping, MapContext
from ledgerbridge.flows.spec import LinkSpec

SF, NS = System.SALESFORCE, System.NETSUITE
T1, T2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
MAPPING = LinkMapping("a", LinkSpec.model_validate({
    "salesforce": "Account", "netsuite": "customer",
    "fields": [{"salesforce": "Name", "netsuite": "companyName"},
               {"salesforce": "Phone", "netsuite": "phone", "conflict": "netsuite"},
               {"salesforce": "Limit__c", "netsuite": "creditLimit", "direction": "to_salesforce"},
               {"salesforce": "Url", "netsuite": "url", "conflict": "review"}]}))
BASE_S = {"Name": "A", "Phone": "1", "Limit__c": 10, "Url": "u"}
BASE_N = {"Name": "A", "Phone": "1", "Limit__c": 10, "Url": "u"}


def merge(sf_fields, ns_fields, *, sf_at=T1, ns_at=T1, base=True, prefer=None):
    sf = Record("Account", "s", {**BASE_S, **sf_fields}, sf_at)
    ns = Record("customer", "n", {**{"companyName": "A", "phone": "1", "creditLimit": 10, "url": "u"},
                                  **ns_fields}, ns_at)
    return merge_pair(MAPPING, sf, ns, sf_baseline=BASE_S if base else None,
                      ns_baseline=BASE_N if base else None, ctx=MapContext(), prefer=prefer)


def decision(out, key):
    return next(d for d in out.decisions if d.field == key)


def test_nothing_changed_means_nothing_to_write():
    out = merge({}, {})
    assert not out.has_writes and {d.action for d in out.decisions} == {"in_sync"}


def test_one_side_changed_is_copied_across():
    out = merge({"Name": "B"}, {"creditLimit": 20})
    assert out.writes[NS] == {"Name": "B"} and out.writes[SF] == {"Limit__c": 20}


@pytest.mark.parametrize(("sf_at", "ns_at", "winner"), [(T2, T1, SF), (T1, T2, NS), (T1, T1, SF)])
def test_newest_wins_by_record_stamp(sf_at, ns_at, winner):
    out = merge({"Name": "S"}, {"companyName": "N"}, sf_at=sf_at, ns_at=ns_at)
    d = decision(out, "Name")
    assert d.conflict and d.winner is winner and d.rule == "newest"


def test_owner_wins_and_review_parks():
    out = merge({"Phone": "2", "Url": "s"}, {"phone": "3", "url": "n"})
    assert out.writes[SF] == {"Phone": "3"}
    assert decision(out, "Url").action == "parked" and "Url" not in out.writes[NS]


def test_both_changed_to_the_same_value_is_in_sync():
    out = merge({"Name": "Z"}, {"companyName": "Z"})
    assert not out.has_writes


def test_edit_on_the_target_of_a_one_way_field_is_ignored_not_propagated():
    out = merge({"Limit__c": 99}, {})
    d = decision(out, "Limit__c")
    assert d.action == "ignored" and not out.has_writes


def test_no_baseline_and_a_created_record_prefers_its_source_except_one_way_fields():
    out = merge({"Name": "S"}, {"companyName": "N", "creditLimit": 5}, base=False, prefer=SF)
    assert out.writes[NS] == {"Name": "S"} and out.writes[SF] == {"Limit__c": 5}
