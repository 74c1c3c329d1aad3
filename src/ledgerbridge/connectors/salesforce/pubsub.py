"""Change Data Capture over the Salesforce Pub/Sub API (gRPC): record ids and replay ids, nothing more.

Layer ``connectors`` (imports ``ledgerbridge.core`` and the generated ``_pubsub_generated`` stubs,
never the sandbox). Protocol facts (reference salesforce-api §9.1, §9.2; ``pubsub_api.proto``;
Salesforce's Pub/Sub "Handle Errors" and "Event Deserialization Considerations" pages):

- one gRPC call per topic (``/data/AccountChangeEvent``, ..., or ``/data/ChangeEvents``) with metadata
  ``accesstoken``, ``instanceurl``, ``tenantid``; the endpoint is ``api.pubsub.salesforce.com:7443``;
- flow control: the client grants ``num_requested`` credits and grants more when
  ``pending_num_requested`` reaches zero;
- payloads are Avro binary; the schema comes from ``GetSchema(schema_id)`` and is cached by id;
  ``changedFields``/``nulledFields``/``diffFields`` are bitmaps over the schema's field positions;
- replay ids are opaque bytes kept 72 hours; a stored one past retention fails with
  ``sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted``.

:class:`CdcSubscriber` turns that into :class:`CdcBatch` values: engine :class:`Change` hints
(``source="cdc"``; the engine re-reads each record, so duplicates are harmless) plus the replay id
to resume from. The replay id is saved through a :class:`ReplayStore` when the consumer asks for the
next batch, i.e. after it has handled this one (at-least-once). When the stored replay id has expired,
the subscriber forgets it, yields a batch with ``catch_up_required`` set (run a polling catch-up for
the topic's objects) and resubscribes from LATEST.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import fastavro
import grpc
import grpc.aio
from pydantic import SecretStr

from ledgerbridge.connectors.salesforce._pubsub_generated import pubsub_api_pb2 as pb
from ledgerbridge.connectors.salesforce._pubsub_generated import pubsub_api_pb2_grpc as pb_grpc
from ledgerbridge.core.errors import AuthError, NotFound, ProtocolError, RemoteError, TransportError
from ledgerbridge.core.records import Change, ChangeKind, System

__all__ = [
    "DEFAULT_ENDPOINT",
    "CdcBatch",
    "CdcEvent",
    "CdcSubscriber",
    "PubSubCredentials",
    "ReplayStore",
    "StartAt",
    "decode_bitmap",
    "open_channel",
]

DEFAULT_ENDPOINT = "api.pubsub.salesforce.com:7443"
ERROR_REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
ERROR_REPLAY_VALIDATION = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
ERROR_TOPIC_NOT_FOUND = "sfdc.platform.eventbus.grpc.topic.not.found"
MAX_BATCH = 100  # events one FetchRequest may ask for (reference §9.2)
_DELETES = frozenset({"DELETE", "GAP_DELETE"})
_UPSERTS = frozenset({"CREATE", "UPDATE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_UNDELETE"})


class StartAt(StrEnum):
    """Where a subscription without a stored replay id starts."""

    LATEST = "latest"
    EARLIEST = "earliest"


@dataclass(frozen=True)
class PubSubCredentials:
    """The three metadata headers every Pub/Sub call carries."""

    access_token: SecretStr
    instance_url: str
    tenant_id: str

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """As gRPC call metadata."""
        return (("accesstoken", self.access_token.get_secret_value()), ("instanceurl", self.instance_url),
                ("tenantid", self.tenant_id))


CredentialsProvider = Callable[[], Awaitable[PubSubCredentials]]


class ReplayStore(Protocol):
    """Where the last handled replay id of each topic is kept (the engine's state store)."""

    async def load(self, topic: str) -> bytes | None:
        """The stored replay id of ``topic``, or ``None``."""
        ...

    async def save(self, topic: str, replay_id: bytes | None) -> None:
        """Store (or, with ``None``, forget) the replay id of ``topic``."""
        ...


@dataclass(frozen=True)
class CdcEvent:
    """One decoded change event."""

    entity: str
    record_ids: tuple[str, ...]
    change_type: str
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...]
    change_origin: str
    commit_at: datetime | None
    replay_id: bytes


@dataclass(frozen=True)
class CdcBatch:
    """What one server response means for the engine.

    Attributes:
        changes: one hint per record id (``source="cdc"``).
        events: the decoded events behind them.
        replay_id: where to resume after this batch (``None`` after a catch-up signal).
        catch_up_required: the stored replay id expired (or Salesforce lost track: ``GAP_OVERFLOW``,
            wildcard ids); run a polling catch-up for ``catch_up_objects``.
        catch_up_objects: the objects to catch up; empty means every object of the topic.
    """

    changes: tuple[Change, ...] = ()
    events: tuple[CdcEvent, ...] = ()
    replay_id: bytes | None = None
    catch_up_required: bool = False
    catch_up_objects: tuple[str, ...] = ()


def open_channel(target: str = DEFAULT_ENDPOINT, *, secure: bool = True) -> grpc.aio.Channel:
    """A gRPC channel to the Pub/Sub API (TLS with the system roots unless ``secure=False``)."""
    if secure:
        return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials())
    return grpc.aio.insecure_channel(target)


@dataclass
class _Layout:
    """Field positions of a change-event schema, for the bitmaps."""

    top: list[str]
    nested: dict[int, list[str]] = field(default_factory=dict)


def _layout(schema: Mapping[str, Any]) -> _Layout:
    named: dict[str, Mapping[str, Any]] = {}

    def record_of(avro_type: Any, namespace: str) -> Mapping[str, Any] | None:
        if isinstance(avro_type, list):
            for branch in avro_type:
                found = record_of(branch, namespace)
                if found is not None:
                    return found
            return None
        if isinstance(avro_type, str):
            return named.get(avro_type) or named.get(f"{namespace}.{avro_type}")
        if isinstance(avro_type, Mapping) and avro_type.get("type") == "record":
            space = str(avro_type.get("namespace") or namespace)
            named[f"{space}.{avro_type.get('name')}"] = avro_type
            return avro_type
        return None

    namespace = str(schema.get("namespace") or "")
    layout = _Layout([str(f["name"]) for f in schema.get("fields", [])])
    for position, f in enumerate(schema.get("fields", [])):
        nested = record_of(f.get("type"), namespace)
        if nested is not None and position > 0:
            layout.nested[position] = [str(n["name"]) for n in nested.get("fields", [])]
    return layout


def _bits(hex_text: str) -> list[int]:
    value = int(hex_text[2:] or "0", 16)
    return [i for i in range(value.bit_length()) if value >> i & 1]


def decode_bitmap(values: Sequence[str], layout_or_schema: Mapping[str, Any] | _Layout) -> tuple[str, ...]:
    """Turn Pub/Sub bitmap strings back into field names (``BillingAddress.City`` for compounds).

    Args:
        values: e.g. ``["0x1E", "3-0x04"]``; plain field names (CometD style) pass through.
        layout_or_schema: the event's Avro schema (parsed JSON) or its layout.

    Returns:
        The field names, top-level ones first.

    Raises:
        ProtocolError: a bitmap names a position the schema does not have.
    """
    layout = layout_or_schema if isinstance(layout_or_schema, _Layout) else _layout(layout_or_schema)
    names: list[str] = []
    try:
        for value in values:
            parent, sep, bitmap = value.partition("-")
            if value.startswith("0x"):
                names += [layout.top[i] for i in _bits(value)]
            elif sep and parent.isdigit() and bitmap.startswith("0x"):
                members = layout.nested[int(parent)]
                names += [f"{layout.top[int(parent)]}.{members[i]}" for i in _bits(bitmap)]
            else:
                names.append(value)
    except (IndexError, KeyError, ValueError) as exc:
        raise ProtocolError(f"change event bitmap {values!r} does not fit its schema",
                            system=System.SALESFORCE.value, operation="pubsub.decode") from exc
    return tuple(names)


@dataclass
class _Schema:
    parsed: Any
    layout: _Layout


class _ReplayExpired(Exception):
    pass


def _error_code(error: grpc.aio.AioRpcError) -> str:
    trailers: Any = error.trailing_metadata() or ()
    for item in trailers:
        key, value = tuple(item)
        if key == "error-code":
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


class CdcSubscriber:
    """Subscribes to one change channel and yields :class:`CdcBatch` values, resuming by replay id.

    Args:
        channel: a gRPC channel to the Pub/Sub API (see :func:`open_channel`); not closed here.
        credentials: returns current credentials; called again to refresh after ``UNAUTHENTICATED``.
        replay_store: keeps the last handled replay id per topic.
        batch_size: credits requested at a time (1..100).
        start_at: where to start when no replay id is stored.
        ignore_client: drop events whose ``changeOrigin`` names this ``client=`` id (our own writes,
            sent with ``Sforce-Call-Options: client=<id>``); the engine's value comparison would skip
            them anyway, this saves the re-read.
    """

    def __init__(self, channel: grpc.aio.Channel, credentials: CredentialsProvider, replay_store: ReplayStore,
                 *, batch_size: int = MAX_BATCH, start_at: StartAt = StartAt.LATEST,
                 ignore_client: str | None = None) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        self._stub = pb_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
        self._credentials = credentials
        self._replay_store = replay_store
        self._batch_size = batch_size
        self._start_at = start_at
        self._ignore_origin = f"client={ignore_client}" if ignore_client else None
        self._schemas: dict[str, _Schema] = {}

    async def subscribe(self, topic: str) -> AsyncGenerator[CdcBatch, None]:
        """Yield batches from ``topic`` until the caller stops iterating or the stream fails.

        Args:
            topic: ``/data/ChangeEvents`` or ``/data/<Entity>ChangeEvent``.

        Yields:
            One :class:`CdcBatch` per server response (an empty one for a keepalive).

        Raises:
            AuthError: the credentials were refused twice in a row.
            NotFound: the topic does not exist (or CDC is off for its entity).
            TransportError: the stream broke; call again to resume from the stored replay id.
            RemoteError: any other error the server reported.
        """
        refreshed = False
        start_at = self._start_at
        while True:
            credentials = await self._credentials()
            stored = await self._replay_store.load(topic)
            try:
                async with contextlib.aclosing(self._stream(topic, credentials, stored, start_at)) as stream:
                    async for batch in stream:
                        refreshed = False
                        yield batch
                        if batch.replay_id is not None:
                            await self._replay_store.save(topic, batch.replay_id)
                return
            except _ReplayExpired:
                # Past retention: forget it, tell the caller to poll, and go on from now.
                await self._replay_store.save(topic, None)
                start_at = StartAt.LATEST
                yield CdcBatch(catch_up_required=True)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.UNAUTHENTICATED and not refreshed:
                    refreshed = True
                    continue
                raise _translate(error, topic) from None

    async def _stream(self, topic: str, credentials: PubSubCredentials, stored: bytes | None,
                      start_at: StartAt) -> AsyncGenerator[CdcBatch, None]:
        metadata = credentials.metadata()
        call = self._stub.Subscribe(metadata=metadata)
        try:
            first = pb.FetchRequest(topic_name=topic, num_requested=self._batch_size)
            if stored:
                first.replay_preset = pb.ReplayPreset.CUSTOM
                first.replay_id = stored
            elif start_at is StartAt.EARLIEST:
                first.replay_preset = pb.ReplayPreset.EARLIEST
            else:
                first.replay_preset = pb.ReplayPreset.LATEST
            await call.write(first)
            while True:
                try:
                    response = await call.read()
                except grpc.aio.AioRpcError as error:
                    if stored and _error_code(error) in (ERROR_REPLAY_CORRUPTED, ERROR_REPLAY_VALIDATION):
                        raise _ReplayExpired from None
                    raise
                if response is grpc.aio.EOF:  # type: ignore[attr-defined]  # missing from grpc-stubs
                    raise TransportError("the Pub/Sub stream ended; subscribe again to resume",
                                         system=System.SALESFORCE.value, operation="pubsub.subscribe")
                stored = None  # the stream is established: later errors are not about the replay id
                batch = await self._batch(response, metadata)
                if response.pending_num_requested == 0 and response.events:
                    await call.write(pb.FetchRequest(num_requested=self._batch_size))
                yield batch
        finally:
            call.cancel()

    async def _batch(self, response: pb.FetchResponse, metadata: Sequence[tuple[str, str]]) -> CdcBatch:
        events: list[CdcEvent] = []
        changes: list[Change] = []
        catch_up: list[str] = []
        for consumer_event in response.events:
            event = await self._decode(consumer_event, metadata)
            if self._ignore_origin and self._ignore_origin in event.change_origin.split(";"):
                continue
            events.append(event)
            if event.change_type == "GAP_OVERFLOW" or any(i.endswith("*") for i in event.record_ids):
                catch_up.append(event.entity)
                continue
            if event.change_type not in _DELETES | _UPSERTS:
                continue
            kind = ChangeKind.DELETE if event.change_type in _DELETES else ChangeKind.UPSERT
            changes += [Change(system=System.SALESFORCE, object=event.entity, id=record_id, kind=kind,
                               source="cdc", at=event.commit_at) for record_id in event.record_ids]
        replay_id = bytes(response.latest_replay_id) or None
        if response.events:
            replay_id = bytes(response.events[-1].replay_id)
        return CdcBatch(changes=tuple(changes), events=tuple(events), replay_id=replay_id,
                        catch_up_required=bool(catch_up), catch_up_objects=tuple(dict.fromkeys(catch_up)))

    async def _decode(self, consumer_event: pb.ConsumerEvent, metadata: Sequence[tuple[str, str]]
                      ) -> CdcEvent:
        schema = await self._schema(consumer_event.event.schema_id, metadata)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(consumer_event.event.payload), schema.parsed)
        except Exception as exc:  # fastavro raises assorted errors on corrupt input
            raise ProtocolError(f"change event {consumer_event.event.id!r} is not valid Avro for its schema",
                                system=System.SALESFORCE.value, operation="pubsub.decode") from exc
        header = record.get("ChangeEventHeader") if isinstance(record, dict) else None
        if not isinstance(header, dict):
            raise ProtocolError("change event without a ChangeEventHeader", system=System.SALESFORCE.value,
                                operation="pubsub.decode")
        commit_ms = header.get("commitTimestamp")
        return CdcEvent(
            entity=str(header.get("entityName", "")),
            record_ids=tuple(str(i) for i in header.get("recordIds") or ()),
            change_type=str(header.get("changeType", "")),
            changed_fields=decode_bitmap(header.get("changedFields") or (), schema.layout),
            nulled_fields=decode_bitmap(header.get("nulledFields") or (), schema.layout),
            change_origin=str(header.get("changeOrigin") or ""),
            commit_at=datetime.fromtimestamp(commit_ms / 1000, UTC) if isinstance(commit_ms, int) else None,
            replay_id=bytes(consumer_event.replay_id),
        )

    async def _schema(self, schema_id: str, metadata: Sequence[tuple[str, str]]) -> _Schema:
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        info = await self._stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=metadata)
        try:
            raw = json.loads(info.schema_json)
            cached = _Schema(fastavro.parse_schema(raw), _layout(raw))
        except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
            raise ProtocolError(f"schema {schema_id!r} is not a valid Avro schema",
                                system=System.SALESFORCE.value, operation="pubsub.schema") from exc
        self._schemas[schema_id] = cached
        return cached


def _translate(error: grpc.aio.AioRpcError, topic: str) -> Exception:
    code = _error_code(error)
    message = f"Pub/Sub {error.code().name} on {topic}: {error.details() or ''}".strip()
    kwargs: dict[str, Any] = {"code": code or error.code().name, "system": System.SALESFORCE.value,
                              "operation": "pubsub.subscribe"}
    if error.code() == grpc.StatusCode.UNAUTHENTICATED:
        return AuthError(message, **kwargs)
    if error.code() == grpc.StatusCode.NOT_FOUND or code == ERROR_TOPIC_NOT_FOUND:
        return NotFound(message, **kwargs)
    if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                        grpc.StatusCode.INTERNAL, grpc.StatusCode.CANCELLED):
        return TransportError(message, system=System.SALESFORCE.value, operation="pubsub.subscribe")
    return RemoteError(message, **kwargs)
