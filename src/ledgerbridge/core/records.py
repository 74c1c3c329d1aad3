"""Domain values that cross the ports: records, changes, watermarks, writes and their results.

Layer ``core``: pure values, no I/O. Field values are JSON values in the vocabulary of the system
they came from (Salesforce field API names; NetSuite REST record field names, with references as
``{"id": ..., "refName": ...}`` objects and sublists as ``{"items": [...]}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import TypeAlias

from ledgerbridge.core.errors import ErrorKind

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
Fields: TypeAlias = Mapping[str, "JsonValue"]


class System(StrEnum):
    """The systems LedgerBridge connects."""

    SALESFORCE = "salesforce"
    NETSUITE = "netsuite"


class Priority(IntEnum):
    """Lanes for API calls; a lower number is served first and never starved by a higher one."""

    INTERACTIVE = 0
    ORDER = 1
    STATUS = 2
    BACKFILL = 3


@dataclass(frozen=True, slots=True)
class Record:
    """The current state of one record, as read from its system."""

    object: str
    id: str
    fields: Fields
    modified_at: datetime | None = None
    is_deleted: bool = False
    merged_into: str | None = None  # Salesforce MasterRecordId of a merge loser


@dataclass(frozen=True, slots=True, order=True)
class Watermark:
    """A position in a change feed: modification time, then id to break ties."""

    at: datetime
    last_id: str = ""

    def to_token(self) -> str:
        """Serialise for the state store."""
        return f"{self.at.astimezone(UTC).isoformat()}|{self.last_id}"

    @classmethod
    def from_token(cls, token: str) -> Watermark:
        """Parse what :meth:`to_token` wrote."""
        at, _, last_id = token.partition("|")
        return cls(datetime.fromisoformat(at), last_id)


@dataclass(frozen=True, slots=True)
class ReadPage:
    """One page of a change feed; ``watermark`` is where the next read starts once committed."""

    records: Sequence[Record]
    watermark: Watermark | None
    has_more: bool = False


class ChangeKind(StrEnum):
    """What a change event says happened."""

    UPSERT = "upsert"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Change:
    """A hint that a record may have changed (level-triggered: the engine refetches it)."""

    system: System
    object: str
    id: str
    kind: ChangeKind = ChangeKind.UPSERT
    source: str = "poll"  # poll | push | cdc | replay
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeletedRecord:
    """A record deleted in its system, with the merge winner when it was merged away."""

    object: str
    id: str
    deleted_at: datetime | None = None
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """One record to write: by ``id`` (update), by ``external_id`` (upsert), or neither (create)."""

    fields: Fields
    id: str | None = None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one record of a batch failed, in the system's own words."""

    kind: ErrorKind
    code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one :class:`Write`, positionally aligned with the input batch."""

    index: int
    id: str | None = None
    created: bool = False
    error: RecordError | None = None

    @property
    def ok(self) -> bool:
        """True when the write succeeded."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """What a system says about one field."""

    name: str
    type: str
    label: str = ""
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    is_external_id: bool = False
    reference_to: tuple[str, ...] = ()
    picklist: tuple[str, ...] = ()
    length: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    """A described object (Salesforce sObject, NetSuite record type)."""

    name: str
    fields: Mapping[str, FieldSchema]
    label: str = ""

    def field(self, name: str) -> FieldSchema | None:
        """Look a field up, case-insensitively as both systems do."""
        if name in self.fields:
            return self.fields[name]
        lower = name.lower()
        for key, value in self.fields.items():
            if key.lower() == lower:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a connector can do, so the engine can plan batches and reads."""

    max_write_batch: int
    upsert_by_external_id: bool = True
    change_feeds: tuple[str, ...] = ("poll",)
    max_page_size: int = 1000


@dataclass(frozen=True, slots=True)
class Budget:
    """What is left of a system's API allocation and concurrency right now."""

    calls_used: int | None = None
    calls_limit: int | None = None
    concurrency_limit: int | None = None
    in_flight: int = 0
    throttled: int = 0
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def calls_remaining(self) -> int | None:
        """Remaining calls of the daily allocation, when the system reports one."""
        if self.calls_used is None or self.calls_limit is None:
            return None
        return max(0, self.calls_limit - self.calls_used)
