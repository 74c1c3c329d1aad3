"""``--pubsub-port``: the Pub/Sub API served next to the sandbox's HTTP app, on the same loop."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
import pytest

from ledgerbridge_sandbox.pubsub._generated import pubsub_api_pb2 as pb
from ledgerbridge_sandbox.pubsub._generated import pubsub_api_pb2_grpc as pb_grpc
from ledgerbridge_sandbox.salesforce.cli import build_server, parser
from ledgerbridge_sandbox.serve import ServerThread


async def _topic(port: int, info: dict[str, object], token: str) -> pb.TopicInfo:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PubSubStub(channel)  # type: ignore[no-untyped-call]
        metadata = (("accesstoken", token), ("instanceurl", str(info["instance_url"])),
                    ("tenantid", str(info["org_id"])))
        result: pb.TopicInfo = await stub.GetTopic(pb.TopicRequest(topic_name="/data/AccountChangeEvent"),
                                                   metadata=metadata)
        return result


def test_pubsub_port_is_reported_and_serves_the_org_with_its_sessions() -> None:
    spec = build_server(["--port", "0", "--pubsub-port", "0", "--seed", "empty"])
    with ServerThread(spec.app) as server:
        info = spec.info_fn(server.port)
        port = info["pubsub_port"]
        assert isinstance(port, int) and port > 0
        topic = asyncio.run(_topic(port, info, str(info["access_token"])))
        assert topic.topic_name == "/data/AccountChangeEvent" and topic.can_subscribe
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            asyncio.run(_topic(port, info, "not-a-session"))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_without_the_option_there_is_no_pubsub_port() -> None:
    assert parser().parse_args([]).pubsub_port is None
    spec = build_server(["--port", "0", "--seed", "empty"])
    assert "pubsub_port" not in spec.info_fn(1234)
