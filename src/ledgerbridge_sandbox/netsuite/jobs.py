"""Asynchronous REST requests: jobs, their tasks and results (``/services/rest/async/v1/job/...``).

Layer: request processing; imports ``clock`` only.

``Prefer: respond-async`` on a record request, and every batch request, answers 202 with
``Location: .../async/v1/job/{id}``. The sandbox does the work at once (each task in its own
transaction) and keeps each task's answer; a job reports ``completed: false, progress: "pending"``
until ``async_job_delay_s`` has passed on the injected clock, so tests can see both states without
sleeping. An ``X-NetSuite-Idempotency-Key`` already used returns the original job and does no work
again (reference §3.9).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ledgerbridge_sandbox.netsuite.clock import Clock


@dataclass(frozen=True)
class TaskResult:
    """The answer a task would have given synchronously."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the task succeeded."""
        return self.status < 400


@dataclass
class Task:
    """One record operation inside a job."""

    id: int
    start: datetime
    end: datetime
    result: TaskResult


@dataclass
class Job:
    """An asynchronous request."""

    id: int
    created: datetime
    completes_at: datetime
    tasks: list[Task]
    idempotency_key: str | None = None


class JobStore:
    """Jobs of one account (in memory)."""

    def __init__(self, clock: Clock, delay_s: Callable[[], float]) -> None:
        self.clock = clock
        self.delay_s = delay_s
        self._jobs: dict[int, Job] = {}
        self._keys: dict[str, int] = {}
        self._next = 1
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every job."""
        with self._lock:
            self._jobs.clear()
            self._keys.clear()

    def existing(self, key: str | None) -> Job | None:
        """The job submitted earlier with an idempotency key, if any."""
        if not key:
            return None
        with self._lock:
            jid = self._keys.get(key)
            return None if jid is None else self._jobs.get(jid)

    def submit(self, work: list[Callable[[], TaskResult]], *, key: str | None = None) -> Job:
        """Run the work now and record it as a job.

        Args:
            work: one callable per task, each returning the task's answer.
            key: idempotency key.

        Returns:
            The new job.
        """
        created = self.clock.now()
        tasks = []
        for n, thunk in enumerate(work, start=1):
            start = self.clock.now()
            result = thunk()
            tasks.append(Task(n, start, self.clock.now(), result))
        with self._lock:
            jid = self._next
            self._next += 1
            job = Job(jid, created, created + timedelta(seconds=self.delay_s()), tasks, key)
            self._jobs[jid] = job
            if key:
                self._keys[key] = jid
        return job

    def get(self, jid: int) -> Job | None:
        """A job by id."""
        with self._lock:
            return self._jobs.get(jid)

    def completed(self, job: Job) -> bool:
        """Whether the job reports completion yet."""
        return self.clock.now() >= job.completes_at

    @staticmethod
    def progress(job: Job, completed: bool) -> str:
        """``pending``, ``succeeded`` or ``failed``."""
        if not completed:
            return "pending"
        return "succeeded" if all(t.result.ok for t in job.tasks) else "failed"
