"""Seeds: ``empty`` (the lists every account has) and ``demo`` (a OneWorld company with a year of history).

Layer: data; imports ``records`` (typing only), ``rules`` helpers, ``schema`` and the shared
``ledgerbridge_sandbox.company``.

Both seeds create the same lists: currencies USD/GBP/CAD/EUR (ids 1-4, USD base), subsidiaries (a
parent and US, UK, Europe, Canada children), terms (Net 15/30/60, Due on receipt, 1% 10 Net 30), price
levels (Base Price, Partner -10 %, Enterprise -15 %, Employee -20 %, Online) and customer statuses
(LEAD 6-7, PROSPECT 8-12 and 14, CUSTOMER 13, 15, 16).

``demo`` draws from ``company.build_company`` so the Salesforce sandbox tells the same story:
companies NetSuite knows ("exact" and "near" presence) become customers under their NetSuite name
and phone, in the subsidiary of their currency, with their contacts; products become items (SKU as
``itemId``) priced in four currencies; then a year of sales orders, invoices (open, overdue, paid,
partly paid), payments and open opportunities, a few customers over their credit limit, and the
employees (sales reps, a customer-success manager, an A/R clerk). Everything is deterministic for a
given ``scale`` and clock date. Records are computed here with the same formulas as ``rules`` and
written in bulk (``--scale 10000`` takes seconds); a test checks that re-deriving them changes nothing.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from ledgerbridge_sandbox.company import build_company
from ledgerbridge_sandbox.netsuite.schema import FAMILIES, ITEM_TYPE_CODES, TRANID_PREFIX, TRANSACTION_LABELS
from ledgerbridge_sandbox.netsuite.wire import format_datetime

if TYPE_CHECKING:
    from ledgerbridge_sandbox.netsuite.records import RecordService

CURRENCIES = [  # id, code, rate to USD, display symbol
    (1, "USD", 1.0, "$"),
    (2, "GBP", 1.27, "£"),
    (3, "CAD", 0.74, "$"),
    (4, "EUR", 1.08, "€"),
]
SUBSIDIARIES = [  # id, name, parent, currency id, country
    (1, "Northstar Holdings Inc.", None, 1, "US"),
    (2, "Northstar US", 1, 1, "US"),
    (3, "Northstar UK Ltd", 1, 2, "GB"),
    (4, "Northstar Europe GmbH", 1, 4, "DE"),
    (5, "Northstar Canada Inc.", 1, 3, "CA"),
]
TERMS = [  # id, name, days until net due, discount %, days until expiry
    (1, "Net 15", 15, None, None),
    (2, "Net 30", 30, None, None),
    (3, "Net 60", 60, None, None),
    (4, "Due on receipt", 0, None, None),
    (5, "1% 10 Net 30", 30, 1.0, 10),
]
PRICE_LEVELS = [  # id, name, discount %, online
    (1, "Base Price", 0.0, False),
    (2, "Partner", -10.0, False),
    (3, "Enterprise", -15.0, False),
    (4, "Employee Price", -20.0, False),
    (5, "Online Price", 0.0, True),
]
CUSTOMER_STATUSES = [  # id, stage, name, probability
    (6, "LEAD", "Unqualified", 0.0),
    (7, "LEAD", "Qualified", 5.0),
    (8, "PROSPECT", "In Discussion", 10.0),
    (9, "PROSPECT", "Identified Decision Makers", 25.0),
    (10, "PROSPECT", "Proposal", 50.0),
    (11, "PROSPECT", "In Negotiation", 75.0),
    (12, "PROSPECT", "Purchasing", 90.0),
    (13, "CUSTOMER", "Closed Won", 100.0),
    (14, "PROSPECT", "Closed Lost", 0.0),
    (15, "CUSTOMER", "Renewal", 100.0),
    (16, "CUSTOMER", "Lost Customer", 0.0),
]
SUBSIDIARY_BY_CURRENCY = {"USD": 2, "GBP": 3, "EUR": 4, "CAD": 5}
CURRENCY_ID = {code: cid for cid, code, _, _ in CURRENCIES}
CURRENCY_RATE = {cid: rate for cid, _, rate, _ in CURRENCIES}
CURRENCY_CODE = {cid: code for cid, code, _, _ in CURRENCIES}
EMPLOYEES = [  # first, last, title, subsidiary, sales rep
    ("Olivia", "Hart", "Account Executive", 2, True),
    ("Marcus", "Reed", "Account Executive", 2, True),
    ("Sofia", "Lindqvist", "Account Executive", 4, True),
    ("James", "Whitaker", "Account Executive", 3, True),
    ("Chloe", "Tremblay", "Account Executive", 5, True),
    ("Daniel", "Okoro", "Sales Director", 2, True),
    ("Grace", "Wright", "Customer Success Manager", 2, False),
    ("Hannah", "Berg", "Accounts Receivable Clerk", 2, False),
    ("Victor", "Almeida", "Controller", 1, False),
]
DISCOUNT_ITEMS: list[tuple[str, str, str | float]] = [
    ("DISC-10PCT", "10% Discount", "-10.0%"),
    ("DISC-PARTNER", "Partner Discount", "-15.0%"),
    ("DISC-500", "$500 Off", -500.0),
    ("DISC-PROMO", "Promotional Discount", "-5.0%"),
]
_OPPORTUNITY_KINDS = ["Expansion", "Renewal", "New Project", "Upgrade"]
DEFAULT_SCALE = 200
"""Companies drawn from the shared company for ``demo`` when no scale is given."""


def _r2(value: float) -> float:
    return round(value + 0.0, 2)


class _Writer:
    """Collects records with their final bodies and writes them in bulk."""

    def __init__(self, svc: RecordService) -> None:
        self.svc = svc
        self.pending: list[tuple[str, str, int, dict[str, Any], str]] = []
        self.counts: dict[str, int] = {}
        self.next_ids: dict[str, int] = {}
        self.links: list[tuple[int, int, float]] = []

    def new_id(self, rtype: str) -> int:
        family = FAMILIES[rtype]
        if family not in self.next_ids:
            self.next_ids[family] = self.svc.new_id(rtype)
            return self.next_ids[family]
        self.next_ids[family] += 1
        return self.next_ids[family]

    def add(self, rtype: str, rid: int, data: dict[str, Any]) -> None:
        data["id"] = str(rid)
        self.pending.append((FAMILIES[rtype], rtype, rid, data, self.svc.rules.ref_name(rtype, rid, data)))
        self.counts[rtype] = self.counts.get(rtype, 0) + 1

    def flush(self) -> None:
        store = self.svc.store
        with store.transaction():
            for family, value in self.next_ids.items():
                store.bump_sequence(f"id:{family}", value)
            store.put_many(self.pending, self.svc.projector)
            if self.links:
                store.conn.executemany(
                    "INSERT INTO apply_links (source_id, doc_id, amount) VALUES (?, ?, ?)", self.links
                )
        self.pending = []
        self.links = []


def seed_account(svc: RecordService, seed: str, *, scale: int | None = None) -> dict[str, int]:
    """Load a seed into an empty account.

    Args:
        svc: the record service of the account.
        seed: ``empty`` or ``demo``.
        scale: companies drawn for ``demo`` (default 200).

    Returns:
        Record counts per type.

    Raises:
        ValueError: unknown seed.
    """
    if seed not in {"empty", "demo"}:
        raise ValueError(f"unknown seed {seed!r} (use 'empty' or 'demo')")
    writer = _Writer(svc)
    _lists(svc, writer)
    if seed == "demo":
        _Demo(svc, writer, scale or DEFAULT_SCALE).build()
    return dict(sorted(writer.counts.items()))


def _stamp(svc: RecordService, days_ago: float) -> str:
    return format_datetime(svc.now() - timedelta(days=days_ago))


def _lists(svc: RecordService, writer: _Writer) -> None:
    stamp = _stamp(svc, 400)
    for cid, code, rate, symbol in CURRENCIES:
        writer.add(
            "currency",
            cid,
            {
                "name": code,
                "symbol": code,
                "displaySymbol": symbol,
                "exchangeRate": rate,
                "isBaseCurrency": cid == 1,
                "isInactive": False,
                "lastModifiedDate": stamp,
            },
        )
    names = {sid: name for sid, name, _, _, _ in SUBSIDIARIES}
    for sid, name, parent, cur, country in SUBSIDIARIES:
        full = f"{names[parent]} : {name}" if parent else name
        data: dict[str, Any] = {
            "name": name,
            "fullName": full,
            "currency": str(cur),
            "country": country,
            "isInactive": False,
            "isElimination": False,
            "lastModifiedDate": stamp,
        }
        if parent:
            data["parent"] = str(parent)
        writer.add("subsidiary", sid, data)
    for tid, name, days, disc, expiry in TERMS:
        data = {"name": name, "daysUntilNetDue": days, "isInactive": False, "lastModifiedDate": stamp}
        if disc is not None:
            data["discountPercent"] = disc
            data["daysUntilExpiry"] = expiry
        writer.add("term", tid, data)
    for lid, name, pct, online in PRICE_LEVELS:
        writer.add(
            "priceLevel",
            lid,
            {
                "name": name,
                "discountPct": pct,
                "isOnline": online,
                "isInactive": False,
                "lastModifiedDate": stamp,
            },
        )
    for sid, stage, name, prob in CUSTOMER_STATUSES:
        writer.add(
            "customerStatus",
            sid,
            {
                "name": name,
                "stage": stage,
                "probability": prob,
                "includeInLeadReports": stage == "LEAD",
                "isInactive": False,
                "lastModifiedDate": stamp,
            },
        )
    writer.next_ids.update({"currency": 4, "subsidiary": 5, "term": 5, "priceLevel": 5, "customerStatus": 16})
    writer.flush()
    svc.invalidate_price_levels()


class _Demo:
    def __init__(self, svc: RecordService, writer: _Writer, scale: int) -> None:
        self.svc = svc
        self.w = writer
        self.scale = max(1, scale)
        self.rng = random.Random(20240601 + self.scale)
        self.today = svc.today()
        self.now = svc.now()
        self.levels = dict(svc.price_levels())
        self.items: list[tuple[int, str, dict[str, Any]]] = []
        self.discounts: list[tuple[int, dict[str, Any]]] = []
        self.reps: dict[int, list[int]] = {}
        self.cs_owner = 0
        self.tranids: dict[str, int] = {}
        self.next_address = 0

    # helpers ----------------------------------------------------------------------------------

    def at(self, day: date, hour: int = 10) -> str:
        moment = datetime.combine(
            day, time(hour, self.rng.randint(0, 59), self.rng.randint(0, 59)), tzinfo=UTC
        )
        return format_datetime(min(moment, self.now))

    def _address_id(self) -> int:
        self.next_address += 1
        return self.next_address

    def tranid(self, rtype: str) -> str:
        prefix = TRANID_PREFIX[rtype]
        self.tranids[prefix] = self.tranids.get(prefix, 1000) + 1
        return f"{prefix}{self.tranids[prefix]}"

    # build ------------------------------------------------------------------------------------

    def build(self) -> None:
        data = build_company(seed=42, n_accounts=self.scale, n_products=150, n_leads=0)
        self._employees()
        self._items(data.products)
        customers = self._customers(data.companies)
        self._transactions(customers)
        self.w.flush()
        self.svc.store.bump_sequence("id:addressbook", self.next_address)
        for prefix, value in self.tranids.items():
            self.svc.store.bump_sequence(f"tranid:{prefix}", value)

    def _employees(self) -> None:
        for first, last, title, sub, rep in EMPLOYEES:
            eid = self.w.new_id("employee")
            created = self.at(self.today - timedelta(days=self.rng.randint(380, 900)))
            self.w.add(
                "employee",
                eid,
                {
                    "entityId": f"{first} {last}",
                    "firstName": first,
                    "lastName": last,
                    "title": title,
                    "email": f"{first.lower()}.{last.lower()}@northstar.example",
                    "subsidiary": str(sub),
                    "isSalesRep": rep,
                    "isSupportRep": title.startswith("Customer Success"),
                    "isInactive": False,
                    "giveAccess": False,
                    "dateCreated": created,
                    "lastModifiedDate": created,
                },
            )
            if rep:
                self.reps.setdefault(sub, []).append(eid)
            if title.startswith("Customer Success"):
                self.cs_owner = eid

    def _items(self, products: Any) -> None:
        kinds = {
            "inventory": "inventoryItem",
            "service": "serviceSaleItem",
            "noninventory": "nonInventorySaleItem",
            "discount": "discountItem",
        }
        for product in products:
            rtype = kinds[product.kind]
            iid = self.w.new_id(rtype)
            created = self.at(self.today - timedelta(days=self.rng.randint(200, 700)))
            prices: list[dict[str, Any]] = []
            for cid, _code, rate, _sym in CURRENCIES:
                price = product.base_price if cid == 1 else round(product.base_price / rate / 5) * 5.0
                prices.append(
                    {
                        "currencyPage": str(cid),
                        "priceLevel": "1",
                        "quantity": 0.0,
                        "price": price,
                        "priceLevelName": "Base Price",
                        "discountDisplay": 0.0,
                    }
                )
            item: dict[str, Any] = {
                "itemId": product.sku,
                "displayName": product.name,
                "description": product.description,
                "salesDescription": product.description,
                "basePrice": product.base_price,
                "isInactive": not product.is_active,
                "subsidiary": ["1"],
                "includeChildren": True,
                "custitem_product_family": product.family,
                "price": prices,
                "createdDate": created,
                "lastModifiedDate": created,
            }
            self.w.add(rtype, iid, item)
            if product.is_active:
                self.items.append((iid, rtype, item))
        for sku, name, disc_rate in DISCOUNT_ITEMS:
            iid = self.w.new_id("discountItem")
            created = self.at(self.today - timedelta(days=500))
            item = {
                "itemId": sku,
                "displayName": name,
                "description": name,
                "rate": disc_rate,
                "isPreTax": True,
                "isInactive": False,
                "subsidiary": ["1"],
                "includeChildren": True,
                "createdDate": created,
                "lastModifiedDate": created,
            }
            self.w.add("discountItem", iid, item)
            self.discounts.append((iid, item))

    def _customers(self, companies: Any) -> list[dict[str, Any]]:
        rng = self.rng
        by_key: dict[int, int] = {}
        out: list[dict[str, Any]] = []
        used: set[str] = set()
        for company in companies:
            if company.netsuite_presence not in {"exact", "near"}:
                continue
            name = company.netsuite_name
            if name.lower() in used:
                continue
            used.add(name.lower())
            cid = self.w.new_id("customer")
            by_key[company.key] = cid
            sub = SUBSIDIARY_BY_CURRENCY[company.currency]
            currency = CURRENCY_ID[company.currency]
            roll = rng.random()
            status = 13 if roll < 0.82 else (15 if roll < 0.88 else rng.choice([8, 10, 11]))
            stage = "CUSTOMER" if status in {13, 15} else "PROSPECT"
            created_day = self.today - timedelta(days=rng.randint(90, 720))
            created = self.at(created_day)
            r_level, r_terms = rng.random(), rng.random()
            level = "1" if r_level < 0.8 else ("2" if r_level < 0.92 else "3")
            terms = "2" if r_terms < 0.7 else ("1" if r_terms < 0.8 else ("3" if r_terms < 0.95 else "4"))
            addr = company.address
            data: dict[str, Any] = {
                "entityId": name,
                "companyName": name,
                "altName": name,
                "isPerson": False,
                "email": f"ap@{company.domain}",
                "phone": company.netsuite_phone,
                "url": f"https://www.{company.domain}",
                "subsidiary": str(sub),
                "currency": str(currency),
                "currencyList": [{"currency": str(currency)}],
                "entityStatus": str(status),
                "searchStage": "Customer" if stage == "CUSTOMER" else "Prospect",
                "terms": terms,
                "creditHoldOverride": "AUTO",
                "isInactive": False,
                "dateCreated": created,
                "lastModifiedDate": created,
                "comments": f"Industry: {company.industry}",
                "addressBook": [
                    {
                        "id": self._address_id(),
                        "label": "Headquarters",
                        "defaultBilling": True,
                        "defaultShipping": True,
                        "isResidential": False,
                        "addressBookAddress": {
                            "addressee": name,
                            "addr1": addr.street,
                            "city": addr.city,
                            "state": addr.state or None,
                            "zip": addr.postal_code,
                            "country": addr.country,
                        },
                    }
                ],
            }
            if level != "1":
                data["priceLevel"] = level
            reps = self.reps.get(sub) or self.reps.get(2) or []
            if reps:
                data["salesRep"] = str(rng.choice(reps))
            if stage == "CUSTOMER" and rng.random() < 0.3 and self.cs_owner:
                data["custentity_cs_owner"] = str(self.cs_owner)
            if stage == "CUSTOMER":
                data["creditLimit"] = float(rng.choice([100_000, 250_000, 500_000, 1_000_000]))
                data["_dateClosed"] = created_day.isoformat()
            if company.parent_key is not None and company.parent_key in by_key:
                data["parent"] = str(by_key[company.parent_key])
            clean = {k: v for k, v in data["addressBook"][0]["addressBookAddress"].items() if v is not None}
            data["addressBook"][0]["addressBookAddress"] = clean
            self.svc.rules._address_book(data)
            self.svc.rules._zero_balances(data)
            self.svc.rules._credit_hold(data)
            out.append({"id": cid, "data": data, "company": company, "stage": stage, "created": created_day})
        for entry in out:
            self.w.add("customer", entry["id"], entry["data"])
            self._contacts(entry)
        return out

    def _contacts(self, entry: dict[str, Any]) -> None:
        company = entry["company"]
        for person in company.contacts:
            pid = self.w.new_id("contact")
            created = self.at(entry["created"] + timedelta(days=self.rng.randint(0, 30)))
            self.w.add(
                "contact",
                pid,
                {
                    "entityId": f"{person.first_name} {person.last_name}",
                    "firstName": person.first_name,
                    "lastName": person.last_name,
                    "email": person.email,
                    "phone": person.phone,
                    "title": person.title,
                    "company": str(entry["id"]),
                    "subsidiary": entry["data"]["subsidiary"],
                    "isInactive": False,
                    "globalSubscriptionStatus": "1",
                    "dateCreated": created,
                    "lastModifiedDate": created,
                },
            )

    # transactions -----------------------------------------------------------------------------

    def _lines(self, customer: dict[str, Any], n_lines: int) -> list[dict[str, Any]]:
        lines = []
        level = customer.get("priceLevel") or "1"
        currency = customer["currency"]
        for n in range(1, n_lines + 1):
            iid, rtype, item = self.rng.choice(self.items)
            qty = float(self.rng.choice([1, 1, 2, 3, 5, 10]))
            rate = self.svc.rules.item_price(rtype, item, level, currency)
            assert rate is not None
            lines.append(
                {
                    "line": n,
                    "item": str(iid),
                    "itemType": ITEM_TYPE_CODES[rtype],
                    "quantity": qty,
                    "rate": rate,
                    "price": level,
                    "amount": _r2(qty * rate),
                    "description": item.get("salesDescription"),
                }
            )
        return lines

    def _header(
        self,
        rtype: str,
        cust_id: int,
        customer: dict[str, Any],
        day: date,
        lines: list[dict[str, Any]],
        *,
        discount: tuple[int, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        sub = int(customer["subsidiary"])
        sub_currency = next(c for s, _, _, c, _ in SUBSIDIARIES if s == sub)
        currency = int(customer["currency"])
        subtotal = _r2(sum(ln["amount"] for ln in lines))
        data: dict[str, Any] = {
            "entity": str(cust_id),
            "tranId": self.tranid(rtype),
            "tranDate": day.isoformat(),
            "subsidiary": customer["subsidiary"],
            "currency": customer["currency"],
            "exchangeRate": round(CURRENCY_RATE[currency] / CURRENCY_RATE[sub_currency], 6),
            "source": "restWebServices",
            "item": lines,
            "subtotal": subtotal,
            "discountTotal": 0.0,
            "taxTotal": 0.0,
            "total": subtotal,
        }
        if customer.get("terms") and rtype != "opportunity":
            data["terms"] = customer["terms"]
        if customer.get("salesRep"):
            data["salesRep"] = customer["salesRep"]
        if discount is not None:
            did, ditem = discount
            rate = ditem["rate"]
            total_disc = (
                _r2(subtotal * float(rate[:-1]) / 100.0) if isinstance(rate, str) else _r2(float(rate))
            )
            data.update(
                {
                    "discountItem": str(did),
                    "discountRate": rate,
                    "discountTotal": total_disc,
                    "total": _r2(subtotal + total_disc),
                }
            )
        stamp = self.at(day, 9)
        data["createdDate"] = stamp
        data["lastModifiedDate"] = stamp
        return data

    def _transactions(self, customers: list[dict[str, Any]]) -> None:
        rng = self.rng
        for entry in customers:
            cust_id, customer = entry["id"], entry["data"]
            invoices: list[tuple[int, dict[str, Any]]] = []
            orders: list[str] = []
            unbilled = 0.0
            if entry["stage"] == "PROSPECT":
                if rng.random() < 0.7:
                    self._opportunity(cust_id, customer, entry["created"])
                continue
            first_day = max(entry["created"], self.today - timedelta(days=365))
            for _ in range(rng.choice([1, 1, 2, 2, 3])):
                day = first_day + timedelta(days=rng.randint(0, max(0, (self.today - first_day).days - 1)))
                lines = self._lines(customer, rng.choice([1, 2, 2, 3, 4]))
                discount = rng.choice(self.discounts) if rng.random() < 0.12 else None
                fixed = discount is not None and not isinstance(discount[1]["rate"], str)
                if fixed and sum(ln["amount"] for ln in lines) < 2 * abs(float(discount[1]["rate"])):  # type: ignore[index]
                    discount = None
                so_id = self.w.new_id("salesOrder")
                so = self._header("salesOrder", cust_id, customer, day, lines, discount=discount)
                so["orderStatus"] = "B"
                orders.append(day.isoformat())
                billed = rng.random() < 0.8 and (self.today - day).days > 2
                has_inventory = any(ln["itemType"] == "InvtPart" for ln in lines)
                for ln in lines:
                    ln["quantityBilled"] = ln["quantity"] if billed else 0.0
                so["status"] = "G" if billed else ("B" if has_inventory else "F")
                if not billed:
                    unbilled += sum(ln["quantity"] * ln["rate"] for ln in lines)
                if rng.random() < 0.15:
                    so["custbody_sf_opportunity_id"] = f"006DEMO{so_id:09d}"
                if billed:
                    inv_day = min(self.today, day + timedelta(days=rng.randint(0, 5)))
                    inv_lines = [
                        {k: v for k, v in ln.items() if k not in {"quantityBilled", "line"}} for ln in lines
                    ]
                    for n, ln in enumerate(inv_lines, start=1):
                        ln["line"] = n
                        ln["orderLine"] = lines[n - 1]["line"]
                    inv_id = self.w.new_id("invoice")
                    inv = self._header("invoice", cust_id, customer, inv_day, inv_lines, discount=discount)
                    inv["createdFrom"] = str(so_id)
                    term_days = next(d for t, _, d, _, _ in TERMS if str(t) == (customer.get("terms") or "4"))
                    inv["dueDate"] = (inv_day + timedelta(days=term_days)).isoformat()
                    invoices.append((inv_id, inv))
                    so["lastModifiedDate"] = inv["createdDate"]
                self.w.add("salesOrder", so_id, so)
            for inv_id, inv in invoices:
                self._settle(cust_id, customer, inv_id, inv)
                self.w.add("invoice", inv_id, inv)
            if rng.random() < 0.25:
                self._opportunity(cust_id, customer, max(entry["created"], self.today - timedelta(days=60)))
            self._derive_customer(customer, invoices, orders, unbilled)

    def _settle(self, cust_id: int, customer: dict[str, Any], inv_id: int, inv: dict[str, Any]) -> None:
        rng = self.rng
        due = date.fromisoformat(inv["dueDate"])
        age = (self.today - date.fromisoformat(inv["tranDate"])).days
        roll = rng.random()
        if age > 45 and roll < 0.75:
            paid = inv["total"]
        elif age > 20 and roll < 0.85:
            paid = _r2(inv["total"] * rng.choice([0.25, 0.5])) if roll > 0.6 else 0.0
        else:
            paid = 0.0
        paid = min(paid, inv["total"])
        inv["amountPaid"] = _r2(paid)
        inv["amountRemaining"] = _r2(inv["total"] - paid)
        inv["status"] = "B" if inv["amountRemaining"] <= 0.005 else "A"
        if paid <= 0:
            return
        pay_day = min(
            self.today, max(date.fromisoformat(inv["tranDate"]), due - timedelta(days=rng.randint(-10, 10)))
        )
        if inv["status"] == "B":
            inv["_closeDate"] = pay_day.isoformat()
        pid = self.w.new_id("customerPayment")
        stamp = self.at(pay_day, 14)
        payment = {
            "customer": str(cust_id),
            "tranId": self.tranid("customerPayment"),
            "tranDate": pay_day.isoformat(),
            "subsidiary": customer["subsidiary"],
            "currency": customer["currency"],
            "exchangeRate": inv["exchangeRate"],
            "payment": _r2(paid),
            "applied": _r2(paid),
            "unapplied": 0.0,
            "total": _r2(paid),
            "undepFunds": True,
            "status": "B",
            "source": "restWebServices",
            "createdFrom": str(inv_id),
            "createdDate": stamp,
            "lastModifiedDate": stamp,
            "apply": [
                {
                    "doc": str(inv_id),
                    "apply": True,
                    "amount": _r2(paid),
                    "due": inv["amountRemaining"],
                    "total": inv["total"],
                    "refNum": inv["tranId"],
                    "applyDate": inv["tranDate"],
                    "type": TRANSACTION_LABELS["invoice"],
                    "currency": CURRENCY_CODE[int(customer["currency"])],
                    "line": 0,
                }
            ],
        }
        self.w.add("customerPayment", pid, payment)
        self.w.links.append((pid, inv_id, _r2(paid)))

    def _opportunity(self, cust_id: int, customer: dict[str, Any], start: date) -> None:
        rng = self.rng
        day = start + timedelta(days=rng.randint(0, max(0, (self.today - start).days)))
        day = min(day, self.today)
        lines = self._lines(customer, rng.choice([1, 2, 3]))
        oid = self.w.new_id("opportunity")
        opp = self._header("opportunity", cust_id, customer, day, lines)
        status_id = rng.choice([8, 9, 10, 11, 12])
        prob = next(p for s, _, _, p in CUSTOMER_STATUSES if s == status_id)
        opp.update(
            {
                "title": f"{customer['companyName']} - {rng.choice(_OPPORTUNITY_KINDS)}",
                "entityStatus": str(status_id),
                "status": "A",
                "probability": prob,
                "projectedTotal": opp["total"],
                "rangeLow": opp["total"],
                "rangeHigh": opp["total"],
                "expectedCloseDate": (self.today + timedelta(days=rng.randint(10, 120))).isoformat(),
            }
        )
        opp.pop("terms", None)
        self.w.add("opportunity", oid, opp)

    def _derive_customer(
        self,
        customer: dict[str, Any],
        invoices: list[tuple[int, dict[str, Any]]],
        orders: list[str],
        unbilled: float,
    ) -> None:
        balance = overdue = 0.0
        aging = [0.0] * 5
        days_overdue = 0
        for _, inv in invoices:
            remaining = inv["amountRemaining"]
            balance += remaining
            if remaining > 0.005:
                late = (self.today - date.fromisoformat(inv["dueDate"])).days
                if late > 0:
                    overdue += remaining
                    days_overdue = max(days_overdue, late)
                    aging[min(4, 1 + (late - 1) // 30)] += remaining
                else:
                    aging[0] += remaining
        customer.update(
            {
                "balance": _r2(balance),
                "overdueBalance": _r2(overdue),
                "consolBalance": _r2(balance),
                "consolOverdueBalance": _r2(overdue),
                "daysOverdue": days_overdue,
                "consolDaysOverdue": days_overdue,
                "aging": _r2(aging[0]),
                "aging1": _r2(aging[1]),
                "aging2": _r2(aging[2]),
                "aging3": _r2(aging[3]),
                "aging4": _r2(aging[4]),
            }
        )
        sale_dates = [inv["tranDate"] for _, inv in invoices]
        if sale_dates:
            customer["firstSaleDate"], customer["lastSaleDate"] = min(sale_dates), max(sale_dates)
        if orders:
            customer["firstOrderDate"], customer["lastOrderDate"] = min(orders), max(orders)
        customer["unbilledOrders"] = _r2(unbilled)
        customer["consolUnbilledOrders"] = _r2(unbilled)
        if balance > 0 and self.rng.random() < 0.06:
            customer["creditLimit"] = float(max(1000, int(balance * 0.6) // 1000 * 1000))
        self.svc.rules._credit_hold(customer)
