"""The HTML pages and form actions: overview, records, dead letters, reviews, conflicts, flows, forecast.

Layer ``dashboard``; imports ``core`` and the dashboard's own modules. Each handler takes the
request context and returns a response; authentication, CSRF and error pages are handled by the
wrapper in :mod:`ledgerbridge.dashboard.app` before and after.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from ledgerbridge.core.records import Budget, JsonValue
from ledgerbridge.core.store import (
    AuditEvent,
    Conflict,
    ConflictStatus,
    DeadLetter,
    DeadLetterStatus,
    MatchCandidate,
    ReviewStatus,
)
from ledgerbridge.dashboard.backend import (
    ConflictChoice,
    Forecast,
    Lineage,
    LinkSummary,
    Outcome,
    ReviewDecision,
    ReviewItem,
    ReviewKind,
    RunControl,
)
from ledgerbridge.dashboard.charts import flow_graph, forecast_chart, line_chart
from ledgerbridge.dashboard.layout import (
    Ctx,
    Flash,
    badge,
    direction_arrow,
    external_link,
    page,
    rel_time,
    system_name,
)
from ledgerbridge.dashboard.markup import Safe, attrs, esc, fmt_json, join, money, render

__all__ = [
    "conflicts_page",
    "dead_letter_discard",
    "dead_letter_page",
    "dead_letter_retry",
    "dead_letters_page",
    "dead_letters_retry_many",
    "flows_page",
    "forecast_csv",
    "forecast_page",
    "lineage_page",
    "link_control",
    "overview_page",
    "records_page",
    "resolve_conflicts",
    "resolve_review",
    "review_page",
    "reviews_page",
]


def _see_other(ctx: Ctx, path: str, **params: object) -> RedirectResponse:
    return RedirectResponse(ctx.url(path, **params), status_code=303)


def _text(value: JsonValue) -> str:
    """A JSON value for a table cell: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _cell(value: JsonValue) -> Safe:
    if value is None:
        return Safe('<span class="muted">—</span>')
    return render("<code>$v</code>", v=_text(value))


# -- overview ----------------------------------------------------------------------------------------


def _budget_html(sf: Budget, ns: Budget) -> Safe:
    if sf.calls_limit:
        used = sf.calls_used or 0
        pct = used / sf.calls_limit * 100
        sf_html = render(
            '<meter min="0" max="$max" value="$used" low="$low" high="$high" optimum="0"></meter>'
            '<p><strong>$used_t</strong> of $max_t daily API requests used ($pct %) · $left left</p>',
            max=sf.calls_limit, used=used, low=int(sf.calls_limit * 0.7), high=int(sf.calls_limit * 0.9),
            used_t=f"{used:,}", max_t=f"{sf.calls_limit:,}", pct=f"{pct:.1f}",
            left=f"{sf.calls_remaining or 0:,}")
    else:
        sf_html = Safe('<p class="muted">No allocation reported yet.</p>')
    limit = ns.concurrency_limit
    ns_html = render(
        '<meter min="0" max="$max" value="$inf" high="$high" optimum="0"></meter>'
        '<p><strong>$inf</strong> in flight of a concurrency limit of <strong>$lim</strong> · '
        '<span class="$cls">$thr throttled (429)</span> recently</p>',
        max=limit or max(ns.in_flight, 1), inf=ns.in_flight, high=(limit or 1) * 0.9,
        lim=limit if limit is not None else "unknown", thr=ns.throttled,
        cls="warn" if ns.throttled else "muted")
    return render('<div class="cards two"><section class="card" id="budget-salesforce"><h3>Salesforce API'
                  '</h3>$sf</section><section class="card" id="budget-netsuite"><h3>NetSuite concurrency'
                  '</h3>$ns</section></div>', sf=sf_html, ns=ns_html)


def _link_row(ctx: Ctx, link: LinkSummary, controls: bool) -> Safe:
    run = link.last_run
    last = (render('$when $status', when=rel_time(run.finished_at or run.started_at, ctx.now),
                   status=badge(run.status.value)) if run else Safe('<span class="muted">never</span>'))
    errors = (render('<a class="err" href="$u">$n</a>', u=ctx.url("/dead-letters", link=link.name),
                     n=link.n_errors) if link.n_errors else Safe("0"))
    buttons = Safe("")
    if controls:
        actions = [("resume", "Resume")] if link.state.value == "paused" else [("pause", "Pause")]
        actions.append(("run", "Run now"))
        buttons = render("<td>$f</td>", f=join(
            render('<form class="inline" method="post" action="$a">$csrf<button type="submit" '
                   'class="small">$label</button></form>',
                   a=ctx.url(f"/links/{link.name}/{action}"), csrf=ctx.csrf_field(), label=label)
            for action, label in actions))
    return render(
        '<tr data-link="$name"><td><strong>$name</strong><div class="muted">$flow</div></td>'
        '<td>$sf</td><td>$ns</td><td>$dir</td><td>$state</td><td>$last</td>'
        '<td class="num">$synced</td><td class="num">$errors</td>$buttons</tr>',
        name=link.name, flow=link.flow if link.flow != link.name else "", sf=link.sf_object,
        ns=link.ns_record,
        dir=direction_arrow(link.direction), state=badge(link.state.value), last=last,
        synced=f"{link.n_synced:,}", errors=errors, buttons=buttons)


async def overview_page(ctx: Ctx) -> Response:
    """Per-link health, queues, throughput and latency, API budgets."""
    ov = await ctx.backend.overview()
    controls = isinstance(ctx.backend, RunControl)
    rows = join(_link_row(ctx, link, controls) for link in ov.links) or Safe(
        '<tr><td colspan="8" class="muted">No links configured.</td></tr>')
    cards = render(
        '<div class="cards three">'
        '<a class="card stat" href="$dl"><span class="n">$ndl</span>open dead letters</a>'
        '<a class="card stat" href="$rv"><span class="n">$nrv</span>open match and preflight reviews</a>'
        '<a class="card stat" href="$cf"><span class="n">$ncf</span>open conflicts</a></div>',
        dl=ctx.url("/dead-letters"), ndl=ov.open_dead_letters, rv=ctx.url("/reviews"),
        nrv=ov.open_reviews, cf=ctx.url("/reviews") + "#conflicts", ncf=ov.open_conflicts)
    body = render(
        '$cards<section><h2>Links</h2><table class="grid" id="links"><thead><tr><th>Link</th>'
        '<th>Salesforce</th><th>NetSuite</th><th>Direction</th><th>State</th><th>Last run</th>'
        '<th class="num">Synced</th><th class="num">Errors</th>$ctl</tr></thead><tbody>$rows</tbody>'
        '</table></section>'
        '<div class="cards two"><section class="card"><h3>Throughput (records/min)</h3>$tp</section>'
        '<section class="card"><h3>Latency, change to written (s, p95)</h3>$lat</section></div>'
        '<section><h2>API budgets</h2>$budgets</section>'
        '<p class="muted refresh"><label><input type="checkbox" id="autorefresh"> refresh every 15 s'
        '</label></p>',
        cards=cards, rows=rows, ctl=Safe("<th>Control</th>") if controls else Safe(""),
        tp=line_chart(ov.throughput, label="Throughput", unit="records/min"),
        lat=line_chart(ov.latency, label="Latency", unit="s"),
        budgets=_budget_html(ov.budgets.salesforce, ov.budgets.netsuite))
    return page(ctx, title="Overview", active="overview", body=body)


async def link_control(ctx: Ctx, link: str, action: str) -> Response:
    """Pause, resume or run one link now (only when the backend offers run control)."""
    backend = ctx.backend
    if not isinstance(backend, RunControl):
        raise LookupError("this installation does not offer run control")
    calls = {"pause": backend.pause_link, "resume": backend.resume_link, "run": backend.run_link}
    if action not in calls:
        raise LookupError(f"unknown action {action!r}")
    outcome = await calls[action](link)
    ctx.flash_next("ok" if outcome.ok else "error", outcome.message or f"{action}: {link}")
    return _see_other(ctx, "/")


# -- records and lineage ---------------------------------------------------------------------------


async def records_page(ctx: Ctx) -> Response:
    """Search by Salesforce id, NetSuite id or name."""
    q = ctx.request.query_params.get("q", "").strip()
    results = Safe("")
    if q:
        pairs = await ctx.backend.search_records(q)
        rows = join(render(
            '<tr><td>$label</td><td>$link</td><td>$sf</td><td>$ns</td><td><a href="$u">Lineage</a></td></tr>',
            label=p.label, link=p.link, sf=p.sf_id or "—", ns=p.ns_id or "—",
            u=ctx.url(f"/records/{p.sf_id or p.ns_id}", link=p.link)) for p in pairs)
        results = (render('<table class="grid" id="results"><thead><tr><th>Name</th><th>Link</th>'
                          '<th>Salesforce id</th><th>NetSuite id</th><th></th></tr></thead>'
                          '<tbody>$rows</tbody></table>', rows=rows) if pairs
                   else render('<p class="muted" id="results">Nothing matches “$q”.</p>', q=q))
    body = render(
        '<form class="search" method="get" action="$a" role="search"><input type="search" name="q" '
        'value="$q" placeholder="Salesforce id, NetSuite id or name" aria-label="Search records" '
        'autofocus><button type="submit">Search</button></form>$results',
        a=ctx.url("/records"), q=q, results=results)
    return page(ctx, title="Records", active="records", body=body)


def _diff_table(event: AuditEvent) -> Safe:
    keys = list(dict.fromkeys([*event.fields, *event.before.keys(), *event.after.keys()]))
    if not keys:
        return Safe("")
    changed = Safe(' class="changed"')
    rows = join(render('<tr$cls><th>$k</th><td>$b</td><td>$a</td></tr>',
                       cls=changed if event.before.get(k) != event.after.get(k) else Safe(""), k=k,
                       b=_cell(event.before.get(k)), a=_cell(event.after.get(k))) for k in keys)
    return render('<table class="diff"><thead><tr><th>Field</th><th>Before</th><th>After</th></tr></thead>'
                  '<tbody>$rows</tbody></table>', rows=rows)


def _event_html(ctx: Ctx, event: AuditEvent) -> Safe:
    meta = [("Decision", event.decision), ("Rule", event.rule), ("Reason", event.reason),
            ("Run", event.run_id or "")]
    dl = join(render("<dt>$k</dt><dd>$v</dd>", k=k, v=v) for k, v in meta if v)
    return render(
        '<li class="event"><div class="when">$when</div><div class="what"><p>$action on $system '
        '<span class="muted">($link)</span></p><dl class="meta">$dl</dl>$diff</div></li>',
        when=rel_time(event.at, ctx.now), action=badge(event.action, "action"),
        system=system_name(event.system) or "both", link=event.link, dl=dl, diff=_diff_table(event))


def _lineage_body(ctx: Ctx, lineage: Lineage) -> Safe:
    refs = join(render('<li>$sys $obj: $link</li>', sys=system_name(r.system), obj=r.object,
                       link=external_link(r.url, r.id)) for r in lineage.records)
    xrefs = join(render(
        '<tr><td>$link</td><td>$sf</td><td>$ns</td><td>$upd</td><td><details><summary>baselines</summary>'
        '<div class="cols"><pre>$sfb</pre><pre>$nsb</pre></div></details></td></tr>',
        link=x.link, sf=x.sf_id, ns=x.ns_id, upd=rel_time(x.updated_at or x.created_at, ctx.now),
        sfb=fmt_json(dict(x.sf_baseline)), nsb=fmt_json(dict(x.ns_baseline))) for x in lineage.xrefs)
    xref_html = (render('<table class="grid" id="xrefs"><thead><tr><th>Link</th><th>Salesforce id</th>'
                        '<th>NetSuite id</th><th>Last synced</th><th></th></tr></thead><tbody>$r</tbody>'
                        '</table>', r=xrefs) if lineage.xrefs else Safe('<p class="muted">Not linked.</p>'))
    open_items = join([
        *(render('<li>Dead letter <a href="$u">$code</a>: $msg</li>', u=ctx.url(f"/dead-letters/{d.id}"),
                 code=d.error_code, msg=d.error_message) for d in lineage.dead_letters),
        *(render('<li>Conflict on <a href="$u">$f</a></li>', f=c.field,
                 u=ctx.url("/conflicts", link=c.link, sf=c.sf_id, ns=c.ns_id)) for c in lineage.conflicts),
    ])
    events = join(_event_html(ctx, e) for e in lineage.events) or Safe(
        '<li class="muted">No audit events.</li>')
    return render(
        '<ul class="refs">$refs</ul>$open<h2>Pairs</h2>$xrefs'
        '<h2>History</h2><ol class="timeline" id="timeline">$events</ol>',
        refs=refs, xrefs=xref_html, events=events,
        open=render('<ul class="open-items">$i</ul>', i=open_items) if open_items else Safe(""))


async def lineage_page(ctx: Ctx, record_id: str) -> Response:
    """A record's pairs, its audit trail with before/after values, and links to both systems."""
    link = ctx.request.query_params.get("link") or None
    lineage = await ctx.backend.lineage(record_id, link=link)
    return page(ctx, title=f"Lineage of {lineage.label or record_id}", active="records",
                body=_lineage_body(ctx, lineage))


# -- dead letters ----------------------------------------------------------------------------------


def _status_filter(value: str | None) -> DeadLetterStatus | None:
    if value in (None, ""):
        return DeadLetterStatus.OPEN
    if value == "all":
        return None
    return DeadLetterStatus(value)


async def _link_names(ctx: Ctx) -> list[str]:
    return [m.link for m in await ctx.backend.list_mappings()]


def _options(values: Sequence[tuple[str, str]], selected: str) -> Safe:
    return join(render("<option $a>$label</option>", a=attrs(value=v, selected=v == selected), label=label)
                for v, label in values)


async def dead_letters_page(ctx: Ctx) -> Response:
    """Dead letters with filters (link, status, error code) and retry of the selected ones."""
    params = ctx.request.query_params
    link, code, status_text = params.get("link", ""), params.get("code", ""), params.get("status", "open")
    try:
        status = _status_filter(status_text)
    except ValueError:
        raise ValueError(f"unknown status {status_text!r}") from None
    limit = 200
    letters = await ctx.backend.list_dead_letters(link=link or None, status=status, code=code or None,
                                                  limit=limit)
    links = await _link_names(ctx)
    filters = render(
        '<form class="filters" method="get" action="$a"><label>Link <select name="link">$links</select>'
        '</label><label>Status <select name="status">$statuses</select></label><label>Error code '
        '<input name="code" value="$code" size="24"></label><button type="submit">Filter</button></form>',
        a=ctx.url("/dead-letters"), code=code,
        links=_options([("", "all links"), *((n, n) for n in links)], link),
        statuses=_options([("open", "open"), ("resolved", "resolved"), ("discarded", "discarded"),
                           ("all", "all")], status_text or "open"))
    rows = join(render(
        '<tr data-id="$id"><td><input type="checkbox" name="ids" value="$id" form="retry-many" '
        'aria-label="select $id" $dis></td><td>$when</td><td>$link</td><td>$sys $src</td><td>$step</td>'
        '<td><code>$code</code></td><td class="msg">$msg</td><td class="num">$n</td><td>$st</td>'
        '<td><a href="$u">Open</a></td></tr>',
        id=d.id, when=rel_time(d.created_at, ctx.now), link=d.link, sys=system_name(d.system),
        src=d.source_id, step=d.step.value, code=d.error_code, msg=d.error_message, n=d.attempts,
        st=badge(d.status.value),
        u=ctx.url(f"/dead-letters/{d.id}"),
        dis=Safe("disabled") if d.status is not DeadLetterStatus.OPEN else Safe("")) for d in letters)
    table = (render(
        '<form id="retry-many" method="post" action="$a">$csrf</form>'
        '<table class="grid" id="dead-letters"><thead><tr><th><input type="checkbox" id="select-all" '
        'aria-label="select all"></th><th>When</th><th>Link</th><th>Record</th><th>Step</th><th>Code</th>'
        '<th>Message</th><th class="num">Attempts</th><th>Status</th><th></th></tr></thead><tbody>$rows'
        '</tbody></table>$more<p><button type="submit" form="retry-many">Retry selected</button></p>',
        a=ctx.url("/dead-letters/retry"), csrf=ctx.csrf_field(), rows=rows,
        more=render('<p class="muted">Showing the newest $n; narrow the filters to see others.</p>', n=limit)
        if len(letters) >= limit else Safe(""))
        if letters else Safe('<p class="muted" id="dead-letters">No dead letters match.</p>'))
    return page(ctx, title="Dead letters", active="dead-letters", body=join([filters, table]))


def _dead_letter_body(ctx: Ctx, d: DeadLetter, payload_text: str | None = None) -> Safe:
    meta = [("Link", esc(d.link)), ("Record", render("$s $i", s=system_name(d.system), i=d.source_id)),
            ("Target", esc(system_name(d.target_system))), ("Step", esc(d.step.value)),
            ("Kind", esc(d.error_kind)), ("Attempts", esc(d.attempts)), ("Status", badge(d.status.value)),
            ("First failed", rel_time(d.created_at, ctx.now)),
            ("Last attempt", rel_time(d.updated_at, ctx.now)),
            ("Run", esc(d.run_id or ""))]
    dl = join(render("<dt>$k</dt><dd>$v</dd>", k=k, v=v) for k, v in meta)
    text = payload_text if payload_text is not None else fmt_json(dict(d.payload))
    if d.status is DeadLetterStatus.OPEN:
        actions = render(
            '<form method="post" action="$retry" class="payload-form" id="retry-form">$csrf'
            '<label for="payload">Payload (JSON; edit to fix it, then retry)</label>'
            '<textarea id="payload" name="payload" rows="$rows" spellcheck="false" data-json>$text</textarea>'
            '<p class="json-error" id="payload-error" role="alert" hidden></p>'
            '<p><button type="submit">Retry</button> <button type="button" class="secondary" '
            'data-format="payload">Format JSON</button></p></form>'
            '<form method="post" action="$discard" class="discard-form">$csrf<label>Reason '
            '<input name="reason" required size="48" placeholder="why nobody needs this record synced">'
            '</label> <button type="submit" class="danger">Discard</button></form>',
            retry=ctx.url(f"/dead-letters/{d.id}/retry"), discard=ctx.url(f"/dead-letters/{d.id}/discard"),
            csrf=ctx.csrf_field(), text=text, rows=min(30, max(6, text.count("\n") + 2)))
    else:
        actions = render('<h2>Payload</h2><pre>$t</pre>', t=text)
    return render(
        '<div class="error-box"><code>$code</code> $msg</div><dl class="meta wide">$dl</dl>'
        '<p><a href="$lin">Lineage of this record</a> · <a href="$back">All dead letters</a></p>$actions',
        code=d.error_code, msg=d.error_message, dl=dl, actions=actions,
        lin=ctx.url(f"/records/{d.source_id}", link=d.link), back=ctx.url("/dead-letters"))


async def dead_letter_page(ctx: Ctx, letter_id: str) -> Response:
    """One dead letter: the error, the payload editor, retry and discard."""
    d = await ctx.backend.get_dead_letter(letter_id)
    return page(ctx, title=f"Dead letter {d.source_id}", active="dead-letters",
                body=_dead_letter_body(ctx, d))


def _parse_payload(text: str) -> dict[str, JsonValue]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ValueError(f"The payload is not valid JSON: {exc.msg} ({where}).") from None
    if not isinstance(value, dict):
        raise ValueError("The payload must be a JSON object ({...}).")
    return value


async def dead_letter_retry(ctx: Ctx, letter_id: str, form: FormData) -> Response:
    """Retry one dead letter, with the payload as edited in the form."""
    d = await ctx.backend.get_dead_letter(letter_id)
    text = str(form.get("payload", ""))
    payload: dict[str, JsonValue] | None = None
    if text.strip():
        try:
            payload = _parse_payload(text)
        except ValueError as exc:
            return page(ctx, title=f"Dead letter {d.source_id}", active="dead-letters", status_code=400,
                        body=_dead_letter_body(ctx, d, text), flash=Flash("error", str(exc)))
    edited = payload if payload is not None and payload != dict(d.payload) else None
    outcome = await ctx.backend.retry_dead_letter(letter_id, edited)
    if outcome.ok:
        ctx.flash_next("ok", outcome.message or "Retried: the record was synced.")
        return _see_other(ctx, f"/dead-letters/{letter_id}")
    d = await ctx.backend.get_dead_letter(letter_id)
    return page(ctx, title=f"Dead letter {d.source_id}", active="dead-letters",
                body=_dead_letter_body(ctx, d, text),
                flash=Flash("error", f"Retry failed: {outcome.message}"))


async def dead_letters_retry_many(ctx: Ctx, form: FormData) -> Response:
    """Retry the selected dead letters with their stored payloads."""
    ids = [str(v) for v in form.getlist("ids")]
    if not ids:
        ctx.flash_next("info", "Select at least one dead letter to retry.")
        return _see_other(ctx, "/dead-letters")
    outcomes = await ctx.backend.retry_dead_letters(ids)
    ok = sum(o.ok for o in outcomes)
    failed = [o for o in outcomes if not o.ok]
    message = f"Retried {len(outcomes)}: {ok} synced, {len(failed)} failed."
    if failed:
        message += " " + "; ".join(f"{o.id}: {o.message}" for o in failed[:5])
    ctx.flash_next("error" if failed else "ok", message)
    return _see_other(ctx, "/dead-letters")


async def dead_letter_discard(ctx: Ctx, letter_id: str, form: FormData) -> Response:
    """Give up on a dead letter, with a reason."""
    reason = str(form.get("reason", "")).strip()
    if not reason:
        raise ValueError("Give a reason to discard a dead letter.")
    outcome = await ctx.backend.discard_dead_letter(letter_id, reason)
    ctx.flash_next("ok" if outcome.ok else "error", outcome.message or "Discarded.")
    return _see_other(ctx, f"/dead-letters/{letter_id}")


# -- reviews and conflicts --------------------------------------------------------------------------


def _pair_key(c: Conflict) -> tuple[str, str, str]:
    return c.link, c.sf_id, c.ns_id


async def reviews_page(ctx: Ctx) -> Response:
    """Open match reviews, quote-to-cash preflight failures and field conflicts."""
    items = await ctx.backend.list_reviews()
    matches = [i for i in items if i.kind is ReviewKind.MATCH]
    preflight = [i for i in items if i.kind is ReviewKind.PREFLIGHT]
    conflicts = await ctx.backend.list_conflicts()

    def best(item: ReviewItem) -> Safe:
        if not item.review.candidates:
            return Safe('<span class="muted">none</span>')
        top = max(item.review.candidates, key=lambda c: c.score)
        return render("$label $score", label=top.label or top.id, score=badge(f"{top.score:.0f}", "score"))

    match_rows = join(render(
        '<tr><td>$when</td><td>$link</td><td>$label <span class="muted">$sys $rid</span></td>'
        '<td class="num">$n</td><td>$best</td><td><a href="$u">Review</a></td></tr>',
        when=rel_time(i.review.created_at, ctx.now), link=i.review.link, label=i.review.label,
        sys=system_name(i.review.system), rid=i.review.record_id, n=len(i.review.candidates), best=best(i),
        u=ctx.url(f"/reviews/{i.review.id}")) for i in matches)
    preflight_rows = join(render(
        '<tr><td>$when</td><td>$link</td><td>$label <span class="muted">$rid</span></td><td>$reason</td>'
        '<td>$forms</td></tr>',
        when=rel_time(i.review.created_at, ctx.now), link=i.review.link, label=i.review.label,
        rid=i.review.record_id, reason=i.reason, forms=_decision_forms(ctx, i)) for i in preflight)
    groups: dict[tuple[str, str, str], list[Conflict]] = {}
    for c in conflicts:
        groups.setdefault(_pair_key(c), []).append(c)
    conflict_rows = join(render(
        '<tr><td>$when</td><td>$link</td><td>$sf</td><td>$ns</td><td>$fields</td><td><a href="$u">Resolve</a>'
        '</td></tr>', when=rel_time(cs[0].created_at, ctx.now), link=link, sf=sf, ns=ns,
        fields=", ".join(c.field for c in cs), u=ctx.url("/conflicts", link=link, sf=sf, ns=ns))
        for (link, sf, ns), cs in groups.items())

    def section(anchor: str, title: str, n: int, head: str, rows: Safe) -> Safe:
        table = (render('<table class="grid"><thead><tr>$h</tr></thead><tbody>$r</tbody></table>',
                        h=Safe(head), r=rows) if n else Safe('<p class="muted">Nothing to review.</p>'))
        return render('<section id="$a"><h2>$t <span class="count">$n</span></h2>$table</section>',
                      a=anchor, t=title, n=n, table=table)

    body = join([
        render('<nav class="tabs"><a href="#matches">Matches ($m)</a><a href="#preflight">Preflight ($p)</a>'
               '<a href="#conflicts">Conflicts ($c)</a></nav>', m=len(matches), p=len(preflight),
               c=len(groups)),
        section("matches", "Match reviews", len(matches),
                "<th>When</th><th>Link</th><th>Record</th><th class='num'>Candidates</th><th>Best</th>"
                "<th></th>",
                match_rows),
        section("preflight", "Quote-to-cash preflight", len(preflight),
                "<th>When</th><th>Link</th><th>Opportunity</th><th>Reason</th><th></th>", preflight_rows),
        section("conflicts", "Conflicts", len(groups),
                "<th>When</th><th>Link</th><th>Salesforce id</th><th>NetSuite id</th><th>Fields</th>"
                "<th></th>",
                conflict_rows),
    ])
    return page(ctx, title="Reviews", active="reviews", body=body)


def _decision_form(ctx: Ctx, review_id: str, decision: ReviewDecision, label: str,
                   candidate_id: str | None = None, cls: str = "") -> Safe:
    return render(
        '<form class="inline" method="post" action="$a">$csrf<input type="hidden" name="decision" value="$d">'
        '$cand<button type="submit" class="$cls">$label</button></form>',
        a=ctx.url(f"/reviews/{review_id}"), csrf=ctx.csrf_field(), d=decision.value, label=label, cls=cls,
        cand=render('<input type="hidden" name="candidate_id" value="$c">', c=candidate_id)
        if candidate_id else Safe(""))


def _decision_forms(ctx: Ctx, item: ReviewItem) -> Safe:
    if item.review.status is not ReviewStatus.OPEN:
        return badge(item.review.status.value)
    if item.kind is ReviewKind.PREFLIGHT:
        return join([_decision_form(ctx, item.review.id, ReviewDecision.RETRY, "Retry"),
                     _decision_form(ctx, item.review.id, ReviewDecision.DISMISS, "Dismiss", cls="secondary")])
    return join([_decision_form(ctx, item.review.id, ReviewDecision.CREATE, "Create new"),
                 _decision_form(ctx, item.review.id, ReviewDecision.DISMISS, "Dismiss", cls="secondary")])


async def review_page(ctx: Ctx, review_id: str) -> Response:
    """A match review side by side (the record and each candidate, with scores), or a preflight failure."""
    item = await ctx.backend.get_review(review_id)
    r = item.review
    open_ = r.status is ReviewStatus.OPEN
    status = render("<p>Status: $s $chosen</p>", s=badge(r.status.value),
                    chosen=f"(linked to {r.chosen_id})" if r.chosen_id else "")
    if item.kind is ReviewKind.PREFLIGHT:
        body = render('<div class="error-box">$reason</div><p>Opportunity <code>$rid</code> on link '
                      '$link.</p>$status<p>$forms</p>', reason=item.reason, rid=r.record_id, link=r.link,
                      status=status, forms=_decision_forms(ctx, item))
        return page(ctx, title=f"Preflight: {r.label or r.record_id}", active="reviews", body=body)
    cands = sorted(r.candidates, key=lambda c: -c.score)
    keys = list(dict.fromkeys([*item.record.keys(), *(k for c in cands for k in c.details)]))
    head = join([Safe("<th>Field</th>"),
                 render('<th class="this">This record<div class="muted">$s $i</div></th>',
                        s=system_name(r.system), i=r.record_id),
                 *(render('<th>$l<div class="muted">$i</div><div>$score <span class="muted">$rule</span>'
                          '</div></th>', l=c.label or c.id, i=c.id, score=badge(f"{c.score:.0f}", "score"),
                          rule=c.rule) for c in cands)])
    def same(c: MatchCandidate, k: str) -> bool:
        return k in item.record and c.details.get(k) == item.record.get(k)

    rows = join(render('<tr><th>$k</th><td class="this">$v</td>$cells</tr>', k=k, v=_cell(item.record.get(k)),
                       cells=join(render('<td class="$cls">$v</td>', cls="same" if same(c, k) else "",
                                         v=_cell(c.details.get(k))) for c in cands))
                for k in keys)
    actions = Safe("")
    if open_:
        actions = render('<tr class="actions"><th></th><td class="this">$own</td>$links</tr>',
                         own=_decision_forms(ctx, item),
                         links=join(render("<td>$f</td>", f=_decision_form(
                             ctx, r.id, ReviewDecision.LINK, "Link to this", candidate_id=c.id))
                             for c in cands))
    body = render('<p>An unlinked record on link <strong>$link</strong> has possible partners; pick one to '
                  'link, or create a new record.</p>$status<div class="scroll"><table class="grid compare" '
                  'id="compare"><thead><tr>$head</tr></thead><tbody>$rows$actions</tbody></table></div>',
                  link=r.link, status=status, head=head, rows=rows, actions=actions)
    return page(ctx, title=f"Match: {r.label or r.record_id}", active="reviews", body=body)


async def resolve_review(ctx: Ctx, review_id: str, form: FormData) -> Response:
    """Link, create, retry or dismiss a review."""
    try:
        decision = ReviewDecision(str(form.get("decision", "")))
    except ValueError:
        raise ValueError("Unknown decision.") from None
    candidate = str(form.get("candidate_id", "")) or None
    outcome: Outcome = await ctx.backend.resolve_review(review_id, decision, candidate)
    if outcome.ok:
        ctx.flash_next("ok", outcome.message or f"Review {decision.value}ed.")
        return _see_other(ctx, "/reviews")
    ctx.flash_next("error", outcome.message or "The action failed.")
    return _see_other(ctx, f"/reviews/{review_id}")


def _value_type(c: Conflict) -> str:
    for v in (c.sf_value, c.ns_value, c.base_sf, c.base_ns):
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        if isinstance(v, dict | list):
            return "json"
        if isinstance(v, str):
            return "text"
    return "text"


def _typed_value(c: Conflict, raw: str) -> JsonValue:
    """The typed value in the form, converted to the field's JSON type (taken from the two sides)."""
    kind = _value_type(c)
    text = raw.strip()
    if kind == "number":
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{c.field}: {raw!r} is not a number.") from None
        return int(number) if number == number.to_integral_value() and "." not in text else float(number)
    if kind == "bool":
        if text.lower() in {"true", "yes", "1"}:
            return True
        if text.lower() in {"false", "no", "0"}:
            return False
        raise ValueError(f"{c.field}: type true or false.")
    if kind == "json":
        try:
            value: JsonValue = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"{c.field}: the value must be JSON.") from None
        return value
    return raw


async def conflicts_page(ctx: Ctx) -> Response:
    """The conflicting fields of one record pair side by side, with a choice per field."""
    p = ctx.request.query_params
    link, sf, ns = p.get("link", ""), p.get("sf", ""), p.get("ns", "")
    every = await ctx.backend.list_conflicts(link=link or None, status=None, limit=1000)
    pair = [c for c in every if c.sf_id == sf and c.ns_id == ns]
    if not pair:
        raise LookupError(f"no conflicts for {sf} / {ns}")
    open_ = [c for c in pair if c.status is ConflictStatus.OPEN]

    def row(c: Conflict) -> Safe:
        if c.status is not ConflictStatus.OPEN:
            choice = render("$b <code>$v</code>", b=badge(c.resolution or "resolved", "resolved"),
                            v=_text(c.resolved_value))
            return render('<tr><th>$f</th><td>$base</td><td>$sfv</td><td>$nsv</td><td>$choice</td></tr>',
                          f=c.field, base=_cell(c.base_sf), sfv=_cell(c.sf_value), nsv=_cell(c.ns_value),
                          choice=choice)
        name = f"choice_{c.id}"
        return render(
            '<tr data-conflict="$id"><th>$f<input type="hidden" name="ids" value="$id"></th><td>$base</td>'
            '<td><label><input type="radio" name="$n" value="salesforce"> $sfv</label></td>'
            '<td><label><input type="radio" name="$n" value="netsuite"> $nsv</label></td>'
            '<td><label><input type="radio" name="$n" value="value"> other:</label> '
            '<input name="value_$id" class="typed" data-for="$n" aria-label="value for $f" '
            'placeholder="$kind"></td></tr>',
            id=c.id, f=c.field, base=_cell(c.base_sf), n=name, sfv=_cell(c.sf_value), nsv=_cell(c.ns_value),
            kind=_value_type(c))

    rows = join(row(c) for c in pair)
    submit = (render('<p><button type="submit">Resolve chosen fields</button> <span class="muted">Fields '
                     'without a choice stay open.</span></p>') if open_ else Safe(""))
    body = render(
        '<p>Both sides changed these fields differently since the last sync of <strong>$link</strong>. '
        'Pick the value to keep on both sides.</p><p><a href="$lin">Lineage</a></p>'
        '<form method="post" action="$a" id="conflict-form">$csrf'
        '<input type="hidden" name="link" value="$link">'
        '<input type="hidden" name="sf" value="$sf"><input type="hidden" name="ns" value="$ns">'
        '<table class="grid compare" id="conflicts"><thead><tr><th>Field</th><th>Last synced</th>'
        '<th>Salesforce <span class="muted">$sf</span></th><th>NetSuite <span class="muted">$ns</span></th>'
        '<th>Typed value</th></tr></thead><tbody>$rows</tbody></table>$submit</form>',
        link=link or pair[0].link, lin=ctx.url(f"/records/{sf}", link=pair[0].link),
        a=ctx.url("/conflicts/resolve"), csrf=ctx.csrf_field(), sf=sf, ns=ns, rows=rows, submit=submit)
    return page(ctx, title="Conflicts", active="reviews", body=body)


async def resolve_conflicts(ctx: Ctx, form: FormData) -> Response:
    """Apply the per-field choices of the conflict form."""
    ids = [str(v) for v in form.getlist("ids")]
    every = {c.id: c for c in await ctx.backend.list_conflicts(link=str(form.get("link", "")) or None,
                                                                  limit=1000)}
    chosen: list[tuple[Conflict, ConflictChoice, JsonValue]] = []
    for cid in ids:
        raw_choice = str(form.get(f"choice_{cid}", ""))
        if not raw_choice:
            continue
        conflict = every.get(cid)
        if conflict is None:
            raise LookupError(f"conflict {cid} is not open")
        choice = ConflictChoice(raw_choice)
        value = _typed_value(conflict, str(form.get(f"value_{cid}", ""))) if choice is ConflictChoice.VALUE \
            else None
        chosen.append((conflict, choice, value))
    back = {"link": str(form.get("link", "")), "sf": str(form.get("sf", "")), "ns": str(form.get("ns", ""))}
    if not chosen:
        ctx.flash_next("info", "Choose a value for at least one field.")
        return _see_other(ctx, "/conflicts", **back)
    outcomes = [await ctx.backend.resolve_conflict(c.id, choice, value) for c, choice, value in chosen]
    failed = [o for o in outcomes if not o.ok]
    if failed:
        ctx.flash_next("error", "; ".join(o.message for o in failed))
        return _see_other(ctx, "/conflicts", **back)
    ctx.flash_next("ok", f"Resolved {len(outcomes)} field{'s' if len(outcomes) != 1 else ''}: "
                   + ", ".join(c.field for c, _, _ in chosen) + ".")
    return _see_other(ctx, "/reviews")


# -- flows -----------------------------------------------------------------------------------------


async def flows_page(ctx: Ctx) -> Response:
    """The flow picture and each link's mapping table."""
    mappings = await ctx.backend.list_mappings()
    sections = join(render(
        '<section class="mapping" id="link-$link"><h2>$link <span class="muted">$sf $dir $ns</span></h2>$dep'
        '<table class="grid"><thead><tr><th>Target field</th><th>Source or expression</th><th>Direction</th>'
        '<th>Conflict policy</th></tr></thead><tbody>$rows</tbody></table></section>',
        link=m.link, sf=m.sf_object, ns=m.ns_record, dir=direction_arrow(m.direction),
        dep=render('<p class="muted">Needs first: $d</p>', d=", ".join(m.depends_on))
        if m.depends_on else Safe(""),
        rows=join(render('<tr><td><code>$t</code></td><td><code>$s</code></td><td>$d</td><td>$p</td></tr>',
                         t=r.target, s=r.source, d=direction_arrow(r.direction), p=r.conflict_policy or "—")
                  for r in m.rows)) for m in mappings)
    body = render('<section class="card">$graph</section>$sections', graph=flow_graph(mappings),
                  sections=sections)
    return page(ctx, title="Flows", active="flows", body=body)


# -- forecast --------------------------------------------------------------------------------------


def _granularity(ctx: Ctx) -> str:
    value = ctx.request.query_params.get("granularity", "month")
    if value not in {"week", "month"}:
        raise ValueError("granularity must be week or month")
    return value


async def forecast_page(ctx: Ctx) -> Response:
    """Weighted pipeline and expected collections per period: chart, table and CSV link."""
    gran = _granularity(ctx)
    fc: Forecast = await ctx.backend.forecast(granularity=gran)
    rows = join(render('<tr><td>$l</td><td class="num">$p</td><td class="num">$c</td><td class="num">$t</td>'
                       '</tr>', l=r.label, p=money(r.weighted_pipeline), c=money(r.expected_collections),
                       t=money(r.weighted_pipeline + r.expected_collections)) for r in fc.rows)
    tot_p = sum((r.weighted_pipeline for r in fc.rows), Decimal(0))
    tot_c = sum((r.expected_collections for r in fc.rows), Decimal(0))
    toggle = join(render('<a href="$u"$cur>$l</a>', u=ctx.url("/forecast", granularity=g), l=label,
                         cur=Safe(' aria-current="true"') if g == gran else Safe(""))
                  for g, label in (("week", "By week"), ("month", "By month")))
    body = render(
        '<nav class="tabs">$toggle<a class="download" href="$csv" download>Download CSV</a></nav>'
        '<section class="card">$chart</section><table class="grid" id="forecast"><thead><tr><th>Period</th>'
        '<th class="num">Weighted pipeline ($cur)</th><th class="num">Expected collections ($cur)</th>'
        '<th class="num">Total ($cur)</th></tr></thead><tbody>$rows</tbody><tfoot><tr><th>Total</th>'
        '<th class="num">$tp</th><th class="num">$tc</th><th class="num">$tt</th></tr></tfoot></table>',
        toggle=toggle, csv=ctx.url("/forecast.csv", granularity=gran),
        chart=forecast_chart(fc.rows, currency=fc.currency), cur=fc.currency, rows=rows,
        tp=money(tot_p), tc=money(tot_c), tt=money(tot_p + tot_c))
    return page(ctx, title="Cash-flow forecast", active="forecast", body=body)


def _csv_text(value: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


def forecast_csv_text(fc: Forecast) -> str:
    """The forecast as CSV: one row per period."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period_start", "period", "weighted_pipeline", "expected_collections", "currency"])
    for r in fc.rows:
        writer.writerow([r.period_start.isoformat(), _csv_text(r.label), str(r.weighted_pipeline),
                         str(r.expected_collections), _csv_text(fc.currency)])
    return out.getvalue()


async def forecast_csv(ctx: Ctx) -> Response:
    """The forecast as a CSV download."""
    gran = _granularity(ctx)
    fc = await ctx.backend.forecast(granularity=gran)
    return Response(forecast_csv_text(fc), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="forecast-{gran}.csv"'})

