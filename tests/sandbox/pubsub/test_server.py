"""The sandbox's Pub/Sub API server over a real loopback port, driven by a plain gRPC client.

The change log is the Salesforce sandbox's own (``salesforce.changes.ChangeLog`` on its store);
events are appended through its public ``append``, as the org does on every write.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import fastavro
import grpc
import grpc.aio
import pytest

from ledgerbridge_sandbox.pubsub._generated import pubsub_api_pb2 as pb
from ledgerbridge_sandbox.pubsub._generated import pubsub_api_pb2_grpc as pb_grpc
from ledgerbridge_sandbox.pubsub.events import SchemaRegistry, build_event_schema
from ledgerbridge_sandbox.pubsub.server import decode_replay_id, encode_replay_id, start_pubsub_server
from ledgerbridge_sandbox.salesforce.changes import ChangeLog
from ledgerbridge_sandbox.salesforce.clock import ManualClock
from ledgerbridge_sandbox.salesforce.schema import load_schema
from ledgerbridge_sandbox.salesforce.store import Store

TOKEN = "00DHp0000001LbZ!sandbox-session"
ORG_ID = "00DHp0000001LbZMAI"
INSTANCE = "https://sandbox.my.salesforce.test"
METADATA = (("accesstoken", TOKEN), ("instanceurl", INSTANCE), ("tenantid", ORG_ID))
ACCOUNT_ID = "001Hp00000ABCDEAAA"
USER_ID = "005Hp0000001AbCAAA"
SCHEMA = load_schema(())


class Sandbox:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.store = Store()
        self.log = ChangeLog(self.store, self.clock)

    def append(self, change_type: str = "UPDATE", entity: str = "Account", record_id: str = ACCOUNT_ID,
               fields: dict[str, Any] | None = None, changed: list[str] | None = None,
               nulled: list[str] | None = None) -> int:
        with self.store.transaction():
            self.log.append(entity=entity, record_ids=[record_id], change_type=change_type,
                            fields=fields or {}, changed_fields=changed or [], nulled_fields=nulled or [],
                            commit_user=USER_ID, origin="com/salesforce/api/rest/62.0;client=test")
        return self.log.latest_replay_id()


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
async def stub(sandbox: Sandbox) -> AsyncIterator[pb_grpc.PubSubStub]:
    server, port = await start_pubsub_server(sandbox.log, lambda token: token == TOKEN, SCHEMA,
                                             org_id=ORG_ID, instance_url=INSTANCE, keepalive_s=30)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pb_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
    finally:
        await channel.close(None)
        await server.stop(None)


async def _decode(stub: pb_grpc.PubSubStub, event: pb.ConsumerEvent) -> dict[str, Any]:
    info = await stub.GetSchema(pb.SchemaRequest(schema_id=event.event.schema_id), metadata=METADATA)
    schema = fastavro.parse_schema(json.loads(info.schema_json))
    record: Any = fastavro.schemaless_reader(io.BytesIO(event.event.payload), schema)
    return dict(record)


def _error_code(error: grpc.aio.AioRpcError) -> str:
    trailers: Any = error.trailing_metadata() or ()
    return str(dict(tuple(item) for item in trailers).get("error-code", ""))


def test_replay_ids_are_eight_bytes_big_endian() -> None:
    assert encode_replay_id(0x011427F7) == b"\x00\x00\x00\x00\x01\x14\x27\xf7"
    assert decode_replay_id(encode_replay_id(42)) == 42
    assert decode_replay_id(b"\x01") is None


def test_account_schema_has_the_header_first_and_compound_addresses() -> None:
    schema = build_event_schema(SCHEMA.objects["Account"])
    names = [f["name"] for f in schema.schema["fields"]]
    assert names[0] == "ChangeEventHeader"
    assert "BillingAddress" in names and "BillingCity" not in names
    assert "Id" not in names and "SystemModstamp" not in names and "IsDeleted" not in names
    assert schema.schema["name"] == "AccountChangeEvent"
    assert len(schema.schema_id) == 22


def test_changed_fields_become_salesforce_bitmaps() -> None:
    schema = build_event_schema(SCHEMA.objects["Account"])
    pos = schema.top_fields.index
    bits = (1 << pos("Name")) | (1 << pos("LastModifiedDate"))
    address = [m for m, _, _ in schema.compounds["BillingAddress"].parts]
    nested = 1 << address.index("State")
    assert schema.bitmap(["Name", "LastModifiedDate", "BillingAddress.State", "Nope"]) == [
        f"0x{bits:0{len(f'{bits:X}') + len(f'{bits:X}') % 2}X}", f"{pos('BillingAddress')}-0x{nested:02X}"]
    assert schema.bitmap([]) == []
    assert schema.bitmap(["BillingAddress.City"])[0] == "0x00"


def test_every_sandbox_object_gets_a_valid_schema() -> None:
    registry = SchemaRegistry(SCHEMA)
    assert "/data/AccountChangeEvent" in registry.topics
    assert "/data/SBQQ__DiscountSchedule__ChangeEvent" in registry.topics


@pytest.mark.anyio
async def test_get_topic_and_schema(stub: pb_grpc.PubSubStub) -> None:
    topic = await stub.GetTopic(pb.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=METADATA)
    assert topic.can_subscribe and not topic.can_publish
    assert topic.tenant_guid == ORG_ID
    info = await stub.GetSchema(pb.SchemaRequest(schema_id=topic.schema_id), metadata=METADATA)
    assert json.loads(info.schema_json)["name"] == "AccountChangeEvent"
    assert info.schema_id == topic.schema_id


@pytest.mark.anyio
@pytest.mark.parametrize("metadata", [
    (), (("accesstoken", "wrong"), ("instanceurl", INSTANCE), ("tenantid", ORG_ID)),
    (("accesstoken", TOKEN), ("instanceurl", INSTANCE), ("tenantid", "00DXX0000000000AAA")),
    (("accesstoken", TOKEN), ("tenantid", ORG_ID)),
])
async def test_bad_credentials_are_unauthenticated_with_salesforce_error_code(
    stub: pb_grpc.PubSubStub, metadata: tuple[tuple[str, str], ...],
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTopic(pb.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _error_code(caught.value) == "sfdc.platform.eventbus.grpc.service.auth.error"
    assert "rpcId: " in (caught.value.details() or "")
    assert TOKEN not in (caught.value.details() or "")


@pytest.mark.anyio
async def test_unknown_topic_is_not_found(stub: pb_grpc.PubSubStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTopic(pb.TopicRequest(topic_name="/data/NopeChangeEvent"), metadata=METADATA)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert _error_code(caught.value).endswith("topic.not.found")


@pytest.mark.anyio
async def test_subscribe_latest_delivers_only_new_events(sandbox: Sandbox) -> None:
    sandbox.append("CREATE", fields={"Name": "Before"})
    # A short keepalive: its empty response proves the subscription has taken its LATEST position.
    server, port = await start_pubsub_server(sandbox.log, lambda t: t == TOKEN, SCHEMA, keepalive_s=0.01)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
        call = stub.Subscribe(metadata=METADATA)
        await call.write(pb.FetchRequest(topic_name="/data/AccountChangeEvent", num_requested=5))
        keepalive = await call.read()
        assert list(keepalive.events) == []
        replay = sandbox.append("UPDATE", fields={"Name": "After",
                                                  "LastModifiedDate": "2024-06-03T09:00:00.000+0000"},
                                changed=["Name", "LastModifiedDate"])
        response = await call.read()
        while not response.events:  # further keepalives may come first
            response = await call.read()
        assert [decode_replay_id(e.replay_id) for e in response.events] == [replay]
        record = await _decode(stub, response.events[0])
        header = record["ChangeEventHeader"]
        assert header["changeType"] == "UPDATE" and header["recordIds"] == [ACCOUNT_ID]
        assert record["Name"] == "After"
        assert record["LastModifiedDate"] == 1717405200000
        assert header["changedFields"][0].startswith("0x")
        call.cancel()
    await server.stop(None)


@pytest.mark.anyio
async def test_flow_control_sends_no_more_than_requested_and_resumes_on_more_credits(
    sandbox: Sandbox, stub: pb_grpc.PubSubStub,
) -> None:
    ids = [sandbox.append("CREATE", fields={"Name": f"A{i}"}) for i in range(5)]
    call = stub.Subscribe(metadata=METADATA)
    await call.write(pb.FetchRequest(topic_name="/data/AccountChangeEvent",
                                     replay_preset=pb.ReplayPreset.EARLIEST, num_requested=2))
    first = await call.read()
    assert [decode_replay_id(e.replay_id) for e in first.events] == ids[:2]
    await call.write(pb.FetchRequest(num_requested=3))
    second = await call.read()
    assert [decode_replay_id(e.replay_id) for e in second.events] == ids[2:]
    assert decode_replay_id(second.latest_replay_id) == ids[-1]
    call.cancel()


@pytest.mark.anyio
async def test_custom_resumes_after_the_given_replay_id(sandbox: Sandbox, stub: pb_grpc.PubSubStub) -> None:
    ids = [sandbox.append("CREATE", fields={"Name": f"A{i}"}) for i in range(4)]
    call = stub.Subscribe(metadata=METADATA)
    await call.write(pb.FetchRequest(topic_name="/data/ChangeEvents", replay_preset=pb.ReplayPreset.CUSTOM,
                                     replay_id=encode_replay_id(ids[1]), num_requested=10))
    response = await call.read()
    assert [decode_replay_id(e.replay_id) for e in response.events] == ids[2:]
    call.cancel()


@pytest.mark.anyio
async def test_entity_topic_skips_other_entities(sandbox: Sandbox, stub: pb_grpc.PubSubStub) -> None:
    sandbox.append("CREATE", entity="Contact", record_id="003Hp00000ABCDEAAA", fields={"Email": "a@b.c"})
    account = sandbox.append("CREATE", fields={"Name": "Acme"})
    call = stub.Subscribe(metadata=METADATA)
    await call.write(pb.FetchRequest(topic_name="/data/AccountChangeEvent",
                                     replay_preset=pb.ReplayPreset.EARLIEST, num_requested=10))
    response = await call.read()
    assert [decode_replay_id(e.replay_id) for e in response.events] == [account]
    call.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("replay_id", [b"\x00" * 8, b"junk", b"\xff" * 8])
async def test_expired_or_unknown_custom_replay_id_is_corrupted(sandbox: Sandbox, stub: pb_grpc.PubSubStub,
                                                                replay_id: bytes) -> None:
    sandbox.append("CREATE", fields={"Name": "old"})
    sandbox.append("UPDATE", fields={"Name": "older"}, changed=["Name"])
    sandbox.clock.advance(73 * 3600)
    sandbox.append("UPDATE", fields={"Name": "new"}, changed=["Name"])
    call = stub.Subscribe(metadata=METADATA)
    expired = encode_replay_id(1)  # events 1 and 2 are past the 72 h retention now
    await call.write(pb.FetchRequest(topic_name="/data/AccountChangeEvent",
                                     replay_preset=pb.ReplayPreset.CUSTOM,
                                     replay_id=replay_id if replay_id != b"\x00" * 8 else expired,
                                     num_requested=10))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_code(caught.value) == \
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"


@pytest.mark.anyio
async def test_zero_credits_and_topic_mismatch_are_invalid(stub: pb_grpc.PubSubStub) -> None:
    call = stub.Subscribe(metadata=METADATA)
    await call.write(pb.FetchRequest(topic_name="/data/AccountChangeEvent", num_requested=0))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert _error_code(caught.value).endswith("requested.events.invalid")

    call = stub.Subscribe(metadata=METADATA)
    await call.write(pb.FetchRequest(topic_name="/data/AccountChangeEvent", num_requested=1))
    await call.write(pb.FetchRequest(topic_name="/data/ContactChangeEvent", num_requested=1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert _error_code(caught.value).endswith("topic.mismatch")


@pytest.mark.anyio
async def test_keepalive_carries_the_latest_replay_id(sandbox: Sandbox) -> None:
    replay = sandbox.append("CREATE", fields={"Name": "x"})
    server, port = await start_pubsub_server(sandbox.log, lambda t: True, SCHEMA, keepalive_s=0.01)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
        call = stub.Subscribe(metadata=METADATA)
        await call.write(pb.FetchRequest(topic_name="/data/AccountChangeEvent", num_requested=1))
        response = await call.read()
        assert list(response.events) == []
        assert decode_replay_id(response.latest_replay_id) == replay
        call.cancel()
    await server.stop(None)


@pytest.mark.anyio
async def test_publish_is_unimplemented(stub: pb_grpc.PubSubStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Publish(pb.PublishRequest(topic_name="/data/AccountChangeEvent"), metadata=METADATA)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.anyio
async def test_malformed_and_oversized_requests_do_not_take_the_server_down(sandbox: Sandbox) -> None:
    server, port = await start_pubsub_server(sandbox.log, lambda t: t == TOKEN, SCHEMA)
    options = [("grpc.max_send_message_length", 8 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        raw = channel.unary_unary("/eventbus.v1.PubSub/GetTopic", request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
        with pytest.raises(grpc.aio.AioRpcError):
            await raw(b"\xff\xff\xff\xff garbage", metadata=METADATA)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await raw(b"\x0a" + b"\xff" * 5 + b"\x00" * (2 * 1024 * 1024), metadata=METADATA)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        raw_stream = channel.stream_stream("/eventbus.v1.PubSub/Subscribe", request_serializer=lambda b: b,
                                           response_deserializer=lambda b: b)
        call = raw_stream(metadata=METADATA)  # type: ignore[call-arg]
        await call.write(b"\x08\x08\x08 not a FetchRequest \xff")
        with pytest.raises(grpc.aio.AioRpcError):
            await call.read()
        stub2 = pb_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
        topic = await stub2.GetTopic(pb.TopicRequest(topic_name="/data/AccountChangeEvent"),
                                     metadata=METADATA)
        assert topic.can_subscribe
    await server.stop(None)
