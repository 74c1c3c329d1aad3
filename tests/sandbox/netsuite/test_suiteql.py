"""SuiteQL over REST: request rules, paging, value formatting, the dialect, schema errors."""

from __future__ import annotations

from typing import Any

import pytest
from netsuite_sandbox_support import NS, error_code

# The sync engine's queries (reference §4.4).
ENGINE_QUERIES = [
    (
        """SELECT c.id, c.entityid, c.companyname, c.isperson, c.email, c.phone, c.externalid, c.searchstage,
               c.entitystatus, BUILTIN.DF(c.entitystatus) AS entitystatus_name, c.creditlimit,
               c.creditholdoverride,
               c.oncredithold, c.balancesearch, c.overduebalancesearch, c.isinactive,
               TO_CHAR(c.lastmodifieddate,'YYYY-MM-DD HH24:MI:SS') AS lastmodified
        FROM customer c
        WHERE c.lastmodifieddate >= TO_TIMESTAMP(?, 'YYYY-MM-DD HH24:MI:SS')
        ORDER BY c.lastmodifieddate, c.id""",
        ["2024-05-01 00:00:00"],
    ),
    (
        """SELECT t.id, t.tranid, t.entity, t.status, BUILTIN.DF(t.status) AS status_name,
               TO_CHAR(t.duedate,'YYYY-MM-DD') AS duedate, t.foreigntotal, t.foreignamountunpaid,
               t.foreignamountpaid, t.daysoverduesearch, t.currency
        FROM transaction t WHERE t.type = 'CustInvc' AND t.foreignamountunpaid > 0""",
        None,
    ),
    (
        """SELECT id, entityid, companyname, email FROM customer
        WHERE LOWER(email) = LOWER(?) OR UPPER(companyname) = UPPER(?)""",
        ["nobody@x.example", "NOBODY"],
    ),
    (
        """SELECT p.item, i.itemid, i.displayname, p.pricelevel, BUILTIN.DF(p.pricelevel) AS level,
               p.quantity, p.unitprice
        FROM pricing p JOIN item i ON i.id = p.item WHERE i.isinactive = 'F'""",
        None,
    ),
    (
        """SELECT recordid, type, TO_CHAR(deleteddate, 'YYYY-MM-DD HH24:MI:SS') AS deleted FROM deletedrecord
        WHERE deleteddate >= TO_DATE('2024-01-01', 'YYYY-MM-DD')""",
        None,
    ),
    (
        """SELECT tl.transaction, tl.item, ABS(tl.quantity) qty, tl.netamount * -1 amount,
               tl.linelastmodifieddate
        FROM transactionline tl JOIN transaction t ON t.id = tl.transaction
        WHERE t.type = 'SalesOrd' AND tl.mainline = 'F'""",
        None,
    ),
    (
        """SELECT c.id, csr.subsidiary, BUILTIN.DF(csr.subsidiary) sub FROM customer c
        JOIN customersubsidiaryrelationship csr ON csr.entity = c.id WHERE csr.isprimarysub = 'T'""",
        None,
    ),
]


@pytest.mark.parametrize(("query", "params"), ENGINE_QUERIES)
def test_engine_queries_run(demo: NS, query: str, params: list[Any] | None) -> None:
    r = demo.query(query, params=params)
    assert r.status_code == 200, r.text


def test_response_shape_and_value_formatting(ns: NS) -> None:
    cid = ns.customer("Value Co", creditLimit=1500.5, email="v@x.example")
    r = ns.query(
        f"SELECT id, companyname, creditlimit, isperson, phone, balancesearch, COUNT(*) OVER () n, "
        f"lastmodifieddate, 1 + 1, 'x' || 'y' FROM customer WHERE id = {cid}"
    )
    body = r.json()
    assert r.headers["content-type"].startswith("application/vnd.oracle.resource+json; type=collection")
    assert set(body) == {"links", "count", "hasMore", "items", "offset", "totalResults"}
    assert body["items"] == [
        {
            "links": [],
            "id": cid,
            "companyname": "Value Co",
            "creditlimit": "1500.5",
            "isperson": "F",
            "balancesearch": "0",
            "n": "1",
            "lastmodifieddate": "6/2/2025",
            "expr1": "2",
            "expr2": "xy",
        }
    ]


def test_star_expands_to_schema_columns(ns: NS) -> None:
    ns.customer("Star Co")
    row = ns.rows("SELECT * FROM customer")[0]
    assert "_owner" not in row and row["companyname"] == "Star Co" and row["searchstage"] == "Customer"
    assert {"balancesearch", "oncredithold", "lastmodifieddate", "entitystatus"} <= set(row)
    assert "balance" not in row


def test_where_operators_and_functions(ns: NS, clock: Any) -> None:
    a = ns.customer("Alpha Co", email="alpha@x.example", creditLimit=100)
    clock.advance(days=10)
    b = ns.customer("Beta Co", email="BETA@x.example", creditLimit=5000, phone="555")
    c = ns.customer("Gamma Co", creditLimit=700)

    def ids(where: str) -> list[str]:
        return [r["id"] for r in ns.rows(f"SELECT id FROM customer WHERE {where} ORDER BY id")]

    assert ids("creditlimit > 500 AND NOT phone IS NULL") == [b]
    assert ids("creditlimit BETWEEN 100 AND 700") == [a, c]
    assert ids(f"id IN ({a}, {c}) OR email LIKE 'BETA%'") == [a, b, c]
    assert ids("email LIKE 'beta%'") == []
    assert ids("email IS NULL") == [c]
    assert ids("NVL(phone, 'none') = 'none' AND companyname <> 'Gamma Co'") == [a]
    assert ids("lastmodifieddate < TO_DATE('2025-06-05', 'YYYY-MM-DD')") == [a]
    assert ids("datecreated >= SYSDATE - 1") == [b, c]
    assert ids("datecreated >= SYSDATE - INTERVAL '1' DAY") == [b, c]
    assert ids("datecreated >= SYSDATE - INTERVAL '2' HOUR") == [b, c]
    assert ids("TRUNC(datecreated) = TO_DATE('06/02/2025', 'MM/DD/YYYY')") == [a]
    rows = ns.rows(
        f"SELECT CASE WHEN creditlimit >= 1000 THEN 'big' ELSE 'small' END size_, "
        f"TO_CHAR(datecreated, 'YYYY-MM-DD\"T\"HH24:MI:SS') created, "
        f"TO_CHAR(datecreated, 'Mon DD, YYYY') pretty, BUILTIN.DF(entitystatus) st "
        f"FROM customer WHERE id = {b}"
    )
    assert rows == [
        {
            "size_": "big",
            "created": "2025-06-12T09:00:00",
            "pretty": "Jun 12, 2025",
            "st": "CUSTOMER-Closed Won",
        }
    ]
    assert ns.rows("SELECT TO_CHAR(SYSDATE, 'YYYY-MM-DD HH24:MI') now FROM dual") == [
        {"now": "2025-06-12 09:00"}
    ]
    assert ns.rows(
        "SELECT TO_CHAR(SYSDATE, 'DS TS') a, TO_CHAR(SYSDATE, 'YYYY-MM-DD HH24:MI:SS.FF1') b, "
        "TO_CHAR(SYSDATE) c, TO_CHAR(12.5) d FROM dual"
    ) == [{"a": "6/12/2025 9:00:00 am", "b": "2025-06-12 09:00:00.0", "c": "6/12/2025", "d": "12.5"}]
    assert ns.rows(
        "SELECT TO_CHAR(TO_TIMESTAMP('2025-06-02 10:11:12.5', 'YYYY-MM-DD HH24:MI:SS.FF'), "
        "'HH24:MI:SS.FF1') a, "
        "TO_CHAR(TO_DATE('02-JUN-2025', 'DD-MON-YYYY'), 'YYYY-MM-DD') b FROM dual"
    ) == [{"a": "10:11:12.5", "b": "2025-06-02"}]


def test_group_by_order_by_rownum_and_subqueries(ns: NS) -> None:
    c1, c2 = ns.customer("One Co"), ns.customer("Two Co")
    a, b = ns.item("A", 10.0), ns.item("B", 20.0)
    ns.order(c1, [{"item": {"id": a}, "quantity": 2}, {"item": {"id": b}}])
    ns.order(c1, [{"item": {"id": b}, "quantity": 3}])
    ns.order(c2, [{"item": {"id": a}}])
    rows = ns.rows(
        "SELECT t.entity, COUNT(*) orders, SUM(t.foreigntotal) total, MAX(t.tranid) last_ "
        "FROM transaction t WHERE t.type = 'SalesOrd' GROUP BY t.entity ORDER BY total DESC"
    )
    assert rows == [
        {"entity": c1, "orders": "2", "total": "100", "last_": "SO1002"},
        {"entity": c2, "orders": "1", "total": "10", "last_": "SO1003"},
    ]
    rows = ns.rows(
        "SELECT i.itemid, SUM(ABS(tl.quantity)) qty FROM transactionline tl "
        "JOIN item i ON i.id = tl.item GROUP BY i.itemid HAVING SUM(ABS(tl.quantity)) > 3 ORDER BY 1"
    )
    assert rows == [{"itemid": "B", "qty": "4"}]
    assert len(ns.rows("SELECT id FROM transaction WHERE ROWNUM <= 2")) == 2
    assert ns.rows(
        "SELECT tranid FROM (SELECT tranid FROM transaction ORDER BY tranid DESC) WHERE ROWNUM <= 1"
    ) == [{"tranid": "SO1003"}]
    rows = ns.rows(
        "SELECT c.companyname FROM customer c WHERE c.id IN "
        "(SELECT t.entity FROM transaction t WHERE t.foreigntotal > 50) ORDER BY c.companyname"
    )
    assert rows == [{"companyname": "One Co"}]
    rows = ns.rows(
        "SELECT c.companyname FROM customer c WHERE NOT EXISTS "
        "(SELECT 1 FROM transaction t WHERE t.entity = c.id AND t.foreigntotal > 50)"
    )
    assert rows == [{"companyname": "Two Co"}]
    rows = ns.rows(
        "SELECT DISTINCT BUILTIN.DF(t.status) s, BUILTIN.CF(t.status) cf, BUILTIN.DF(t.type) ty "
        "FROM transaction t"
    )
    assert rows == [{"s": "Sales Order : Pending Billing", "cf": "SalesOrd:F", "ty": "Sales Order"}]
    assert ns.rows("SELECT COUNT(*) n FROM transaction WHERE status = 'SalesOrd:F'") == [{"n": "0"}]


def test_sales_lines_are_negated(ns: NS) -> None:
    cid, a = ns.customer(), ns.item("A", 12.5)
    so = ns.order(cid, [{"item": {"id": a}, "quantity": 2}])
    rows = ns.rows(
        f"SELECT mainline, quantity, rate, netamount, BUILTIN.DF(item) item, itemtype, "
        f"BUILTIN.DF(itemtype) itemtype_name FROM transactionline WHERE transaction = {so} ORDER BY id"
    )
    assert rows == [
        {"mainline": "T", "netamount": "25"},
        {
            "mainline": "F",
            "quantity": "-2",
            "rate": "12.5",
            "netamount": "-25",
            "item": "A",
            "itemtype": "Service",
            "itemtype_name": "Service",
        },
    ]


def test_pricing_rows_per_price_level(ns: NS) -> None:
    item = ns.item("P", 200.0)
    rows = ns.rows(
        f"SELECT p.pricelevel, BUILTIN.DF(p.pricelevel) lvl, p.unitprice, BUILTIN.DF(p.currency) cur "
        f"FROM pricing p WHERE p.item = {item} ORDER BY p.pricelevel"
    )
    assert rows == [
        {"pricelevel": "1", "lvl": "Base Price", "unitprice": "200", "cur": "USD"},
        {"pricelevel": "2", "lvl": "Partner", "unitprice": "180", "cur": "USD"},
        {"pricelevel": "3", "lvl": "Enterprise", "unitprice": "170", "cur": "USD"},
        {"pricelevel": "4", "lvl": "Employee Price", "unitprice": "160", "cur": "USD"},
        {"pricelevel": "5", "lvl": "Online Price", "unitprice": "200", "cur": "USD"},
    ]


def test_lists_tables(ns: NS) -> None:
    assert ns.rows("SELECT symbol, isbasecurrency FROM currency ORDER BY id")[0] == {
        "symbol": "USD",
        "isbasecurrency": "T",
    }
    assert ns.rows("SELECT name, daysuntilnetdue FROM term WHERE id = 2") == [
        {"name": "Net 30", "daysuntilnetdue": "30"}
    ]
    assert ns.rows("SELECT fullname, BUILTIN.DF(parent) p FROM subsidiary WHERE id = 3") == [
        {"fullname": "Northstar Holdings Inc. : Northstar UK Ltd", "p": "Northstar Holdings Inc."}
    ]
    assert ns.rows("SELECT name, stage FROM entitystatus WHERE id = 13") == [
        {"name": "Closed Won", "stage": "CUSTOMER"}
    ]
    assert ns.rows("SELECT name, discountpct FROM pricelevel WHERE id = 2") == [
        {"name": "Partner", "discountpct": "-10"}
    ]
    assert ns.rows("SELECT name FROM transactionstatus WHERE trantype = 'CustInvc' AND id = 'B'") == [
        {"name": "Paid In Full"}
    ]


# --- request rules and paging ----------------------------------------------------------------------


def test_prefer_transient_is_required(ns: NS) -> None:
    r = ns.post("/query/v1/suiteql", json={"q": "SELECT id FROM currency"})
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"


def test_paging_links_and_limits(demo: NS) -> None:
    total = int(demo.rows("SELECT COUNT(*) n FROM customer")[0]["n"])
    r = demo.query("SELECT id FROM customer ORDER BY id", limit=10, offset=10).json()
    assert r["count"] == 10 and r["offset"] == 10 and r["totalResults"] == total and r["hasMore"] is True
    rels = {link["rel"]: link["href"] for link in r["links"]}
    assert list(rels) == ["prev", "first", "next", "last", "self"]
    assert rels["next"] == "http://testserver/services/rest/query/v1/suiteql?limit=10&offset=20"
    assert rels["last"].endswith(f"offset={((total - 1) // 10) * 10}")
    pages: list[str] = []
    offset = 0
    while True:
        page = demo.query("SELECT id FROM customer ORDER BY id", limit=50, offset=offset).json()
        pages += [i["id"] for i in page["items"]]
        if not page["hasMore"]:
            break
        offset += 50
    assert len(pages) == total == len(set(pages))
    for params in ({"limit": 1001}, {"limit": 10, "offset": 5}):
        r = demo.post(
            "/query/v1/suiteql",
            json={"q": "SELECT id FROM customer"},
            params=params,
            headers={"Prefer": "transient"},
        )
        assert r.status_code == 400 and error_code(r) == "INVALID_PARAMETER"


def test_rows_beyond_the_cap_cannot_be_reached(make_ns: Any) -> None:
    ns = make_ns(suiteql_max_rows=4)
    for n in range(6):
        ns.customer(f"Cap Co {n}")
    page = ns.query("SELECT id FROM customer ORDER BY id", limit=2, offset=2).json()
    assert page["hasMore"] is False and page["totalResults"] == 6
    r = ns.query("SELECT id FROM customer ORDER BY id", limit=2, offset=4)
    assert r.status_code == 400 and error_code(r) == "INVALID_PARAMETER"


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT id FROM nosuchtable", "Search error occurred: Record 'nosuchtable' was not found."),
        (
            "SELECT xyz FROM customer",
            "Search error occurred: Field 'xyz' for record 'customer' was not found.",
        ),
        (
            "SELECT c.balance FROM customer c",
            "Search error occurred: Field 'balance' for record 'customer' was not found.",
        ),
        (
            "SELECT foreignamountremaining FROM transaction",
            "Search error occurred: Field 'foreignamountremaining' for record 'transaction' was not found.",
        ),
        ("SELEC id FROM customer", "Search error occurred: Invalid or unsupported search."),
        ("DELETE FROM customer", "Search error occurred: Invalid or unsupported search."),
        (
            "SELECT id FROM customer; SELECT id FROM item",
            "Search error occurred: Invalid or unsupported search.",
        ),
        ("SELECT sqlite_version() FROM dual", "Search error occurred: Unknown function 'sqlite_version'."),
        ("SELECT id FROM sq_customer", "Search error occurred: Record 'sq_customer' was not found."),
        (
            "SELECT id FROM customer c JOIN contact k ON k.company = c.id",
            "Search error occurred: Column 'id' is ambiguously defined.",
        ),
    ],
)
def test_invalid_queries_answer_netsuite_errors(ns: NS, query: str, message: str) -> None:
    r = ns.query(query)
    assert r.status_code == 400, r.text
    assert error_code(r) == "INVALID_PARAMETER"
    assert r.json()["o:errorDetails"][0]["detail"] == (
        "Invalid search query. Detailed unprocessed description follows. " + message
    )


def test_bound_parameters(ns: NS) -> None:
    cid = ns.customer("Param's Co")
    assert ns.rows(
        "SELECT id FROM customer WHERE companyname = ? AND id BETWEEN ? AND ?",
        params=["Param's Co", "0", str(cid)],
    ) == [{"id": cid}]
    r = ns.query("SELECT id FROM customer WHERE id = ?", params=[])
    assert r.status_code == 400 and error_code(r) == "INVALID_PARAMETER"
    r = ns.query("SELECT id FROM customer WHERE companyname = '?'", params=[])
    assert r.status_code == 200
    r = ns.post("/query/v1/suiteql", json={"params": []}, headers={"Prefer": "transient"})
    assert r.status_code == 400 and error_code(r) == "INVALID_PARAMETER"


def test_suiteql_shows_datetimes_in_the_user_time_zone(make_ns: Any) -> None:
    ns = make_ns(suiteql_timezone="America/Los_Angeles")
    cid = ns.customer("Zone Co")
    assert ns.record("customer", cid)["lastModifiedDate"] == "2025-06-02T09:00:00Z"
    rows = ns.rows(
        "SELECT TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI') lm, TO_CHAR(SYSDATE, 'HH24:MI') now "
        "FROM customer"
    )
    assert rows == [{"lm": "2025-06-02 02:00", "now": "02:00"}]
    assert ns.rows(
        "SELECT id FROM customer WHERE lastmodifieddate >= TO_TIMESTAMP('2025-06-02 01:59:00', "
        "'YYYY-MM-DD HH24:MI:SS')"
    ) == [{"id": cid}]
