"""Price books: NetSuite item prices -> Salesforce price books, a named after-pass step (layer ``engine``).

The catalog links (NetSuite item -> Product2) keep products in step; this step keeps their prices.
Given the items a pass saw (and the items whose pricing failed before), it reads each item once
(``read_by_ids`` returns the ``price`` sublist: rows of currency, price level, quantity, price) and
reconciles Salesforce to what NetSuite says:

- the base price level (``base_level``, Base Price = 1) -> the Standard Price Book;
- every other level in scope (``levels``) -> a ``Pricebook2`` named after it (``book_name``), found
  by name, created active when missing;
- one ``PricebookEntry`` per (book, product, currency) with ``UnitPrice`` = the quantity-0 price,
  ``UseStandardPrice`` false, active while the item is active and its price row exists. A
  multi-currency org (``PricebookEntry.CurrencyIsoCode`` in the describe) gets an entry per NetSuite
  currency whose ISO code (``currency.symbol``) is an active Salesforce currency; prices in
  currencies Salesforce lacks are reported once per run. A single-currency org gets the
  ``currency`` setting's prices (default: NetSuite's base currency). Standard entries are written
  before custom ones (Salesforce refuses a custom price without a standard one), only fields that
  differ are written, and entries are never deleted: an inactive (or deleted) item deactivates
  every entry of its product, and a price row that is gone deactivates its entry. The step
  remembers the entries it created or matched to a NetSuite price (xrefs of link ``price_books``:
  entry id <-> ``<item>:<book>:<currency>``), and only those follow a removed row: an entry a
  person added where NetSuite has no price is left alone.
- with Salesforce CPQ (``SBQQ__DiscountSchedule__c`` describes), the quantity breaks of the base
  level in the schedule currency become one Range/Percent discount schedule per product with a tier
  per break (lower bound = the break, upper bound = the next break, discount = 1 - price/base, %).

Reads and writes are batched (``find`` with ``IN`` lists, one ``upsert`` per object and stage), so
a pass over N items costs about N NetSuite GETs and a handful of Salesforce calls.

A failure of one item (a refused write, an item that vanished, a product not synced yet) is
logged, reported and audited (link ``price_books``, action ``price_books.failed``, the NetSuite item
id and the reason) and the item is retried on every later pass until it succeeds
(``price_books.synced``); the other items go on. Everything the step writes is audited too.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from ledgerbridge.core.errors import LedgerBridgeError, NotFound
from ledgerbridge.core.ports import Clock, SystemPort
from ledgerbridge.core.records import JsonValue, Record, System, Write, WriteResult
from ledgerbridge.core.store import AuditEvent, StateStore, Xref
from ledgerbridge.engine.runner import Outcome, SyncSummary
from ledgerbridge.flows.config import PriceBooksSpec
from ledgerbridge.flows.spec import LinkSpec

__all__ = ["AUDIT_LINK", "CatalogItem", "ItemFailure", "PriceBookReport", "PriceBookStep", "PriceRow"]

AUDIT_LINK = "price_books"
FAILED, SYNCED, SETTLED = "price_books.failed", "price_books.synced", "price_books.settled"
PBE, BOOK = "PricebookEntry", "Pricebook2"
SCHEDULE, TIER = "SBQQ__DiscountSchedule__c", "SBQQ__DiscountTier__c"
_ENTRY_FIELDS = ["Id", "Pricebook2Id", "Product2Id", "UnitPrice", "IsActive", "UseStandardPrice"]
_SCHEDULE_FIELDS = ["Id", "Name", "SBQQ__Product__c", "SBQQ__Type__c", "SBQQ__DiscountUnit__c"]
_TIER_FIELDS = ["Id", "Name", "SBQQ__Schedule__c", "SBQQ__LowerBound__c", "SBQQ__UpperBound__c",
                "SBQQ__Discount__c", "SBQQ__Number__c"]
_log = structlog.get_logger("ledgerbridge.pricebooks")


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """A NetSuite item of a catalog link, and its Product2 when known."""

    item_id: str
    link: str
    record_type: str
    product_id: str | None = None


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One row of an item's ``price`` sublist."""

    currency: str  # NetSuite currency internal id
    level: str  # NetSuite price level internal id
    quantity: float
    price: float


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """An item whose prices could not be (fully) written this pass; it is retried on the next."""

    item_id: str
    product_id: str | None
    reason: str


@dataclass
class PriceBookReport:
    """What the price-book step did after one pass."""

    synced: list[str] = field(default_factory=list)  # item ids reconciled without a failure
    failures: list[ItemFailure] = field(default_factory=list)
    writes: Counter[str] = field(default_factory=Counter)  # "create:PricebookEntry", "update:...", ...
    books_created: list[str] = field(default_factory=list)
    missing_currencies: dict[str, int] = field(default_factory=dict)  # ISO code -> prices not written
    notes: list[str] = field(default_factory=list)

    @property
    def n_writes(self) -> int:
        """Records created, updated or deleted in Salesforce."""
        return sum(self.writes.values())


def _num(value: JsonValue) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _ref(value: JsonValue) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return None if value is None or value == "" else str(value)


def _truthy(value: JsonValue) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in {"t", "true", "yes"})


def price_rows(item: Record) -> list[PriceRow]:
    """The rows of an item's ``price`` sublist (``{"items": [...]}`` or a list); rows without a price,
    currency or level are left out (NetSuite leaves the cell of an unpriced level empty)."""
    sub = item.fields.get("price")
    rows = sub.get("items") if isinstance(sub, dict) else sub
    out: list[PriceRow] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        currency, level = _ref(row.get("currencyPage")), _ref(row.get("priceLevel"))
        price = _num(row.get("price"))
        if currency is None or level is None or price is None:
            continue
        out.append(PriceRow(currency, level, _num(row.get("quantity")) or 0.0, price))
    return out


def discount_tiers(rows: Iterable[PriceRow], base: float) -> list[tuple[float, float | None, float]]:
    """Quantity breaks (quantity > 0) as CPQ range tiers ``(lower, upper, discount %)``: the upper
    bound is the next break, the discount ``(1 - price / base) * 100`` rounded to 2 places."""
    breaks = sorted((r.quantity, r.price) for r in rows if r.quantity > 0)
    return [(q, breaks[i + 1][0] if i + 1 < len(breaks) else None, round((1 - p / base) * 100, 2))
            for i, (q, p) in enumerate(breaks)]


def _same(a: JsonValue, b: JsonValue) -> bool:
    fa, fb = _num(a), _num(b)
    if fa is not None and fb is not None:
        return abs(fa - fb) < 0.005
    return a == b


@dataclass
class _Item:
    ref: CatalogItem
    record: Record | None = None
    rows: list[PriceRow] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    done: Counter[str] = field(default_factory=Counter)
    retried: bool = False  # pending from an earlier failure, not seen in this pass
    note: str = ""  # why an item needs nothing (audited as settled)

    @property
    def active(self) -> bool:
        return self.record is not None and not _truthy(self.record.fields.get("isInactive"))

    @property
    def label(self) -> str:
        fields = self.record.fields if self.record is not None else {}
        name = fields.get("displayName") or fields.get("itemId")
        return str(name) if name else f"item {self.ref.item_id}"


@dataclass
class _Pending:
    """A write and the items it serves (one entry, book or schedule may serve several)."""

    write: Write
    items: list[_Item]
    what: str
    own: str | None = None  # the entry's key in the step's xrefs, recorded once the write succeeds


class _Context:
    """What one run reads once: currencies, price levels, the org's currency mode, books."""

    def __init__(self) -> None:
        self.iso: dict[str, str] = {}  # NetSuite currency id -> ISO code
        self.base_currency: str | None = None  # NetSuite currency id
        self.levels: dict[str, str] = {}  # NetSuite price level id -> name
        self.multi = False
        self.sf_currencies: set[str] = set()
        self.standard_book: str | None = None
        self.books: dict[str, str] = {}  # level id -> Pricebook2 id
        self.book_names: dict[str, str] = {}  # Pricebook2 id -> name
        self.cpq = False
        self.default_iso = ""  # ISO code written in a single-currency org and on CPQ schedules
        self.owned: dict[str, str] = {}  # entry id -> key, entries newly matched or created this run


class PriceBookStep:
    """The price-book step over the ports: one instance per runtime, :meth:`run` after each pass.

    Args:
        spec: the ``price_books`` section.
        links: the configured links by name.
        salesforce: the Salesforce port.
        netsuite: the NetSuite port.
        store: the state store (xrefs of the catalog links, audit).
        clock: time for audit events.
    """

    def __init__(self, spec: PriceBooksSpec, links: Mapping[str, LinkSpec], *, salesforce: SystemPort,
                 netsuite: SystemPort, store: StateStore, clock: Clock) -> None:
        self.spec, self.links = spec, dict(links)
        self.sf, self.ns, self.store, self.clock = salesforce, netsuite, store, clock
        self.catalog = spec.catalog_links(self.links)

    # -- which items ---------------------------------------------------------------------------
    async def items_of(self, summary: SyncSummary | None) -> tuple[list[CatalogItem], set[str]]:
        """The items a pass saw on the catalog links, then those whose pricing failed before (and
        not seen now: the second value)."""
        seen: dict[str, CatalogItem] = {}
        if summary is not None and summary.kind != "plan":
            for name in self.catalog:
                link = summary.links.get(name)
                if link is None:
                    continue
                for o in link.outcomes:
                    if o.system is not System.NETSUITE or o.outcome is Outcome.WAITING \
                            or o.reason == "planned":
                        continue
                    partner = o.partner_id if o.partner_id and o.action != "unlink" else None
                    seen.setdefault(o.id, CatalogItem(o.id, name, self.links[name].netsuite, partner))
        retried: set[str] = set()
        for item in await self._pending():
            if item.item_id not in seen:
                seen[item.item_id] = item
                retried.add(item.item_id)
        return list(seen.values()), retried

    async def _pending(self) -> list[CatalogItem]:
        latest: dict[str, AuditEvent] = {}
        for e in await self.store.list_audit(link=AUDIT_LINK, limit=100_000):  # newest first
            if e.ns_id is not None and e.ns_id not in latest:
                latest[e.ns_id] = e
        return [CatalogItem(ns_id, e.rule, self.links[e.rule].netsuite, e.sf_id)
                for ns_id, e in latest.items()
                if e.action == FAILED and e.rule in self.catalog and e.rule in self.links]

    # -- the step ------------------------------------------------------------------------------
    async def run(self, summary: SyncSummary | None = None) -> PriceBookReport:
        """Reconcile the price books of the items ``summary`` saw (None: only retry failed items)."""
        report = PriceBookReport()
        if not self.spec.enabled or not self.catalog:
            return report
        refs, retried = await self.items_of(summary)
        if not refs:
            return report
        items = [_Item(r, retried=r.item_id in retried) for r in refs]
        try:
            await self._reconcile(items, report)
        except LedgerBridgeError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            _log.warning("price_books.pass.failed", items=len(items), message=reason)
            for it in items:
                it.failures.append(reason)
        await self._finish(items, report, summary.run_id if summary is not None else None)
        _log.info("price_books.pass.finished", items=len(items), synced=len(report.synced),
                  failed=len(report.failures), writes=dict(sorted(report.writes.items())),
                  books_created=report.books_created, missing_currencies=report.missing_currencies)
        return report

    async def _reconcile(self, items: list[_Item], report: PriceBookReport) -> None:
        await self._read_items(items)
        await self._resolve_products(items)
        live = [it for it in items if it.ref.product_id and not it.failures]
        if not live:
            return
        ctx = await self._context(live, report)
        if ctx is None:
            return
        await self._entries(ctx, live, report)
        if ctx.cpq:
            await self._schedules(ctx, [it for it in live if it.record is not None and it.active], report)

    async def _read_items(self, items: list[_Item]) -> None:
        by_type: defaultdict[str, list[_Item]] = defaultdict(list)
        for it in items:
            by_type[it.ref.record_type].append(it)
        for record_type, group in by_type.items():
            read = await self.ns.read_by_ids(record_type, [it.ref.item_id for it in group])
            found = {r.id: r for r in read}
            for it in group:
                it.record = found.get(it.ref.item_id)
                if it.record is not None:
                    it.rows = price_rows(it.record)

    async def _resolve_products(self, items: list[_Item]) -> None:
        missing: defaultdict[str, list[_Item]] = defaultdict(list)
        for it in items:
            if it.ref.product_id is None:
                missing[it.ref.link].append(it)
        for link, group in missing.items():
            xrefs = await self.store.get_xrefs(link, System.NETSUITE, [it.ref.item_id for it in group])
            for it in group:
                x = xrefs.get(it.ref.item_id)
                if x is not None:  # a closed pair (item deleted) still names the product to deactivate
                    it.ref = CatalogItem(it.ref.item_id, it.ref.link, it.ref.record_type, x.sf_id)
        for it in items:
            if it.ref.product_id is None and it.record is not None:
                it.failures.append(f"{it.label} has no Salesforce product yet (link {it.ref.link!r} has not "
                                   "synced it); its prices follow once it has")
            elif it.ref.product_id is None:
                it.note = (f"NetSuite {it.ref.record_type} {it.ref.item_id} no longer exists and never had a "
                           "Salesforce product: nothing to price")

    # -- reference data ------------------------------------------------------------------------
    async def _context(self, items: list[_Item], report: PriceBookReport) -> _Context | None:
        ctx = _Context()
        async for page in self.ns.read_changes("currency", None, fields=["symbol", "isBaseCurrency"]):
            for r in page.records:
                symbol = r.fields.get("symbol")
                if isinstance(symbol, str) and symbol:
                    ctx.iso[r.id] = symbol.upper()
                if _truthy(r.fields.get("isBaseCurrency")):
                    ctx.base_currency = r.id
        if self.spec.levels == "all":
            async for page in self.ns.read_changes("priceLevel", None, fields=["name"]):
                ctx.levels.update({r.id: str(r.fields.get("name") or r.id) for r in page.records})
        else:
            wanted = [lv for lv in self.spec.levels if lv != self.spec.base_level]
            found = await self.ns.read_by_ids("priceLevel", wanted, fields=["name"]) if wanted else []
            ctx.levels.update({r.id: str(r.fields.get("name") or r.id) for r in found})
            for lv in wanted:
                if lv not in ctx.levels:
                    report.notes.append(f"price level {lv} (price_books.levels) does not exist in NetSuite")
        ctx.levels.pop(self.spec.base_level, None)
        schema = await self.sf.describe(PBE)
        iso_field = schema.field("CurrencyIsoCode")
        ctx.multi = iso_field is not None
        if iso_field is not None:
            ctx.sf_currencies = {c.upper() for c in iso_field.picklist}
            if not ctx.sf_currencies:
                active = await self.sf.find("CurrencyType", "IsActive", ["true"], fields=["Id", "IsoCode"])
                ctx.sf_currencies = {str(r.fields.get("IsoCode")).upper() for r in active}
        default = self.spec.currency or ctx.iso.get(ctx.base_currency or "")
        if default is None:
            reason = ("NetSuite's base currency is unknown (no currency record has isBaseCurrency); set "
                      "price_books.currency")
            for it in items:
                it.failures.append(reason)
            return None
        ctx.default_iso = default
        if default not in ctx.iso.values():
            reason = f"price_books.currency {default} is not a NetSuite currency (symbol)"
            for it in items:
                it.failures.append(reason)
            return None
        standard = await self.sf.find(BOOK, "IsStandard", ["true"], fields=["Id", "Name", "IsStandard"])
        if not standard:
            reason = "Salesforce has no standard price book (Pricebook2 with IsStandard = true)"
            for it in items:
                it.failures.append(reason)
            return None
        ctx.standard_book = sorted(r.id for r in standard)[0]
        ctx.book_names[ctx.standard_book] = "Standard Price Book"
        await self._books(ctx, items, report)
        if self.spec.discount_schedules == "auto":
            try:
                await self.sf.describe(SCHEDULE)
                await self.sf.describe(TIER)
                ctx.cpq = True
            except NotFound:
                ctx.cpq = False
        return ctx

    def _currencies(self, ctx: _Context) -> dict[str, str]:
        """NetSuite currency id -> ISO code of the currencies written to Salesforce."""
        if ctx.multi:
            return {cid: iso for cid, iso in ctx.iso.items() if iso in ctx.sf_currencies}
        return {cid: iso for cid, iso in ctx.iso.items() if iso == ctx.default_iso}

    def _book_name(self, level_name: str) -> str:
        return self.spec.book_name.replace("{level}", level_name)

    async def _books(self, ctx: _Context, items: list[_Item], report: PriceBookReport) -> None:
        names = {lv: self._book_name(name) for lv, name in ctx.levels.items()}
        if not names:
            return
        found = await self.sf.find(BOOK, "Name", sorted(set(names.values())),
                                   fields=["Id", "Name", "IsActive", "IsStandard"])
        by_name: dict[str, Record] = {}
        for r in sorted(found, key=lambda r: (r.fields.get("IsActive") is not True, r.id)):
            if r.fields.get("IsStandard") is not True:
                by_name.setdefault(str(r.fields.get("Name")), r)
        currencies = self._currencies(ctx)
        needed: dict[str, list[_Item]] = defaultdict(list)
        for lv, name in names.items():
            book = by_name.get(name)
            if book is not None:
                ctx.books[lv] = book.id
                ctx.book_names[book.id] = name
                continue
            for it in items:
                if it.active and any(r.level == lv and r.quantity == 0 and r.currency in currencies
                                     for r in it.rows):
                    needed[lv].append(it)
        if not needed:
            return
        order = sorted(needed)
        results = await self.sf.upsert(BOOK, [Write({"Name": names[lv], "IsActive": True,
                                                     "Description": f"NetSuite price level {ctx.levels[lv]}"})
                                              for lv in order])
        for lv, result in zip(order, results, strict=True):
            if result.ok and result.id:
                ctx.books[lv] = result.id
                ctx.book_names[result.id] = names[lv]
                report.books_created.append(names[lv])
                report.writes[f"create:{BOOK}"] += 1
                _log.info("price_books.book.created", book=names[lv], id=result.id)
            else:
                reason = (f"price book {names[lv]!r} could not be created: "
                          f"{_error_text(result)}")
                for it in needed[lv]:
                    it.failures.append(reason)

    # -- entries -------------------------------------------------------------------------------
    async def _entries(self, ctx: _Context, items: list[_Item], report: PriceBookReport) -> None:
        """Entries of every item's product, then three batched writes: standard prices (created or
        updated), custom prices, and last the standard entries to deactivate."""
        std = ctx.standard_book
        assert std is not None
        fields = [*_ENTRY_FIELDS, *(["CurrencyIsoCode"] if ctx.multi else [])]
        products = sorted({it.ref.product_id for it in items if it.ref.product_id})
        existing: dict[tuple[str, str, str], Record] = {}  # (book, product, currency or "") -> entry
        by_product: defaultdict[str, list[Record]] = defaultdict(list)
        for r in sorted(await self.sf.find(PBE, "Product2Id", products, fields=fields), key=lambda r: r.id):
            key = (str(r.fields.get("Pricebook2Id")), str(r.fields.get("Product2Id")),
                   str(r.fields.get("CurrencyIsoCode") or "") if ctx.multi else "")
            existing.setdefault(key, r)
            by_product[key[1]].append(r)
        # Entries the step created or matched to a NetSuite price before (xrefs of link price_books):
        # only those are deactivated when their price row goes; a person's entries are left alone.
        owned = set(await self.store.get_xrefs(AUDIT_LINK, System.SALESFORCE,
                                               [r.id for rs in by_product.values() for r in rs]))
        currencies = self._currencies(ctx)
        managed = {std, *ctx.books.values()}
        standard: list[_Pending] = []
        custom: list[_Pending] = []
        standard_off: list[_Pending] = []
        has_standard = {(product, cur) for (book, product, cur) in existing if book == std}
        missing: Counter[str] = Counter()

        def deactivate(it: _Item, r: Record) -> None:
            if r.fields.get("IsActive") is True:
                pend = _Pending(Write({"IsActive": False}, id=r.id), [it],
                                f"deactivate {self._entry_label(ctx, r, ctx.multi)}")
                (standard_off if r.fields.get("Pricebook2Id") == std else custom).append(pend)

        for it in items:
            product = it.ref.product_id
            assert product is not None
            if not it.active:  # inactive or vanished: every entry of the product goes inactive
                active_before = [r for r in by_product.get(product, []) if r.fields.get("IsActive") is True]
                for r in active_before:
                    deactivate(it, r)
                if it.record is None and (active_before or not it.retried):
                    it.failures.append(
                        f"NetSuite {it.ref.record_type} {it.ref.item_id} was not found (deleted, or not "
                        "visible to the integration role)" + ("; its price-book entries are deactivated"
                                                      if active_before else ""))
                continue
            desired: dict[tuple[str, str], float] = {}  # (book, currency or "") -> price
            for row in it.rows:
                if row.quantity != 0:
                    continue
                book = std if row.level == self.spec.base_level else ctx.books.get(row.level)
                if book is None:
                    continue
                if row.currency not in currencies:
                    if ctx.multi:
                        missing[ctx.iso.get(row.currency, f"NetSuite currency {row.currency}")] += 1
                    continue
                desired[(book, currencies[row.currency] if ctx.multi else "")] = row.price
            for (book, product_id, cur), r in existing.items():
                if product_id == product and book in managed and (book, cur) not in desired and r.id in owned:
                    deactivate(it, r)
            for (book, cur), price in sorted(desired.items()):
                what = f"{ctx.book_names.get(book, book)} {cur or ctx.default_iso} {price:g}"
                own_key = f"{it.ref.item_id}:{book}:{cur or ctx.default_iso}"
                current = existing.get((book, product, cur))
                if current is not None and current.id not in owned:
                    ctx.owned[current.id] = own_key  # adopted: an entry that was there already
                if current is not None:
                    change: dict[str, JsonValue] = {}
                    if not _same(current.fields.get("UnitPrice"), price):
                        change["UnitPrice"] = price
                    if current.fields.get("IsActive") is not True:
                        change["IsActive"] = True
                    if book != std and current.fields.get("UseStandardPrice") is True:
                        change["UseStandardPrice"] = False
                    if change:
                        (standard if book == std else custom).append(
                            _Pending(Write(change, id=current.id), [it], f"update {what}"))
                    continue
                values: dict[str, JsonValue] = {
                    "Pricebook2Id": book, "Product2Id": product, "UnitPrice": price, "IsActive": True,
                    "UseStandardPrice": False}
                if ctx.multi:
                    values["CurrencyIsoCode"] = cur
                (standard if book == std else custom).append(_Pending(Write(values), [it], f"create {what}",
                                                                      own=own_key))
                if book == std:
                    has_standard.add((product, cur))
        self._report_currencies(missing, report)
        failed = await self._write(PBE, standard, report, ctx)
        ready = []
        for pend in custom:
            f = pend.write.fields
            need = (str(f.get("Product2Id")), str(f.get("CurrencyIsoCode") or ""))
            if pend.write.id is None and (need not in has_standard or need in failed):
                for it in pend.items:
                    it.failures.append(
                        f"{pend.what}: no standard price in {need[1] or ctx.default_iso}, and Salesforce "
                        "needs one before a custom price (give the item a base price in that currency in "
                        "NetSuite)")
                continue
            ready.append(pend)
        await self._write(PBE, ready, report, ctx)
        await self._write(PBE, standard_off, report, ctx)
        if ctx.owned:
            now = self.clock.now()
            async with self.store.transaction():
                for entry_id, entry_key in sorted(ctx.owned.items()):
                    await self.store.put_xref(Xref(AUDIT_LINK, entry_id, entry_key, created_at=now,
                                                   updated_at=now))

    @staticmethod
    def _report_currencies(missing: Counter[str], report: PriceBookReport) -> None:
        if not missing:
            return
        for iso, n in missing.items():
            report.missing_currencies[iso] = report.missing_currencies.get(iso, 0) + n
        text = ", ".join(f"{iso} ({n} price{'s' if n != 1 else ''})" for iso, n in sorted(missing.items()))
        report.notes.append(f"NetSuite prices in currencies not active in Salesforce were not written: "
                            f"{text}; activate them in Salesforce (Setup > Manage Currencies), then run a "
                            "full sync of the catalog links")
        _log.warning("price_books.currencies.missing", currencies=dict(sorted(missing.items())))

    @staticmethod
    def _entry_label(ctx: _Context, r: Record, multi: bool) -> str:
        book = str(r.fields.get("Pricebook2Id"))
        cur = f" {r.fields.get('CurrencyIsoCode')}" if multi else ""
        return f"{ctx.book_names.get(book, book)}{cur} entry {r.id}"

    async def _write(self, object: str, pending: Sequence[_Pending], report: PriceBookReport,
                     ctx: _Context | None = None) -> set[tuple[str, str]]:
        """Write in one batched call; failures are noted on their items. Returns the (product,
        currency) keys of creates that failed."""
        failed: set[tuple[str, str]] = set()
        if not pending:
            return failed
        results = await self.sf.upsert(object, [p.write for p in pending])
        for pend, result in zip(pending, results, strict=True):
            action = "update" if pend.write.id else "create"
            if result.ok:
                report.writes[f"{action}:{object}"] += 1
                for it in pend.items:
                    it.done[pend.what] += 1
                if ctx is not None and pend.own is not None and result.id:
                    ctx.owned[result.id] = pend.own
                continue
            f = pend.write.fields
            failed.add((str(f.get("Product2Id")), str(f.get("CurrencyIsoCode") or "")))
            for it in pend.items:
                it.failures.append(f"{pend.what}: Salesforce refused: {_error_text(result)}")
        return failed

    # -- CPQ discount schedules ----------------------------------------------------------------
    async def _schedules(self, ctx: _Context, items: list[_Item], report: PriceBookReport) -> None:
        cur_id = next((cid for cid, iso in ctx.iso.items() if iso == ctx.default_iso), None)
        plans: dict[str, tuple[_Item, list[tuple[float, float | None, float]]]] = {}
        unbroken: dict[str, _Item] = {}  # product -> item without quantity breaks (any schedule of ours goes)
        for it in items:
            rows = [r for r in it.rows if r.level == self.spec.base_level and r.currency == cur_id]
            base = next((r.price for r in rows if r.quantity == 0), None)
            if not any(r.quantity > 0 for r in rows):
                if it.ref.product_id is not None:
                    unbroken[it.ref.product_id] = it
                continue
            if not base:
                it.failures.append(f"quantity breaks of {it.label} need a base price above 0 in "
                                   f"{ctx.default_iso} to become a discount schedule")
                continue
            assert it.ref.product_id is not None
            plans[it.ref.product_id] = (it, discount_tiers(rows, base))
        if not plans and not unbroken:
            return
        found = await self.sf.find(SCHEDULE, "SBQQ__Product__c", sorted({*plans, *unbroken}),
                                   fields=_SCHEDULE_FIELDS)
        candidates: defaultdict[str, list[Record]] = defaultdict(list)
        for r in found:
            candidates[str(r.fields.get("SBQQ__Product__c"))].append(r)
        # An item whose quantity breaks are all gone: the schedule this step made for it goes (its
        # tiers with it); schedules a person made under another name are left alone.
        stale = [(r.id, it) for product, it in sorted(unbroken.items()) for r in candidates.get(product, [])
                 if r.fields.get("Name") == self._schedule_name(it)]
        await self._delete(SCHEDULE, "discount schedule", stale, report)
        if not plans:
            return
        schedules: dict[str, Record] = {}  # product -> its schedule: the one named ours, else the oldest
        for product, rs in candidates.items():
            if product in plans:
                name = self._schedule_name(plans[product][0])
                schedules[product] = sorted(rs, key=lambda r: (r.fields.get("Name") != name, r.id))[0]
        writes: list[_Pending] = []
        order: list[str] = []
        for product, (it, _) in sorted(plans.items()):
            values: dict[str, JsonValue] = {"Name": self._schedule_name(it), "SBQQ__Type__c": "Range",
                                            "SBQQ__DiscountUnit__c": "Percent"}
            current = schedules.get(product)
            if current is None:
                values["SBQQ__Product__c"] = product
                if ctx.multi:
                    values["CurrencyIsoCode"] = ctx.default_iso
                writes.append(_Pending(Write(values), [it], f"create discount schedule of {it.label}"))
                order.append(product)
                continue
            change = {k: v for k, v in values.items() if current.fields.get(k) != v}
            if change:
                writes.append(_Pending(Write(change, id=current.id), [it],
                                       f"update discount schedule {current.id}"))
        if writes:
            results = await self.sf.upsert(SCHEDULE, [p.write for p in writes])
            for pend, result in zip(writes, results, strict=True):
                action = "update" if pend.write.id else "create"
                it = pend.items[0]
                if not result.ok or not result.id:
                    it.failures.append(f"{pend.what}: Salesforce refused: {_error_text(result)}")
                    continue
                report.writes[f"{action}:{SCHEDULE}"] += 1
                it.done[pend.what] += 1
                if pend.write.id is None:
                    assert it.ref.product_id is not None
                    schedules[it.ref.product_id] = Record(SCHEDULE, result.id, {})
        by_schedule = {sched.id: product for product, sched in schedules.items()}
        tiers: defaultdict[str, list[Record]] = defaultdict(list)
        if by_schedule:
            for r in await self.sf.find(TIER, "SBQQ__Schedule__c", sorted(by_schedule), fields=_TIER_FIELDS):
                tiers[str(r.fields.get("SBQQ__Schedule__c"))].append(r)
        tier_writes: list[_Pending] = []
        deletes: list[tuple[str, _Item]] = []
        for sched_id, product in sorted(by_schedule.items()):
            it, wanted = plans[product]
            have = sorted(tiers.get(sched_id, []),
                          key=lambda r: (_num(r.fields.get("SBQQ__LowerBound__c")) or 0.0, r.id))
            for n, (lower, upper, pct) in enumerate(wanted, start=1):
                values = {"Name": f"Tier {n}", "SBQQ__LowerBound__c": lower, "SBQQ__UpperBound__c": upper,
                          "SBQQ__Discount__c": pct, "SBQQ__Number__c": float(n)}
                if n <= len(have):
                    r = have[n - 1]
                    change = {k: v for k, v in values.items() if not _same(r.fields.get(k), v)}
                    if change:
                        tier_writes.append(_Pending(Write(change, id=r.id), [it],
                                                    f"update tier {n} of {it.label}"))
                else:
                    tier_writes.append(_Pending(Write({**values, "SBQQ__Schedule__c": sched_id}), [it],
                                                f"create tier {n} of {it.label}"))
            deletes.extend((r.id, it) for r in have[len(wanted):])
        await self._write(TIER, tier_writes, report)
        await self._delete(TIER, "tier", deletes, report)

    async def _delete(self, object: str, what: str, targets: list[tuple[str, _Item]],
                      report: PriceBookReport) -> None:
        """Delete records, each on behalf of an item: counted when done, the item's failure if not."""
        if not targets:
            return
        results = await self.sf.delete(object, [rid for rid, _ in targets])
        for (rid, it), result in zip(targets, results, strict=True):
            if result.ok:
                report.writes[f"delete:{object}"] += 1
                it.done[f"delete {what} {rid}"] += 1
            else:
                it.failures.append(f"delete {what} {rid} of {it.label}: Salesforce refused: "
                                   f"{_error_text(result)}")

    @staticmethod
    def _schedule_name(it: _Item) -> str:
        return f"{it.label} - NetSuite quantity pricing"[:80]

    # -- audit ---------------------------------------------------------------------------------
    async def _finish(self, items: list[_Item], report: PriceBookReport, run_id: str | None) -> None:
        events: list[AuditEvent] = []
        now = self.clock.now()

        def event(it: _Item, action: str, reason: str) -> AuditEvent:
            done: list[JsonValue] = list(sorted(it.done))
            return AuditEvent(uuid.uuid4().hex, now, AUDIT_LINK, action, System.SALESFORCE, it.ref.product_id,
                              it.ref.item_id, run_id, after={"writes": done} if done else {}, reason=reason,
                              rule=it.ref.link)

        for it in items:
            ref = it.ref
            if it.failures:
                reason = "; ".join(dict.fromkeys(it.failures))
                report.failures.append(ItemFailure(ref.item_id, ref.product_id, reason))
                _log.warning("price_books.item.failed", item=ref.item_id, product=ref.product_id,
                             reason=reason)
                events.append(event(it, FAILED, reason))
                continue
            report.synced.append(ref.item_id)
            if it.record is None and (it.note or it.retried or it.done):
                gone = (f"NetSuite {ref.record_type} {ref.item_id} no longer exists; its price-book entries "
                        "are inactive")
                events.append(event(it, SETTLED, it.note or gone))
            elif it.done or it.retried:
                reason = f"{sum(it.done.values())} write(s)" if it.done else "in sync"
                events.append(event(it, SYNCED, reason))
            if it.done:
                _log.info("price_books.item.synced", item=ref.item_id, product=ref.product_id,
                          writes=sum(it.done.values()))
        if events:
            await self.store.add_audit(events)


def _error_text(result: WriteResult) -> str:
    if result.error is None:
        return "no id returned"
    return f"{result.error.code}: {result.error.message}"
