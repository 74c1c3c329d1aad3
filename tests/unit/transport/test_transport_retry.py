"""The retry policy: by kind, with backoff, Retry-After, hand-back of throttling, and no sleeping."""

from __future__ import annotations

import random

import pytest

from ledgerbridge.core.errors import (
    AuthError,
    ConcurrencyLimited,
    ErrorKind,
    QuotaExhausted,
    RequestRejected,
    ServerError,
    TransportError,
)
from ledgerbridge.transport.errors import ConnectFailed
from ledgerbridge.transport.metrics import TransportMetrics
from ledgerbridge.transport.retry import RetryAction, RetryPolicy, is_testing, set_testing


class Recorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def flaky(errors: list[Exception], result: str = "ok"):
    calls = {"n": 0}

    async def fn() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


@pytest.mark.anyio
async def test_transient_errors_are_retried_until_success() -> None:
    sleep = Recorder()
    fn, calls = flaky([ServerError("503"), TransportError("reset")])
    assert await RetryPolicy(sleep=sleep).call(fn) == "ok"
    assert calls["n"] == 3
    assert len(sleep.delays) == 2


@pytest.mark.anyio
async def test_transient_errors_raise_after_max_attempts() -> None:
    fn, calls = flaky([ServerError("a"), ServerError("b"), ServerError("c")])
    with pytest.raises(ServerError, match="c"):
        await RetryPolicy(max_attempts=3, sleep=Recorder()).call(fn)
    assert calls["n"] == 3


@pytest.mark.anyio
@pytest.mark.parametrize("exc", [AuthError("401"), RequestRejected("bad"), QuotaExhausted("spent"),
                                 ValueError("not ours")])
async def test_terminal_errors_are_raised_at_once(exc: Exception) -> None:
    sleep = Recorder()
    fn, calls = flaky([exc])
    with pytest.raises(type(exc)):
        await RetryPolicy(sleep=sleep).call(fn)
    assert calls["n"] == 1
    assert sleep.delays == []


@pytest.mark.anyio
async def test_throttling_is_handed_back_with_the_servers_delay() -> None:
    fn, calls = flaky([ConcurrencyLimited("slow down", retry_after_s=7.0)])
    policy = RetryPolicy(sleep=Recorder())
    with pytest.raises(ConcurrencyLimited) as info:
        await policy.call(fn)
    assert calls["n"] == 1
    assert info.value.retry_after_s == 7.0
    decision = policy.decide(info.value, 1)
    assert decision.action is RetryAction.HAND_BACK
    assert decision.delay_s == 7.0
    assert decision.kind is ErrorKind.THROTTLED


@pytest.mark.anyio
async def test_throttling_waits_retry_after_when_the_policy_retries_throttled_calls() -> None:
    sleep = Recorder()
    fn, calls = flaky([ConcurrencyLimited("slow down", retry_after_s=3.0)])
    assert await RetryPolicy(retry_throttled=True, sleep=sleep).call(fn) == "ok"
    assert calls["n"] == 2
    assert sleep.delays == [3.0]


@pytest.mark.anyio
async def test_retry_after_on_a_transient_error_is_honoured_exactly() -> None:
    sleep = Recorder()
    fn, _ = flaky([ServerError("503", status=503, retry_after_s=12.5)])
    await RetryPolicy(sleep=sleep).call(fn)
    assert sleep.delays == [12.5]


def test_retry_after_beyond_the_cap_gives_up_so_the_caller_can_reschedule() -> None:
    decision = RetryPolicy(max_retry_after_s=60).decide(ServerError("x", retry_after_s=3600), 1)
    assert decision.action is RetryAction.RAISE


def test_backoff_is_full_jitter_below_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=8.0, rng=random.Random(7))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        samples = [policy.backoff_s(attempt) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # really spread over the range, not a fixed delay


def test_non_idempotent_calls_are_retried_only_when_the_request_never_left() -> None:
    policy = RetryPolicy()
    assert policy.decide(TransportError("read timeout"), 1, idempotent=False).action is RetryAction.RAISE
    assert policy.decide(ConnectFailed("refused"), 1, idempotent=False).action is RetryAction.RETRY
    assert policy.decide(ServerError("lock", status=400), 1, idempotent=False).action is RetryAction.RETRY


@pytest.mark.anyio
async def test_test_mode_skips_real_sleep_even_with_long_delays() -> None:
    assert is_testing()
    fn, calls = flaky([ServerError("x", retry_after_s=100.0)] * 3)
    assert await RetryPolicy().call(fn) == "ok"  # would take 300 s if it slept
    assert calls["n"] == 4


@pytest.mark.anyio
async def test_test_mode_can_cap_attempts() -> None:
    set_testing(True, max_attempts=1)
    fn, calls = flaky([ServerError("x")])
    with pytest.raises(ServerError):
        await RetryPolicy(max_attempts=5).call(fn)
    assert calls["n"] == 1


@pytest.mark.anyio
async def test_retries_are_counted_in_metrics_by_kind() -> None:
    metrics = TransportMetrics()
    fn, _ = flaky([ServerError("x"), ServerError("y")])
    await RetryPolicy(metrics=metrics, sleep=Recorder()).call(fn, system="salesforce", operation="query")
    value = metrics.registry.get_sample_value(
        "ledgerbridge_http_retries_total",
        {"system": "salesforce", "operation": "query", "kind": "transient"})
    assert value == 2
