"""The sandbox's push calls (``push.py``): what the User Event script would post, for UI edits only.

The receiver is LedgerBridge's own webhook app (``create_webhook_app``) on a loopback socket, so a
call that verifies there is signed exactly as the product expects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest

from ledgerbridge.app.webhooks import create_webhook_app
from ledgerbridge.core.records import Change, ChangeKind, System
from ledgerbridge_sandbox.netsuite.testing import NetSuiteSandbox
from ledgerbridge_sandbox.serve import ServerThread

SECRET = "push-test-secret"


@pytest.fixture
def received() -> Iterator[tuple[str, list[Change]]]:
    changes: list[Change] = []
    with ServerThread(create_webhook_app(SECRET, changes.append)) as server:
        yield f"{server.url}/webhooks/netsuite", changes


@pytest.fixture
def ns() -> Iterator[NetSuiteSandbox]:
    with NetSuiteSandbox(seed="empty") as sandbox:
        yield sandbox


def _wait_for(changes: list[Change], n: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(changes) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(changes) >= n, changes


def test_ui_create_edit_delete_are_pushed_signed_and_rest_writes_are_not(
    ns: NetSuiteSandbox, received: tuple[str, list[Change]]
) -> None:
    url, changes = received
    admin = httpx2.Client(base_url=f"{ns.url}/__sandbox__", timeout=10, trust_env=False)
    assert admin.put("/push", json={"url": url, "secret": SECRET}).json()["enabled"] is True

    created = admin.post("/ui/record/customer", json={"companyName": "Push Co", "subsidiary": {"id": "1"}})
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert admin.patch(f"/ui/record/customer/{rid}", json={"phone": "555-0100"}).status_code == 204
    _wait_for(changes, 2)
    # A write through the REST web services (how LedgerBridge writes) is not pushed.
    with ns.client() as rest:
        assert rest.patch(f"/record/v1/customer/{rid}", json={"phone": "555-0101"}).status_code == 204
    assert admin.delete(f"/ui/record/customer/{rid}").status_code == 204
    _wait_for(changes, 3)

    assert [(c.system, c.object, c.id, c.kind, c.source) for c in changes] == [
        (System.NETSUITE, "customer", rid, ChangeKind.UPSERT, "push"),
        (System.NETSUITE, "customer", rid, ChangeKind.UPSERT, "push"),
        (System.NETSUITE, "customer", rid, ChangeKind.DELETE, "push"),
    ]
    # The receiver may have queued the third change before the sandbox has read its 202: wait for it.
    deadline = time.monotonic() + 5
    status = admin.get("/push").json()
    while status["sent"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
        status = admin.get("/push").json()
    assert status["sent"] == 3 and status["failed"] == 0 and "secret" not in status
    admin.close()


def test_push_is_off_until_configured_and_a_failing_receiver_never_fails_the_save(
    ns: NetSuiteSandbox, received: tuple[str, list[Change]]
) -> None:
    url, changes = received
    admin = httpx2.Client(base_url=f"{ns.url}/__sandbox__", timeout=10, trust_env=False)
    body = {"companyName": "Quiet Co", "subsidiary": {"id": "1"}}
    assert admin.post("/ui/record/customer", json=body).status_code == 201
    assert admin.get("/push").json() == {"enabled": False, "url": None, "sent": 0, "failed": 0,
                                         "pending": 0, "last_error": None}
    # A wrong secret: the receiver answers 401, the save still succeeds, the failure is counted.
    admin.put("/push", json={"url": url, "secret": "not-the-secret"}).raise_for_status()
    assert admin.post("/ui/record/customer", json=body | {"companyName": "Loud Co"}).status_code == 201
    deadline = time.monotonic() + 5
    while admin.get("/push").json()["failed"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    status = admin.get("/push").json()
    assert status["failed"] == 1 and "401" in status["last_error"]
    assert changes == []
    assert admin.put("/push", json={"url": "ftp://x", "secret": "s"}).status_code == 400
    assert admin.delete("/push").json()["enabled"] is False
    admin.close()
