"""Every page renders the backend's data, escaped; health, readiness and metrics endpoints."""

from __future__ import annotations

import csv
import io
import re

import httpx2
import pytest
from prometheus_client import CollectorRegistry, Counter

from dashboard.conftest import ClientFactory
from dashboard.fakes import HOSTILE_NAME, FakeBackend
from ledgerbridge.dashboard.layout import external_link
from ledgerbridge.dashboard.markup import Safe, attrs, esc, query, render

pytestmark = pytest.mark.anyio

ESCAPED = "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt; &amp; &lt;b&gt;Sons&lt;/b&gt;"


async def test_overview_shows_links_states_queues_and_budgets(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/")).text
    for text in ("accounts", "quote_to_cash", "Account", "salesOrder", "SF ↔ NS", "SF → NS", "NS → SF",
                 "b-failing", "b-paused", "41,235", "100,000", "concurrency limit of <strong>15</strong>",
                 "3 throttled (429)", "open dead letters", "Throughput", "Latency"):
        assert text in html, text
    assert html.count('<svg class="chart"') == 2
    assert re.search(r'<tr data-link="quote_to_cash">.*?<a class="err" '
                     r'href="/dead-letters\?link=quote_to_cash">1</a>', html, re.S)


async def test_overview_offers_run_control_when_the_backend_has_it(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/")).text
    assert 'action="/links/accounts/pause"' in html
    assert 'action="/links/invoices/resume"' in html


@pytest.mark.parametrize("query_", ["001A000001", "1001", "acme", "ACME CORP"])
async def test_search_finds_a_pair_by_either_id_or_name(client: httpx2.AsyncClient, query_: str) -> None:
    html = (await client.get("/records", params={"q": query_})).text
    assert "Acme Corp" in html and "001A000001" in html and "1001" in html
    assert 'href="/records/001A000001?link=accounts"' in html


async def test_search_also_finds_unlinked_records_of_dead_letters(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/records", params={"q": "umbrella"})).text
    assert "Umbrella Ltd" in html and "001A000005" in html


async def test_search_without_hits_says_so(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/records", params={"q": "nobody"})).text
    assert "Nothing matches" in html


async def test_lineage_shows_pairs_history_and_links_to_both_systems(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/records/001A000001")).text
    assert "Lineage of Acme Corp" in html
    assert 'href="https://acme-demo.my.salesforce.com/lightning/r/Account/001A000001/view"' in html
    assert 'href="https://1234567.app.netsuite.com/app/common/entity/custjob.nl?id=1001"' in html
    assert 'rel="noopener noreferrer"' in html
    assert html.count('class="event"') == 3
    assert "owner:salesforce" in html and "salesforce_wins" in html
    assert "+1 415 555 0099" in html  # the before value of the update
    assert "Conflict on" in html


async def test_lineage_of_an_unknown_record_is_404(client: httpx2.AsyncClient) -> None:
    response = await client.get("/records/nope")
    assert response.status_code == 404
    assert "no record" in response.text


async def test_dead_letters_list_and_filters(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/dead-letters")).text
    assert "dl-umbrella" in html and "dl-globex-order" in html and "dl-old" not in html
    html = (await client.get("/dead-letters", params={"link": "quote_to_cash"})).text
    assert "dl-globex-order" in html and "dl-umbrella" not in html
    html = (await client.get("/dead-letters", params={"code": "INVALID_FLD_VALUE"})).text
    assert "dl-umbrella" in html and "dl-globex-order" not in html
    html = (await client.get("/dead-letters", params={"status": "all"})).text
    assert "dl-old" in html
    assert "No dead letters match" in (await client.get("/dead-letters", params={"code": "NOPE"})).text


async def test_dead_letters_unknown_status_is_400(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/dead-letters", params={"status": "weird"})).status_code == 400


async def test_dead_letter_page_shows_error_and_an_editable_payload(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/dead-letters/dl-umbrella")).text
    assert "INVALID_FLD_VALUE" in html and "Invalid Field Value for Field email" in html
    assert '<textarea id="payload" name="payload"' in html
    assert "&quot;not-an-email&quot;" in html
    assert 'action="/dead-letters/dl-umbrella/discard"' in html


async def test_unknown_dead_letter_is_404(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/dead-letters/nope")).status_code == 404


async def test_reviews_page_lists_matches_preflight_and_conflicts(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/reviews")).text
    assert "Stark Industries Inc" in html and "Pepper Potts" in html
    assert "SVC-ONBOARD is inactive" in html
    assert "phone, url" in html or "url, phone" in html
    assert 'href="/conflicts?link=accounts&amp;sf=001A000001&amp;ns=1001"' in html
    assert "Matches (2)" in html and "Preflight (1)" in html and "Conflicts (2)" in html


async def test_match_review_shows_candidates_side_by_side_with_scores(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/reviews/rv-stark")).text
    assert "Stark Industries" in html and "Stark Ind. (Europe)" in html
    assert '<span class="badge b-score">88</span>' in html and '<span class="badge b-score">71</span>' in html
    assert html.index("Stark Ind. (Europe)") > html.index(">Stark Industries<")  # best first
    assert '<td class="same"><code>stark.com</code></td>' in html
    assert html.count("Link to this") == 2 and "Create new" in html


async def test_preflight_review_shows_reason_and_actions(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/reviews/rv-initech-order")).text
    assert "SVC-ONBOARD is inactive" in html and ">Retry<" in html and ">Dismiss<" in html


async def test_conflict_page_shows_both_values_and_choices(client: httpx2.AsyncClient) -> None:
    params = {"link": "accounts", "sf": "001A000001", "ns": "1001"}
    html = (await client.get("/conflicts", params=params)).text
    for text in ("+1 415 555 0101", "+1 415 555 0199", "acme.io", 'name="choice_cf-phone" value="salesforce"',
                 'name="choice_cf-url" value="value"', 'name="value_cf-url"'):
        assert text in html, text
    assert (await client.get("/conflicts", params={"sf": "x", "ns": "y"})).status_code == 404


async def test_flows_page_draws_the_graph_and_mapping_tables(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/flows")).text
    assert '<svg class="flow-graph"' in html
    for node in ("Account", "Contact", "Product2", "Opportunity", "customer", "contact", "item", "salesOrder",
                 "invoice"):
        assert f">{node}</text>" in html, node
    assert 'marker-start="url(#arrow-start)" marker-end="url(#arrow-end)"' in html  # both-ways link
    assert 'class="dep"' in html
    assert html.count('class="mapping"') == 5
    assert "companyName" in html and "owner:netsuite" in html and "Needs first: accounts, catalog" in html


async def test_forecast_page_has_chart_table_and_csv_link(client: httpx2.AsyncClient) -> None:
    html = (await client.get("/forecast")).text
    assert '<svg class="chart forecast"' in html and html.count('class="bar-pipeline"') == 7
    assert "2026-03" in html and "180,000.00" in html and "240,000.00" in html
    assert 'href="/forecast.csv?granularity=month"' in html
    weekly = (await client.get("/forecast", params={"granularity": "week"})).text
    assert "2026-W10" in weekly


async def test_forecast_csv_download(client: httpx2.AsyncClient) -> None:
    response = await client.get("/forecast.csv", params={"granularity": "week"})
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="forecast-week.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 8
    assert rows[0] == {"period_start": "2026-03-02", "period": "2026-W10", "weighted_pipeline": "40000.50",
                       "expected_collections": "61000", "currency": "USD"}


async def test_forecast_with_unknown_granularity_is_400(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/forecast", params={"granularity": "year"})).status_code == 400


# -- escaping -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/records?q=sons", "/records/001A000004", "/dead-letters",
                                  "/dead-letters/dl-hostile", "/reviews"])
async def test_record_names_with_html_are_escaped(client: httpx2.AsyncClient, path: str) -> None:
    body = (await client.get(path)).text
    assert "<script>alert" not in body and "<b>Sons" not in body
    if path != "/reviews":
        assert ESCAPED in body


async def test_api_returns_names_verbatim_as_json_never_as_html(client: httpx2.AsyncClient) -> None:
    response = await client.get("/api/records", params={"q": "sons"})
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()[0]["label"] == HOSTILE_NAME


async def test_search_query_is_escaped_when_echoed(client: httpx2.AsyncClient) -> None:
    body = (await client.get("/records", params={"q": '"><img src=x onerror=alert(1)>'})).text
    assert "<img src=x" not in body
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in body


def test_markup_helpers_escape_by_default() -> None:
    assert esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert render("<p>$x $y</p>", x="<b>", y=Safe("<i>ok</i>")) == "<p>&lt;b&gt; <i>ok</i></p>"
    assert attrs(value='"x"', selected=True, disabled=False, data_id="a") == \
        'value="&quot;x&quot;" selected data-id="a"'
    assert query(a=1, b="", c=None, d="x y") == "?a=1&d=x+y"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "", None])
def test_external_links_only_for_http_urls(url: str | None) -> None:
    assert "<a" not in external_link(url, "rec")


# -- health, readiness, metrics ---------------------------------------------------------------------


async def test_healthz(make_client: ClientFactory) -> None:
    async with make_client(password="pw") as client:
        response = await client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok"


async def test_readyz_follows_the_backend(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    assert (await client.get("/readyz")).status_code == 200
    backend.is_ready = False
    response = await client.get("/readyz")
    assert response.status_code == 503 and "state store unreachable" in response.text


async def test_readyz_is_503_when_the_backend_raises(client: httpx2.AsyncClient,
                                                      backend: FakeBackend) -> None:
    async def broken() -> None:
        raise RuntimeError("db password=hunter2 refused")

    backend.ready = broken  # type: ignore[method-assign,assignment]
    response = await client.get("/readyz")
    assert response.status_code == 503 and "hunter2" not in response.text


async def test_metrics_exports_the_given_registry(make_client: ClientFactory) -> None:
    registry = CollectorRegistry()
    Counter("ledgerbridge_records_synced", "records synced", registry=registry).inc(7)
    async with make_client(registry=registry) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "ledgerbridge_records_synced_total 7.0" in response.text


async def test_metrics_defaults_to_the_global_registry(client: httpx2.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200 and "python_info" in response.text


# -- JSON API ---------------------------------------------------------------------------------------


async def test_api_returns_the_same_data_as_json(client: httpx2.AsyncClient) -> None:
    overview = (await client.get("/api/overview")).json()
    assert overview["budgets"]["salesforce"]["calls_limit"] == 100_000
    assert overview["links"][0]["direction"] == "both"
    lineage = (await client.get("/api/records/1001")).json()
    assert lineage["xrefs"][0]["sf_id"] == "001A000001"
    letters = (await client.get("/api/dead-letters", params={"status": "all"})).json()
    assert {d["id"] for d in letters} >= {"dl-umbrella", "dl-old"}
    forecast = (await client.get("/api/forecast")).json()
    assert forecast["rows"][0]["weighted_pipeline"] == "180000"
    assert (await client.get("/api/flows")).json()[0]["rows"][0]["target"] == "companyName"
    reviews = (await client.get("/api/reviews", params={"kind": "preflight"})).json()
    assert [r["review"]["id"] for r in reviews] == ["rv-initech-order"]
    assert (await client.get("/api/dead-letters/nope")).status_code == 404
