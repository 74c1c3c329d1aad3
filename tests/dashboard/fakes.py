"""An in-memory DashboardBackend with behaviour, seeded with a small company.

Not a mock: retrying a dead letter re-validates its payload the way the target system would
(an email needs an ``@``, order lines need an item), so a fixed payload syncs and a still-bad one
fails with the system's message; resolving reviews and conflicts changes their status, writes
xrefs and audit events, and the overview counts follow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ledgerbridge.core.records import Budget, JsonValue, System
from ledgerbridge.core.store import (
    AuditEvent,
    Conflict,
    ConflictStatus,
    DeadLetter,
    DeadLetterStatus,
    MatchCandidate,
    MatchReview,
    ReviewStatus,
    Run,
    RunStatus,
    Step,
    Xref,
)
from ledgerbridge.dashboard.backend import (
    ApiBudgets,
    ConflictChoice,
    Direction,
    Forecast,
    ForecastRow,
    Lineage,
    LinkMapping,
    LinkState,
    LinkSummary,
    MappingRow,
    Outcome,
    Overview,
    Readiness,
    RecordPair,
    RecordRef,
    ReviewDecision,
    ReviewItem,
    ReviewKind,
    SeriesPoint,
)

NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
HOSTILE_NAME = '<script>alert("owned")</script> & <b>Sons</b>'
SF_URL = "https://acme-demo.my.salesforce.com/lightning/r/{object}/{id}/view"
NS_URL = "https://1234567.app.netsuite.com/app/common/entity/custjob.nl?id={id}"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def _ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


_MAPPINGS: tuple[LinkMapping, ...] = (
    LinkMapping("accounts", "Account", "customer", Direction.BOTH, (
        MappingRow("companyName", "Name", Direction.BOTH, "owner:salesforce"),
        MappingRow("email", "Email__c", Direction.BOTH, "newest"),
        MappingRow("phone", "Phone", Direction.BOTH, "review"),
        MappingRow("url", "Website", Direction.BOTH, "review"),
        MappingRow("Credit_Limit__c", "creditLimit", Direction.NS_TO_SF, "owner:netsuite"),
        MappingRow("Open_Balance__c", "balance", Direction.NS_TO_SF, "owner:netsuite"),
        MappingRow("subsidiary", 'lookup("subsidiaries", BillingCountry)', Direction.SF_TO_NS),
    ), flow="accounts"),
    LinkMapping("contacts", "Contact", "contact", Direction.BOTH, (
        MappingRow("firstName", "FirstName", Direction.BOTH, "newest"),
        MappingRow("lastName", "LastName", Direction.BOTH, "newest"),
        MappingRow("email", "Email", Direction.BOTH, "newest"),
        MappingRow("company", 'ref("accounts", AccountId)', Direction.SF_TO_NS),
    ), depends_on=("accounts",), flow="accounts"),
    LinkMapping("catalog", "Product2", "item", Direction.NS_TO_SF, (
        MappingRow("Name", "itemId", Direction.NS_TO_SF),
        MappingRow("ProductCode", "upcCode", Direction.NS_TO_SF),
        MappingRow("IsActive", "not isInactive", Direction.NS_TO_SF),
    ), flow="catalog"),
    LinkMapping("quote_to_cash", "Opportunity", "salesOrder", Direction.SF_TO_NS, (
        MappingRow("entity", 'ref("accounts", AccountId)', Direction.SF_TO_NS),
        MappingRow("externalId", "Id", Direction.SF_TO_NS),
        MappingRow("tranDate", "CloseDate", Direction.SF_TO_NS),
        MappingRow("item.items", 'OpportunityLineItems.{ "item": ref("catalog", Product2Id), '
                                 '"quantity": Quantity, "rate": UnitPrice }', Direction.SF_TO_NS),
        MappingRow("NetSuite_Order__c", "tranId", Direction.NS_TO_SF),
    ), depends_on=("accounts", "catalog"), flow="quote_to_cash"),
    LinkMapping("invoices", "Opportunity", "invoice", Direction.NS_TO_SF, (
        MappingRow("Invoice_Status__c", "status.refName", Direction.NS_TO_SF),
        MappingRow("Amount_Paid__c", "amountPaid", Direction.NS_TO_SF),
        MappingRow("Due_Date__c", "dueDate", Direction.NS_TO_SF),
    ), depends_on=("quote_to_cash",), flow="invoices"),
)


class FakeBackend:
    """The dashboard's backend, in memory (implements ``DashboardBackend`` and ``RunControl``)."""

    def __init__(self, clock: FixedClock | None = None) -> None:
        self.clock = clock or FixedClock()
        self.is_ready = True
        self.preflight_fixed: set[str] = set()  # review ids whose cause a person fixed in Salesforce
        self.labels: dict[str, str] = {
            "001A000001": "Acme Corp", "1001": "Acme Corp",
            "001A000002": "Globex Corporation", "1002": "Globex Corporation",
            "001A000003": "Initech", "1003": "Initech",
            "001A000004": HOSTILE_NAME, "1004": HOSTILE_NAME,
            "001A000005": "Umbrella Ltd", "006A000010": "Globex — 120 widgets",
            "001A000006": "Stark Industries Inc", "2202": "Pepper Potts",
            "006A000011": "Initech — 40 seats",
        }
        self.xrefs: list[Xref] = [
            Xref("accounts", "001A000001", "1001",
                 {"Name": "Acme Corp", "Phone": "+1 415 555 0100", "Website": "acme.com"},
                 {"companyName": "Acme Corp", "phone": "+1 415 555 0100", "url": "acme.com"},
                 created_at=_ago(days=40), updated_at=_ago(hours=2)),
            Xref("accounts", "001A000002", "1002", {"Name": "Globex Corporation"},
                 {"companyName": "Globex Corporation"}, created_at=_ago(days=30), updated_at=_ago(days=1)),
            Xref("accounts", "001A000003", "1003", {"Name": "Initech"}, {"companyName": "Initech"},
                 created_at=_ago(days=20), updated_at=_ago(hours=5)),
            Xref("accounts", "001A000004", "1004", {"Name": HOSTILE_NAME}, {"companyName": HOSTILE_NAME},
                 created_at=_ago(days=3), updated_at=_ago(days=3)),
        ]
        self.audit: list[AuditEvent] = [
            AuditEvent("ev1", _ago(days=40), "accounts", "create", System.NETSUITE, "001A000001", "1001",
                       "run-0001", ("companyName", "phone"), {},
                       {"companyName": "Acme Corp", "phone": "+1 415 555 0100"}, rule="match:none",
                       reason="no match above the review threshold"),
            AuditEvent("ev2", _ago(hours=2, minutes=5), "accounts", "update", System.NETSUITE, "001A000001",
                       "1001", "run-0417", ("phone",), {"phone": "+1 415 555 0099"},
                       {"phone": "+1 415 555 0100"}, decision="salesforce_wins", rule="owner:salesforce",
                       reason="changed in Salesforce only"),
            AuditEvent("ev3", _ago(minutes=20), "accounts", "conflict", None, "001A000001", "1001",
                       "run-0421", ("phone", "url"), {"phone": "+1 415 555 0100", "url": "acme.com"},
                       {"phone": "+1 415 555 0101 | +1 415 555 0199", "url": "acme.com | acme.io"},
                       decision="parked", rule="review", reason="changed differently on both sides"),
            AuditEvent("ev4", _ago(days=3), "accounts", "create", System.NETSUITE, "001A000004", "1004",
                       "run-0300", ("companyName",), {}, {"companyName": HOSTILE_NAME}, rule="match:none"),
        ]
        self.dead_letters: dict[str, DeadLetter] = {d.id: d for d in (
            DeadLetter("dl-umbrella", "accounts", System.SALESFORCE, "001A000005", Step.WRITE,
                       "INVALID_FLD_VALUE", "Invalid Field Value for Field email: 'not-an-email'",
                       _ago(minutes=50), _ago(minutes=50), target_system=System.NETSUITE,
                       payload={"companyName": "Umbrella Ltd", "email": "not-an-email",
                                "subsidiary": {"id": "1"}, "externalId": "001A000005"},
                       run_id="run-0420"),
            DeadLetter("dl-globex-order", "quote_to_cash", System.SALESFORCE, "006A000010", Step.REF,
                       "REF_NOT_LINKED", "Line 2: product 01tA0000000XL is not linked to a NetSuite item; "
                       "sync the catalog first", _ago(hours=3), _ago(hours=1), target_system=System.NETSUITE,
                       payload={"entity": {"id": "1002"}, "externalId": "006A000010",
                                "item": {"items": [{"item": {"id": "77"}, "quantity": 100, "rate": 9.5},
                                                   {"item": None, "quantity": 20, "rate": 14.0}]}},
                       attempts=3, run_id="run-0419"),
            DeadLetter("dl-hostile", "accounts", System.SALESFORCE, "001A000004", Step.MAP, "MAPPING_ERROR",
                       f"Name {HOSTILE_NAME} is longer than 83 characters", _ago(days=2), _ago(days=2),
                       target_system=System.NETSUITE, payload={"companyName": HOSTILE_NAME}),
            DeadLetter("dl-old", "contacts", System.NETSUITE, "2150", Step.WRITE, "DUPLICATE_VALUE",
                       "duplicate value found: Email", _ago(days=9), _ago(days=8),
                       target_system=System.SALESFORCE,
                       payload={"Email": "ops@globex.example"}, status=DeadLetterStatus.RESOLVED),
        )}
        self.reviews: dict[str, ReviewItem] = {}
        self._add_review(ReviewItem(ReviewKind.MATCH, MatchReview(
            "rv-stark", "accounts", System.SALESFORCE, "001A000006", (
                MatchCandidate("1006", 88.0, "fuzzy", "Stark Industries",
                               {"Name": "Stark Industries", "Website": "stark.com",
                                "Phone": "+1 212 555 0100", "BillingCity": "New York"}),
                MatchCandidate("1007", 71.0, "fuzzy", "Stark Ind. (Europe)",
                               {"Name": "Stark Ind. (Europe)", "Website": "stark.eu",
                                "Phone": "+49 30 5550 100", "BillingCity": "Berlin"}),
            ), _ago(hours=1), label="Stark Industries Inc"),
            record={"Name": "Stark Industries Inc", "Website": "stark.com", "Phone": "+1 212 555 0100",
                    "BillingCity": "New York"}))
        self._add_review(ReviewItem(ReviewKind.MATCH, MatchReview(
            "rv-pepper", "contacts", System.NETSUITE, "2202", (
                MatchCandidate("003A000020", 79.0, "key:email", "Virginia Potts",
                               {"FirstName": "Virginia", "LastName": "Potts", "Email": "pepper@stark.com"}),
            ), _ago(hours=4), label="Pepper Potts"),
            record={"FirstName": "Pepper", "LastName": "Potts", "Email": "pepper@stark.com"}))
        self._add_review(ReviewItem(ReviewKind.PREFLIGHT, MatchReview(
            "rv-initech-order", "quote_to_cash", System.SALESFORCE, "006A000011", (), _ago(minutes=35),
            label="Initech — 40 seats"),
            reason="Item SVC-ONBOARD is inactive in NetSuite; activate it or change the opportunity line."))
        self.conflicts: dict[str, Conflict] = {c.id: c for c in (
            Conflict("cf-phone", "accounts", "001A000001", "1001", "phone", _ago(minutes=20),
                     "+1 415 555 0100", "+1 415 555 0100", "+1 415 555 0101", "+1 415 555 0199"),
            Conflict("cf-url", "accounts", "001A000001", "1001", "url", _ago(minutes=20),
                     "acme.com", "acme.com", "acme.com", "acme.io"),
            Conflict("cf-employees", "accounts", "001A000003", "1003", "employees", _ago(minutes=10),
                     240, 240, 250, 245),
        )}
        self.link_states: dict[str, LinkState] = {
            "accounts": LinkState.RUNNING, "contacts": LinkState.RUNNING, "catalog": LinkState.RUNNING,
            "quote_to_cash": LinkState.FAILING, "invoices": LinkState.PAUSED,
        }
        self.runs: list[Run] = [
            Run("run-0421", _ago(minutes=2), ("accounts", "contacts"), finished_at=_ago(minutes=1),
                status=RunStatus.SUCCEEDED, counts={"synced": 14, "skipped": 3}),
            Run("run-0420", _ago(minutes=7), ("catalog",), finished_at=_ago(minutes=6),
                status=RunStatus.SUCCEEDED, counts={"synced": 2}),
            Run("run-0419", _ago(minutes=5), ("quote_to_cash",), finished_at=_ago(minutes=4),
                status=RunStatus.FAILED, counts={"synced": 6, "dead_lettered": 1}),
            Run("run-0300", _ago(days=1), ("invoices",), finished_at=_ago(days=1),
                status=RunStatus.SUCCEEDED, counts={"synced": 40}),
        ]
        self._next = 0

    # -- helpers ----------------------------------------------------------------------------------
    def _add_review(self, item: ReviewItem) -> None:
        self.reviews[item.review.id] = item

    def _id(self, prefix: str) -> str:
        self._next += 1
        return f"{prefix}-{self._next:04d}"

    def _audit(self, **kw: object) -> None:
        self.audit.append(AuditEvent(id=self._id("ev"), at=self.clock.now(), **kw))  # type: ignore[arg-type]

    # -- DashboardBackend -------------------------------------------------------------------------
    async def ready(self) -> Readiness:
        return Readiness(self.is_ready, "" if self.is_ready else "state store unreachable")

    async def overview(self) -> Overview:
        links = []
        for m in _MAPPINGS:
            runs = [r for r in self.runs if m.link in r.links]
            links.append(LinkSummary(
                m.link, m.sf_object, m.ns_record, m.direction, self.link_states[m.link],
                last_run=max(runs, key=lambda r: r.started_at) if runs else None,
                n_synced=sum(x.link == m.link for x in self.xrefs) * 100 + 17,
                n_errors=sum(d.link == m.link and d.status is DeadLetterStatus.OPEN
                             for d in self.dead_letters.values()),
                flow=m.flow))
        now = self.clock.now().replace(second=0, microsecond=0)
        throughput = tuple(SeriesPoint(now - timedelta(minutes=59 - i),
                                       round(42 + 18 * math.sin(i / 7) + (i % 5) * 3, 1)) for i in range(60))
        latency = tuple(SeriesPoint(now - timedelta(minutes=59 - i),
                                    round(2.4 + 0.9 * math.cos(i / 9) + (1.8 if i in (31, 32) else 0), 2))
                        for i in range(60))
        return Overview(
            links=tuple(links),
            budgets=ApiBudgets(Budget(calls_used=41_235, calls_limit=100_000),
                               Budget(concurrency_limit=15, in_flight=6, throttled=3)),
            throughput=throughput, latency=latency,
            open_dead_letters=sum(d.status is DeadLetterStatus.OPEN for d in self.dead_letters.values()),
            open_reviews=sum(r.review.status is ReviewStatus.OPEN for r in self.reviews.values()),
            open_conflicts=sum(c.status is ConflictStatus.OPEN for c in self.conflicts.values()))

    async def search_records(self, query: str, *, limit: int = 50) -> list[RecordPair]:
        q = query.strip().lower()
        hits: list[RecordPair] = []
        for x in self.xrefs:
            if q in (x.sf_id.lower(), x.ns_id.lower()) or q in self.labels.get(x.sf_id, "").lower():
                hits.append(RecordPair(x.link, x.sf_id, x.ns_id, self.labels.get(x.sf_id, "")))
        for d in self.dead_letters.values():
            if q == d.source_id.lower() or q in self.labels.get(d.source_id, "").lower():
                pair = (RecordPair(d.link, d.source_id, None, self.labels.get(d.source_id, ""))
                        if d.system is System.SALESFORCE else
                        RecordPair(d.link, None, d.source_id, self.labels.get(d.source_id, "")))
                if not any(h.link == pair.link and d.source_id in (h.sf_id, h.ns_id) for h in hits):
                    hits.append(pair)
        return hits[:limit]

    async def lineage(self, record_id: str, *, link: str | None = None) -> Lineage:
        def mine(lk: str) -> bool:
            return link is None or lk == link

        xrefs = tuple(x for x in self.xrefs if record_id in (x.sf_id, x.ns_id) and mine(x.link))
        events = tuple(sorted((e for e in self.audit if record_id in (e.sf_id, e.ns_id) and mine(e.link)),
                              key=lambda e: e.at, reverse=True))
        letters = tuple(d for d in self.dead_letters.values()
                        if d.source_id == record_id and mine(d.link) and d.status is DeadLetterStatus.OPEN)
        conflicts = tuple(c for c in self.conflicts.values() if record_id in (c.sf_id, c.ns_id)
                          and mine(c.link) and c.status is ConflictStatus.OPEN)
        if not (xrefs or events or letters):
            raise LookupError(f"no record {record_id!r} is known")
        objects = {m.link: m for m in _MAPPINGS}
        refs: list[RecordRef] = []
        for x in xrefs:
            m = objects[x.link]
            refs.append(RecordRef(System.SALESFORCE, m.sf_object, x.sf_id,
                                  SF_URL.format(object=m.sf_object, id=x.sf_id)))
            refs.append(RecordRef(System.NETSUITE, m.ns_record, x.ns_id, NS_URL.format(id=x.ns_id)))
        return Lineage(record_id, self.labels.get(record_id, record_id), xrefs, events, tuple(refs),
                       letters, conflicts)

    async def list_dead_letters(self, *, link: str | None = None,
                                status: DeadLetterStatus | None = DeadLetterStatus.OPEN,
                                code: str | None = None, limit: int = 100) -> list[DeadLetter]:
        found = [d for d in self.dead_letters.values()
                 if (link is None or d.link == link) and (status is None or d.status is status)
                 and (code is None or d.error_code == code)]
        return sorted(found, key=lambda d: d.created_at, reverse=True)[:limit]

    async def get_dead_letter(self, letter_id: str) -> DeadLetter:
        try:
            return self.dead_letters[letter_id]
        except KeyError:
            raise LookupError(f"no dead letter {letter_id!r}") from None

    @staticmethod
    def _validate(payload: Mapping[str, JsonValue]) -> tuple[str, str] | None:
        """What the target system would reject in this payload, as (code, message)."""
        email = payload.get("email", payload.get("Email"))
        if isinstance(email, str) and not _EMAIL.match(email):
            return "INVALID_FLD_VALUE", f"Invalid Field Value for Field email: {email!r}"
        name = payload.get("companyName")
        if isinstance(name, str) and len(name) > 83:
            return "MAPPING_ERROR", "companyName is longer than 83 characters"
        items = payload.get("item")
        if isinstance(items, dict) and isinstance(items.get("items"), list):
            for n, line in enumerate(items["items"], start=1):  # type: ignore[arg-type]
                if not isinstance(line, dict) or not line.get("item"):
                    return "REF_NOT_LINKED", f"Line {n}: the item is missing or not linked to a NetSuite item"
        return None

    async def retry_dead_letter(self, letter_id: str,
                                payload: Mapping[str, JsonValue] | None = None) -> Outcome:
        d = await self.get_dead_letter(letter_id)
        if d.status is not DeadLetterStatus.OPEN:
            raise ValueError(f"dead letter {letter_id} is {d.status.value}, not open")
        used = dict(payload) if payload is not None else dict(d.payload)
        now = self.clock.now()
        problem = self._validate(used)
        if problem is not None:
            code, message = problem
            self.dead_letters[letter_id] = replace(d, payload=used, error_code=code, error_message=message,
                                                   attempts=d.attempts + 1, updated_at=now)
            return Outcome(letter_id, False, f"{code}: {message}")
        new_id = str(1000 + len(self.xrefs) + 1)
        self.dead_letters[letter_id] = replace(d, payload=used, status=DeadLetterStatus.RESOLVED,
                                               attempts=d.attempts + 1, updated_at=now)
        if d.system is System.SALESFORCE and not any(x.sf_id == d.source_id for x in self.xrefs):
            self.xrefs.append(Xref(d.link, d.source_id, new_id, created_at=now, updated_at=now))
            self.labels.setdefault(new_id, self.labels.get(d.source_id, ""))
        self._audit(link=d.link, action="create", system=d.target_system, sf_id=d.source_id, ns_id=new_id,
                    fields=tuple(used), after=used, decision="retried",
                    reason=f"dead letter {letter_id} retried")
        return Outcome(letter_id, True, f"Synced: NetSuite record {new_id} written.", record_id=new_id)

    async def retry_dead_letters(self, letter_ids: Sequence[str]) -> list[Outcome]:
        outcomes = []
        for letter_id in letter_ids:
            try:
                outcomes.append(await self.retry_dead_letter(letter_id))
            except (LookupError, ValueError) as exc:
                outcomes.append(Outcome(letter_id, False, str(exc.args[0])))
        return outcomes

    async def discard_dead_letter(self, letter_id: str, reason: str) -> Outcome:
        d = await self.get_dead_letter(letter_id)
        if d.status is not DeadLetterStatus.OPEN:
            raise ValueError(f"dead letter {letter_id} is {d.status.value}, not open")
        if not reason.strip():
            raise ValueError("a reason is required")
        self.dead_letters[letter_id] = replace(d, status=DeadLetterStatus.DISCARDED,
                                               updated_at=self.clock.now())
        self._audit(link=d.link, action="discard", system=d.system, sf_id=d.source_id, reason=reason)
        return Outcome(letter_id, True, "Discarded.")

    async def list_reviews(self, *, kind: ReviewKind | None = None, link: str | None = None,
                           status: ReviewStatus | None = ReviewStatus.OPEN,
                           limit: int = 100) -> list[ReviewItem]:
        found = [r for r in self.reviews.values()
                 if (kind is None or r.kind is kind) and (link is None or r.review.link == link)
                 and (status is None or r.review.status is status)]
        return sorted(found, key=lambda r: r.review.created_at, reverse=True)[:limit]

    async def get_review(self, review_id: str) -> ReviewItem:
        try:
            return self.reviews[review_id]
        except KeyError:
            raise LookupError(f"no review {review_id!r}") from None

    async def resolve_review(self, review_id: str, decision: ReviewDecision,
                             candidate_id: str | None = None) -> Outcome:
        item = await self.get_review(review_id)
        r = item.review
        if r.status is not ReviewStatus.OPEN:
            raise ValueError(f"review {review_id} is already {r.status.value}")
        now = self.clock.now()
        if item.kind is ReviewKind.PREFLIGHT:
            if decision is ReviewDecision.DISMISS:
                self.reviews[review_id] = replace(item, review=replace(r, status=ReviewStatus.DISMISSED,
                                                                       resolved_at=now))
                return Outcome(review_id, True, "Dismissed.")
            if decision is not ReviewDecision.RETRY:
                raise ValueError("a preflight review can be retried or dismissed")
            if review_id not in self.preflight_fixed:
                return Outcome(review_id, False, f"Still failing: {item.reason}")
            self.reviews[review_id] = replace(item, review=replace(r, status=ReviewStatus.CREATED,
                                                                   resolved_at=now))
            return Outcome(review_id, True, "Sales order created.", record_id="SO-1042")
        if decision is ReviewDecision.LINK:
            if candidate_id not in {c.id for c in r.candidates}:
                raise ValueError("choose one of the candidates to link")
            assert candidate_id is not None
            sf_id, ns_id = ((r.record_id, candidate_id) if r.system is System.SALESFORCE
                            else (candidate_id, r.record_id))
            self.xrefs.append(Xref(r.link, sf_id, ns_id, created_at=now, updated_at=now))
            self.labels.setdefault(sf_id, r.label)
            self._audit(link=r.link, action="link", sf_id=sf_id, ns_id=ns_id, decision="manual",
                        rule="review", reason=f"linked by a person from review {review_id}")
            self.reviews[review_id] = replace(item, review=replace(r, status=ReviewStatus.LINKED,
                                                                   resolved_at=now, chosen_id=candidate_id))
            return Outcome(review_id, True, f"Linked {r.label or r.record_id} to {candidate_id}.",
                           record_id=candidate_id)
        if decision is ReviewDecision.CREATE:
            self.reviews[review_id] = replace(item, review=replace(r, status=ReviewStatus.CREATED,
                                                                   resolved_at=now))
            return Outcome(review_id, True, f"A new record will be created for {r.label or r.record_id}.")
        if decision is ReviewDecision.DISMISS:
            self.reviews[review_id] = replace(item, review=replace(r, status=ReviewStatus.DISMISSED,
                                                                   resolved_at=now))
            return Outcome(review_id, True, "Dismissed.")
        raise ValueError("a match review can be linked, created or dismissed")

    async def list_conflicts(self, *, link: str | None = None,
                             status: ConflictStatus | None = ConflictStatus.OPEN,
                             limit: int = 100) -> list[Conflict]:
        found = [c for c in self.conflicts.values()
                 if (link is None or c.link == link) and (status is None or c.status is status)]
        return sorted(found, key=lambda c: c.created_at, reverse=True)[:limit]

    async def resolve_conflict(self, conflict_id: str, choice: ConflictChoice,
                               value: JsonValue = None) -> Outcome:
        try:
            c = self.conflicts[conflict_id]
        except KeyError:
            raise LookupError(f"no conflict {conflict_id!r}") from None
        if c.status is not ConflictStatus.OPEN:
            raise ValueError(f"conflict {conflict_id} is already resolved")
        chosen = {ConflictChoice.SALESFORCE: c.sf_value, ConflictChoice.NETSUITE: c.ns_value,
                  ConflictChoice.VALUE: value}[choice]
        self.conflicts[conflict_id] = replace(c, status=ConflictStatus.RESOLVED, resolution=choice.value,
                                              resolved_value=chosen, resolved_at=self.clock.now())
        self._audit(link=c.link, action="update", sf_id=c.sf_id, ns_id=c.ns_id, fields=(c.field,),
                    before={c.field: c.base_sf}, after={c.field: chosen}, decision=f"manual:{choice.value}",
                    rule="review", reason="conflict resolved by a person")
        return Outcome(conflict_id, True, f"{c.field} = {chosen!r}")

    async def list_mappings(self) -> list[LinkMapping]:
        return list(_MAPPINGS)

    async def forecast(self, *, granularity: str = "month") -> Forecast:
        if granularity == "month":
            rows = tuple(ForecastRow(date(2026, 3 + i, 1), f"2026-{3 + i:02d}",
                                     Decimal(180_000 + 35_000 * i - 6_000 * i * i),
                                     Decimal(240_000 - 22_000 * i)) for i in range(6))
        elif granularity == "week":
            start = date(2026, 3, 2)
            rows = tuple(ForecastRow(start + timedelta(weeks=i), f"2026-W{10 + i:02d}",
                                     Decimal(40_000 + 4_500 * (i % 4)) + Decimal("0.50"),
                                     Decimal(61_000 - 3_000 * i)) for i in range(8))
        else:
            raise ValueError(f"unknown granularity {granularity!r}; use week or month")
        return Forecast("USD", granularity, rows, self.clock.now())

    # -- RunControl -------------------------------------------------------------------------------
    async def pause_link(self, link: str) -> Outcome:
        self.link_states[link] = LinkState.PAUSED
        return Outcome(link, True, f"{link} paused.")

    async def resume_link(self, link: str) -> Outcome:
        self.link_states[link] = LinkState.RUNNING
        return Outcome(link, True, f"{link} resumed.")

    async def run_link(self, link: str) -> Outcome:
        now = self.clock.now()
        self.runs.append(Run(self._id("run"), now, (link,), finished_at=now, status=RunStatus.SUCCEEDED))
        return Outcome(link, True, f"{link}: run started.")
