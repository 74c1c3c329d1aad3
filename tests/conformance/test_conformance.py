"""The conformance suite every connector passes against its sandbox (STYLE §2.7).

Parametrised over the ``harness`` fixture (``conftest.py``): paging to the end, watermark
monotonicity, batch result alignment, per-record errors as values, throttling honoured, auth
refresh. Only the port and the harness knobs are used, never vendor vocabulary.
"""

from __future__ import annotations

import pytest
from conformance_harness import Harness

from ledgerbridge.core.errors import ThrottledError
from ledgerbridge.core.records import Priority, ReadPage, Write

pytestmark = pytest.mark.anyio


async def seed(h: Harness, n: int, start: int = 0) -> list[str]:
    writes = [Write(dict(h.valid_fields(i)), external_id=f"conf-{i}") for i in range(start, start + n)]
    results = await h.connector.upsert(h.object, writes, key_field=h.key_field, priority=Priority.INTERACTIVE)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    return [r.id for r in results if r.id]


async def read_all(h: Harness, since=None) -> list[ReadPage]:  # type: ignore[no-untyped-def]
    return [p async for p in h.connector.read_changes(h.object, since, priority=Priority.INTERACTIVE)]


async def test_read_changes_pages_to_the_end(harness: Harness) -> None:
    ids = await seed(harness, harness.page_size * 2 + 7)
    pages = await read_all(harness)
    assert len(pages) >= 3
    assert all(p.has_more for p in pages[:-1]) and not pages[-1].has_more
    seen = [r.id for p in pages for r in p.records]
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen)), "a record appeared on two pages of one read"


async def test_watermarks_never_go_back_and_resume_where_they_stopped(harness: Harness) -> None:
    await seed(harness, harness.page_size + 3)
    pages = await read_all(harness)
    marks = [p.watermark for p in pages]
    assert all(m is not None for m in marks)
    stamps = [m.at for m in marks if m is not None]
    assert stamps == sorted(stamps)
    for page in pages:
        times = [r.modified_at for r in page.records]
        assert all(t is not None for t in times) and times == sorted(times)  # type: ignore[type-var]
    last = pages[-1].watermark
    new_ids = await seed(harness, 2, start=10_000)
    again = [r for p in await read_all(harness, last) for r in p.records]
    assert set(new_ids) <= {r.id for r in again}
    assert last is not None and all(r.modified_at is not None and r.modified_at >= last.at for r in again)


async def test_batch_results_are_aligned_with_the_input(harness: Harness) -> None:
    writes = [Write(dict(harness.valid_fields(100 + i)), external_id=f"align-{i}") for i in range(5)]
    writes.insert(1, Write(dict(harness.invalid_fields), external_id="align-bad-1"))
    writes.insert(4, Write(dict(harness.invalid_fields), external_id="align-bad-2"))
    results = await harness.connector.upsert(harness.object, writes, key_field=harness.key_field)
    assert [r.index for r in results] == list(range(len(writes)))
    assert [r.ok for r in results] == [True, False, True, True, False, True, True]
    ids = [r.id for r in results if r.ok]
    assert len(set(ids)) == 5
    fetched = await harness.connector.read_by_ids(harness.object, [i for i in ids if i])
    assert {r.id for r in fetched} == set(ids)


async def test_per_record_errors_are_values_with_the_systems_code(harness: Harness) -> None:
    results = await harness.connector.upsert(
        harness.object,
        [Write(dict(harness.invalid_fields), external_id="bad-only")],
        key_field=harness.key_field,
    )
    error = results[0].error
    assert error is not None
    assert error.code and error.message
    assert not error.kind.is_retryable


async def test_throttling_is_honoured_not_hammered(harness: Harness) -> None:
    await seed(harness, 1)
    calls_before, slept_before = await harness.n_calls(), await harness.slept_s()
    announced = await harness.throttle_next()
    try:
        pages = await read_all(harness)
    except ThrottledError as exc:
        # handed back to the caller (the governor): one call, and the delay to respect
        assert await harness.n_calls() - calls_before == 1, "a throttled call was retried at once"
        if announced is not None:
            assert exc.retry_after_s is not None and exc.retry_after_s >= announced
        pages = await read_all(harness)  # the caller's later attempt goes through
    else:
        # or waited on its own before the one retry
        assert await harness.n_calls() - calls_before == 2
        assert await harness.slept_s() - slept_before >= (announced or 0.001)
    assert sum(len(p.records) for p in pages) >= 1


async def test_expired_session_is_refreshed_once_and_the_call_succeeds(harness: Harness) -> None:
    ids = await seed(harness, 1)
    await harness.expire_session()
    fetched = await harness.connector.read_by_ids(harness.object, ids)
    assert [r.id for r in fetched] == ids
