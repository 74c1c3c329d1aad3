"""SOQL: grammar, parent paths, subqueries, aggregates, date literals, paging and errors (reference §4)."""

from __future__ import annotations

from datetime import date

import pytest
from salesforce_sandbox_support import BASE, Api

from ledgerbridge_sandbox.salesforce.errors import QueryError
from ledgerbridge_sandbox.salesforce.soql.dates import literal_range
from ledgerbridge_sandbox.salesforce.soql.parser import parse

pytestmark = pytest.mark.anyio


async def _data(api: Api) -> dict[str, str]:
    api.state.config.duplicate_rules = False
    acme = await api.create(
        "Account", {"Name": "Acme", "Industry": "Energy", "AnnualRevenue": 100, "NumberOfEmployees": 10}
    )
    globex = await api.create("Account", {"Name": "Globex", "Industry": "Energy", "AnnualRevenue": 300})
    initech = await api.create("Account", {"Name": "Initech", "Industry": "Retail"})
    c1 = await api.create(
        "Contact", {"LastName": "Zed", "FirstName": "Ann", "AccountId": acme, "Email": "ann@acme.example"}
    )
    c2 = await api.create("Contact", {"LastName": "Young", "AccountId": acme})
    await api.create("Contact", {"LastName": "O'Brien", "AccountId": globex})
    for n, (stage, amount, close) in enumerate(
        [
            ("Prospecting", 100, "2024-06-03"),
            ("Closed Won", 250, "2024-05-15"),
            ("Closed Won", 50, "2023-12-31"),
        ]
    ):
        await api.create(
            "Opportunity",
            {
                "Name": f"O{n}",
                "StageName": stage,
                "Amount": amount,
                "CloseDate": close,
                "AccountId": acme if n < 2 else globex,
            },
        )
    return {"acme": acme, "globex": globex, "initech": initech, "c1": c1, "c2": c2}


async def test_records_have_attributes_and_parent_paths_nest(api: Api) -> None:
    ids = await _data(api)
    r = await api.query(
        "SELECT Id, LastName, Account.Name, Account.Owner.Email, Owner.Username FROM Contact "
        "WHERE LastName = 'zed'"
    )
    assert r["totalSize"] == 1 and r["done"] is True and "nextRecordsUrl" not in r
    rec = r["records"][0]
    assert list(rec) == ["attributes", "Id", "LastName", "Account", "Owner"]
    assert rec["attributes"] == {"type": "Contact", "url": f"{BASE}/sobjects/Contact/{ids['c1']}"}
    assert rec["Account"]["attributes"]["type"] == "Account"
    assert rec["Account"]["Name"] == "Acme"
    assert rec["Account"]["Owner"]["Email"] == "integration@ledgerbridge.sandbox"
    orphan = await api.create("Contact", {"LastName": "Solo"})
    rows = (await api.query(f"SELECT Account.Name FROM Contact WHERE Id = '{orphan}'"))["records"]
    assert rows[0]["Account"] is None


async def test_child_subqueries_return_a_result_or_null(api: Api) -> None:
    await _data(api)
    r = await api.query(
        "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account ORDER BY Name"
    )
    acme, globex, initech = r["records"]
    assert acme["Contacts"]["totalSize"] == 2 and acme["Contacts"]["done"] is True
    assert [c["LastName"] for c in acme["Contacts"]["records"]] == ["Young", "Zed"]
    assert globex["Contacts"]["records"][0]["LastName"] == "O'Brien"
    assert initech["Contacts"] is None


async def test_where_operators(api: Api) -> None:
    await _data(api)

    async def names(where: str) -> list[str]:
        rows = (await api.query(f"SELECT Name FROM Account WHERE {where} ORDER BY Name"))["records"]
        return [row["Name"] for row in rows]

    assert await names("Name LIKE 'a%'") == ["Acme"]
    assert await names("Name LIKE '_lobex'") == ["Globex"]
    assert await names("Name IN ('acme', 'Initech')") == ["Acme", "Initech"]
    assert await names("Name NOT IN ('Acme')") == ["Globex", "Initech"]
    assert await names("AnnualRevenue > 100") == ["Globex"]
    assert await names("AnnualRevenue >= 100 AND Industry = 'Energy'") == ["Acme", "Globex"]
    assert await names("(Industry = 'Retail' OR AnnualRevenue < 200) AND NOT Name = 'Initech'") == ["Acme"]
    assert await names("NumberOfEmployees = null") == ["Globex", "Initech"]
    assert await names("NumberOfEmployees != null") == ["Acme"]
    assert await names("Name != 'Acme'") == ["Globex", "Initech"]
    assert await names("Id IN (SELECT AccountId FROM Contact WHERE LastName LIKE 'O\\'%')") == ["Globex"]
    assert await names("Id NOT IN (SELECT AccountId FROM Opportunity)") == ["Initech"]


async def test_order_by_nulls_limit_offset(api: Api) -> None:
    await _data(api)
    q = "SELECT Name FROM Account ORDER BY NumberOfEmployees DESC NULLS FIRST, Name DESC"
    assert [r["Name"] for r in (await api.query(q))["records"]] == ["Initech", "Globex", "Acme"]
    q = "SELECT Name FROM Account ORDER BY AnnualRevenue NULLS LAST LIMIT 2 OFFSET 1"
    assert [r["Name"] for r in (await api.query(q))["records"]] == ["Globex", "Initech"]
    q = "SELECT Name FROM Account ORDER BY AnnualRevenue"  # ascending: nulls first by default
    assert (await api.query(q))["records"][0]["Name"] == "Initech"


async def test_aggregates_group_by_and_count(api: Api) -> None:
    await _data(api)
    r = await api.query(
        "SELECT StageName, COUNT(Id), SUM(Amount) total, MAX(CloseDate) FROM Opportunity "
        "GROUP BY StageName ORDER BY StageName"
    )
    assert r["totalSize"] == 2
    assert r["records"][0] == {
        "attributes": {"type": "AggregateResult"},
        "StageName": "Closed Won",
        "expr0": 2,
        "total": 300.0,
        "expr1": "2024-05-15",
    }
    r = await api.query(
        "SELECT Account.Name, AVG(Amount) FROM Opportunity GROUP BY Account.Name HAVING COUNT(Id) > 1"
    )
    assert r["records"] == [{"attributes": {"type": "AggregateResult"}, "Name": "Acme", "expr0": 175.0}]
    assert await api.query("SELECT COUNT() FROM Contact") == {"totalSize": 3, "done": True, "records": []}
    r = await api.query(
        "SELECT CALENDAR_YEAR(CloseDate), COUNT(Id) FROM Opportunity GROUP BY "
        "CALENDAR_YEAR(CloseDate) ORDER BY CALENDAR_YEAR(CloseDate)"
    )
    assert [(x["expr0"], x["expr1"]) for x in r["records"]] == [(2023, 1), (2024, 2)]


async def test_date_and_datetime_literals(api: Api) -> None:
    await _data(api)  # the clock stands at 2024-06-03 09:00 UTC (a Monday)

    async def count(where: str, obj: str = "Opportunity") -> int:
        return int((await api.query(f"SELECT COUNT() FROM {obj} WHERE {where}"))["totalSize"])

    assert await count("CloseDate = TODAY") == 1
    assert await count("CloseDate = LAST_N_DAYS:30") == 2
    assert await count("CloseDate < THIS_YEAR") == 1
    assert await count("CloseDate = LAST_MONTH") == 1
    assert await count("CloseDate >= 2024-01-01") == 2
    assert await count("CreatedDate = TODAY", "Account") == 3
    assert await count("CreatedDate > 2024-06-03T08:59:59Z", "Account") == 3
    assert await count("SystemModstamp >= 2024-06-03T11:00:00+02:00", "Account") == 3
    assert await count("CreatedDate = YESTERDAY", "Account") == 0


def test_date_literal_ranges() -> None:
    today = date(2024, 6, 3)  # Monday
    assert literal_range("THIS_WEEK", None, today) == (date(2024, 6, 2), date(2024, 6, 8))
    assert literal_range("LAST_N_DAYS", 7, today) == (date(2024, 5, 27), today)
    assert literal_range("NEXT_N_DAYS", 2, today) == (date(2024, 6, 4), date(2024, 6, 5))
    assert literal_range("THIS_QUARTER", None, today) == (date(2024, 4, 1), date(2024, 6, 30))
    assert literal_range("LAST_N_MONTHS", 2, today) == (date(2024, 4, 1), date(2024, 5, 31))
    assert literal_range("NEXT_FISCAL_YEAR", None, today) == (date(2025, 1, 1), date(2025, 12, 31))
    assert literal_range("N_DAYS_AGO", 3, today) == (date(2024, 5, 31), date(2024, 5, 31))


def test_parser_keeps_clauses_and_is_case_insensitive() -> None:
    q = parse(
        "select Name, account.name n from contact c where name like 'x%' order by name desc nulls last "
        "limit 5 offset 2"
    )
    assert q.object_name == "contact" and q.object_alias == "c"
    assert [s.alias for s in q.select] == [None, "n"]
    assert q.limit == 5 and q.offset == 2
    assert q.order_by[0].descending and q.order_by[0].nulls_last


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM Account",
        "SELECT Id FROM Account WHERE Name = 'x' AND Phone = 'y' OR Id = null",  # AND/OR need parentheses
        "SELECT Id FROM Account WHERE Name = 'x",
        "SELECT Id FROM Account LIMIT many",
        "SELECT Id FROM Account ORDER BY Name NULLS MIDDLE",
    ],
)
def test_malformed_queries(soql: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(soql)
    assert info.value.errors[0].code == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in info.value.errors[0].message


@pytest.mark.parametrize(
    ("soql", "code", "detail"),
    [
        ("SELECT Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'"),
        (
            "SELECT Nope.Name FROM Contact",
            "INVALID_FIELD",
            "Didn't understand relationship 'Nope' in field path",
        ),
        (
            "SELECT Id, (SELECT Id FROM Foos) FROM Account",
            "INVALID_TYPE",
            "Didn't understand relationship 'Foos' in FROM part of query call",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 5",
            "INVALID_FIELD",
            "value of filter criterion for field 'Name' must be of type string and should be enclosed in "
            "quotes",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2024-01-01",
            "INVALID_FIELD",
            "value of filter criterion for field 'CreatedDate' must be of type dateTime",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate = SOMEDAY",
            "MALFORMED_QUERY",
            "unexpected token: SOMEDAY",
        ),
        (
            "SELECT Name, COUNT(Id) FROM Account",
            "MALFORMED_QUERY",
            "Field must be grouped or aggregated: Name",
        ),
        ("SELECT FIELDS(ALL) FROM Account", "MALFORMED_QUERY", "must have a LIMIT of at most 200"),
        ("SELECT Id FROM Account WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
    ],
)
async def test_semantic_errors(api: Api, soql: str, code: str, detail: str) -> None:
    r = await api.get("/query", params={"q": soql})
    assert r.status_code == 400
    body = r.json()[0]
    assert body["errorCode"] == code and detail in body["message"], body


async def test_paging_with_batch_size_and_query_more(demo: Api) -> None:
    r = (
        await demo.get(
            "/query",
            params={"q": "SELECT Id FROM Contact"},
            headers={"Sforce-Query-Options": "batchSize=150"},
        )
    ).json()
    # 150 is below the minimum: pages hold 200 rows
    assert r["totalSize"] == 400 and r["done"] is False and len(r["records"]) == 200
    assert r["nextRecordsUrl"].startswith(f"{BASE}/query/01g") and r["nextRecordsUrl"].endswith("-200")
    nxt = (await demo.get(r["nextRecordsUrl"])).json()
    assert nxt["done"] is True and "nextRecordsUrl" not in nxt and len(nxt["records"]) == 200
    seen = {x["Id"] for x in r["records"]} | {x["Id"] for x in nxt["records"]}
    assert len(seen) == 400


async def test_fields_all_and_functions(api: Api) -> None:
    await _data(api)
    r = await api.query("SELECT FIELDS(ALL) FROM Account LIMIT 1")
    assert "NetSuite_Id__c" in r["records"][0] and "BillingAddress" in r["records"][0]
    r = await api.query("SELECT FIELDS(CUSTOM) FROM Account LIMIT 1")
    assert "Name" not in r["records"][0] and "Credit_Hold__c" in r["records"][0]
    r = await api.query("SELECT toLabel(Industry) FROM Account WHERE Name = 'Acme'")
    assert r["records"][0]["Industry"] == "Energy"


async def test_query_all_sees_deleted_rows(api: Api) -> None:
    ids = await _data(api)
    await api.delete(f"/sobjects/Account/{ids['initech']}")
    live = await api.query("SELECT COUNT() FROM Account")
    every = (await api.get("/queryAll", params={"q": "SELECT Id FROM Account WHERE IsDeleted = true"})).json()
    assert live["totalSize"] == 2 and every["totalSize"] == 1


async def test_offset_is_capped_at_2000(api: Api) -> None:
    r = await api.get("/query", params={"q": "SELECT Id FROM Account LIMIT 10 OFFSET 2001"})
    assert r.status_code == 400
    assert r.json() == [
        {"errorCode": "NUMBER_OUTSIDE_VALID_RANGE", "message": "Maximum SOQL offset allowed is 2000"}
    ]
