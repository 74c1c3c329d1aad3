"""Push triggers for ``ledgerbridge run``: Salesforce CDC and the NetSuite webhook feed the engine's intake.

Layer ``app``: the only place where the Pub/Sub subscriber, the webhook receiver, the state store
and the scheduler meet. :class:`RealtimeService` runs next to the :class:`~ledgerbridge.engine.Scheduler`
in the same event loop:

- the webhook receiver (:func:`~ledgerbridge.app.webhooks.create_webhook_app`) is served by uvicorn on
  ``realtime.webhook.host:port``; every verified call becomes an intake hint;
- one :class:`~ledgerbridge.connectors.salesforce.pubsub.CdcSubscriber` per Salesforce object of a
  push link (``/data/<Object>ChangeEvent``) hands record ids to the intake. Its replay id is kept in
  the state store as a watermark row (link ``_realtime``, system ``salesforce``, feed
  ``cdc:<topic>``, the replay id in hex as ``last_id``), so a restart resumes where it stopped;
- when the stored replay id has expired (or Salesforce reports a gap) the links of that object get
  one polling pass at once (:meth:`~ledgerbridge.engine.Scheduler.run_soon`); a broken stream is
  resubscribed with backoff, and a catch-up pass follows, since events may have been missed.

Every hint is level-triggered: the engine reads the record's current state, so our own writes
coming back as change events are reconciled and cost no write. Polling keeps running at
``realtime.safety_net_interval`` for push links, as the net under anything a push missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc.aio
import structlog
import uvicorn
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from ledgerbridge.app.webhooks import create_webhook_app
from ledgerbridge.app.wiring import Runtime
from ledgerbridge.connectors.salesforce.pubsub import (
    DEFAULT_ENDPOINT,
    CdcBatch,
    CdcSubscriber,
    PubSubCredentials,
    open_channel,
)
from ledgerbridge.connectors.salesforce.wire import TokenResponse
from ledgerbridge.core.errors import LedgerBridgeError
from ledgerbridge.core.ports import Clock
from ledgerbridge.core.records import Change, System, Watermark
from ledgerbridge.core.store import StateStore
from ledgerbridge.engine import Scheduler
from ledgerbridge.flows.config import LedgerBridgeConfig, RealtimeSpec, SalesforceCdcSpec
from ledgerbridge.flows.spec import Direction, LinkSpec

__all__ = [
    "REPLAY_LINK",
    "RealtimeService",
    "RealtimeStats",
    "StoreReplayStore",
    "cdc_target",
    "cdc_topics",
    "poll_interval_s",
    "push_links",
    "realtime_running",
]

REPLAY_LINK = "_realtime"
"""The ``link`` of the watermark rows holding CDC replay ids."""

_RETRY_S = (0.5, 1.0, 2.0, 5.0, 15.0, 30.0)

log = structlog.get_logger("ledgerbridge.realtime")


def push_links(config: LedgerBridgeConfig) -> list[str]:
    """Links run on push: those with a ``push`` trigger, and those without triggers (push is the
    default when ``realtime`` is configured). Empty without a ``realtime`` section."""
    if config.realtime is None:
        return []
    return [name for name, spec in config.links.items()
            if spec.enabled and (not spec.triggers or any(t.push for t in spec.triggers))]


def _reads(spec: LinkSpec, system: System) -> bool:
    """Whether changes on ``system`` flow anywhere on this link."""
    if spec.direction is Direction.BOTH:
        return True
    wanted = Direction.TO_NETSUITE if system is System.SALESFORCE else Direction.TO_SALESFORCE
    return spec.direction is wanted


def cdc_topics(config: LedgerBridgeConfig) -> dict[str, list[str]]:
    """``/data/<Object>ChangeEvent`` (``/data/<Name>__ChangeEvent`` for custom objects) -> the push
    links reading that Salesforce object."""
    topics: dict[str, list[str]] = {}
    for name in push_links(config):
        spec = config.links[name]
        if _reads(spec, System.SALESFORCE):
            entity = str(spec.salesforce)
            channel = entity[:-3] + "__ChangeEvent" if entity.endswith("__c") else entity + "ChangeEvent"
            topics.setdefault(f"/data/{channel}", []).append(name)
    return topics


def poll_interval_s(config: LedgerBridgeConfig, default_s: float | None) -> float | None:
    """How often links without timed triggers poll: the safety net with ``realtime``, else ``default_s``."""
    return config.realtime.safety_net_interval if config.realtime is not None else default_s


def cdc_target(spec: SalesforceCdcSpec, instance_url: str | None) -> tuple[str, bool]:
    """The Pub/Sub channel target (``host:port``) and whether it uses TLS.

    Args:
        spec: the ``realtime.salesforce_cdc`` section.
        instance_url: the org's instance URL (its host is used with ``spec.port``).

    Returns:
        ``(target, secure)``.
    """
    parts = urlsplit(instance_url or "")
    if spec.endpoint:
        target = spec.endpoint
    elif spec.port:
        target = f"{parts.hostname or '127.0.0.1'}:{spec.port}"
    else:
        target = DEFAULT_ENDPOINT
    secure = spec.tls if spec.tls is not None else (parts.scheme != "http")
    return target, secure


def _tenant_of(token: TokenResponse) -> str:
    """The org id from the token's identity URL (``.../id/<org id>/<user id>``)."""
    parts = (token.id_url or "").rstrip("/").split("/")
    return parts[-2] if len(parts) >= 3 and parts[-3] == "id" else ""


class StoreReplayStore:
    """The subscriber's :class:`~ledgerbridge.connectors.salesforce.pubsub.ReplayStore` over the
    state store's watermarks (link :data:`REPLAY_LINK`, feed ``cdc:<topic>``, hex in ``last_id``).

    Args:
        store: the state store.
        clock: stamps ``Watermark.at`` (when the replay id was saved).
    """

    def __init__(self, store: StateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._last: dict[str, bytes | None] = {}

    async def load(self, topic: str) -> bytes | None:
        """The stored replay id of ``topic``, or ``None``."""
        mark = await self._store.get_watermark(REPLAY_LINK, System.SALESFORCE, f"cdc:{topic}")
        value = bytes.fromhex(mark.last_id) if mark is not None and mark.last_id else None
        self._last[topic] = value
        return value

    async def save(self, topic: str, replay_id: bytes | None) -> None:
        """Store (or, with ``None``, forget) the replay id of ``topic``; unchanged ids are not rewritten."""
        if topic in self._last and self._last[topic] == replay_id:
            return
        mark = Watermark(self._clock.now(), replay_id.hex() if replay_id else "")
        async with self._store.transaction():
            await self._store.set_watermark(REPLAY_LINK, System.SALESFORCE, f"cdc:{topic}", mark)
        self._last[topic] = replay_id


@dataclass
class RealtimeStats:
    """What the push side has done since it started (for tests, the benchmark and the dashboard)."""

    webhook_port: int | None = None
    cdc_target: str | None = None
    cdc_batches: int = 0
    cdc_changes: int = 0
    catch_ups: int = 0
    stream_errors: int = 0


class RealtimeService:
    """Serves the webhook receiver and follows the CDC topics of the push links until stopped.

    Args:
        runtime: the opened runtime (its engine's intake receives the hints).
        scheduler: runs catch-up passes (:meth:`~ledgerbridge.engine.Scheduler.run_soon`).
        spec: the ``realtime`` section.
        channel_factory: builds the gRPC channel from ``(target, secure)`` (tests may wrap it).
    """

    def __init__(self, runtime: Runtime, scheduler: Scheduler, spec: RealtimeSpec, *,
                 channel_factory: Callable[[str, bool], grpc.aio.Channel] | None = None) -> None:
        self.runtime = runtime
        self.scheduler = scheduler
        self.spec = spec
        self.stats = RealtimeStats()
        self.recent: deque[Change] = deque(maxlen=1000)
        self.subscribed = asyncio.Event()
        self._channel_factory = channel_factory or (
            lambda target, secure: open_channel(target, secure=secure))
        self._replays = StoreReplayStore(runtime.store, runtime.clock)
        self._issued: TokenResponse | None = None
        self._pending_topics: set[str] = set()

    # -- hints -----------------------------------------------------------------------------------
    def submit(self, change: Change) -> None:
        """Queue one hint on the engine's intake; a full queue asks for a polling pass instead."""
        self.recent.append(change)
        if not self.runtime.engine.intake.submit(change):
            links = [name for name, spec in self.runtime.config.links.items()
                     if spec.object_of(change.system) == change.object]
            self.scheduler.run_soon(links)

    # -- Salesforce credentials ------------------------------------------------------------------
    async def _credentials(self) -> PubSubCredentials:
        auth = self.runtime.salesforce.auth
        token = await auth.token()
        if token is self._issued:
            # Asked again with the same token: the stream was refused or restarted; renew it.
            token = await auth.reauthenticate(token)
        self._issued = token
        return PubSubCredentials(SecretStr(token.access_token), token.instance_url, _tenant_of(token))

    # -- running ---------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Serve and follow until ``stop`` is set; then close the server and the streams."""
        tasks: list[asyncio.Task[None]] = []
        server: uvicorn.Server | None = None
        serving: asyncio.Task[None] | None = None
        channel: grpc.aio.Channel | None = None
        try:
            if self.spec.webhook is not None:
                server, serving = await self._start_webhook()
            topics = cdc_topics(self.runtime.config) if self.spec.salesforce_cdc.enabled else {}
            if topics:
                settings = self.runtime.salesforce.settings
                target, secure = cdc_target(self.spec.salesforce_cdc,
                                            settings.instance_url or settings.login_url)
                self.stats.cdc_target = target
                channel = self._channel_factory(target, secure)
                self._pending_topics = set(topics)
                for topic, links in topics.items():
                    tasks.append(asyncio.create_task(self._follow(channel, topic, links, stop)))
            else:
                self.subscribed.set()
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if server is not None and serving is not None:
                server.should_exit = True
                await asyncio.gather(serving, return_exceptions=True)
            if channel is not None:
                await channel.close(None)

    async def _start_webhook(self) -> tuple[uvicorn.Server, asyncio.Task[None]]:
        spec = self.spec.webhook
        assert spec is not None and spec.secret is not None
        receiver = create_webhook_app(spec.secret, self.submit, clock=self.runtime.clock,
                                      max_body_bytes=spec.max_body_bytes,
                                      replay_window_s=spec.replay_window_s,
                                      rate_limit_per_s=spec.rate_limit_per_s)
        path = spec.path.rstrip("/") or "/"

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and str(scope.get("path", "")).rstrip("/") != path.rstrip("/"):
                await _not_found(send)
                return
            await receiver(scope, receive, send)

        sock = socket.socket(socket.AF_INET6 if ":" in spec.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.host, spec.port))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        # The process's signal handlers belong to the front end (``ledgerbridge run``), not to us.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                sock.close()
                raise LedgerBridgeError(f"the webhook receiver could not listen on {spec.host}:{spec.port}")
            await asyncio.sleep(0.01)
        self.stats.webhook_port = int(sock.getsockname()[1])
        log.info("webhook.listening", host=spec.host, port=self.stats.webhook_port, path=path)
        return server, task

    async def _follow(self, channel: grpc.aio.Channel, topic: str, links: list[str],
                      stop: asyncio.Event) -> None:
        subscriber = CdcSubscriber(channel, self._credentials, self._replays,
                                   batch_size=self.spec.salesforce_cdc.batch_size)
        failures = 0
        while not stop.is_set():
            try:
                async with contextlib.aclosing(subscriber.subscribe(topic)) as batches:
                    async for batch in batches:
                        failures = 0
                        self._handle(topic, links, batch)
                        # Handed to the intake: store the position now rather than when the next
                        # response arrives, so a stop in between does not replay this batch.
                        if batch.replay_id is not None:
                            await self._replays.save(topic, batch.replay_id)
                        self._confirm(topic)
            except asyncio.CancelledError:
                raise
            except (LedgerBridgeError, grpc.aio.AioRpcError) as exc:
                failures += 1
                self.stats.stream_errors += 1
                log.warning("cdc.stream_failed", topic=topic, error=type(exc).__name__,
                            message=str(exc)[:300])
            # The stream ended or broke: anything committed meanwhile is replayed from the stored
            # replay id; a catch-up pass covers what the replay cannot (an id that expired meanwhile).
            delay = _RETRY_S[min(failures, len(_RETRY_S) - 1)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    def _confirm(self, topic: str) -> None:
        self.stats.cdc_batches += 1
        if topic in self._pending_topics:
            self._pending_topics.discard(topic)
            if not self._pending_topics:
                self.subscribed.set()

    def _handle(self, topic: str, links: list[str], batch: CdcBatch) -> None:
        if batch.catch_up_required:
            wanted = [name for name in links
                      if not batch.catch_up_objects
                      or self.runtime.config.links[name].salesforce in batch.catch_up_objects]
            self.stats.catch_ups += 1
            log.info("cdc.catch_up", topic=topic, links=wanted)
            self.scheduler.run_soon(wanted)
        for change in batch.changes:
            self.stats.cdc_changes += 1
            self.submit(change)


async def _not_found(send: Send) -> None:
    body = b'{"error": "not_found", "message": "unknown path"}'
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def realtime_running(runtime: Runtime, scheduler: Scheduler, stop: asyncio.Event
                           ) -> AsyncIterator[RealtimeService | None]:
    """Run the push side next to ``scheduler`` for the duration of the block (``None`` without a
    ``realtime`` section); it stops when ``stop`` is set or the block ends."""
    spec = runtime.config.realtime
    if spec is None:
        yield None
        return
    service = RealtimeService(runtime, scheduler, spec)
    ended = asyncio.Event()

    async def watch() -> None:
        await stop.wait()
        ended.set()

    def failed(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            error = done.exception()
            log.error("realtime.failed", error=type(error).__name__, message=str(error)[:300])

    watcher = asyncio.create_task(watch())
    task = asyncio.create_task(service.run(ended))
    task.add_done_callback(failed)
    try:
        yield service
    finally:
        ended.set()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

