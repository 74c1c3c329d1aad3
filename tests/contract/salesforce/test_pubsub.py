"""The connector's CDC subscriber against the sandbox's Pub/Sub API server over a real loopback port.

The Salesforce sandbox runs in-process. Most tests commit events through its ``ChangeLog.append``
(exactly what the org does on every write) to control types, fields and the clock; the last one
writes through the sandbox org itself and checks tokens against its session store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from pydantic import SecretStr

from ledgerbridge.connectors.salesforce.pubsub import (
    CdcBatch,
    CdcSubscriber,
    PubSubCredentials,
    StartAt,
    decode_bitmap,
    open_channel,
)
from ledgerbridge.core.errors import AuthError, NotFound
from ledgerbridge.core.records import Change, ChangeKind, System
from ledgerbridge_sandbox.pubsub.server import start_pubsub_server
from ledgerbridge_sandbox.salesforce.changes import ChangeLog
from ledgerbridge_sandbox.salesforce.clock import ManualClock
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.org import CallContext
from ledgerbridge_sandbox.salesforce.schema import load_schema
from ledgerbridge_sandbox.salesforce.state import SandboxState
from ledgerbridge_sandbox.salesforce.store import Store

TOKEN = "00DHp0000001LbZ!sandbox-session"
ORG_ID = "00DHp0000001LbZMAI"
INSTANCE = "https://sandbox.my.salesforce.test"
USER_ID = "005Hp0000001AbCAAA"
ACCOUNT_TOPIC = "/data/AccountChangeEvent"
SCHEMA = load_schema(())


class Org:
    """The sandbox side: its store, clock and change log."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.store = Store()
        self.log = ChangeLog(self.store, self.clock)

    def commit(
        self,
        change_type: str,
        record_id: str,
        *,
        entity: str = "Account",
        fields: dict[str, Any] | None = None,
        changed: list[str] | None = None,
        nulled: list[str] | None = None,
        client: str = "someone-else",
    ) -> int:
        with self.store.transaction():
            self.log.append(
                entity=entity,
                record_ids=[record_id],
                change_type=change_type,
                fields=fields or {},
                changed_fields=changed or [],
                nulled_fields=nulled or [],
                commit_user=USER_ID,
                origin=f"com/salesforce/api/rest/62.0;client={client}",
            )
        return self.log.latest_replay_id()


class MemoryReplayStore:
    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}

    async def load(self, topic: str) -> bytes | None:
        return self.saved.get(topic)

    async def save(self, topic: str, replay_id: bytes | None) -> None:
        if replay_id is None:
            self.saved.pop(topic, None)
        else:
            self.saved[topic] = replay_id


async def _credentials() -> PubSubCredentials:
    return PubSubCredentials(SecretStr(TOKEN), INSTANCE, ORG_ID)


@pytest.fixture
def org() -> Org:
    return Org()


@pytest.fixture
async def channel(org: Org) -> AsyncIterator[grpc.aio.Channel]:
    # A short keepalive so a quiet subscription answers at once (an empty batch), instead of the
    # 270 s Salesforce allows: tests synchronise on it rather than sleeping.
    server, port = await start_pubsub_server(
        org.log, lambda token: token == TOKEN, SCHEMA, org_id=ORG_ID, instance_url=INSTANCE, keepalive_s=0.02
    )
    chan = open_channel(f"127.0.0.1:{port}", secure=False)
    try:
        yield chan
    finally:
        await chan.close(None)
        await server.stop(None)


async def _next_with_changes(stream: AsyncIterator[CdcBatch]) -> CdcBatch:
    async for batch in stream:
        if batch.changes or batch.catch_up_required:
            return batch
    raise AssertionError("stream ended")


def _ids(batch: CdcBatch) -> list[tuple[str, ChangeKind]]:
    return [(c.id, c.kind) for c in batch.changes]


@pytest.mark.anyio
async def test_create_update_delete_arrive_with_ids_and_decoded_changed_fields(
    org: Org,
    channel: grpc.aio.Channel,
) -> None:
    account = "001Hp00000ABCDEAAA"
    org.commit("CREATE", account, fields={"Name": "Acme", "BillingAddress": {"City": "Paris"}})
    org.commit(
        "UPDATE",
        account,
        fields={
            "Name": "Acme SA",
            "BillingAddress": {"State": "CA"},
            "LastModifiedDate": "2024-06-03T09:00:00.000+0000",
        },
        changed=["Name", "BillingAddress.State", "LastModifiedDate"],
        nulled=["Phone"],
    )
    org.commit("DELETE", account)
    subscriber = CdcSubscriber(channel, _credentials, MemoryReplayStore(), start_at=StartAt.EARLIEST)
    stream = subscriber.subscribe(ACCOUNT_TOPIC)
    batch = await _next_with_changes(stream)
    await stream.aclose()

    assert _ids(batch) == [
        (account, ChangeKind.UPSERT),
        (account, ChangeKind.UPSERT),
        (account, ChangeKind.DELETE),
    ]
    assert all(
        c.system is System.SALESFORCE and c.object == "Account" and c.source == "cdc" for c in batch.changes
    )
    create, update, delete = batch.events
    assert (create.change_type, update.change_type, delete.change_type) == ("CREATE", "UPDATE", "DELETE")
    # Decoded in schema order: top-level fields first, then compound members.
    assert set(update.changed_fields) == {"Name", "LastModifiedDate", "BillingAddress.State"}
    assert update.changed_fields[-1] == "BillingAddress.State"
    assert update.nulled_fields == ("Phone",)
    assert update.change_origin.endswith("client=someone-else")
    assert batch.changes[0].at == org.clock.now()


@pytest.mark.anyio
async def test_flow_control_asks_in_batches(org: Org, channel: grpc.aio.Channel) -> None:
    ids = [org.commit("CREATE", f"001Hp00000ABC{i:02d}AAA", fields={"Name": f"A{i}"}) for i in range(5)]
    subscriber = CdcSubscriber(
        channel, _credentials, MemoryReplayStore(), batch_size=2, start_at=StartAt.EARLIEST
    )
    seen: list[int] = []
    sizes: list[int] = []
    async for batch in subscriber.subscribe(ACCOUNT_TOPIC):
        if batch.changes:
            sizes.append(len(batch.changes))
            seen += [int.from_bytes(e.replay_id, "big") for e in batch.events]
        if len(seen) == len(ids):
            break
    assert seen == ids
    assert max(sizes) <= 2


@pytest.mark.anyio
async def test_resumes_from_the_stored_replay_id_after_a_restart(org: Org, channel: grpc.aio.Channel) -> None:
    store = MemoryReplayStore()
    first = org.commit("CREATE", "001Hp00000ABC01AAA", fields={"Name": "one"})
    subscriber = CdcSubscriber(channel, _credentials, store, start_at=StartAt.EARLIEST)
    stream = subscriber.subscribe(ACCOUNT_TOPIC)
    batch = await _next_with_changes(stream)
    assert [c.id for c in batch.changes] == ["001Hp00000ABC01AAA"]
    await anext(stream)  # asking for more means the batch was handled: its replay id is saved
    await stream.aclose()  # the process stops
    assert int.from_bytes(store.saved[ACCOUNT_TOPIC], "big") >= first

    org.commit("UPDATE", "001Hp00000ABC02AAA", fields={"Name": "two"}, changed=["Name"])
    restarted = CdcSubscriber(channel, _credentials, store)  # LATEST would miss it; the stored id does not
    stream = restarted.subscribe(ACCOUNT_TOPIC)
    batch = await _next_with_changes(stream)
    await stream.aclose()
    assert [c.id for c in batch.changes] == ["001Hp00000ABC02AAA"]


@pytest.mark.anyio
async def test_unhandled_batch_is_delivered_again_after_a_crash(org: Org, channel: grpc.aio.Channel) -> None:
    store = MemoryReplayStore()
    org.commit("CREATE", "001Hp00000ABC01AAA", fields={"Name": "one"})
    stream = CdcSubscriber(channel, _credentials, store, start_at=StartAt.EARLIEST).subscribe(ACCOUNT_TOPIC)
    await _next_with_changes(stream)
    await stream.aclose()  # crashed while handling it: nothing saved
    assert ACCOUNT_TOPIC not in store.saved


@pytest.mark.anyio
async def test_expired_replay_id_signals_catch_up_and_resubscribes_from_latest(
    org: Org,
    channel: grpc.aio.Channel,
) -> None:
    store = MemoryReplayStore()
    org.commit("CREATE", "001Hp00000ABC01AAA", fields={"Name": "old"})
    org.commit("UPDATE", "001Hp00000ABC01AAA", fields={"Name": "older"}, changed=["Name"])
    store.saved[ACCOUNT_TOPIC] = (1).to_bytes(8, "big")
    org.clock.advance(73 * 3600)  # past the 72 h retention
    org.commit("UPDATE", "001Hp00000ABC01AAA", fields={"Name": "during the outage"}, changed=["Name"])

    stream = CdcSubscriber(channel, _credentials, store).subscribe(ACCOUNT_TOPIC)
    signal = await anext(stream)
    assert signal.catch_up_required and signal.changes == ()
    assert ACCOUNT_TOPIC not in store.saved  # forgotten: a restart will not hit it again
    keepalive = await anext(stream)  # resubscribed from LATEST: the outage event is the poller's job
    assert keepalive.changes == ()
    org.commit("UPDATE", "001Hp00000ABC03AAA", fields={"Name": "after"}, changed=["Name"])
    batch = await _next_with_changes(stream)
    await stream.aclose()
    assert [c.id for c in batch.changes] == ["001Hp00000ABC03AAA"]


@pytest.mark.anyio
async def test_all_changes_channel_and_own_writes_ignored(org: Org, channel: grpc.aio.Channel) -> None:
    org.commit(
        "UPDATE", "001Hp00000ABC01AAA", fields={"Name": "echo"}, changed=["Name"], client="ledgerbridge"
    )
    org.commit("CREATE", "003Hp00000ABC01AAA", entity="Contact", fields={"Email": "a@b.c"})
    subscriber = CdcSubscriber(
        channel, _credentials, MemoryReplayStore(), start_at=StartAt.EARLIEST, ignore_client="ledgerbridge"
    )
    stream = subscriber.subscribe("/data/ChangeEvents")
    batch = await _next_with_changes(stream)
    await stream.aclose()
    assert batch.changes == (
        Change(
            system=System.SALESFORCE,
            object="Contact",
            id="003Hp00000ABC01AAA",
            kind=ChangeKind.UPSERT,
            source="cdc",
            at=org.clock.now(),
        ),
    )


@pytest.mark.anyio
async def test_refused_token_is_refreshed_once_then_an_auth_error(channel: grpc.aio.Channel) -> None:
    calls: list[int] = []

    async def stale() -> PubSubCredentials:
        calls.append(1)
        return PubSubCredentials(SecretStr("00Dstale!tok3n-value"), INSTANCE, ORG_ID)

    stream = CdcSubscriber(channel, stale, MemoryReplayStore()).subscribe(ACCOUNT_TOPIC)
    with pytest.raises(AuthError) as caught:
        await anext(stream)
    assert len(calls) == 2
    assert "tok3n-value" not in str(caught.value)


@pytest.mark.anyio
async def test_unknown_topic_is_not_found(channel: grpc.aio.Channel) -> None:
    stream = CdcSubscriber(channel, _credentials, MemoryReplayStore()).subscribe("/data/NopeChangeEvent")
    with pytest.raises(NotFound):
        await anext(stream)


@pytest.mark.anyio
async def test_malformed_and_oversized_messages_leave_the_server_serving(
    org: Org, channel: grpc.aio.Channel
) -> None:
    metadata = (("accesstoken", TOKEN), ("instanceurl", INSTANCE), ("tenantid", ORG_ID))
    raw = channel.stream_stream(
        "/eventbus.v1.PubSub/Subscribe", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    for hostile in (b"\xff\xfe not protobuf", b"\x0a\xff\xff\xff\x7f" + b"x" * 2_000_000):
        call = raw(metadata=metadata)  # type: ignore[call-arg]
        await call.write(hostile)
        with pytest.raises(grpc.aio.AioRpcError):
            await call.read()
    org.commit("CREATE", "001Hp00000ABC09AAA", fields={"Name": "still fine"})
    stream = CdcSubscriber(channel, _credentials, MemoryReplayStore(), start_at=StartAt.EARLIEST).subscribe(
        ACCOUNT_TOPIC
    )
    batch = await _next_with_changes(stream)
    await stream.aclose()
    assert [c.id for c in batch.changes] == ["001Hp00000ABC09AAA"]


def test_decode_bitmap_reads_salesforce_examples() -> None:
    schema = {
        "type": "record",
        "name": "X",
        "namespace": "com.sforce.eventbus",
        "fields": [
            {"name": "ChangeEventHeader", "type": "string"},
            {"name": "A", "type": ["null", "string"]},
            {"name": "B", "type": ["null", "string"]},
            {
                "name": "Addr",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "Address",
                        "fields": [
                            {"name": "Street", "type": ["null", "string"]},
                            {"name": "City", "type": ["null", "string"]},
                        ],
                    },
                ],
            },
            {"name": "Addr2", "type": ["null", "com.sforce.eventbus.Address"]},
        ],
    }
    assert decode_bitmap(["0x06", "3-0x02", "4-0x01"], schema) == ("A", "B", "Addr.City", "Addr2.Street")
    assert decode_bitmap(["Name", "BillingAddress.City"], schema) == ("Name", "BillingAddress.City")
    assert decode_bitmap([], schema) == ()


@pytest.mark.anyio
async def test_writes_through_the_sandbox_org_arrive_with_sessions_checked_by_its_token_store() -> None:
    state = SandboxState(SalesforceSandboxConfig(seed="empty", clock=ManualClock()))
    token = state.default_token()
    server, port = await start_pubsub_server(
        state.org.changes,
        lambda t: state.sessions.user_of(t) is not None,
        state.org.schema,
        org_id=state.org_id,
        keepalive_s=0.02,
    )
    channel = open_channel(f"127.0.0.1:{port}", secure=False)

    async def credentials() -> PubSubCredentials:
        return PubSubCredentials(SecretStr(token), INSTANCE, state.org_id)

    try:
        ctx = CallContext(state.org.user_id, client="someone")
        account = state.org.create(ctx, "Account", {"Name": "Acme Pub", "BillingCity": "Paris"})
        state.org.update(ctx, "Account", account, {"BillingCity": "Lyon"})
        stream = CdcSubscriber(
            channel, credentials, MemoryReplayStore(), start_at=StartAt.EARLIEST
        ).subscribe(ACCOUNT_TOPIC)
        batch = await _next_with_changes(stream)
        await stream.aclose()
        mine = [e for e in batch.events if account in e.record_ids]
        assert [e.change_type for e in mine] == ["CREATE", "UPDATE"]
        assert "BillingAddress.City" in mine[1].changed_fields
        assert "LastModifiedDate" in mine[1].changed_fields

        state.sessions.revoke(token)
        with pytest.raises(AuthError):
            await anext(CdcSubscriber(channel, credentials, MemoryReplayStore()).subscribe(ACCOUNT_TOPIC))
    finally:
        await channel.close(None)
        await server.stop(None)
