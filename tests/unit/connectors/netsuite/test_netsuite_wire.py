"""Pure builders and parsers of ``wire.py`` against the vendor-shaped fixtures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from netsuite_testkit import load_wire

from ledgerbridge.connectors.netsuite import wire
from ledgerbridge.core.records import Watermark


def test_record_paths_address_ids_and_external_ids() -> None:
    assert wire.record_path("customer") == "/record/v1/customer"
    assert wire.record_path("salesOrder", "55") == "/record/v1/salesOrder/55"
    assert wire.record_path("customer", external_id="SF-001A_b") == "/record/v1/customer/eid:SF-001A_b"
    assert wire.record_path("customer", external_id="a b") == "/record/v1/customer/eid:a%20b"


def test_record_body_turns_read_references_into_id_refs_and_lists_into_sublists() -> None:
    read = load_wire("record_customer_107.json")
    body = wire.record_body({
        "companyName": "Acme", "currency": read["currency"], "subsidiary": {"id": 1},
        "creditHoldOverride": {"id": "AUTO", "refName": "Auto"},
        "addressBook": [{"label": "HQ", "addressBookAddress": {"country": {"id": "US"}, "city": "Austin"}}],
        "item": {"items": [{"item": {"id": "98", "refName": "Widget", "links": []}, "quantity": 2}]},
        "id": "107", "links": [],
    }, external_id="SF-1")
    assert body == {
        "companyName": "Acme", "currency": {"id": "1"}, "subsidiary": {"id": "1"},
        "creditHoldOverride": {"id": "AUTO"},
        "addressBook": {"items": [{"label": "HQ", "addressBookAddress": {"country": {"id": "US"},
                                                                           "city": "Austin"}}]},
        "item": {"items": [{"item": {"id": "98"}, "quantity": 2}]},
        "externalId": "SF-1",
    }
    assert wire.record_body({"externalId": "x", "a": 1}, for_upsert=True) == {"a": 1}
    assert wire.record_body({"item": {"items": None}}) == {"item": {"items": None}}
    assert wire.ref(5) == {"id": "5"}
    assert wire.sublist([{"item": wire.ref(1)}]) == {"items": [{"item": {"id": "1"}}]}


def test_id_from_location() -> None:
    loc = "https://123456-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/647"
    assert wire.id_from_location(loc) == "647"
    assert wire.id_from_location("/services/rest/record/v1/customer/647/") == "647"
    assert wire.id_from_location(None) is None
    assert wire.job_id_from_location("/services/rest/async/v1/job/123456") == "123456"
    assert wire.job_id_from_location("/services/rest/record/v1/customer/1") is None


def test_parse_record_drops_links_everywhere_and_reads_the_modification_stamp() -> None:
    doc = wire.parse_record(load_wire("record_customer_107.json"))
    assert doc.id == "107"
    assert doc.modified_at == datetime(2024, 5, 2, 17, 3, 11, tzinfo=UTC)
    assert doc.fields["currency"] == {"id": "1", "refName": "USD"}
    assert doc.fields["addressBook"] == {}
    assert "links" not in doc.fields
    with pytest.raises(ValueError):
        wire.parse_record([1])


def test_suiteql_page_lower_cases_columns_and_keeps_strings() -> None:
    page = wire.parse_suiteql_page(load_wire("suiteql_page.json"))
    assert page.has_more and page.total_results == 3 and page.count == 2 and page.offset == 0
    assert page.rows[0] == {"id": "647", "entityid": "Acme Corp", "companyname": "Acme Corp", "isperson": "F",
                            "creditlimit": "5000"}
    assert page.rows[1]["entityid"] == "Beta LLC"
    assert "companyname" not in page.rows[1]  # NULL columns are left out
    assert page.next_href and page.next_href.endswith("offset=2")


def test_suiteql_has_more_falls_back_to_the_next_link() -> None:
    body = {"items": [], "links": [{"rel": "next", "href": "x"}]}
    assert wire.parse_suiteql_page(body).has_more
    assert not wire.parse_suiteql_page({"items": []}).has_more
    with pytest.raises(ValueError):
        wire.parse_suiteql_page({"rows": []})


@pytest.mark.parametrize(("raw", "kind", "value"), [
    ("T", "bool", True), ("F", "bool", False), ("143", "int", 143), ("12.50", "float", 12.5),
    ("2024-05-02", "date", "2024-05-02"), (None, "str", None), ("", "int", None), ("Acme", "str", "Acme"),
    ("2024-05-02 17:03:11", "datetime", datetime(2024, 5, 2, 17, 3, 11, tzinfo=UTC)),
])
def test_suiteql_values_are_converted_from_strings(raw: str | None, kind: wire.ColumnType,
                                                   value: object) -> None:
    assert wire.suiteql_value(raw, kind) == value


def test_suiteql_datetimes_round_trip_through_the_user_time_zone() -> None:
    moment = datetime(2024, 5, 2, 17, 3, 11, tzinfo=UTC)
    text = wire.format_suiteql_datetime(moment, "America/Los_Angeles")
    assert text == "2024-05-02 10:03:11"
    assert wire.parse_suiteql_datetime(text, "America/Los_Angeles") == moment
    assert wire.parse_suiteql_datetime("2024-05-02 17:03:11.5") == moment.replace(microsecond=500000)


def test_suiteql_paging_parameters_follow_the_limits() -> None:
    assert wire.suiteql_params(1000, 2000) == {"limit": "1000", "offset": "2000"}
    with pytest.raises(ValueError):
        wire.suiteql_params(1001, 0)
    with pytest.raises(ValueError):
        wire.suiteql_params(1000, 10)
    assert wire.suiteql_body("SELECT 1", ["a", 2]) == {"q": "SELECT 1", "params": ["a", "2"]}  # type: ignore[list-item]


def test_changes_query_orders_uniquely_and_binds_the_watermark() -> None:
    since = Watermark(datetime(2024, 5, 1, tzinfo=UTC), "10")
    q = wire.changes_query("customer", since, where="isinactive = 'F'")
    assert q.q == ("SELECT id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lastmodified "
                   "FROM customer WHERE lastmodifieddate >= TO_DATE(?, 'YYYY-MM-DD HH24:MI:SS') "
                   "AND (isinactive = 'F') "
                   "ORDER BY lastmodifieddate, id")
    assert q.params == ("2024-05-01 00:00:00",)
    assert "WHERE" not in wire.changes_query("customer", None).q


def test_changes_query_for_transactions_filters_by_type_and_keysets_after_a_row() -> None:
    q = wire.changes_query("salesOrder", None, after=(datetime(2024, 5, 1, 8, tzinfo=UTC), "77"))
    assert "FROM transaction WHERE type = ?" in q.q
    assert "(lastmodifieddate > TO_DATE(?, 'YYYY-MM-DD HH24:MI:SS') OR (lastmodifieddate = TO_DATE(" in q.q
    assert q.params == ("SalesOrd", "2024-05-01 08:00:00", "2024-05-01 08:00:00", "77")
    assert wire.query_source("inventoryItem") == wire.QuerySource("item", "itemtype = ?", ("InvtPart",))


def test_find_and_deleted_queries() -> None:
    q = wire.find_query("customer", "email", ["a@x", "b@x"])
    assert q.q == "SELECT id FROM customer WHERE email IN (?, ?) ORDER BY id"
    assert q.params == ("a@x", "b@x")
    with pytest.raises(ValueError):
        wire.find_query("customer", "email; DROP", ["x"])
    d = wire.deleted_query("customer", Watermark(datetime(2024, 1, 1, tzinfo=UTC)))
    assert "FROM deletedrecord WHERE LOWER(type) = ?" in d.q
    assert d.params == ("customer", "2024-01-01 00:00:00")
    assert wire.q_filter("email", ["a", 'b"c']) == 'email IS "a" OR email IS "bc"'


def test_collection_batch_and_job_parsers() -> None:
    ids, more = wire.parse_collection_ids(load_wire("collection_page.json"))
    assert ids == ["107", "41"] and more
    job = wire.parse_job(load_wire("async_job.json"))
    assert job.id == "1" and not job.completed and job.progress == "pending"
    assert job.task_href and job.task_href.endswith("/job/1/task")
    tasks, more = wire.parse_task_list(load_wire("async_task_list.json"))
    assert [t.id for t in tasks] == ["1", "2", "10"] and not more
    task = wire.parse_task(load_wire("async_task.json"))
    assert task.completed and task.result_href and task.result_href.endswith("/task/1/result")
    with pytest.raises(ValueError):
        wire.batch_body([{}] * 101)
    assert wire.batch_body([{"a": 1}]) == {"items": [{"a": 1}]}


def test_governance_limits() -> None:
    limits = wire.parse_governance_limits(load_wire("governance_limits.json"))
    assert (limits.account_limit, limits.unallocated_limit, limits.integration_limit) == (5, 3, 2)
    assert limits.usable == 2
    assert wire.parse_governance_limits({"accountConcurrencyLimit": 5,
                                         "integrationLimitType": "accountLimit"}).usable == 5


def test_schema_from_json_schema() -> None:
    schema = wire.parse_schema("customer", {
        "type": "object", "title": "Customer",
        "properties": {
            "companyName": {"type": "string", "title": "Company Name", "maxLength": 83},
            "id": {"type": "string", "readOnly": True},
            "externalId": {"type": "string"},
            "isPerson": {"type": "boolean"},
            "lastModifiedDate": {"type": "string", "format": "date-time", "readOnly": True},
            "currency": {"$ref": "/services/rest/record/v1/metadata-catalog/currency"},
            "addressBook": {"type": "object", "properties": {"items": {"type": "array"}}},
            "creditHoldOverride": {"type": "object",
                                   "properties": {"id": {"type": "string", "enum": ["AUTO"]}}},
            "stage": {"type": "string", "enum": ["LEAD", "PROSPECT"]},
        }})
    assert schema.label == "Customer"
    assert schema.fields["companyName"].length == 83 and schema.fields["companyName"].label == "Company Name"
    assert not schema.fields["id"].createable
    assert schema.fields["externalId"].is_external_id
    assert schema.fields["lastModifiedDate"].type == "datetime"
    assert schema.fields["currency"].reference_to == ("currency",)
    assert schema.fields["addressBook"].type == "sublist"
    assert schema.fields["creditHoldOverride"].type == "reference"
    assert schema.fields["stage"].picklist == ("LEAD", "PROSPECT")
    assert schema.field("COMPANYNAME") is schema.fields["companyName"]
