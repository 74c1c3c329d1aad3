"""Pure builders and parsers of ``wire.py`` against fixtures from reference/salesforce-api.md."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerbridge.connectors.salesforce import wire
from ledgerbridge.core.errors import ConfigError, ErrorKind, ProtocolError
from ledgerbridge.core.records import Watermark, Write

FIXTURES = Path(__file__).parents[3] / "fixtures" / "salesforce" / "wire"


def load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


# ---- values ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["2024-01-01T00:00:00.000+0000", "2024-01-01T00:00:00Z",
                                  "2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00.000Z"])
def test_parse_datetime_accepts_salesforce_and_iso_forms(text: str) -> None:
    assert wire.parse_datetime(text) == datetime(2024, 1, 1, tzinfo=UTC)


def test_parse_datetime_keeps_offsets_and_millis() -> None:
    got = wire.parse_datetime("2011-07-07T00:37:00.123-0700")
    assert got == datetime(2011, 7, 7, 7, 37, 0, 123000, tzinfo=UTC)


def test_parse_datetime_rejects_garbage() -> None:
    with pytest.raises(ProtocolError):
        wire.parse_datetime("yesterday")


def test_format_datetime_is_salesforce_output_form() -> None:
    # reference §10.2: yyyy-MM-dd'T'HH:mm:ss.SSS+0000
    got = wire.format_datetime(datetime(2020, 6, 14, 19, 35, 49, tzinfo=UTC))
    assert got == "2020-06-14T19:35:49.000+0000"
    east = timezone(timedelta(hours=2))
    assert wire.format_datetime(datetime(2020, 6, 14, 21, 35, 49, 5000, tzinfo=east)) == \
        "2020-06-14T19:35:49.005+0000"


def test_soql_datetime_is_unquoted_utc() -> None:
    # reference §4: WHERE SystemModstamp > 2024-01-01T00:00:00Z
    assert wire.soql_datetime(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00Z"
    # floored to the second: a >= filter then re-reads a little more, never less
    assert wire.soql_datetime(datetime(2024, 1, 1, 0, 0, 0, 999000, tzinfo=UTC)) == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(("value", "literal"), [
    ("Acme", "'Acme'"),
    ("O'Brien", r"'O\'Brien'"),
    ("back\\slash", r"'back\\slash'"),
    ('say "hi"', r"""'say \"hi\"'"""),
    ("line\nbreak\ttab", r"'line\nbreak\ttab'"),
    ("x' OR Name != '", r"'x\' OR Name != \''"),
    (None, "null"), (True, "true"), (False, "false"), (42, "42"), (1.5, "1.5"),
    (date(2024, 1, 1), "2024-01-01"),
    (datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01T00:00:00Z"),
])
def test_soql_literal_quotes_and_escapes(value: object, literal: str) -> None:
    assert wire.soql_literal(value) == literal


@pytest.mark.parametrize("value", [float("nan"), {"a": 1}, [1]])
def test_soql_literal_refuses_values_without_a_soql_form(value: object) -> None:
    with pytest.raises(ConfigError):
        wire.soql_literal(value)


@given(st.text())
def test_soql_string_never_lets_a_quote_escape(value: str) -> None:
    literal = wire.soql_string(value)
    body = literal[1:-1]
    # every quote inside is escaped, and no trailing lone backslash can swallow the closing quote
    i = 0
    while i < len(body):
        if body[i] == "\\":
            assert i + 1 < len(body)
            i += 2
            continue
        assert body[i] not in "'\n"
        i += 1


@pytest.mark.parametrize("name", ["Name", "NetSuite_Id__c", "Account.Name", "Owner.Profile.Name"])
def test_soql_identifier_accepts_api_names(name: str) -> None:
    assert wire.soql_identifier(name) == name


@pytest.mark.parametrize("name", ["Name, (SELECT Id FROM Contacts)", "Name FROM User --", "1abc", "",
                                  "Na me", "Name'"])
def test_soql_identifier_refuses_injection(name: str) -> None:
    with pytest.raises(ConfigError):
        wire.soql_identifier(name)


def test_is_salesforce_id() -> None:
    assert wire.is_salesforce_id("001M000000qfPyS")
    assert wire.is_salesforce_id("001M000000qfPySIAU")
    assert not wire.is_salesforce_id("001M000000qfPy")
    assert not wire.is_salesforce_id("001M000000qfPyS'")


# ---- SOQL --------------------------------------------------------------------------------

def test_changes_soql_orders_by_modstamp_then_id_from_the_watermark() -> None:
    since = Watermark(datetime(2024, 1, 1, tzinfo=UTC), "001000000000001AAA")
    soql = wire.changes_soql("Account", ["Name", "Id"], since, "Type = 'Customer'")
    assert soql == ("SELECT Id, SystemModstamp, Name FROM Account WHERE SystemModstamp >= "
                    "2024-01-01T00:00:00Z AND (Type = 'Customer') ORDER BY SystemModstamp ASC, Id ASC")


def test_changes_soql_without_watermark_reads_everything() -> None:
    assert wire.changes_soql("Account", ["Name"], None) == \
        "SELECT Id, SystemModstamp, Name FROM Account ORDER BY SystemModstamp ASC, Id ASC"


def test_deleted_soql_selects_master_record_for_merges() -> None:
    soql = wire.deleted_soql("Account", Watermark(datetime(2024, 1, 1, tzinfo=UTC)), with_master=True)
    assert soql == ("SELECT Id, IsDeleted, SystemModstamp, MasterRecordId FROM Account "
                    "WHERE IsDeleted = true AND SystemModstamp >= 2024-01-01T00:00:00Z "
                    "ORDER BY SystemModstamp ASC, Id ASC")


def test_in_soql_escapes_every_value() -> None:
    soql = wire.in_soql("Account", ["Name"], "NetSuite_Id__c", ["1", "it's"])
    assert soql == r"SELECT Id, Name FROM Account WHERE NetSuite_Id__c IN ('1', 'it\'s')"


def test_in_soql_refuses_text_beyond_the_soql_limit() -> None:
    with pytest.raises(ConfigError, match="100000"):
        wire.in_soql("Account", ["Name"], "Name", ["x" * 1000] * 120)


# ---- query pages and records -------------------------------------------------------------

def test_parse_query_page_first_page() -> None:
    page = wire.parse_query_page(load("query_first_page.json"))
    assert (page.total_size, page.done) == (3, False)
    assert page.next_url == "/services/data/v62.0/query/01gD0000002HU6KIAW-2"
    assert len(page.records) == 2


def test_parse_query_page_last_and_empty() -> None:
    last = wire.parse_query_page(load("query_last_page.json"))
    assert last.done and last.next_url is None
    empty = wire.parse_query_page(load("query_empty.json"))
    assert (empty.total_size, empty.done, empty.records) == (0, True, [])


@pytest.mark.parametrize("body", [[], {"records": "x"}, {"done": False, "records": []}])
def test_parse_query_page_rejects_other_shapes(body: object) -> None:
    with pytest.raises(ProtocolError):
        wire.parse_query_page(body)


def test_parse_record_drops_attributes_everywhere_and_reads_system_fields() -> None:
    raw = wire.parse_query_page(load("query_first_page.json")).records[0]
    rec = wire.parse_record(raw)
    assert rec.object == "Account"
    assert rec.id == "001D000000IRFmaIAH"
    assert "attributes" not in rec.fields
    assert rec.fields["Owner"] == {"Name": "Ada Admin"}
    assert rec.fields["BillingAddress"]["city"] == "Austin"  # type: ignore[index]
    assert rec.modified_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert rec.is_deleted is False and rec.merged_into is None


def test_parse_record_reads_merge_winner() -> None:
    rec = wire.parse_record({"Id": "001000000000002AAA", "IsDeleted": True,
                             "MasterRecordId": "001000000000001AAA",
                             "SystemModstamp": "2024-01-01T00:00:00.000+0000"}, "Account")
    assert rec.is_deleted and rec.merged_into == "001000000000001AAA"
    deleted = wire.parse_deleted({"Id": "001000000000002AAA", "IsDeleted": True, "MasterRecordId": None,
                                  "SystemModstamp": "2024-01-01T00:00:00.000+0000"}, "Account")
    assert deleted.merged_into is None and deleted.deleted_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_parse_record_without_id_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        wire.parse_record({"Name": "x"})


def test_watermark_of_is_the_last_record() -> None:
    page = wire.parse_query_page(load("query_first_page.json"))
    recs = [wire.parse_record(r) for r in page.records]
    assert wire.watermark_of(recs) == Watermark(datetime(2024, 1, 1, tzinfo=UTC), "001D000000IRFmbIAH")
    assert wire.watermark_of([]) is None


# ---- describe and token ------------------------------------------------------------------

def test_parse_describe() -> None:
    schema = wire.parse_describe(load("describe_account.json"))
    assert schema.name == "Account"
    name = schema.fields["Name"]
    assert (name.type, name.length, name.nillable, name.createable) == ("string", 255, False, True)
    assert schema.fields["OwnerId"].nillable  # defaultedOnCreate: not required on create
    assert schema.fields["NetSuite_Id__c"].is_external_id
    assert schema.fields["ParentId"].reference_to == ("Account",)
    assert schema.fields["Type"].picklist == ("Prospect",)  # inactive values left out
    assert schema.field("netsuite_id__c") is schema.fields["NetSuite_Id__c"]
    assert "BillingAddress" not in wire.queryable_fields(schema)
    assert "Name" in wire.queryable_fields(schema)


def test_parse_token_response() -> None:
    token = wire.parse_token_response(load("token_success.json"))
    assert token.instance_url == "https://sfhousing--full.cs97.my.salesforce.com"
    assert token.issued_at == datetime.fromtimestamp(1531263554.644, UTC)
    assert token.id_url is not None and token.id_url.endswith("/0050P000007QAY9QAO")
    assert token.access_token not in repr(token)


def test_parse_token_response_without_token_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        wire.parse_token_response({"instance_url": "https://x"})


# ---- collections and composite -----------------------------------------------------------

def test_create_calls_chunk_by_200_with_attributes_and_without_id() -> None:
    writes = [Write({"Name": f"A{i}", "Id": "x", "attributes": {"type": "Bad"}}) for i in range(450)]
    calls = wire.create_calls("Account", writes, list(range(450)))
    assert [len(c.indices) for c in calls] == [200, 200, 50]
    first = calls[0]
    assert (first.method, first.path) == ("POST", "/composite/sobjects")
    assert first.body is not None and first.body["allOrNone"] is False
    rec = first.body["records"][0]  # type: ignore[index]
    assert rec == {"attributes": {"type": "Account"}, "Name": "A0"}


def test_update_calls_carry_the_id() -> None:
    calls = wire.update_calls("Account", [Write({"Name": "B"}, id="001000000000001AAA")], [0])
    assert calls[0].method == "PATCH"
    assert calls[0].body["records"] == [  # type: ignore[index]
        {"attributes": {"type": "Account"}, "Name": "B", "Id": "001000000000001AAA"}]


def test_upsert_calls_put_the_key_in_the_record_and_path() -> None:
    writes = [Write({"Name": "C", "NetSuite_Id__c": "stale"}, external_id="42")]
    calls = wire.upsert_calls("Account", "NetSuite_Id__c", writes, ["42"], [0])
    assert (calls[0].method, calls[0].path) == ("PATCH", "/composite/sobjects/Account/NetSuite_Id__c")
    assert calls[0].body["records"] == [  # type: ignore[index]
        {"attributes": {"type": "Account"}, "Name": "C", "NetSuite_Id__c": "42"}]


def test_delete_calls_list_ids_in_the_query() -> None:
    calls = wire.delete_calls(["001000000000001AAA", "001000000000002AAA"], [0, 1])
    assert calls[0].method == "DELETE" and calls[0].body is None
    assert calls[0].path == "/composite/sobjects?ids=001000000000001AAA,001000000000002AAA&allOrNone=false"


def test_parse_collection_results_aligns_successes_and_errors() -> None:
    got = wire.parse_collection_results(load("collections_mixed_results.json"), 4)
    assert got[0] == ("001RM000003oLnnYAE", False, None)
    dup = got[1][2]
    assert dup is not None and (dup.code, dup.kind) == ("DUPLICATE_VALUE", ErrorKind.RECORD)
    missing = got[2][2]
    assert missing is not None and missing.fields == ("Name",)
    lock = got[3][2]
    assert lock is not None and (lock.code, lock.kind) == ("UNABLE_TO_LOCK_ROW", ErrorKind.TRANSIENT)


def test_parse_collection_results_reads_created() -> None:
    got = wire.parse_collection_results(load("collections_upsert_results.json"), 2)
    assert [(rid, created) for rid, created, _ in got] == [("0035500001H9cakAAB", True),
                                                          ("0035500001H9calAAB", False)]


def test_parse_collection_results_with_the_wrong_count_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        wire.parse_collection_results(load("collections_upsert_results.json"), 3)


def test_composite_body_numbers_subrequests_and_keeps_order() -> None:
    calls = wire.create_calls("Account", [Write({"Name": "x"})] * 201, list(range(201)))
    body = wire.composite_body(calls, "/services/data/v62.0")
    assert body["allOrNone"] is False and body["collateSubrequests"] is False
    subs = body["compositeRequest"]
    assert isinstance(subs, list)
    assert [s["referenceId"] for s in subs] == ["c0", "c1"]  # type: ignore[index]
    assert subs[0]["url"] == "/services/data/v62.0/composite/sobjects"  # type: ignore[index]


def test_parse_composite_orders_by_reference_and_maps_failed_subrequests() -> None:
    subs = wire.parse_composite(load("composite_response.json"), 2)
    assert [s.status for s in subs] == [201, 404]
    err = wire.subresponse_error(subs[1])
    assert (err.code, err.kind) == ("NOT_FOUND", ErrorKind.NOT_FOUND)


def test_parse_composite_missing_reference_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        wire.parse_composite(load("composite_response.json"), 3)


# ---- bulk CSV ----------------------------------------------------------------------------

def test_encode_csv_quotes_all_marks_nulls_and_leaves_missing_cells_empty() -> None:
    upload = wire.encode_csv([{"NetSuite_Id__c": "1", "Name": 'Acme "Big", Inc.', "Phone": None},
                              {"NetSuite_Id__c": "2", "Name": "Line\nBreak", "Active__c": True}],
                             first=["NetSuite_Id__c"])
    assert upload.columns == ("NetSuite_Id__c", "Name", "Phone", "Active__c")
    assert upload.text.splitlines()[0] == '"NetSuite_Id__c","Name","Phone","Active__c"'
    assert upload.text.splitlines()[1] == '"1","Acme ""Big"", Inc.","#N/A",""'
    assert wire.decode_csv(upload.text)[1] == {"NetSuite_Id__c": "2", "Name": "Line\nBreak", "Phone": "",
                                               "Active__c": "true"}


def test_encode_csv_flattens_relationship_references() -> None:
    upload = wire.encode_csv([{"LastName": "X", "Account": {"NetSuite_Id__c": "A-1"}}])
    assert upload.columns == ("LastName", "Account.NetSuite_Id__c")


def test_decode_bulk_results_fixtures() -> None:
    ok = wire.decode_csv((FIXTURES / "bulk_successful_results.csv").read_text())
    assert ok == [{"sf__Id": "0012f000007uKgsAAE", "sf__Created": "true", "Name": "Foo Bar"}]
    assert wire.decode_csv("") == []


def test_parse_bulk_error_splits_code_message_and_fields() -> None:
    row = wire.decode_csv((FIXTURES / "bulk_failed_results.csv").read_text())[0]
    err = wire.parse_bulk_error(row["sf__Error"])
    assert (err.code, err.message, err.fields) == ("REQUIRED_FIELD_MISSING",
                                                   "Required fields are missing: [Name]", ("Name",))
    assert err.kind is ErrorKind.RECORD
    assert wire.parse_bulk_error("DUPLICATE_VALUE:duplicate value found: x --").code == "DUPLICATE_VALUE"
    assert wire.parse_bulk_error("something odd").code == "BULK_ERROR"


def test_align_bulk_results_restores_input_order() -> None:
    upload = wire.encode_csv([{"NetSuite_Id__c": str(i), "Name": f"N{i}"} for i in range(4)],
                             first=["NetSuite_Id__c"])
    successful = [
        {"sf__Id": "001000000000003AAA", "sf__Created": "false", "NetSuite_Id__c": "3", "Name": "N3"},
        {"sf__Id": "001000000000000AAA", "sf__Created": "true", "NetSuite_Id__c": "0", "Name": "N0"}]
    failed = [{"sf__Id": "", "sf__Error": "STRING_TOO_LONG:too long:Name --", "NetSuite_Id__c": "1",
               "Name": "N1"}]
    results = wire.align_bulk_results(upload, successful, failed, [])
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert results[0].id == "001000000000000AAA" and results[0].created
    assert results[3].ok and not results[3].created
    assert results[1].error is not None and results[1].error.code == "STRING_TOO_LONG"
    assert results[2].error is not None and results[2].error.code == "MISSING_RESULT"


def test_align_bulk_results_matches_duplicate_rows_once_each_and_unprocessed() -> None:
    upload = wire.encode_csv([{"Name": "Same"}, {"Name": "Same"}, {"Name": "Other"}])
    results = wire.align_bulk_results(
        upload, [{"sf__Id": "001000000000001AAA", "sf__Created": "true", "Name": "Same"}],
        [{"sf__Id": "", "sf__Error": "DUPLICATE_VALUE:dup --", "Name": "Same"}], [{"Name": "Other"}])
    assert results[0].ok and results[1].error is not None
    assert results[2].error is not None and results[2].error.kind is ErrorKind.TRANSIENT
