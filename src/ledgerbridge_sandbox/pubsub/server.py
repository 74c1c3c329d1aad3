"""The Salesforce Pub/Sub API (gRPC service ``eventbus.v1.PubSub``) over the sandbox's change log.

Service layer of the Pub/Sub emulation; imports the generated stubs, :mod:`.events` and ``grpc``.
Behaviour follows reference salesforce-api §9.2, the comments of ``pubsub_api.proto`` and Salesforce's
Pub/Sub "Handle Errors" page:

- every call carries ``accesstoken``, ``instanceurl`` and ``tenantid`` metadata; a bad or missing
  one fails with ``UNAUTHENTICATED`` and error code ``sfdc.platform.eventbus.grpc.service.auth.error``;
- ``GetTopic`` and ``GetSchema`` describe the CDC channels (``/data/ChangeEvents`` and one
  ``/data/<Entity>ChangeEvent`` per sObject) and their Avro schemas;
- ``Subscribe`` is pull-based: the first ``FetchRequest`` names the topic and the start
  (``LATEST``, ``EARLIEST`` or ``CUSTOM`` after a replay id); every request adds ``num_requested``
  credits and the server sends at most that many events; with nothing to send it sends an empty
  ``FetchResponse`` carrying the latest replay id (a keepalive, within 270 s on Salesforce);
- replay ids are 8-byte big-endian numbers; a CUSTOM replay id older than the retention window (72 h)
  or never issued fails with ``INVALID_ARGUMENT`` and
  ``sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted``;
- ``Publish``, ``PublishStream`` and ``ManagedSubscribe`` answer ``UNIMPLEMENTED`` (change events
  cannot be published).

Errors carry the Salesforce error code and an rpc id in the trailing metadata (``error-code``,
``rpc-id``) and end their details with ``rpcId: <id>``, as Salesforce does.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import grpc
import grpc.aio

from ledgerbridge_sandbox.pubsub._generated import pubsub_api_pb2 as pb
from ledgerbridge_sandbox.pubsub._generated import pubsub_api_pb2_grpc as pb_grpc
from ledgerbridge_sandbox.pubsub.events import ALL_CHANGES_TOPIC, EventSchema, SchemaLike, SchemaRegistry
from ledgerbridge_sandbox.tls import TLSFiles

ERROR_PREFIX = "sfdc.platform.eventbus.grpc."
KEEPALIVE_S = 270.0  # empty FetchResponse at least this often (pubsub_api.proto, FetchResponse)
MAX_EVENTS_PER_REQUEST = 100  # credits one FetchRequest may add (reference §9.2)
MAX_REQUEST_BYTES = 1024 * 1024  # requests are tiny; anything larger is refused by gRPC
REPLAY_ID_BYTES = 8

TokenValidator = Callable[[str], bool | Awaitable[bool]]


class ChangeEventLike(Protocol):
    """One event of the change log (``salesforce.changes.ChangeEvent`` fits)."""

    @property
    def replay_id(self) -> int:
        """Position in the log."""
        ...

    @property
    def entity(self) -> str:
        """The sObject type."""
        ...

    @property
    def payload(self) -> dict[str, Any]:
        """``{"ChangeEventHeader": {...}, <changed fields>}``."""
        ...


class ChangeSource(Protocol):
    """What the server needs of the sandbox's change log (``salesforce.changes.ChangeLog`` fits)."""

    retention_s: float

    def read_after(self, replay_id: int, limit: int = 100, entity: str | None = None
                   ) -> list[Any]:
        """Events with a replay id greater than ``replay_id``, oldest first (purges expired ones)."""
        ...

    def latest_replay_id(self) -> int:
        """The newest replay id ever assigned (0 when none)."""
        ...

    def earliest_replay_id(self) -> int | None:
        """The oldest retained replay id, or ``None`` when nothing is retained."""
        ...

    async def wait(self, after: int, timeout: float) -> bool:
        """Sleep until an event newer than ``after`` exists or ``timeout`` passes."""
        ...


def encode_replay_id(replay_id: int) -> bytes:
    """A replay id as the bytes the API carries."""
    return max(0, replay_id).to_bytes(REPLAY_ID_BYTES, "big")


def decode_replay_id(raw: bytes) -> int | None:
    """The number inside replay id bytes, or ``None`` when they are not ours."""
    return int.from_bytes(raw, "big") if len(raw) == REPLAY_ID_BYTES else None


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, error_code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.error_code = ERROR_PREFIX + error_code
        self.message = message


@dataclass
class _Subscription:
    topic: str
    entity: str | None
    cursor: int
    pending: int


class PubSubService(pb_grpc.PubSubServicer):
    """The ``eventbus.v1.PubSub`` servicer.

    Args:
        change_log: the Salesforce sandbox's change log.
        token_validator: says whether an access token is a live session of the org.
        schema: the sandbox's sObject schema (change-event schemas are derived from it).
        org_id: the org id ``tenantid`` must name (15 or 18 characters); ``None`` skips the check.
        instance_url: the URL ``instanceurl`` must name; ``None`` skips the check.
        keepalive_s: longest silence on a subscription before an empty keepalive response.
    """

    def __init__(self, change_log: ChangeSource, token_validator: TokenValidator, schema: SchemaLike, *,
                 org_id: str | None = None, instance_url: str | None = None,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        self._log = change_log
        self._validate_token = token_validator
        self._schemas = SchemaRegistry(schema)
        self._org_id = org_id
        self._instance_url = instance_url.rstrip("/") if instance_url else None
        self._keepalive_s = keepalive_s

    # -- unary calls ----------------------------------------------------------------------

    async def GetTopic(self, request: pb.TopicRequest, context: grpc.aio.ServicerContext[Any, Any]
                       ) -> pb.TopicInfo:
        """Describe a change channel."""
        rpc_id = str(uuid.uuid4())
        try:
            await self._authenticate(context)
            topic = request.topic_name
            entity_schema = self._topic(topic)
            return pb.TopicInfo(topic_name=topic, tenant_guid=self._org_id or "", can_publish=False,
                                can_subscribe=True,
                                schema_id=entity_schema.schema_id if entity_schema else "", rpc_id=rpc_id)
        except _Abort as exc:
            await _abort(context, exc, rpc_id)

    async def GetSchema(self, request: pb.SchemaRequest, context: grpc.aio.ServicerContext[Any, Any]
                        ) -> pb.SchemaInfo:
        """Return the Avro schema (JSON) of a schema id."""
        rpc_id = str(uuid.uuid4())
        try:
            await self._authenticate(context)
            if not request.schema_id.strip():
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "schema.validation.failed",
                             "The schema ID is blank or missing.")
            found = self._schemas.by_id(request.schema_id)
            if found is None:
                raise _Abort(grpc.StatusCode.NOT_FOUND, "schema.meta.permission",
                             f"No schema found for schema ID {request.schema_id[:64]!r}.")
            return pb.SchemaInfo(schema_json=found.schema_json, schema_id=found.schema_id, rpc_id=rpc_id)
        except _Abort as exc:
            await _abort(context, exc, rpc_id)

    # -- Subscribe ------------------------------------------------------------------------

    async def Subscribe(self, request_iterator: AsyncIterator[pb.FetchRequest],
                        context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[pb.FetchResponse]:
        """Stream change events under flow control (see the module docstring)."""
        rpc_id = str(uuid.uuid4())
        reader: asyncio.Task[None] | None = None
        try:
            await self._authenticate(context)
            first = await anext(aiter(request_iterator), None)
            if first is None:
                return
            sub = self._start(first)
            wake = asyncio.Event()
            failure: list[_Abort] = []
            reader = asyncio.create_task(self._read_requests(request_iterator, sub, wake, failure))
            loop = asyncio.get_running_loop()
            last_sent = loop.time()
            while True:
                if failure:
                    raise failure[0]
                if sub.pending > 0:
                    events = self._fetch(sub)
                    if events:
                        yield self._response(sub, events, rpc_id)
                        last_sent = loop.time()
                        continue
                timeout = max(0.0, self._keepalive_s - (loop.time() - last_sent))
                woke = await self._wait(sub, wake, timeout)
                if not woke and loop.time() - last_sent >= self._keepalive_s:
                    yield pb.FetchResponse(latest_replay_id=encode_replay_id(sub.cursor), rpc_id=rpc_id,
                                           pending_num_requested=sub.pending)
                    last_sent = loop.time()
        except _Abort as exc:
            await _abort(context, exc, rpc_id)
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    def _start(self, first: pb.FetchRequest) -> _Subscription:
        topic = first.topic_name
        entity_schema = self._topic(topic)
        credits = _credits(first.num_requested)
        preset = first.replay_preset
        if preset == pb.ReplayPreset.CUSTOM:
            cursor = self._custom_start(first.replay_id)
        elif preset == pb.ReplayPreset.EARLIEST:
            self._log.read_after(self._log.latest_replay_id(), 1)  # lets the log purge expired events
            earliest = self._log.earliest_replay_id()
            cursor = earliest - 1 if earliest is not None else self._log.latest_replay_id()
        elif preset == pb.ReplayPreset.LATEST:
            cursor = self._log.latest_replay_id()
        else:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "subscription.fetch.request.invalid",
                         f"Unknown replay preset {preset}.")
        return _Subscription(topic, entity_schema.entity if entity_schema else None, cursor, credits)

    def _custom_start(self, raw: bytes) -> int:
        if not raw:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "subscription.fetch.replayid.validation.failed",
                         "The replay_preset is CUSTOM but no replay_id was provided.")
        replay_id = decode_replay_id(raw)
        latest = self._log.latest_replay_id()
        if replay_id is not None and replay_id <= latest:
            self._log.read_after(latest, 1)  # lets the log purge expired events first
            earliest = self._log.earliest_replay_id()
            retained_from = earliest if earliest is not None else latest + 1
            if replay_id >= retained_from - 1:
                return replay_id
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "subscription.fetch.replayid.corrupted",
                     "The Replay ID validation failed. Ensure that the replay_id field value in FetchRequest "
                     "is valid and refers to an event that is within the retention window.")

    async def _read_requests(self, requests: AsyncIterator[pb.FetchRequest], sub: _Subscription,
                             wake: asyncio.Event, failure: list[_Abort]) -> None:
        try:
            async for request in requests:
                if request.topic_name and request.topic_name != sub.topic:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "subscription.fetch.topic.mismatch",
                                 "The topic name must match the topic of the first FetchRequest.")
                sub.pending += _credits(request.num_requested)
                wake.set()
        except _Abort as exc:
            failure.append(exc)
            wake.set()

    def _fetch(self, sub: _Subscription) -> list[Any]:
        limit = min(sub.pending, MAX_EVENTS_PER_REQUEST)
        scanned_to = self._log.latest_replay_id()
        events = self._log.read_after(sub.cursor, limit, sub.entity)
        if events:
            sub.cursor = events[-1].replay_id
        if len(events) < limit:
            # Every event of this topic up to ``scanned_to`` has been read: skip the others' ids.
            sub.cursor = max(sub.cursor, scanned_to)
        return events

    def _response(self, sub: _Subscription, events: list[Any], rpc_id: str) -> pb.FetchResponse:
        out = []
        for event in events:
            entity_schema = self._schemas.for_entity(event.entity)
            if entity_schema is None:  # an entity without a schema cannot be encoded; skip it
                continue
            out.append(pb.ConsumerEvent(
                event=pb.ProducerEvent(id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"cdc:{event.replay_id}")),
                                       schema_id=entity_schema.schema_id,
                                       payload=entity_schema.encode(event.payload)),
                replay_id=encode_replay_id(event.replay_id)))
        sub.pending -= len(out)
        return pb.FetchResponse(events=out, latest_replay_id=encode_replay_id(sub.cursor), rpc_id=rpc_id,
                                pending_num_requested=sub.pending)

    async def _wait(self, sub: _Subscription, wake: asyncio.Event, timeout: float) -> bool:
        """Wait for new credits, a reader failure, or (with credits) a newer event."""
        wake.clear()
        waiters: set[asyncio.Task[Any]] = {asyncio.create_task(wake.wait())}
        if sub.pending > 0:
            waiters.add(asyncio.create_task(self._log.wait(sub.cursor, timeout)))
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
        return any(t.result() is not False for t in done if not t.cancelled() and t.exception() is None)

    # -- helpers --------------------------------------------------------------------------

    def _topic(self, topic: str) -> EventSchema | None:
        if not topic.strip():
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "topic.validation.empty",
                         "The topic name is blank.")
        if topic == ALL_CHANGES_TOPIC:
            return None
        found = self._schemas.for_topic(topic)
        if found is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, "topic.not.found",
                         f"The topic {topic[:200]!r} does not exist, or change data capture is not "
                         "enabled for its entity.")
        return found

    async def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        metadata: Mapping[str, str | bytes] = dict(context.invocation_metadata() or ())
        token, instance, tenant = (metadata.get(k) for k in ("accesstoken", "instanceurl", "tenantid"))
        if not isinstance(token, str) or not isinstance(instance, str) or not isinstance(tenant, str) \
                or not token or not instance or not tenant:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "service.auth.error",
                         "An authentication exception occurred. Provide valid authentication via metadata "
                         "headers: accesstoken, instanceurl and tenantid.")
        if self._org_id is not None and tenant[:15] != self._org_id[:15]:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "service.auth.error",
                         "The tenantid header does not name this org.")
        if self._instance_url is not None and instance.rstrip("/") != self._instance_url:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "service.auth.error",
                         "The instanceurl header does not name this org's instance.")
        verdict = self._validate_token(token)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if not verdict:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "service.auth.error",
                         "An authentication exception occurred: the session is invalid or expired.")


def _credits(num_requested: int) -> int:
    if num_requested <= 0:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "subscription.fetch.requested.events.invalid",
                     "The number of requested events must be greater than zero.")
    return min(num_requested, MAX_EVENTS_PER_REQUEST)


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: _Abort, rpc_id: str) -> NoReturn:
    context.set_trailing_metadata((("error-code", exc.error_code), ("rpc-id", rpc_id)))
    await context.abort(exc.code, f"{exc.message} rpcId: {rpc_id}")
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


async def start_pubsub_server(
    change_log: ChangeSource,
    token_validator: TokenValidator,
    schema: SchemaLike,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    org_id: str | None = None,
    instance_url: str | None = None,
    keepalive_s: float = KEEPALIVE_S,
    tls: TLSFiles | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start the Pub/Sub API on the running event loop (the one serving the sandbox's HTTP app).

    Args:
        change_log: the Salesforce sandbox's change log (``org.changes``).
        token_validator: ``token -> bool`` (or awaitable): is this a live session of the org?
        schema: the sandbox's sObject schema (``org.schema``).
        host: interface to bind.
        port: TCP port; 0 picks a free one.
        org_id: the org id ``tenantid`` must name; ``None`` accepts any.
        instance_url: the URL ``instanceurl`` must name; ``None`` accepts any.
        keepalive_s: longest silence on a subscription before an empty keepalive response.
        tls: serve TLS with this certificate (Salesforce serves Pub/Sub over TLS on 7443).

    Returns:
        The started server (``await server.stop(grace)`` to stop it) and the bound port.
    """
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES)])
    service = PubSubService(change_log, token_validator, schema, org_id=org_id, instance_url=instance_url,
                            keepalive_s=keepalive_s)
    pb_grpc.add_PubSubServicer_to_server(service, server)  # type: ignore[no-untyped-call]
    address = f"{host}:{port}"
    if tls is not None:
        credentials = grpc.ssl_server_credentials(
            [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())])
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    await server.start()
    return server, bound
