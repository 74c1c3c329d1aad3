"""The demo (layer ``app``): both sandboxes as child processes, a demo configuration, the engine
loop and a gentle simulator of people editing records on both sides.

The front end (``ledgerbridge demo``) adds the dashboard and prints the guide; everything else is
here so it can be tested without a terminal.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx2
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledgerbridge.app.sandboxes import SandboxProcess, start_sandbox
from ledgerbridge.app.templates import SANDBOX_NETSUITE_URL, SANDBOX_SALESFORCE_URL, render
from ledgerbridge.connectors.netsuite.connector import NetSuiteConnector
from ledgerbridge.connectors.netsuite.settings import NetSuiteSettings
from ledgerbridge.core.errors import LedgerBridgeError
from ledgerbridge.core.ports import SystemPort
from ledgerbridge.core.records import JsonValue, Priority, Record, System, Write

log = structlog.get_logger("ledgerbridge.demo")

WEBHOOK_PATH = "/webhooks/netsuite"

# quote-to-cash requires accounts-customers and catalog-pricing; the demo adds the other flows.
DEMO_TEMPLATE = "quote-to-cash"
DEMO_ALSO = ("lead-to-prospect", "invoice-status", "pipeline-forecast")


def demo_config_text(sf: dict[str, object], ns: dict[str, object], state_url: str,
                     template: str = DEMO_TEMPLATE, *, webhook_port: int | None = None,
                     webhook_secret: str | None = None, onboarding_item: str | None = None,
                     notify_url: str | None = None) -> str:
    """The demo's ``ledgerbridge.yaml``: a shipped template (with those it requires), pointed at the
    running sandboxes; with push from both (Salesforce CDC over the sandbox's Pub/Sub API, NetSuite
    User Event calls to our webhook) when the sandboxes serve it."""
    text = render(template, sandbox=True,
                  salesforce_url=str(sf.get("instance_url", SANDBOX_SALESFORCE_URL)),
                  netsuite_url=str(ns.get("base_url", SANDBOX_NETSUITE_URL)), state_url=state_url,
                  also=DEMO_ALSO)
    if onboarding_item is not None:
        text += (
            "\n# Customer onboarding after a won deal's customer is created: a welcome invoice, a Task\n"
            "# for the customer-success owner and a Slack-style notification (the demo prints them).\n"
            "onboarding:\n"
            f"  invoice: {{item: \"{onboarding_item}\", amount: 1500, memo: Onboarding package}}\n"
            "  task: {fallback_title: Customer Success Manager}\n"
            + (f"  webhook: {{url: \"${{LB_DEMO_NOTIFY_URL:-{notify_url}}}\"}}\n" if notify_url else ""))
    pubsub_port = sf.get("pubsub_port")
    if webhook_port is None or webhook_secret is None or not isinstance(pubsub_port, int):
        return text
    return text + (
        "\n# Push from both sides: Salesforce Change Data Capture (Pub/Sub API) and the NetSuite\n"
        "# User Event script's calls to this webhook; polling stays as a slow safety net.\n"
        "realtime:\n"
        f"  webhook: {{host: 127.0.0.1, port: {webhook_port}, path: {WEBHOOK_PATH},\n"
        f"            secret: \"${{LB_DEMO_WEBHOOK_SECRET:-{webhook_secret}}}\"}}\n"
        f"  salesforce_cdc: {{port: {pubsub_port}}}\n"
        "  safety_net_interval: 5m\n")


@dataclass
class DemoSandboxes:
    """The running sandboxes and where the demo keeps its files."""

    process: SandboxProcess
    directory: Path
    config_file: Path
    salesforce: dict[str, object] = field(default_factory=dict)
    netsuite: dict[str, object] = field(default_factory=dict)
    notify_port: int | None = None

    def stop(self) -> int:
        """Stop the sandboxes."""
        return self.process.stop()


def start_demo_sandboxes(directory: Path | None = None, *, state_url: str | None = None,
                         args: tuple[str, ...] = ()) -> DemoSandboxes:
    """Start ``python -m ledgerbridge_sandbox up`` and write the demo configuration next to it.

    Raises:
        SandboxStartError: the sandboxes did not come up.
    """
    folder = directory or Path(tempfile.mkdtemp(prefix="ledgerbridge-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    webhook_port, webhook_secret = free_port(), secrets.token_hex(16)
    push = ("--sf-pubsub-port", "0", "--ns-push-url", f"http://127.0.0.1:{webhook_port}{WEBHOOK_PATH}",
            "--ns-push-secret", webhook_secret)
    proc = start_sandbox("up", [*args, *push], name="demo sandboxes", timeout_s=120)
    sf, ns = _section(proc.info, "salesforce"), _section(proc.info, "netsuite")
    url = state_url or f"sqlite:///{folder / 'state.db'}"
    config_file = folder / "ledgerbridge.yaml"
    notify_port = free_port()
    item = asyncio.run(find_onboarding_item(ns))
    config_file.write_text(demo_config_text(
        sf, ns, url, webhook_port=webhook_port, webhook_secret=webhook_secret, onboarding_item=item,
        notify_url=f"http://127.0.0.1:{notify_port}/notify"), encoding="utf-8")
    return DemoSandboxes(proc, folder, config_file, sf, ns, notify_port=notify_port)


async def find_onboarding_item(ns: Mapping[str, object]) -> str | None:
    """The NetSuite service item the demo bills onboarding with (an "Implementation Package")."""
    settings = NetSuiteSettings.model_validate({
        "account_id": str(ns.get("account_id", "")), "base_url": str(ns.get("base_url", "")),
        "auth_mode": "tba", "consumer_key": str(ns.get("consumer_key", "")),
        "consumer_secret": str(ns.get("consumer_secret", "")), "token_id": str(ns.get("token_id", "")),
        "token_secret": str(ns.get("token_secret", "")), "read_governance_limits": False})
    connector = NetSuiteConnector.from_settings(settings)
    try:
        rows = await connector.suiteql("SELECT id FROM item WHERE itemtype = 'Service' AND "
                                       "displayname LIKE 'Implementation Package%' ORDER BY id")
    except LedgerBridgeError as exc:
        log.warning("demo.onboarding.item_not_found", error=str(exc))
        return None
    finally:
        await connector.aclose()
    return str(rows[0]["id"]) if rows else None


def create_notification_app(on_message: Callable[[str], None]) -> Starlette:
    """A Slack-compatible incoming-webhook stand-in: ``POST /notify {"text": ...}`` shows the text."""

    async def notify(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "expected a JSON body"}, status_code=400)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return JSONResponse({"error": "expected {\"text\": ...}"}, status_code=400)
        on_message(text)
        return Response("ok", media_type="text/plain")

    return Starlette(routes=[Route("/notify", notify, methods=["POST"])])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _section(info: dict[str, object], key: str) -> dict[str, object]:
    value = info.get(key)
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


class _Ports(Protocol):
    @property
    def salesforce(self) -> SystemPort: ...

    @property
    def netsuite(self) -> SystemPort: ...


class Editor(Protocol):
    """How the simulator's people change records: returns None, or the system's error text."""

    async def edit(self, system: System, object: str, id: str | None,
                   fields: Mapping[str, JsonValue]) -> str | None:
        """Create (``id`` None) or update one record."""
        ...


class PortEditor:
    """Edits through the systems' ports (for tests with in-memory systems)."""

    def __init__(self, ports: _Ports) -> None:
        self.ports = ports

    async def edit(self, system: System, object: str, id: str | None,
                   fields: Mapping[str, JsonValue]) -> str | None:
        """Write one record through the port."""
        port = self.ports.salesforce if system is System.SALESFORCE else self.ports.netsuite
        res = await port.upsert(object, [Write(dict(fields), id=id)], priority=Priority.BACKFILL)
        error = res[0].error if res else None
        return None if error is None else f"{error.code}: {error.message}"


class SandboxUiEditor:
    """Edits as people make them in the sandboxes: Salesforce REST without LedgerBridge's call
    options (so change events are not ours), and the NetSuite sandbox's stand-in for its UI (so the
    User Event script's push fires, as for a person's save)."""

    def __init__(self, sf: Mapping[str, object], ns: Mapping[str, object]) -> None:
        self.sf, self.ns = sf, ns
        self.http = httpx2.AsyncClient(timeout=30)
        self._token: str | None = None

    async def _sf_headers(self) -> dict[str, str]:
        if self._token is None:
            r = await self.http.post(f"{self.sf['instance_url']}/services/oauth2/token", data={
                "grant_type": "password", "client_id": str(self.sf["client_id"]),
                "client_secret": str(self.sf["client_secret"]), "username": str(self.sf["username"]),
                "password": f"{self.sf['password']}{self.sf.get('security_token', '')}"})
            r.raise_for_status()
            self._token = str(r.json()["access_token"])
        return {"Authorization": f"Bearer {self._token}"}

    async def edit(self, system: System, object: str, id: str | None,
                   fields: Mapping[str, JsonValue]) -> str | None:
        """Create or update one record the way a person would."""
        try:
            if system is System.SALESFORCE:
                base = f"{self.sf['instance_url']}/services/data/v{self.sf.get('api_version', '62.0')}"
                url = f"{base}/sobjects/{object}" + (f"/{id}" if id else "")
                r = await self.http.request("PATCH" if id else "POST", url, json=dict(fields),
                                            headers=await self._sf_headers())
            else:
                url = f"{self.ns['base_url']}/__sandbox__/ui/record/{object}" + (f"/{id}" if id else "")
                r = await self.http.request("PATCH" if id else "POST", url, json=dict(fields))
        except httpx2.HTTPError as exc:
            return f"HTTP error: {exc}"
        return None if r.status_code < 300 else f"HTTP {r.status_code}: {r.text[:300]}"

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()


_NEW_COMPANIES = ("Aurora", "Basalt", "Corvid", "Dovetail", "Ember", "Fjord", "Gallium", "Halcyon")
_NEW_KINDS = ("Robotics", "Analytics", "Logistics", "Foods", "Energy", "Media")


class Simulator:
    """People at work: edits on both sides at a gentle, realistic pace.

    Each step is one of: a deal closes (Closed Won) in Salesforce; a lead's score goes up; a sales
    rep changes an account's phone; a new account is created; finance changes a customer's credit
    limit or records a payment on an open invoice in NetSuite; a product manager edits an item's
    description; and now and then the same phone is edited differently on both sides between two
    passes (a conflict that the field's owner settles).

    Args:
        runtime: whose connectors read the records to pick (reads only).
        editor: makes the edits (the sandboxes' UI-like paths in the demo).
        speed: 1.0 is about one edit every 6 seconds; 2.0 twice as often.
        rng: random source (seeded for tests).
        on_event: called with a sentence for each edit made.
    """

    def __init__(self, runtime: _Ports, *, editor: Editor | None = None, speed: float = 1.0,
                 rng: random.Random | None = None, on_event: Callable[[str], None] | None = None) -> None:
        self.rt = runtime
        self.editor: Editor = editor or PortEditor(runtime)
        self.speed = max(0.05, speed)
        self.rng = rng or random.Random(7)
        self.on_event = on_event or (lambda _m: None)
        self.n_edits = 0

    async def step(self) -> str | None:
        """Make one edit; return what was done (None when there was nothing to edit)."""
        steps = (
            (0.15, self._close_deal), (0.12, self._lead_scores_up), (0.18, self._edit_salesforce_phone),
            (0.10, self._create_account), (0.15, self._edit_netsuite_credit), (0.12, self._payment),
            (0.10, self._edit_item), (0.08, self._conflicting_phone),
        )
        roll = self.rng.random() * sum(w for w, _ in steps)
        for weight, fn in steps:
            roll -= weight
            if roll <= 0:
                return await fn()
        return await steps[-1][1]()

    async def _pick_sf(self, object: str, fields: list[str], where: str | None = None) -> Record | None:
        pages = self.rt.salesforce.read_changes(object, None, fields=fields, where=where,
                                                priority=Priority.BACKFILL)
        async for page in pages:
            if page.records:
                return self.rng.choice(list(page.records))
        return None

    async def _pick_ns(self, object: str, query: str) -> dict[str, JsonValue] | None:
        """One NetSuite row: by SuiteQL when the connector offers it (one call), else the feed."""
        suiteql = getattr(self.rt.netsuite, "suiteql", None)
        if suiteql is not None:
            rows: list[dict[str, JsonValue]] = await suiteql(query, priority=Priority.BACKFILL)
            return self.rng.choice(rows) if rows else None
        async for page in self.rt.netsuite.read_changes(object, None, priority=Priority.BACKFILL):
            if page.records:
                r = self.rng.choice(list(page.records))
                return {"id": r.id, **{k.lower(): v for k, v in r.fields.items()}}
        return None

    async def _edit(self, system: System, object: str, id: str | None, fields: dict[str, JsonValue],
                    what: str) -> str:
        error = await self.editor.edit(system, object, id, fields)
        self.n_edits += 1
        return what if error is None else f"{what} (failed: {error})"

    async def _close_deal(self) -> str | None:
        r = await self._pick_sf("Opportunity", ["Id", "Name"],
                                "IsClosed = false AND HasOpportunityLineItem = true")
        if r is None:
            return None
        return await self._edit(System.SALESFORCE, "Opportunity", r.id, {"StageName": "Closed Won"},
                                f"Salesforce: deal {r.fields.get('Name')} closed won")

    async def _lead_scores_up(self) -> str | None:
        r = await self._pick_sf("Lead", ["Id", "Company", "Lead_Score__c"], "IsConverted = false")
        if r is None:
            return None
        score = r.fields.get("Lead_Score__c")
        new = min(100, int(score if isinstance(score, int | float) else 0) + self.rng.randint(15, 35))
        return await self._edit(System.SALESFORCE, "Lead", r.id, {"Lead_Score__c": new},
                                f"Salesforce: lead at {r.fields.get('Company')} scored {new}")

    async def _edit_salesforce_phone(self) -> str | None:
        r = await self._pick_sf("Account", ["Id", "Name", "Phone"])
        if r is None:
            return None
        phone = f"+1 512 555 {self.rng.randint(1000, 9999)}"
        return await self._edit(System.SALESFORCE, "Account", r.id, {"Phone": phone},
                                f"Salesforce: {r.fields.get('Name')} phone changed to {phone}")

    async def _create_account(self) -> str | None:
        name = (f"{self.rng.choice(_NEW_COMPANIES)} {self.rng.choice(_NEW_KINDS)} "
                f"{self.rng.randint(100, 999)} Inc.")
        domain = name.split()[0].lower() + str(self.rng.randint(10, 99)) + ".example"
        fields: dict[str, JsonValue] = {"Name": name, "Website": f"https://www.{domain}",
                                        "Phone": f"+1 415 555 {self.rng.randint(1000, 9999)}"}
        return await self._edit(System.SALESFORCE, "Account", None, fields,
                                f"Salesforce: new account {name}")

    async def _edit_netsuite_credit(self) -> str | None:
        row = await self._pick_ns(
            "customer", "SELECT id, companyname FROM customer WHERE searchstage = 'Customer'")
        if row is None:
            return None
        limit = float(self.rng.choice([5000, 10000, 25000, 50000, 100000]))
        return await self._edit(System.NETSUITE, "customer", str(row["id"]), {"creditLimit": limit},
                                f"NetSuite: {row.get('companyname')} credit limit set to {limit:,.0f}")

    async def _payment(self) -> str | None:
        row = await self._pick_ns("invoice", "SELECT id, entity, foreignamountunpaid FROM transaction "
                                             "WHERE type = 'CustInvc' AND foreignamountunpaid > 0")
        if row is None or not row.get("entity"):
            return None
        due = float(str(row.get("foreignamountunpaid") or 0))
        amount = round(due if self.rng.random() < 0.6 else due / 2, 2)
        fields: dict[str, JsonValue] = {
            "customer": {"id": str(row["entity"])}, "payment": amount,
            "apply": {"items": [{"doc": {"id": str(row["id"])}, "apply": True, "amount": amount}]}}
        return await self._edit(System.NETSUITE, "customerPayment", None, fields,
                                f"NetSuite: payment of {amount:,.2f} on invoice {row['id']}")

    async def _edit_item(self) -> str | None:
        row = await self._pick_ns("inventoryItem", "SELECT id, itemid FROM item WHERE itemtype = 'InvtPart'")
        if row is None:
            return None
        text = f"{row.get('itemid', 'Item')} — revised spec {self.rng.randint(2, 9)}"
        return await self._edit(System.NETSUITE, "inventoryItem", str(row["id"]),
                                {"salesDescription": text},
                                f"NetSuite: item {row.get('itemid')} description revised")

    async def _conflicting_phone(self) -> str | None:
        r = await self._pick_sf("Account", ["Id", "Name", "NetSuite_Id__c"], "NetSuite_Id__c != null")
        ns_id = r.fields.get("NetSuite_Id__c") if r is not None else None
        if r is None or not isinstance(ns_id, str) or not ns_id:
            return await self._edit_salesforce_phone()
        sf_phone = f"+1 212 555 {self.rng.randint(1000, 9999)}"
        ns_phone = f"+1 646 555 {self.rng.randint(1000, 9999)}"
        await self._edit(System.SALESFORCE, "Account", r.id, {"Phone": sf_phone}, "")
        await self._edit(System.NETSUITE, "customer", ns_id, {"phone": ns_phone}, "")
        return (f"Both: {r.fields.get('Name')} phone set to {sf_phone} in Salesforce and {ns_phone} in "
                "NetSuite (a conflict; Salesforce owns phone)")

    async def run(self, stop: asyncio.Event) -> None:
        """Edit until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=6.0 / self.speed)
                return
            except TimeoutError:
                pass
            try:
                message = await self.step()
            except LedgerBridgeError as exc:
                message = f"simulator edit failed: {exc}"
            if message:
                log.info("demo.simulator.edit", message=message)
                self.on_event(message)
