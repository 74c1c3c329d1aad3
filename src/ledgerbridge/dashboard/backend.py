"""What the dashboard needs from the product: the :class:`DashboardBackend` protocol and its values.

Layer ``dashboard`` (a front end): imports ``ledgerbridge.core`` only. The app layer implements
this protocol against the engine and the state store; tests use an in-memory fake. Everything the
dashboard shows or does goes through one backend object, so the HTML pages, the JSON API and any
other front end see exactly the same data.

Conventions for implementers:

* Every method is ``async`` and returns core values (``Run``, ``AuditEvent``, ``DeadLetter``,
  ``MatchReview``, ``Conflict``, ``Xref``, ``Budget``) or the small frozen values defined here.
* Lists are newest first unless a docstring says otherwise, and honour ``limit``.
* An unknown id raises :class:`LookupError` (``KeyError`` or ``core.errors.NotFound`` are fine);
  an action that cannot apply to the item in its current state (resolving a review twice, linking
  without a candidate) raises :class:`ValueError` with a message for a person. The dashboard
  shows both messages to the user; they must never contain secrets.
* A retry whose sync fails again is not an exception: it returns an :class:`Outcome` with
  ``ok=False`` and the system's own error in ``message``.
* Times are timezone-aware UTC datetimes.

History:
    v1: initial protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ledgerbridge.core.records import Budget, JsonValue, System
from ledgerbridge.core.store import (
    AuditEvent,
    Conflict,
    ConflictStatus,
    DeadLetter,
    DeadLetterStatus,
    MatchReview,
    ReviewStatus,
    Run,
    Xref,
)

__all__ = [
    "ApiBudgets",
    "ConflictChoice",
    "DashboardBackend",
    "Direction",
    "Forecast",
    "ForecastRow",
    "Lineage",
    "LinkMapping",
    "LinkState",
    "LinkSummary",
    "MappingRow",
    "Outcome",
    "Overview",
    "Readiness",
    "RecordPair",
    "RecordRef",
    "ReviewDecision",
    "ReviewItem",
    "ReviewKind",
    "RunControl",
    "SeriesPoint",
]


class Direction(StrEnum):
    """Which way a link (or one mapped field) flows."""

    SF_TO_NS = "sf_to_ns"
    NS_TO_SF = "ns_to_sf"
    BOTH = "both"


class LinkState(StrEnum):
    """How a link is doing right now."""

    RUNNING = "running"  # scheduled and healthy
    PAUSED = "paused"  # stopped by a person or by an auth failure
    FAILING = "failing"  # the last run failed or records are dead-lettering


@dataclass(frozen=True, slots=True)
class LinkSummary:
    """One line of the overview: a link (a flow between one object on each side) and its health."""

    name: str
    sf_object: str  # e.g. Account
    ns_record: str  # e.g. customer
    direction: Direction
    state: LinkState
    last_run: Run | None = None
    n_synced: int = 0  # records synced (pairs linked) so far
    n_errors: int = 0  # open dead letters
    flow: str = ""  # the template the link belongs to (quote_to_cash, accounts, ...), if any


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One point of a time series (the value covers the interval that ends at ``at``)."""

    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class ApiBudgets:
    """The API allocations of both systems, as the transport last saw them.

    ``salesforce.calls_used``/``calls_limit`` is the rolling 24-hour API request allocation;
    ``netsuite.concurrency_limit``/``in_flight``/``throttled`` is the account's concurrency limit,
    the requests in flight and the throttles (429) seen recently.
    """

    salesforce: Budget
    netsuite: Budget


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything on the overview page."""

    links: tuple[LinkSummary, ...]
    budgets: ApiBudgets
    throughput: tuple[SeriesPoint, ...] = ()  # records synced per minute, last hour, oldest first
    latency: tuple[SeriesPoint, ...] = ()  # change-to-written latency in seconds (p95), oldest first
    open_dead_letters: int = 0
    open_reviews: int = 0
    open_conflicts: int = 0


@dataclass(frozen=True, slots=True)
class RecordPair:
    """A search hit: a linked pair, or one unlinked record (the other id is ``None``)."""

    link: str
    sf_id: str | None
    ns_id: str | None
    label: str = ""  # a display name (account name, order number, ...)


@dataclass(frozen=True, slots=True)
class RecordRef:
    """One record in its system, with the URL that opens it there (when known)."""

    system: System
    object: str
    id: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Lineage:
    """The history of one record: its pairs, every decision taken about it, and what is open."""

    record_id: str
    label: str
    xrefs: tuple[Xref, ...]
    events: tuple[AuditEvent, ...]  # newest first, with before/after, decision and rule
    records: tuple[RecordRef, ...] = ()  # both sides of every pair, with URLs
    dead_letters: tuple[DeadLetter, ...] = ()
    conflicts: tuple[Conflict, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of an action (retry, discard, resolve) on one item."""

    id: str  # the item acted on
    ok: bool
    message: str = ""  # for a person: what happened, or the system's own error
    record_id: str | None = None  # the record written, when a write happened


class ReviewKind(StrEnum):
    """Why a person has to look at something."""

    MATCH = "match"  # an unlinked record with possible partners scored between the thresholds
    PREFLIGHT = "preflight"  # a quote-to-cash order that failed its checks before being written


class ReviewDecision(StrEnum):
    """What a person decided about a review."""

    LINK = "link"  # match: link to the chosen candidate
    CREATE = "create"  # match: create a new record on the other side
    RETRY = "retry"  # preflight: the cause was fixed, try again
    DISMISS = "dismiss"  # either kind: drop it


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A review as the dashboard shows it.

    For ``MATCH``, ``review.candidates`` are the scored partners and ``record`` the unlinked
    record's own fields, to show side by side. For ``PREFLIGHT``, ``review.record_id`` is the
    opportunity, ``candidates`` is empty and ``reason`` says which check failed.
    """

    kind: ReviewKind
    review: MatchReview
    reason: str = ""
    record: Mapping[str, JsonValue] = field(default_factory=dict)


class ConflictChoice(StrEnum):
    """How a person settles a conflict on one field."""

    SALESFORCE = "salesforce"  # keep Salesforce's value on both sides
    NETSUITE = "netsuite"  # keep NetSuite's value
    VALUE = "value"  # write a typed value to both sides


@dataclass(frozen=True, slots=True)
class MappingRow:
    """One mapped field of a link."""

    target: str  # the written field, e.g. ``companyName`` or ``Account.Credit_Limit__c``
    source: str  # a source path or a mapping expression
    direction: Direction
    conflict_policy: str = ""  # owner:netsuite | owner:salesforce | newest | review | "" (one-way)


@dataclass(frozen=True, slots=True)
class LinkMapping:
    """A link's mapping table, plus what the flow picture needs."""

    link: str
    sf_object: str
    ns_record: str
    direction: Direction
    rows: tuple[MappingRow, ...]
    depends_on: tuple[str, ...] = ()  # links referenced through ``ref(...)`` (synced first)
    flow: str = ""


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """One period of the cash-flow forecast."""

    period_start: date
    label: str  # e.g. ``2026-W07`` or ``2026-03``
    weighted_pipeline: Decimal  # sum of open opportunity amounts × probability closing in the period
    expected_collections: Decimal  # open invoice balances due in the period


@dataclass(frozen=True, slots=True)
class Forecast:
    """The cash-flow forecast, oldest period first."""

    currency: str
    granularity: str  # week | month
    rows: tuple[ForecastRow, ...]
    generated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the backend can serve (state store reachable, engine started)."""

    ok: bool
    detail: str = ""


@runtime_checkable
class DashboardBackend(Protocol):
    """Everything the operations dashboard reads and does.

    See the module docstring for the conventions (errors, ordering, times).
    """

    async def ready(self) -> Readiness:
        """Whether the backend can answer requests (used by ``/readyz``)."""
        ...

    # -- overview ---------------------------------------------------------------------------------
    async def overview(self) -> Overview:
        """Per-link health, throughput and latency over the last hour, API budgets."""
        ...

    # -- records ----------------------------------------------------------------------------------
    async def search_records(self, query: str, *, limit: int = 50) -> list[RecordPair]:
        """Pairs whose Salesforce id, NetSuite id or name matches ``query`` (ids exactly, names
        case-insensitively by substring)."""
        ...

    async def lineage(self, record_id: str, *, link: str | None = None) -> Lineage:
        """The pairs and audit trail of a record given by either side's id.

        Raises:
            LookupError: no pair, audit event or dead letter mentions ``record_id``.
        """
        ...

    # -- dead letters -----------------------------------------------------------------------------
    async def list_dead_letters(self, *, link: str | None = None,
                                status: DeadLetterStatus | None = DeadLetterStatus.OPEN,
                                code: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Dead letters, newest first, filtered by link, status (``None``: all) and error code."""
        ...

    async def get_dead_letter(self, letter_id: str) -> DeadLetter:
        """One dead letter.

        Raises:
            LookupError: unknown id.
        """
        ...

    async def retry_dead_letter(self, letter_id: str,
                                payload: Mapping[str, JsonValue] | None = None) -> Outcome:
        """Sync the record again, with ``payload`` replacing the stored one when given.

        Success resolves the letter; a new failure keeps it open (attempts + 1, the new error
        stored) and returns ``ok=False`` with the system's message.

        Raises:
            LookupError: unknown id.
            ValueError: the letter is not open.
        """
        ...

    async def retry_dead_letters(self, letter_ids: Sequence[str]) -> list[Outcome]:
        """Retry many with their stored payloads; one outcome per id, in order (an unknown or
        closed id gives ``ok=False``, it does not raise)."""
        ...

    async def discard_dead_letter(self, letter_id: str, reason: str) -> Outcome:
        """Give up on a dead letter; ``reason`` goes to the audit log.

        Raises:
            LookupError: unknown id.
            ValueError: the letter is not open, or ``reason`` is empty.
        """
        ...

    # -- reviews (matches and quote-to-cash preflight) --------------------------------------------
    async def list_reviews(self, *, kind: ReviewKind | None = None, link: str | None = None,
                           status: ReviewStatus | None = ReviewStatus.OPEN,
                           limit: int = 100) -> list[ReviewItem]:
        """Reviews, newest first, of one kind or all."""
        ...

    async def get_review(self, review_id: str) -> ReviewItem:
        """One review.

        Raises:
            LookupError: unknown id.
        """
        ...

    async def resolve_review(self, review_id: str, decision: ReviewDecision,
                             candidate_id: str | None = None) -> Outcome:
        """Act on a review: ``LINK`` (with ``candidate_id``) or ``CREATE`` for a match, ``RETRY``
        for a preflight, ``DISMISS`` for either. A failed retry returns ``ok=False`` and keeps the
        review open.

        Raises:
            LookupError: unknown id.
            ValueError: the review is not open, or the decision does not fit its kind.
        """
        ...

    # -- conflicts --------------------------------------------------------------------------------
    async def list_conflicts(self, *, link: str | None = None,
                             status: ConflictStatus | None = ConflictStatus.OPEN,
                             limit: int = 100) -> list[Conflict]:
        """Field conflicts, newest first (the dashboard groups them by record pair)."""
        ...

    async def resolve_conflict(self, conflict_id: str, choice: ConflictChoice,
                               value: JsonValue = None) -> Outcome:
        """Settle one field: keep one side's value, or write ``value`` (for ``VALUE``) to both.

        Raises:
            LookupError: unknown id.
            ValueError: the conflict is already resolved.
        """
        ...

    # -- flows and forecast -----------------------------------------------------------------------
    async def list_mappings(self) -> list[LinkMapping]:
        """Every configured link with its mapping rows, in configuration order."""
        ...

    async def forecast(self, *, granularity: str = "month") -> Forecast:
        """Weighted pipeline and expected collections per ``week`` or ``month``.

        Raises:
            ValueError: unknown granularity.
        """
        ...


@runtime_checkable
class RunControl(Protocol):
    """Optional: a backend that also implements this gets pause/resume/run-now buttons."""

    async def pause_link(self, link: str) -> Outcome:
        """Stop scheduling a link (a run in progress finishes its batch)."""
        ...

    async def resume_link(self, link: str) -> Outcome:
        """Schedule a paused link again."""
        ...

    async def run_link(self, link: str) -> Outcome:
        """Start a run of one link now."""
        ...
