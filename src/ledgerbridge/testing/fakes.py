"""In-memory stand-ins for the ports: :class:`FakeSystem` (a :class:`~ledgerbridge.core.ports.SystemPort`)
and :class:`ManualClock` (a :class:`~ledgerbridge.core.ports.Clock`).

A fake with behaviour, not a mock: records have ids and modification stamps, change feeds are ordered
and paged, upserts by external id are idempotent, per-record failures come back as
:class:`~ledgerbridge.core.records.RecordError` values, and every call is counted so tests can assert
"this pass made zero writes". Human edits go through :meth:`FakeSystem.edit` and friends so they
get fresh stamps like real ones.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ledgerbridge.core.errors import ErrorKind, RequestRejected
from ledgerbridge.core.records import (
    Budget,
    Capabilities,
    DeletedRecord,
    FieldSchema,
    JsonValue,
    ObjectSchema,
    Priority,
    ReadPage,
    Record,
    RecordError,
    System,
    Watermark,
    Write,
    WriteResult,
)

__all__ = ["FakeSystem", "ManualClock", "UniqueRule", "WriteRule"]

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class ManualClock:
    """A clock that only moves when told to; ``sleep`` advances it instead of waiting."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        """The current (fake) time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self._now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        """Advance instead of waiting."""
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))


@dataclass
class WriteRule:
    """Fail writes matching ``when`` with ``error`` (``times`` < 0: for ever)."""

    when: Callable[[str, Write], bool]
    error: RecordError
    times: int = -1


@dataclass
class UniqueRule:
    """Refuse a create whose ``field`` equals (case-insensitively) an existing record's, as NetSuite
    refuses a second customer with the same entity ID (``DUP_ENTITY``) or a Salesforce unique field
    a second value (``DUPLICATE_VALUE``). When a create leaves ``field`` out, the value of ``source``
    stands for it and is stored in it (NetSuite's entity ID defaults to the company name)."""

    object: str
    field: str
    code: str
    source: str | None = None

    def value(self, fields: Mapping[str, JsonValue]) -> str | None:
        """The unique value a write's ``fields`` give, or None."""
        value = fields.get(self.field)
        if value in (None, "") and self.source is not None:
            value = fields.get(self.source)
        return None if value in (None, "") else str(value)


class FakeSystem:
    """One system's records in memory, implementing the ``SystemPort`` protocol.

    Args:
        system: which system this pretends to be.
        clock: time source for modification stamps (stamps are strictly increasing).
        max_write_batch: ``capabilities.max_write_batch``; larger batches are rejected.
        page_size: records per change-feed page.
        schemas: optional ``describe`` results by object; otherwise inferred from the data.
    """

    def __init__(self, system: System, clock: ManualClock | None = None, *, max_write_batch: int = 200,
                 page_size: int = 100, schemas: Mapping[str, ObjectSchema] | None = None,
                 upsert_by_external_id: bool = True) -> None:
        self._system = system
        self.clock = clock or ManualClock()
        self._caps = Capabilities(max_write_batch=max_write_batch,
                                  upsert_by_external_id=upsert_by_external_id, max_page_size=page_size)
        self.page_size = page_size
        self.schemas = dict(schemas or {})
        self.records: dict[str, dict[str, Record]] = {}
        self.deleted: list[DeletedRecord] = []
        self.calls: Counter[str] = Counter()
        self.n_records_written = 0
        self.rules: list[WriteRule] = []
        self.unique: list[UniqueRule] = []
        self.where: dict[str, Callable[[Record], bool]] = {}
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        self._ids = itertools.count(1)

    # -- port ------------------------------------------------------------------------------------
    @property
    def system(self) -> System:
        """Which system this is."""
        return self._system

    @property
    def capabilities(self) -> Capabilities:
        """Batch and page sizes."""
        return self._caps

    async def describe(self, object: str) -> ObjectSchema:
        """The given schema, or one inferred from stored records."""
        self.calls["describe"] += 1
        if object in self.schemas:
            return self.schemas[object]
        names = {k for r in self.records.get(object, {}).values() for k in r.fields}
        return ObjectSchema(object, {n: FieldSchema(n, "string") for n in sorted(names)})

    async def read_changes(self, object: str, since: Watermark | None, *,
                           fields: Sequence[str] | None = None, where: str | None = None,
                           priority: Priority = Priority.STATUS) -> AsyncIterator[ReadPage]:
        """Records modified at or after ``since``, ordered by (stamp, id), in pages."""
        rows = sorted((r for r in self.records.get(object, {}).values()
                       if (since is None or (r.modified_at or T0, r.id) >= (since.at, since.last_id))
                       and (where is None or where not in self.where or self.where[where](r))),
                      key=lambda r: (r.modified_at or T0, r.id))
        if not rows:
            self.calls["read_changes"] += 1
            yield ReadPage([], since, has_more=False)
            return
        for start in range(0, len(rows), self.page_size):
            self.calls["read_changes"] += 1
            page = rows[start:start + self.page_size]
            last = page[-1]
            yield ReadPage([self._project(r, fields) for r in page],
                           Watermark(last.modified_at or T0, last.id),
                           has_more=start + self.page_size < len(rows))

    async def read_deleted(self, object: str, since: Watermark | None, *,
                           priority: Priority = Priority.STATUS) -> list[DeletedRecord]:
        """Deletions at or after ``since``."""
        self.calls["read_deleted"] += 1
        return [d for d in self.deleted if d.object == object
                and (since is None or (d.deleted_at or T0) >= since.at)]

    async def read_by_ids(self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None,
                          priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        """Current records for the ids that exist."""
        self.calls["read_by_ids"] += 1
        table = self.records.get(object, {})
        return [self._project(table[i], fields) for i in dict.fromkeys(ids) if i in table]

    async def find(self, object: str, field: str, values: Sequence[str], *,
                   fields: Sequence[str] | None = None,
                   priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        """Records whose ``field`` equals one of ``values`` (a boolean field matches ``"true"`` and
        ``"false"``, as the Salesforce connector's ``find`` renders them)."""
        self.calls["find"] += 1
        wanted = {str(v) for v in values}
        return [self._project(r, fields) for r in self.records.get(object, {}).values()
                if r.fields.get(field) is not None and _text(r.fields.get(field)) in wanted]

    async def filter_ids(self, object: str, ids: Sequence[str], where: str, *,
                         priority: Priority = Priority.INTERACTIVE) -> list[str]:
        """The ids that exist and satisfy ``where``, judged as :meth:`read_changes` judges it: by the
        predicate registered in :attr:`where` for that text (an unregistered condition holds for
        every record). One call per request, however many ids."""
        self.calls["filter_ids"] += 1
        table = self.records.get(object, {})
        test = self.where.get(where)
        return [i for i in dict.fromkeys(ids) if i in table and (test is None or test(table[i]))]

    async def upsert(self, object: str, writes: Sequence[Write], *, key_field: str | None = None,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        """Create, update, or upsert by ``key_field``; failures come back as values."""
        self.calls["upsert"] += 1
        if len(writes) > self._caps.max_write_batch:
            raise RequestRejected(f"batch of {len(writes)} exceeds {self._caps.max_write_batch}",
                                  code="BATCH_TOO_LARGE", system=self._system.value, operation="upsert")
        results: list[WriteResult] = []
        table = self.records.setdefault(object, {})
        for i, w in enumerate(writes):
            error = self._rule_error(object, w)
            if error is not None:
                results.append(WriteResult(i, id=w.id, error=error))
                continue
            self.n_records_written += 1
            target: Record | None = None
            if w.id is not None:
                target = table.get(w.id)
                if target is None:
                    results.append(WriteResult(i, id=w.id, error=RecordError(
                        ErrorKind.NOT_FOUND, "NOT_FOUND", f"{object} {w.id} does not exist")))
                    continue
            elif w.external_id is not None and key_field is not None:
                matches = [r for r in table.values() if str(r.fields.get(key_field)) == w.external_id]
                if len(matches) > 1:
                    results.append(WriteResult(i, error=RecordError(
                        ErrorKind.AMBIGUOUS, "DUPLICATE_EXTERNAL_ID",
                        f"{len(matches)} {object} records have {key_field}={w.external_id}")))
                    continue
                target = matches[0] if matches else None
            fields = dict(copy.deepcopy(dict(w.fields)))
            if w.external_id is not None and key_field is not None:
                fields[key_field] = w.external_id
            if target is None and (refused := self._duplicate(object, fields)) is not None:
                results.append(WriteResult(i, error=refused))
                continue
            if target is None:
                new_id = self._new_id(object)
                table[new_id] = Record(object, new_id, fields, modified_at=self._stamp())
                results.append(WriteResult(i, id=new_id, created=True))
            else:
                merged = {**target.fields, **fields}
                table[target.id] = replace(target, fields=merged, modified_at=self._stamp())
                results.append(WriteResult(i, id=target.id, created=False))
        return results

    async def delete(self, object: str, ids: Sequence[str], *,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        """Delete by id."""
        self.calls["delete"] += 1
        results = []
        for i, rid in enumerate(ids):
            if self.remove(object, rid):
                results.append(WriteResult(i, id=rid))
            else:
                results.append(WriteResult(i, id=rid, error=RecordError(
                    ErrorKind.NOT_FOUND, "NOT_FOUND", f"{object} {rid} does not exist")))
        return results

    async def budget(self) -> Budget:
        """Calls made so far."""
        return Budget(calls_used=sum(self.calls.values()))

    async def aclose(self) -> None:
        """Nothing to release."""

    # -- test controls (human activity) ----------------------------------------------------------
    def create(self, object: str, fields: Mapping[str, JsonValue], *, id: str | None = None) -> str:
        """A person creates a record; returns its id."""
        new_id = id or self._new_id(object)
        self.records.setdefault(object, {})[new_id] = Record(
            object, new_id, dict(copy.deepcopy(dict(fields))), modified_at=self._stamp())
        return new_id

    def edit(self, object: str, id: str, **fields: JsonValue) -> None:
        """A person edits fields of a record."""
        r = self.records[object][id]
        self.records[object][id] = replace(r, fields={**r.fields, **fields}, modified_at=self._stamp())

    def remove(self, object: str, id: str, *, merged_into: str | None = None) -> bool:
        """A record is deleted (or merged into ``merged_into``)."""
        table = self.records.get(object, {})
        if id not in table:
            return False
        del table[id]
        self.deleted.append(DeletedRecord(object, id, deleted_at=self._stamp(), merged_into=merged_into))
        return True

    def merge(self, object: str, loser: str, winner: str) -> None:
        """A Salesforce-style merge: the loser disappears, the winner is touched."""
        self.remove(object, loser, merged_into=winner)
        self.edit(object, winner)

    def get(self, object: str, id: str) -> Record | None:
        """A record, or None."""
        return self.records.get(object, {}).get(id)

    def all(self, object: str) -> list[Record]:
        """Every record of an object, by id."""
        return sorted(self.records.get(object, {}).values(), key=lambda r: r.id)

    def fail_writes(self, when: Callable[[str, Write], bool], error: RecordError, *,
                    times: int = -1) -> WriteRule:
        """Make matching writes fail with ``error``; remove the returned rule to cure it."""
        rule = WriteRule(when, error, times)
        self.rules.append(rule)
        return rule

    def refuse_duplicates(self, object: str, field: str, *, code: str = "DUP_ENTITY",
                          source: str | None = None) -> UniqueRule:
        """Make creates of ``object`` fail with ``code`` when ``field`` (or, left out, ``source``)
        equals an existing record's value, case-insensitively."""
        rule = UniqueRule(object, field, code, source)
        self.unique.append(rule)
        return rule

    @property
    def n_writes(self) -> int:
        """Write calls made (upsert + delete)."""
        return self.calls["upsert"] + self.calls["delete"]

    # -- internals -------------------------------------------------------------------------------
    def _rule_error(self, object: str, w: Write) -> RecordError | None:
        for rule in self.rules:
            if rule.times != 0 and rule.when(object, w):
                if rule.times > 0:
                    rule.times -= 1
                return rule.error
        return None

    def _duplicate(self, object: str, fields: dict[str, JsonValue]) -> RecordError | None:
        """The error a create of ``fields`` meets under :attr:`unique` (filling derived values in)."""
        for rule in self.unique:
            if rule.object != object or (value := rule.value(fields)) is None:
                continue
            if any(str(rule.value(r.fields) or "").lower() == value.lower()
                   for r in self.records.get(object, {}).values()):
                return RecordError(ErrorKind.RECORD, rule.code,
                                   f"A {object} record with this {rule.field} already exists ({value}).",
                                   (rule.field,))
            fields.setdefault(rule.field, value)
        return None

    def _stamp(self) -> datetime:
        now = self.clock.now()
        stamp = now if now > self._last_stamp else self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = stamp
        return stamp

    def _new_id(self, object: str) -> str:
        n = next(self._ids)
        if self._system is System.SALESFORCE:
            return f"{object[:3].upper()}{n:012d}"
        return str(1000 + n)

    @staticmethod
    def _project(r: Record, fields: Sequence[str] | None) -> Record:
        if fields is None:
            return replace(r, fields=copy.deepcopy(dict(r.fields)))
        return replace(r, fields={k: copy.deepcopy(r.fields[k]) for k in fields if k in r.fields})


def _text(value: JsonValue) -> str:
    """A field value as ``find`` compares it: booleans as ``true``/``false``, others as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
