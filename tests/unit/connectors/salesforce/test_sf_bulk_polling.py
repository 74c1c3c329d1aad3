"""Bulk job polling: each poll is an API call, so polls are timed by the expected duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from ledgerbridge.connectors.salesforce.bulk import MAX_POLL_INTERVAL_S, BulkApi
from ledgerbridge.core.records import Priority


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.t += timedelta(seconds=seconds)


class Jobs:
    """Answers job polls from a script of (state, processed) pairs."""

    def __init__(self, script: list[tuple[str, int]], rows_per_s: float = 2000.0) -> None:
        self.script = script
        self.settings = SimpleNamespace(bulk_poll_interval_s=1.0, bulk_timeout_s=3600.0,
                                        bulk_rows_per_s=rows_per_s)
        self.polls = 0

    async def request_json(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        state, processed = self.script[min(self.polls, len(self.script) - 1)]
        self.polls += 1
        return {"id": "750000000000001AAA", "state": state, "numberRecordsProcessed": processed}


@pytest.mark.anyio
async def test_first_poll_waits_for_the_expected_duration() -> None:
    clock, jobs = Clock(), Jobs([("JobComplete", 10_000)])
    bulk = BulkApi(jobs, clock)  # type: ignore[arg-type]
    info = await bulk._wait("ingest", "750000000000001AAA", Priority.BACKFILL, 10_000)
    assert info.state == "JobComplete" and jobs.polls == 1
    assert clock.slept == [5.5]  # 10,000 rows / 2,000 rows/s, plus 10 %


@pytest.mark.anyio
async def test_later_polls_follow_the_jobs_own_progress_and_the_next_job_learns_it() -> None:
    clock, jobs = Clock(), Jobs([("InProgress", 2_000), ("JobComplete", 10_000)], rows_per_s=10_000)
    bulk = BulkApi(jobs, clock)  # type: ignore[arg-type]
    await bulk._wait("ingest", "750000000000001AAA", Priority.BACKFILL, 10_000)
    # first wait 1.1 s (prior 10,000 rows/s); 2,000 done by then -> 8,000 more at ~1,818/s
    assert clock.slept[0] == 1.1 and clock.slept[1] == pytest.approx(4.84, abs=0.01)
    jobs.script, jobs.polls, clock.slept = [("JobComplete", 10_000)], 0, []
    await bulk._wait("ingest", "750000000000002AAA", Priority.BACKFILL, 10_000)
    assert clock.slept[0] > 1.1  # the measured speed replaced the optimistic prior
    assert jobs.polls == 1


@pytest.mark.anyio
async def test_without_progress_polls_back_off_to_the_cap() -> None:
    clock, jobs = Clock(), Jobs([("InProgress", 0)] * 8 + [("JobComplete", 0)])
    bulk = BulkApi(jobs, clock)  # type: ignore[arg-type]
    await bulk._wait("query", "750000000000001AAA", Priority.BACKFILL)
    assert clock.slept == [1.0, 2.0, 4.0, 8.0, 16.0, MAX_POLL_INTERVAL_S, MAX_POLL_INTERVAL_S,
                           MAX_POLL_INTERVAL_S, MAX_POLL_INTERVAL_S]
