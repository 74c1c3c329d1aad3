"""The NetSuite push receiver, driven through httpx2.ASGITransport with an injected clock."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ledgerbridge.app.webhooks import SIGNATURE_HEADER, create_webhook_app, sign_webhook
from ledgerbridge.core.records import Change, ChangeKind, System

SECRET = "whsec-test-0123456789abcdef"
START = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Harness:
    def __init__(self, **kwargs: object) -> None:
        self.clock = FakeClock()
        self.queued: list[Change] = []
        options: dict[str, object] = {"clock": self.clock, **kwargs}
        secret = options.pop("secret", SecretStr(SECRET))
        self.app = create_webhook_app(secret, self.queued.append, **options)  # type: ignore[arg-type]
        self.client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.app),
                                         base_url="https://ledgerbridge.test")

    def signed(self, body: bytes, *, secret: str = SECRET, at: datetime | None = None) -> dict[str, str]:
        return {"Content-Type": "application/json",
                SIGNATURE_HEADER: sign_webhook(secret, body, at or self.clock.now())}

    async def post(self, body: bytes, headers: dict[str, str] | None = None,
                   path: str = "/") -> httpx2.Response:
        sent = self.signed(body) if headers is None else headers
        return await self.client.post(path, content=body, headers=sent)


def body(record_type: str = "salesOrder", record_id: str = "1234", event_type: str = "edit") -> bytes:
    return json.dumps({"recordType": record_type, "id": record_id, "eventType": event_type}).encode()


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    structlog.reset_defaults()  # other tests may leave structlog writing to a stream they closed


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_sign_webhook_is_hmac_sha256_over_timestamp_dot_body() -> None:
    raw = b'{"recordType":"customer","id":"42","eventType":"edit"}'
    expected = hmac.new(SECRET.encode(), b"1717405200." + raw, hashlib.sha256).hexdigest()
    assert sign_webhook(SECRET, raw, 1717405200) == f"t=1717405200,v1={expected}"
    assert sign_webhook(SecretStr(SECRET), raw.decode(), datetime.fromtimestamp(1717405200, UTC)) == \
        f"t=1717405200,v1={expected}"


@pytest.mark.anyio
async def test_good_signature_is_accepted_and_queued(h: Harness) -> None:
    response = await h.post(body())
    assert response.status_code == 202
    assert response.json() == {"accepted": True}
    assert h.queued == [Change(system=System.NETSUITE, object="salesOrder", id="1234",
                               kind=ChangeKind.UPSERT, source="push", at=START)]


@pytest.mark.anyio
async def test_delete_is_queued_as_a_delete(h: Harness) -> None:
    assert (await h.post(body("customer", "77", "delete"))).status_code == 202
    assert h.queued[0].kind is ChangeKind.DELETE
    assert h.queued[0].object == "customer"


@pytest.mark.anyio
async def test_async_submit_is_awaited() -> None:
    seen: list[Change] = []

    async def submit(change: Change) -> None:
        await asyncio.sleep(0)
        seen.append(change)

    clock = FakeClock()
    app = create_webhook_app(SECRET, submit, clock=clock)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://x") as client:
        raw = body()
        headers = {SIGNATURE_HEADER: sign_webhook(SECRET, raw, START)}
        response = await client.post("/", content=raw, headers=headers)
    assert response.status_code == 202
    assert [c.id for c in seen] == ["1234"]


@pytest.mark.anyio
async def test_answers_on_any_path_so_it_can_be_routed_or_mounted(h: Harness) -> None:
    assert (await h.post(body(), path="/webhooks/netsuite")).status_code == 202


@pytest.mark.anyio
async def test_wrong_secret_is_rejected_and_nothing_queued(h: Harness) -> None:
    raw = body()
    response = await h.post(raw, h.signed(raw, secret="not-the-secret"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert h.queued == []


@pytest.mark.anyio
async def test_signature_of_another_body_is_rejected(h: Harness) -> None:
    response = await h.post(body(record_id="2"), h.signed(body(record_id="1")))
    assert response.status_code == 401
    assert h.queued == []


@pytest.mark.anyio
async def test_missing_signature_is_rejected(h: Harness) -> None:
    response = await h.post(body(), {"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json()["error"] == "missing_signature"
    assert h.queued == []


@pytest.mark.anyio
@pytest.mark.parametrize("header", [
    "v1=" + "0" * 64, "t=1717405200", "t=abc,v1=" + "0" * 64, "t=1717405200,v1=xyz", "garbage",
    "t=1717405200,t=1717405200,v1=" + "0" * 64, "t=" + "9" * 400 + ",v1=" + "0" * 64,
])
async def test_malformed_signature_is_rejected(h: Harness, header: str) -> None:
    response = await h.post(body(), {SIGNATURE_HEADER: header})
    assert response.status_code == 401
    assert h.queued == []


@pytest.mark.anyio
@pytest.mark.parametrize("offset_s", [-301, 301, -86_400])
async def test_expired_or_future_signature_is_rejected(h: Harness, offset_s: int) -> None:
    raw = body()
    response = await h.post(raw, h.signed(raw, at=START + timedelta(seconds=offset_s)))
    assert response.status_code == 401
    assert response.json()["error"] == "expired_signature"
    assert h.queued == []


@pytest.mark.anyio
async def test_signature_within_the_window_is_accepted(h: Harness) -> None:
    raw = body()
    headers = h.signed(raw)
    h.clock.advance(299)
    assert (await h.post(raw, headers)).status_code == 202


@pytest.mark.anyio
async def test_replayed_signature_is_rejected(h: Harness) -> None:
    raw = body()
    headers = h.signed(raw)
    assert (await h.post(raw, headers)).status_code == 202
    h.clock.advance(10)
    replay = await h.post(raw, headers)
    assert replay.status_code == 401
    assert replay.json()["error"] == "replayed_signature"
    assert len(h.queued) == 1


@pytest.mark.anyio
async def test_replay_after_the_window_is_still_rejected_as_expired(h: Harness) -> None:
    raw = body()
    headers = h.signed(raw)
    assert (await h.post(raw, headers)).status_code == 202
    h.clock.advance(3600)
    assert (await h.post(raw, headers)).status_code == 401
    assert len(h.queued) == 1


@pytest.mark.anyio
async def test_same_body_signed_again_later_is_a_new_call(h: Harness) -> None:
    raw = body()
    assert (await h.post(raw)).status_code == 202
    h.clock.advance(1)
    assert (await h.post(raw)).status_code == 202
    assert len(h.queued) == 2


@pytest.mark.anyio
async def test_rotation_accepts_every_configured_secret() -> None:
    h = Harness(secret=[SecretStr("old-secret"), SecretStr(SECRET)])
    raw_old, raw_new = body(record_id="1"), body(record_id="2")
    assert (await h.post(raw_old, h.signed(raw_old, secret="old-secret"))).status_code == 202
    assert (await h.post(raw_new, h.signed(raw_new))).status_code == 202
    assert (await h.post(raw_new, h.signed(raw_new, secret="third"))).status_code == 401


@pytest.mark.anyio
async def test_errors_never_echo_the_secret(h: Harness) -> None:
    raw = body()
    responses = [
        await h.post(raw, h.signed(raw, secret="wrong")),
        await h.post(b'{"recordType":"x","id":"1","eventType":"edit","secret":"' + SECRET.encode() + b'"}'),
        await h.post(raw, {SIGNATURE_HEADER: f"t=1,v1={SECRET}"}),
    ]
    for response in responses:
        assert response.status_code in (400, 401)
        assert SECRET not in response.text
        assert response.headers["content-type"] == "application/json"


@pytest.mark.anyio
async def test_oversized_body_is_refused_by_content_length(h: Harness) -> None:
    raw = b'{"recordType":"customer","id":"1","eventType":"edit","pad":"' + b"x" * 20_000 + b'"}'
    response = await h.post(raw)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert h.queued == []


@pytest.mark.anyio
async def test_oversized_body_is_refused_while_streaming_without_content_length(h: Harness) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"x" * 1024

    response = await h.client.post("/", content=chunks(), headers={SIGNATURE_HEADER: "t=1,v1=" + "0" * 64})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert h.queued == []


@pytest.mark.anyio
async def test_small_limit_applies_to_a_signed_small_body() -> None:
    h = Harness(max_body_bytes=32)
    assert (await h.post(body())).status_code == 413


@pytest.mark.anyio
async def test_rate_limit_answers_429_with_retry_after() -> None:
    h = Harness(rate_limit_per_s=1.0, rate_limit_burst=3)
    statuses = []
    for i in range(5):
        statuses.append((await h.post(body(record_id=str(i + 1)))).status_code)
    assert statuses == [202, 202, 202, 429, 429]
    limited = await h.post(body(record_id="9"))
    assert limited.headers["Retry-After"] == "1"
    assert len(h.queued) == 3
    h.clock.advance(1)
    assert (await h.post(body(record_id="10"))).status_code == 202


@pytest.mark.anyio
@pytest.mark.parametrize("raw", [
    b'{"recordType":"customer","id":"1","eventType":"edit","companyname":"Acme"}',
    b'{"recordType":"customer","id":"1"}',
    b'{"recordType":"customer","id":1,"eventType":"edit"}',
    b'{"recordType":"customer","id":"abc","eventType":"edit"}',
    b'{"recordType":"customer","id":"1","eventType":"view"}',
    b'{"recordType":"../etc","id":"1","eventType":"edit"}',
    b'{"recordType":"customer","id":"1","id":"2","eventType":"edit"}',
    b'["customer","1","edit"]',
    b"not json",
    b"\xff\xfe",
    b"[" * 5000 + b"]" * 5000,
    b"",
])
async def test_signed_but_invalid_bodies_are_400(raw: bytes) -> None:
    h = Harness(max_body_bytes=16_384)
    response = await h.post(raw)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_body"
    assert h.queued == []


@pytest.mark.anyio
async def test_non_json_media_type_is_415(h: Harness) -> None:
    raw = body()
    headers = {**h.signed(raw), "Content-Type": "text/plain"}
    assert (await h.post(raw, headers)).status_code == 415
    assert h.queued == []


@pytest.mark.anyio
async def test_get_is_405(h: Harness) -> None:
    response = await h.client.get("/")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.anyio
async def test_a_failing_queue_is_503_not_500() -> None:
    def submit(change: Change) -> None:
        raise RuntimeError("queue full")

    app = create_webhook_app(SECRET, submit, clock=FakeClock())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://x") as client:
        raw = body()
        headers = {SIGNATURE_HEADER: sign_webhook(SECRET, raw, START)}
        response = await client.post("/", content=raw, headers=headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


@pytest.mark.anyio
async def test_a_broken_log_configuration_does_not_fail_the_call(h: Harness) -> None:
    closed = io.StringIO()
    closed.close()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=closed))
    assert (await h.post(body())).status_code == 202
    assert (await h.post(body(), {SIGNATURE_HEADER: "garbage"})).status_code == 401


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        create_webhook_app(SecretStr(""), lambda c: None)
    with pytest.raises(ValueError, match="secret"):
        create_webhook_app([], lambda c: None)


# --- fuzz: hostile bodies and headers never crash the receiver and never queue unsigned work ---

_good_bodies = st.builds(
    body, st.sampled_from(["customer", "salesOrder", "invoice", "nonInventorySaleItem"]),
    st.integers(min_value=1, max_value=10**12).map(str),
    st.sampled_from(["create", "edit", "xedit", "delete"]),
)
_valid_shapes = st.fixed_dictionaries({
    "recordType": st.sampled_from(["customer", "salesOrder", "a" * 101, "", "1abc"]) | st.text(max_size=20),
    "id": st.from_regex(r"[0-9]{1,22}", fullmatch=True) | st.text(max_size=10) | st.integers(),
    "eventType": st.sampled_from(["create", "edit", "delete", "view", "EDIT"]) | st.text(max_size=8),
}, optional={"extra": st.text(max_size=5)})
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)
_bodies = (
    _good_bodies
    | _valid_shapes.map(lambda d: json.dumps(d).encode())
    | _json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=300)
    | st.integers(min_value=16_300, max_value=17_000).map(lambda n: b'{"pad":"' + b"x" * n + b'"}')
)
_header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bool]:
    raw = draw(_bodies)
    mode = draw(st.sampled_from(["valid", "wrong_secret", "stale", "mangled", "random", "absent"]))
    offset = draw(st.integers(min_value=-299, max_value=299))
    at = START + timedelta(seconds=offset)
    headers: dict[str, str] = {}
    signed = False
    if draw(st.booleans()):
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                                         "text/plain", ""]))
    if mode == "valid":
        headers[SIGNATURE_HEADER] = sign_webhook(SECRET, raw, at)
        signed = True
    elif mode == "wrong_secret":
        headers[SIGNATURE_HEADER] = sign_webhook(draw(st.text(min_size=1, max_size=10)) + "!", raw, at)
    elif mode == "stale":
        headers[SIGNATURE_HEADER] = sign_webhook(SECRET, raw, at - timedelta(seconds=600))
    elif mode == "mangled":
        good = sign_webhook(SECRET, raw, at)
        i = draw(st.integers(min_value=0, max_value=len(good) - 1))
        headers[SIGNATURE_HEADER] = good[:i] + draw(st.sampled_from("0f,=t ")) + good[i + 1:]
        signed = headers[SIGNATURE_HEADER] == good  # a "mutation" that changed nothing
    elif mode == "random":
        headers[SIGNATURE_HEADER] = draw(_header_values)
    for name in draw(st.lists(st.sampled_from(["X-Other", "Content-Length-Extra", "t"]), max_size=2)):
        headers[name] = draw(_header_values)
    return raw, headers, signed


def test_fuzzed_requests_never_crash_and_queue_only_signed_work() -> None:
    h = Harness(rate_limit_per_s=1e9)
    runner = asyncio.Runner()
    seen_valid: set[str] = set()

    @settings(max_examples=2000, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_requests())
    def check(request: tuple[bytes, dict[str, str], bool]) -> None:
        raw, headers, signed = request
        before = len(h.queued)
        response = runner.run(h.client.post("/", content=raw, headers=headers))
        assert 200 <= response.status_code < 500, (response.status_code, response.text)
        assert response.headers["content-type"] == "application/json"
        queued = len(h.queued) - before
        if response.status_code == 202:
            assert signed, "accepted a request without a valid signature"
            signature = headers[SIGNATURE_HEADER]
            assert signature not in seen_valid, "accepted a replay"
            seen_valid.add(signature)
            assert queued == 1
        else:
            assert queued == 0
            if not signed and len(raw) <= 16_384:
                assert response.status_code == 401, (response.status_code, headers)

    try:
        check()
        assert len(h.queued) > 20, "the fuzz run should also exercise the accepting path"
    finally:
        runner.run(h.client.aclose())
        runner.close()
