"""Customer onboarding, run as a named step after each sync pass (layer ``app``).

A NetSuite customer created by the onboarding link (``onboarding.link``, default ``accounts``) whose
Salesforce account has at least one won opportunity gets, once:

1. ``invoice`` - a welcome invoice (``onboarding.invoice``: item and amount), upserted by external id
   ``onboard-<customer id>`` so a repeat updates instead of duplicating;
2. ``task`` - a Salesforce Task on the account for its customer-success owner (the account's
   ``owner_field``, else the first active user whose role is ``role``, else the first whose Title is
   ``fallback_title``); an existing Task of
   the account carrying the marker ``[onboard-<customer id>]`` is reused;
3. ``email`` - a message over SMTP (``onboarding.email``);
4. ``webhook`` - a POST ``{"text": ...}`` to a Slack-compatible incoming webhook.

State lives in the state store: ``mark_once("onboarding:<id>:start")`` admits a customer once (a
replayed create is ignored), and audit events of link ``onboarding`` record it as pending and each
step as done or failed. Steps not yet done are retried on every later pass, so a failure (an SMTP
outage) is neither lost nor repeated once it succeeds. Notifications are claimed before sending with
``mark_once("onboarding:<id>:<step>")`` (``...:<step>:retry<n>`` after ``n`` recorded failures), so
two workers or a replay never send the same attempt twice; a process killed between the claim and
its record leaves that notification unsent (reported as pending in the audit log).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from ledgerbridge.app.notify import post_webhook, send_email
from ledgerbridge.app.pricebooks import PriceBookReport, run_price_books
from ledgerbridge.app.wiring import Runtime
from ledgerbridge.core.errors import LedgerBridgeError
from ledgerbridge.core.records import JsonValue, System, Write
from ledgerbridge.core.store import AuditEvent
from ledgerbridge.engine import Outcome, SyncSummary
from ledgerbridge.flows.config import OnboardingSpec

__all__ = ["AUDIT_LINK", "STEPS", "AfterPass", "OnboardingReport", "StepResult", "run_onboarding"]

AUDIT_LINK = "onboarding"
STEPS = ("invoice", "task", "email", "webhook")
_log = structlog.get_logger("ledgerbridge.onboarding")


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step for one customer in one pass."""

    customer_id: str
    account_id: str
    step: str
    ok: bool
    detail: str = ""


@dataclass
class OnboardingReport:
    """What the onboarding step did after one pass."""

    started: list[str] = field(default_factory=list)  # NetSuite customer ids admitted this pass
    steps: list[StepResult] = field(default_factory=list)

    @property
    def failures(self) -> list[StepResult]:
        """Steps that failed (they are retried on the next pass)."""
        return [s for s in self.steps if not s.ok]


def _enabled_steps(spec: OnboardingSpec) -> list[str]:
    configured = {"invoice": spec.invoice, "task": spec.task, "email": spec.email, "webhook": spec.webhook}
    return [s for s in STEPS if configured[s] is not None]


class _Customer:
    def __init__(self, customer_id: str, account_id: str) -> None:
        self.customer_id, self.account_id = customer_id, account_id
        self.done: set[str] = set()
        self.failures: defaultdict[str, int] = defaultdict(int)


async def _event(rt: Runtime, c: _Customer, action: str, *, run_id: str | None = None,
                 reason: str = "") -> None:
    await rt.store.add_audit([AuditEvent(uuid.uuid4().hex, rt.clock.now(), AUDIT_LINK, action,
                                         System.NETSUITE, c.account_id, c.customer_id, run_id,
                                         reason=reason)])


async def _admit(rt: Runtime, spec: OnboardingSpec, summary: SyncSummary, report: OnboardingReport) -> None:
    link = summary.links.get(spec.link)
    if link is None or summary.kind == "plan":
        return
    created = {o.id: o.partner_id for o in link.outcomes
               if o.system is System.SALESFORCE and o.action == "create" and o.outcome is Outcome.SYNCED
               and o.partner_id and o.reason != "planned"}
    if not created:
        return
    opps = await rt.salesforce.find("Opportunity", "AccountId", sorted(created),
                                    fields=["AccountId", "IsWon"])
    won = {str(o.fields.get("AccountId")) for o in opps if o.fields.get("IsWon") is True}
    for account_id in sorted(won & set(created)):
        customer_id = str(created[account_id])
        async with rt.store.transaction():
            if await rt.store.mark_once(f"onboarding:{customer_id}:start"):
                await _event(rt, _Customer(customer_id, account_id), "onboarding.pending",
                             run_id=summary.run_id, reason="customer created from a won deal")
                report.started.append(customer_id)


async def _pending(rt: Runtime) -> list[_Customer]:
    customers: dict[str, _Customer] = {}
    events = await rt.store.list_audit(link=AUDIT_LINK, limit=100_000)
    for e in reversed(events):  # oldest first
        if e.ns_id is None or e.sf_id is None:
            continue
        c = customers.setdefault(e.ns_id, _Customer(e.ns_id, e.sf_id))
        parts = e.action.split(".")
        if len(parts) == 3 and parts[2] == "done":
            c.done.add(parts[1])
        elif len(parts) == 3 and parts[2] == "failed":
            c.failures[parts[1]] += 1
    return list(customers.values())


async def _account(rt: Runtime, spec: OnboardingSpec, account_id: str) -> dict[str, JsonValue]:
    fields = ["Id", "Name"] + ([spec.task.owner_field] if spec.task is not None else [])
    found = await rt.salesforce.read_by_ids("Account", [account_id], fields=fields)
    return dict(found[0].fields) if found else {}


async def _invoice(rt: Runtime, spec: OnboardingSpec, c: _Customer) -> str:
    assert spec.invoice is not None
    inv = spec.invoice
    fields: dict[str, JsonValue] = {
        "entity": {"id": c.customer_id}, "memo": inv.memo,
        "item": {"items": [{"item": {"id": inv.item}, "quantity": 1, "rate": inv.amount}]}}
    [result] = await rt.netsuite.upsert("invoice", [Write(fields, external_id=f"onboard-{c.customer_id}")],
                                        key_field="externalId")
    if result.error is not None:
        raise LedgerBridgeError(f"NetSuite refused the invoice: {result.error.message}")
    return f"invoice {result.id}"


async def _owner(rt: Runtime, spec: OnboardingSpec, account: dict[str, JsonValue]) -> str | None:
    assert spec.task is not None
    owner = account.get(spec.task.owner_field)
    if isinstance(owner, str) and owner:
        return owner
    for by, value in (("UserRole.Name", spec.task.role), ("Title", spec.task.fallback_title)):
        if not value:
            continue
        users = await rt.salesforce.find("User", by, [value], fields=["Id", "IsActive"])
        active = sorted(u.id for u in users if u.fields.get("IsActive") is not False)
        if active:
            return active[0]
    return None


async def _task(rt: Runtime, spec: OnboardingSpec, c: _Customer, account: dict[str, JsonValue]) -> str:
    assert spec.task is not None
    marker = f"[onboard-{c.customer_id}]"
    existing = await rt.salesforce.find("Task", "WhatId", [c.account_id], fields=["Id", "Description"])
    for t in existing:
        if marker in str(t.fields.get("Description") or ""):
            return f"task {t.id} (already there)"
    name = str(account.get("Name") or c.account_id)
    fields: dict[str, JsonValue] = {
        "Subject": spec.task.subject.replace("{account}", name), "WhatId": c.account_id,
        "Status": "Not Started", "Priority": "Normal",
        "ActivityDate": (rt.clock.now() + timedelta(days=spec.task.due_in_days)).date().isoformat(),
        "Description": f"Onboard the new customer {name} (NetSuite customer {c.customer_id}). {marker}"}
    owner = await _owner(rt, spec, account)
    if owner is not None:
        fields["OwnerId"] = owner
    [result] = await rt.salesforce.upsert("Task", [Write(fields)])
    if result.error is not None:
        raise LedgerBridgeError(f"Salesforce refused the task: {result.error.message}")
    return f"task {result.id}" + ("" if owner else " (no customer-success owner found)")


def _text(c: _Customer, account: dict[str, JsonValue]) -> str:
    name = str(account.get("Name") or c.account_id)
    return (f"New customer {name} (Salesforce account {c.account_id}, NetSuite customer {c.customer_id}) "
            "from a won deal: onboarding has started.")


async def _notify(rt: Runtime, spec: OnboardingSpec, c: _Customer, step: str,
                  account: dict[str, JsonValue]) -> str:
    n = c.failures[step]
    claim = f"onboarding:{c.customer_id}:{step}" + (f":retry{n}" if n else "")
    if not await rt.store.mark_once(claim):
        return "claimed by another pass"
    text = _text(c, account)
    if step == "email":
        assert spec.email is not None
        name = str(account.get("Name") or c.account_id)
        await send_email(spec.email, f"New customer: {name}", text,
                         message_id=f"<onboard-{c.customer_id}@ledgerbridge>")
        return f"email to {len(spec.email.to)} recipient(s)"
    assert spec.webhook is not None
    await post_webhook(spec.webhook, text)
    return "webhook posted"


async def run_onboarding(rt: Runtime, summary: SyncSummary | None = None) -> OnboardingReport:
    """Admit the customers this pass created from won deals, then run every step not yet done.

    Args:
        rt: the runtime.
        summary: the pass just finished (None: only retry pending customers).

    Returns:
        What was started, done and what failed (failures are logged and audited, and retried).
    """
    report = OnboardingReport()
    spec = rt.config.onboarding
    if spec is None or not spec.enabled:
        return report
    if summary is not None:
        await _admit(rt, spec, summary, report)
    steps = _enabled_steps(spec)
    for c in await _pending(rt):
        todo = [s for s in steps if s not in c.done]
        if not todo:
            continue
        account: dict[str, JsonValue] = {}
        for step in todo:
            try:
                if not account:
                    account = await _account(rt, spec, c.account_id)
                if step == "invoice":
                    detail = await _invoice(rt, spec, c)
                elif step == "task":
                    detail = await _task(rt, spec, c, account)
                else:
                    detail = await _notify(rt, spec, c, step, account)
            except LedgerBridgeError as exc:
                await _event(rt, c, f"onboarding.{step}.failed", reason=str(exc))
                _log.warning("onboarding.step.failed", customer=c.customer_id, step=step, message=str(exc))
                report.steps.append(StepResult(c.customer_id, c.account_id, step, False, str(exc)))
                continue
            async with rt.store.transaction():
                await rt.store.mark_once(f"onboarding:{c.customer_id}:{step}:done")
                await _event(rt, c, f"onboarding.{step}.done", reason=detail)
            _log.info("onboarding.step.done", customer=c.customer_id, step=step, detail=detail)
            report.steps.append(StepResult(c.customer_id, c.account_id, step, True, detail))
    return report


class AfterPass:
    """The scheduler's ``on_summary`` hook: calls ``then``, then hands each pass to the named after-pass
    steps - onboarding, then price books - (one pass at a time, in the background); :meth:`drain`
    waits for the last one."""

    def __init__(self, rt: Runtime, then: Callable[[SyncSummary], None] | None = None) -> None:
        self.rt, self.then = rt, then
        self._last: asyncio.Task[None] | None = None
        self.reports: list[OnboardingReport] = []
        self.price_reports: list[PriceBookReport] = []

    def __call__(self, summary: SyncSummary) -> None:
        if self.then is not None:
            self.then(summary)
        if self.rt.config.onboarding is None and self.rt.config.price_books is None:
            return
        previous = self._last

        async def step() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            if self.rt.config.onboarding is not None:
                self.reports.append(await run_onboarding(self.rt, summary))
            if self.rt.config.price_books is not None:
                try:
                    self.price_reports.append(await run_price_books(self.rt, summary))
                except LedgerBridgeError as exc:  # the step audits per item; this is the step itself
                    _log.warning("price_books.failed", run_id=summary.run_id, message=str(exc))

        self._last = asyncio.get_running_loop().create_task(step())

    async def drain(self) -> Sequence[OnboardingReport]:
        """Wait for the after-pass steps of the passes seen so far; the onboarding reports."""
        if self._last is not None:
            await asyncio.gather(self._last, return_exceptions=True)
        return self.reports
