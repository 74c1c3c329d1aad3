"""Form actions: retry and discard dead letters, resolve reviews and conflicts, run control."""

from __future__ import annotations

import json

import httpx2
import pytest

from dashboard.conftest import BASE_URL, csrf_of
from dashboard.fakes import FakeBackend
from ledgerbridge.core.store import ConflictStatus, DeadLetterStatus, ReviewStatus
from ledgerbridge.dashboard.backend import LinkState

pytestmark = pytest.mark.anyio


async def _post(client: httpx2.AsyncClient, page: str, action: str, data: dict[str, str | list[str]],
                ) -> httpx2.Response:
    """Open ``page`` (for its CSRF token), then submit ``data`` to ``action`` as the browser would."""
    token = csrf_of((await client.get(page)).text)
    return await client.post(action, data={**data, "csrf": token}, headers={"Referer": BASE_URL + page})


async def _payload_of(backend: FakeBackend, letter_id: str) -> dict[str, object]:
    return dict((await backend.get_dead_letter(letter_id)).payload)


async def test_retry_with_the_bad_payload_fails_and_says_why(client: httpx2.AsyncClient,
                                                             backend: FakeBackend) -> None:
    payload = json.dumps(await _payload_of(backend, "dl-umbrella"))
    response = await _post(client, "/dead-letters/dl-umbrella", "/dead-letters/dl-umbrella/retry",
                           {"payload": payload})
    assert response.status_code == 200
    assert "Retry failed: INVALID_FLD_VALUE: Invalid Field Value for Field email" in response.text
    letter = backend.dead_letters["dl-umbrella"]
    assert letter.status is DeadLetterStatus.OPEN and letter.attempts == 2


async def test_retry_with_a_fixed_payload_succeeds(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    payload = await _payload_of(backend, "dl-umbrella")
    payload["email"] = "ap@umbrella.example"
    response = await _post(client, "/dead-letters/dl-umbrella", "/dead-letters/dl-umbrella/retry",
                           {"payload": json.dumps(payload)})
    assert response.status_code == 303
    assert response.headers["location"] == "/dead-letters/dl-umbrella"
    assert backend.dead_letters["dl-umbrella"].status is DeadLetterStatus.RESOLVED
    assert backend.dead_letters["dl-umbrella"].payload["email"] == "ap@umbrella.example"
    page = await client.get(response.headers["location"])
    assert "Synced: NetSuite record" in page.text and "b-resolved" in page.text
    assert "<textarea" not in page.text  # nothing left to retry
    again = await client.get("/dead-letters/dl-umbrella")
    assert "Synced: NetSuite" not in again.text  # a flash is shown once
    assert any(x.sf_id == "001A000005" for x in backend.xrefs)


async def test_retry_with_invalid_json_keeps_the_text_and_explains(client: httpx2.AsyncClient,
                                                                   backend: FakeBackend) -> None:
    response = await _post(client, "/dead-letters/dl-umbrella", "/dead-letters/dl-umbrella/retry",
                           {"payload": '{"email": "x@y.z",'})
    assert response.status_code == 400
    assert "The payload is not valid JSON" in response.text
    assert "{&quot;email&quot;: &quot;x@y.z&quot;," in response.text
    assert backend.dead_letters["dl-umbrella"].attempts == 1


async def test_retry_with_a_json_array_is_refused(client: httpx2.AsyncClient) -> None:
    response = await _post(client, "/dead-letters/dl-umbrella", "/dead-letters/dl-umbrella/retry",
                           {"payload": "[1, 2]"})
    assert response.status_code == 400 and "must be a JSON object" in response.text


async def test_retry_many_reports_each_outcome(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    response = await _post(client, "/dead-letters", "/dead-letters/retry",
                           {"ids": ["dl-umbrella", "dl-globex-order"]})
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "Retried 2: 0 synced, 2 failed." in page.text
    assert "REF_NOT_LINKED" in page.text
    assert backend.dead_letters["dl-globex-order"].attempts == 4


async def test_retry_many_with_nothing_selected(client: httpx2.AsyncClient) -> None:
    response = await _post(client, "/dead-letters", "/dead-letters/retry", {})
    page = await client.get(response.headers["location"])
    assert "Select at least one" in page.text


async def test_discard_needs_a_reason(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    response = await _post(client, "/dead-letters/dl-umbrella", "/dead-letters/dl-umbrella/discard",
                           {"reason": "  "})
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "Give a reason" in page.text
    assert backend.dead_letters["dl-umbrella"].status is DeadLetterStatus.OPEN
    await _post(client, "/dead-letters/dl-umbrella", "/dead-letters/dl-umbrella/discard",
                {"reason": "test record, not needed"})
    assert backend.dead_letters["dl-umbrella"].status is DeadLetterStatus.DISCARDED
    assert backend.audit[-1].reason == "test record, not needed"


async def test_acting_on_a_closed_dead_letter_explains_without_a_referer(client: httpx2.AsyncClient) -> None:
    token = csrf_of((await client.get("/")).text)
    response = await client.post("/dead-letters/dl-old/discard", data={"reason": "x", "csrf": token})
    assert response.status_code == 400 and "resolved, not open" in response.text


async def test_link_a_match_review_to_a_candidate(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    response = await _post(client, "/reviews/rv-stark", "/reviews/rv-stark",
                           {"decision": "link", "candidate_id": "1006"})
    assert response.status_code == 303 and response.headers["location"] == "/reviews"
    page = await client.get("/reviews")
    assert "Linked Stark Industries Inc to 1006." in page.text
    assert "Matches (1)" in page.text
    review = backend.reviews["rv-stark"].review
    assert review.status is ReviewStatus.LINKED and review.chosen_id == "1006"
    assert any(x.sf_id == "001A000006" and x.ns_id == "1006" for x in backend.xrefs)


async def test_create_new_from_a_match_review(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    await _post(client, "/reviews/rv-pepper", "/reviews/rv-pepper", {"decision": "create"})
    assert backend.reviews["rv-pepper"].review.status is ReviewStatus.CREATED


async def test_resolving_a_review_twice_shows_the_reason(client: httpx2.AsyncClient) -> None:
    await _post(client, "/reviews/rv-pepper", "/reviews/rv-pepper", {"decision": "dismiss"})
    response = await _post(client, "/reviews/rv-pepper", "/reviews/rv-pepper", {"decision": "create"})
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "already dismissed" in page.text


async def test_link_with_an_unknown_candidate_is_refused(client: httpx2.AsyncClient,
                                                         backend: FakeBackend) -> None:
    response = await _post(client, "/reviews/rv-stark", "/reviews/rv-stark",
                           {"decision": "link", "candidate_id": "9999"})
    page = await client.get(response.headers["location"])
    assert "choose one of the candidates" in page.text
    assert backend.reviews["rv-stark"].review.status is ReviewStatus.OPEN


async def test_preflight_retry_fails_until_the_cause_is_fixed(client: httpx2.AsyncClient,
                                                              backend: FakeBackend) -> None:
    response = await _post(client, "/reviews", "/reviews/rv-initech-order", {"decision": "retry"})
    page = await client.get(response.headers["location"])
    assert "Still failing: Item SVC-ONBOARD is inactive" in page.text
    assert backend.reviews["rv-initech-order"].review.status is ReviewStatus.OPEN
    backend.preflight_fixed.add("rv-initech-order")
    response = await _post(client, "/reviews", "/reviews/rv-initech-order", {"decision": "retry"})
    page = await client.get(response.headers["location"])
    assert "Sales order created." in page.text and "Preflight (0)" in page.text


async def test_unknown_decision_is_refused(client: httpx2.AsyncClient) -> None:
    response = await _post(client, "/reviews/rv-stark", "/reviews/rv-stark", {"decision": "merge"})
    page = await client.get(response.headers["location"])
    assert "Unknown decision" in page.text


async def test_resolve_conflicts_per_field(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    page = "/conflicts?link=accounts&sf=001A000001&ns=1001"
    response = await _post(client, page, "/conflicts/resolve", {
        "link": "accounts", "sf": "001A000001", "ns": "1001", "ids": ["cf-phone", "cf-url"],
        "choice_cf-phone": "netsuite", "choice_cf-url": "value", "value_cf-url": "acme.net"})
    assert response.status_code == 303 and response.headers["location"] == "/reviews"
    assert "Resolved 2 fields: phone, url." in (await client.get("/reviews")).text
    phone, url = backend.conflicts["cf-phone"], backend.conflicts["cf-url"]
    assert phone.status is ConflictStatus.RESOLVED and phone.resolved_value == "+1 415 555 0199"
    assert url.resolution == "value" and url.resolved_value == "acme.net"
    done = await client.get(page)
    assert "b-resolved" in done.text and "Resolve chosen fields" not in done.text


async def test_a_field_without_a_choice_stays_open(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    await _post(client, "/conflicts?link=accounts&sf=001A000001&ns=1001", "/conflicts/resolve", {
        "link": "accounts", "sf": "001A000001", "ns": "1001", "ids": ["cf-phone", "cf-url"],
        "choice_cf-phone": "salesforce"})
    assert backend.conflicts["cf-phone"].resolved_value == "+1 415 555 0101"
    assert backend.conflicts["cf-url"].status is ConflictStatus.OPEN


async def test_a_typed_value_takes_the_fields_type(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    page = "/conflicts?link=accounts&sf=001A000003&ns=1003"
    bad = await _post(client, page, "/conflicts/resolve", {
        "link": "accounts", "sf": "001A000003", "ns": "1003", "ids": ["cf-employees"],
        "choice_cf-employees": "value", "value_cf-employees": "lots"})
    assert "is not a number" in (await client.get(bad.headers["location"])).text
    await _post(client, page, "/conflicts/resolve", {
        "link": "accounts", "sf": "001A000003", "ns": "1003", "ids": ["cf-employees"],
        "choice_cf-employees": "value", "value_cf-employees": "1,250"})
    assert backend.conflicts["cf-employees"].resolved_value == 1250


async def test_nothing_chosen_asks_for_a_choice(client: httpx2.AsyncClient) -> None:
    page = "/conflicts?link=accounts&sf=001A000001&ns=1001"
    response = await _post(client, page, "/conflicts/resolve", {
        "link": "accounts", "sf": "001A000001", "ns": "1001", "ids": ["cf-phone"]})
    assert "Choose a value" in (await client.get(response.headers["location"])).text


async def test_run_control_pause_resume_and_run(client: httpx2.AsyncClient, backend: FakeBackend) -> None:
    await _post(client, "/", "/links/accounts/pause", {})
    assert backend.link_states["accounts"] is LinkState.PAUSED
    response = await _post(client, "/", "/links/accounts/resume", {})
    assert "accounts resumed." in (await client.get(response.headers["location"])).text
    n = len(backend.runs)
    await _post(client, "/", "/links/accounts/run", {})
    assert len(backend.runs) == n + 1


async def test_api_actions_with_a_bearer_token(make_client, backend: FakeBackend) -> None:  # type: ignore[no-untyped-def]
    async with make_client(password="pw", access_token="tok") as client:
        auth = {"Authorization": "Bearer tok"}
        payload = {**(await _payload_of(backend, "dl-umbrella")), "email": "ap@umbrella.example"}
        response = await client.post("/api/dead-letters/dl-umbrella/retry", json={"payload": payload},
                                     headers=auth)
        assert response.status_code == 200 and response.json()["ok"] is True
        response = await client.post("/api/reviews/rv-stark/resolve",
                                     json={"decision": "link", "candidate_id": "1007"}, headers=auth)
        assert response.json()["ok"] is True
        response = await client.post("/api/conflicts/cf-url/resolve", json={"choice": "netsuite"},
                                     headers=auth)
        assert backend.conflicts["cf-url"].resolved_value == "acme.io"
        response = await client.post("/api/dead-letters/retry", json={"ids": ["dl-globex-order", "nope"]},
                                     headers=auth)
        assert [o["ok"] for o in response.json()] == [False, False]
        response = await client.post("/api/dead-letters/dl-globex-order/retry", content=b"{",
                                     headers=auth)
        assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
