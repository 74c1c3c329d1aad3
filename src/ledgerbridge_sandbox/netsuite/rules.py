"""Business behaviour of the records: defaults, validation, derived amounts, statuses and side effects.

Layer: domain rules, called by ``records.RecordService`` (imported only for typing); imports
``schema`` and ``errors``.

What is modelled (reference §3.3, §3.7, §5):

- entities: required names and (OneWorld) subsidiary, ``entityId`` defaults, duplicate detection
  (configurable: entityid, companyname, email, phone) answering ``DUP_ENTITY``; customer stage
  (LEAD -> PROSPECT -> CUSTOMER, never backwards) from ``entityStatus``; a lead becomes a prospect
  with its first opportunity, a lead or prospect becomes a customer with its first sales order or
  invoice;
- customer derived values: ``balance``, ``overdueBalance``, ``daysOverdue``, aging buckets,
  ``unbilledOrders``, first/last sale and order dates, and the credit hold (AUTO: on hold when the
  balance exceeds ``creditLimit``; ON/OFF override);
- transactions: subsidiary/currency must agree with the customer and the items (``INVALID_KEY_OR_REF``),
  line ``amount = quantity x rate`` with the rate taken from the item's price for the price level
  (the line's, else the customer's, else Base Price) in the transaction currency, price levels applying
  their discount %; discount items (line and header) reduce the total; tax is zero; ``tranId``
  numbering (SO1001, INV1001, ...); sales order ``orderStatus`` A/B and ``status`` A..H; invoice
  ``amountPaid``/``amountRemaining``/``status`` from the payments and credit memos applied to it;
- transforms: salesOrder -> invoice (all billable lines, or ``orderLine`` + ``quantity``),
  opportunity -> salesOrder, invoice -> customerPayment / creditMemo, customer -> salesOrder / invoice /
  opportunity / customerPayment.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ledgerbridge_sandbox.netsuite.errors import NetSuiteError, invalid_content, user_error
from ledgerbridge_sandbox.netsuite.schema import (
    ENUMS,
    ITEM_TYPE_CODES,
    TRANID_PREFIX,
    TRANSACTION_CODES,
    TRANSACTION_LABELS,
)

if TYPE_CHECKING:
    from ledgerbridge_sandbox.netsuite.records import RecordService

STAGE_RANK = {"LEAD": 0, "PROSPECT": 1, "CUSTOMER": 2}
STAGE_LABEL = {"LEAD": "Lead", "PROSPECT": "Prospect", "CUSTOMER": "Customer"}
DEFAULT_CUSTOMER_STATUS = 13  # CUSTOMER-Closed Won
DEFAULT_PROSPECT_STATUS = 8  # PROSPECT-In Discussion
ENTITY_TYPES = ("customer", "contact", "employee")
SALES_TYPES = ("salesOrder", "invoice", "creditMemo", "opportunity")
ITEM_TYPES = tuple(ITEM_TYPE_CODES)
CENT = 0.005

TRANSFORMS = {
    ("salesOrder", "invoice"),
    ("opportunity", "salesOrder"),
    ("opportunity", "invoice"),
    ("invoice", "customerPayment"),
    ("invoice", "creditMemo"),
    ("customer", "salesOrder"),
    ("customer", "invoice"),
    ("customer", "opportunity"),
    ("customer", "customerPayment"),
    ("customer", "creditMemo"),
}
"""Supported ``!transform`` pairs."""


def _r2(value: float) -> float:
    return round(value + 0.0, 2)


def _num(value: Any, default: float = 0.0) -> float:
    if value is None or isinstance(value, bool):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _missing(labels: list[str], path: str | None = None) -> NetSuiteError:
    return user_error(f"Please enter value(s) for: {', '.join(labels)}", path)


class Rules:
    """Business rules bound to one record service."""

    def __init__(self, svc: RecordService) -> None:
        self.svc = svc

    # helpers ----------------------------------------------------------------------------------

    @property
    def store(self) -> Any:
        return self.svc.store

    def _load(self, rtype: str, rid: Any) -> dict[str, Any] | None:
        if rid is None:
            return None
        try:
            return self.svc.load(rtype, int(rid))
        except (TypeError, ValueError):
            return None

    def _load_any(self, target: str, rid: Any) -> tuple[str, dict[str, Any]] | None:
        if rid is None:
            return None
        try:
            rec = self.svc.load_family(target, int(rid))
        except (TypeError, ValueError):
            return None
        return None if rec is None else (rec.type, rec.data)

    def _currency_rate(self, cid: Any) -> float:
        cur = self._load("currency", cid)
        return _num(cur.get("exchangeRate"), 1.0) if cur else 1.0

    def _stage_of(self, status_id: Any) -> str | None:
        status = self._load("customerStatus", status_id)
        return None if status is None else str(status.get("stage") or "CUSTOMER")

    def _subsidiary_chain(self, sid: Any) -> list[str]:
        chain: list[str] = []
        current = sid
        while current is not None and str(current) not in chain:
            chain.append(str(current))
            sub = self._load("subsidiary", current)
            current = sub.get("parent") if sub else None
        return chain

    def ref_name(self, rtype: str, rid: int, data: dict[str, Any]) -> str:
        """The refName other records show for this one."""
        if rtype in ENTITY_TYPES:
            return str(data.get("entityId") or rid)
        if rtype in TRANSACTION_CODES:
            return f"{TRANSACTION_LABELS[rtype]} #{data.get('tranId') or rid}"
        if rtype in ITEM_TYPES:
            return str(data.get("itemId") or rid)
        if rtype == "customerStatus":
            return f"{data.get('stage')}-{data.get('name')}"
        if rtype == "subsidiary":
            return str(data.get("fullName") or data.get("name") or rid)
        return str(data.get("name") or rid)

    def defaults(self, rtype: str) -> dict[str, Any]:
        """Starting values of a new record."""
        if rtype == "customer":
            return {"isPerson": False, "creditHoldOverride": "AUTO", "isInactive": False}
        if rtype in {"contact", "employee"}:
            return {"isInactive": False}
        if rtype in ITEM_TYPES:
            return {"isInactive": False}
        if rtype in {"priceLevel", "currency", "term", "customerStatus", "subsidiary"}:
            return {"isInactive": False}
        return {}

    # dispatch ---------------------------------------------------------------------------------

    def prepare(self, rtype: str, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Fill defaults, validate and derive values before a record is saved.

        Raises:
            NetSuiteError: a rule is broken.
        """
        getattr(self, f"_prepare_{rtype}", self._prepare_list)(rid, data, old)

    def after_save(self, rtype: str, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Side effects of a save (balances, statuses of related records)."""
        fn = getattr(self, f"_after_{rtype}", None)
        if fn is not None:
            fn(rid, data, old)

    # entities ---------------------------------------------------------------------------------

    def _entity_common(
        self, rtype: str, rid: int, data: dict[str, Any], old: dict[str, Any] | None, missing: list[str]
    ) -> None:
        if self.svc.config.one_world and not data.get("subsidiary"):
            missing.append("Subsidiary")
        if missing:
            raise _missing(missing)
        self._address_book(data)

    def _address_book(self, data: dict[str, Any]) -> None:
        lines = data.get("addressBook")
        if not lines:
            data.pop("defaultAddress", None)
            return
        for flag in ("defaultBilling", "defaultShipping"):
            flagged = [n for n, ln in enumerate(lines) if ln.get(flag)]
            for n in flagged[:-1]:
                lines[n][flag] = False
        for line in lines:
            addr = line.get("addressBookAddress") or {}
            parts = [
                addr.get("addressee"),
                addr.get("attention"),
                addr.get("addr1"),
                addr.get("addr2"),
                addr.get("addr3"),
                " ".join(p for p in (addr.get("city"), addr.get("state"), addr.get("zip")) if p),
                self._country_name(addr.get("country")),
            ]
            text = "\n".join(p for p in parts if p)
            if addr:
                addr["addrText"] = text
                line["addressBookAddress"] = addr
            line["addressBookAddress_text"] = text
        billing = next((ln for ln in lines if ln.get("defaultBilling")), None)
        if billing is not None:
            data["defaultAddress"] = billing.get("addressBookAddress_text")

    @staticmethod
    def _country_name(code: Any) -> str | None:
        return ENUMS["country"].get(str(code), str(code)) if code else None

    def _check_duplicates(
        self, rtype: str, rid: int, data: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        rules = set(self.svc.config.duplicate_detection)
        checks: list[tuple[str, str, str]] = []
        if "entityid" in rules and data.get("entityId"):
            checks.append(("entityid", "entityId", str(data["entityId"])))
        if old is None:
            if "companyname" in rules and data.get("companyName"):
                checks.append(("companyname", "companyName", str(data["companyName"])))
            if "email" in rules and data.get("email"):
                checks.append(("email", "email", str(data["email"])))
            if "phone" in rules and data.get("phone"):
                checks.append(("phone", "phone", str(data["phone"])))
        table = {"customer": "sq_customer", "contact": "sq_contact", "employee": "sq_employee"}[rtype]
        for column, field, value in checks:
            if column == "companyname" and rtype != "customer":
                continue
            if old is not None and str(old.get(field) or "").lower() == value.lower():
                continue
            extra = ""
            params: tuple[Any, ...] = (value, rid)
            if rtype == "contact" and column == "entityid":
                extra = " AND company IS ?"
                params = (value, rid, int(data["company"]) if data.get("company") else None)
            rows = self.store.query(
                f'SELECT id FROM {table} WHERE LOWER("{column}") = LOWER(?) AND id != ?{extra} LIMIT 1',
                params,
            )
            if rows:
                label = {"customer": "customer", "contact": "contact", "employee": "employee"}[rtype]
                if column == "entityid":
                    detail = (
                        f"A {label} record with this ID already exists. You must enter a unique {label} "
                        f"ID for each record you create."
                    )
                else:
                    detail = f"A {label} record with this {field} already exists ({value})."
                raise NetSuiteError(
                    400, "DUP_ENTITY", f"Error while accessing a resource. {detail}", path=field
                )

    def _prepare_customer(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        missing: list[str] = []
        if data.get("isPerson"):
            for field, label in (("firstName", "First Name"), ("lastName", "Last Name")):
                if not data.get(field):
                    missing.append(label)
        elif not data.get("companyName"):
            missing.append("Company Name")
        self._entity_common("customer", rid, data, old, missing)
        name = (
            data.get("companyName")
            if not data.get("isPerson")
            else " ".join(
                p for p in (data.get("firstName"), data.get("middleName"), data.get("lastName")) if p
            )
        )
        if data.get("autoName") and old is None and not data.get("entityId"):
            data["entityId"] = f"CUST{rid}"
        if not data.get("entityId"):
            data["entityId"] = name
        data["altName"] = name
        sub = self._load("subsidiary", data.get("subsidiary")) if data.get("subsidiary") else None
        if not data.get("currency"):
            data["currency"] = (sub or {}).get("currency") or "1"
        currencies = [str(ln.get("currency")) for ln in data.get("currencyList") or []]
        if str(data["currency"]) not in currencies:
            data.setdefault("currencyList", []).insert(0, {"currency": str(data["currency"])})
        if not data.get("entityStatus"):
            data["entityStatus"] = str(DEFAULT_CUSTOMER_STATUS)
        stage = self._stage_of(data["entityStatus"]) or "CUSTOMER"
        if old is not None and old.get("entityStatus"):
            old_stage = self._stage_of(old["entityStatus"]) or "CUSTOMER"
            if STAGE_RANK[stage] < STAGE_RANK[old_stage]:
                raise NetSuiteError(
                    400,
                    "INVALID_KEY_OR_REF",
                    f"Invalid entitystatus reference key {data['entityStatus']}. A "
                    f"{STAGE_LABEL[old_stage].lower()} cannot be changed back to a "
                    f"{STAGE_LABEL[stage].lower()}.",
                    path="entityStatus",
                )
        data["searchStage"] = STAGE_LABEL[stage]
        if stage == "CUSTOMER" and (old is None or (self._stage_of(old.get("entityStatus")) != "CUSTOMER")):
            data["_dateClosed"] = self.svc.today().isoformat()
        if data.get("parent") and str(data["parent"]) == str(rid):
            raise invalid_content(rid, "parent", "parent")
        if data.get("creditLimit") is not None and _num(data["creditLimit"]) < 0:
            raise invalid_content(data["creditLimit"], "creditLimit", "creditLimit")
        self._check_duplicates("customer", rid, data, old)
        if old is None:
            self._zero_balances(data)
        else:
            for key in _DERIVED_CUSTOMER:
                if key in old:
                    data[key] = old[key]
        self._credit_hold(data)

    def _zero_balances(self, data: dict[str, Any]) -> None:
        for key in (
            "balance",
            "overdueBalance",
            "depositBalance",
            "unbilledOrders",
            "consolBalance",
            "consolOverdueBalance",
            "consolUnbilledOrders",
            "aging",
            "aging1",
            "aging2",
            "aging3",
            "aging4",
        ):
            data[key] = 0.0
        data["daysOverdue"] = 0
        data["consolDaysOverdue"] = 0

    @staticmethod
    def _credit_hold(data: dict[str, Any]) -> None:
        override = data.get("creditHoldOverride") or "AUTO"
        if override == "ON":
            data["_onCreditHold"] = True
        elif override == "OFF":
            data["_onCreditHold"] = False
        else:
            limit = data.get("creditLimit")
            data["_onCreditHold"] = limit is not None and _num(data.get("balance")) > _num(limit) + CENT

    def _prepare_contact(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = " ".join(p for p in (data.get("firstName"), data.get("middleName"), data.get("lastName")) if p)
        if not data.get("entityId"):
            data["entityId"] = name or data.get("email")
        company = self._load("customer", data.get("company")) if data.get("company") else None
        if company is not None and not data.get("subsidiary"):
            data["subsidiary"] = company.get("subsidiary")
        missing = [] if data.get("entityId") else ["Name"]
        self._entity_common("contact", rid, data, old, missing)
        if (
            company is not None
            and self.svc.config.one_world
            and str(company.get("subsidiary")) != str(data.get("subsidiary"))
        ):
            raise NetSuiteError(
                400,
                "INVALID_KEY_OR_REF",
                f"Invalid company reference key {data['company']} for subsidiary {data.get('subsidiary')}.",
                path="company",
            )
        self._check_duplicates("contact", rid, data, old)

    def _prepare_employee(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = " ".join(p for p in (data.get("firstName"), data.get("lastName")) if p)
        if not data.get("entityId"):
            data["entityId"] = name
        missing = [] if data.get("entityId") else ["Name"]
        self._entity_common("employee", rid, data, old, missing)
        self._check_duplicates("employee", rid, data, old)

    # lists ------------------------------------------------------------------------------------

    def _prepare_list(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Record types without rules of their own need nothing beyond field validation."""

    def _prepare_priceLevel(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        if not data.get("name"):
            raise _missing(["Name"])
        data.setdefault("discountPct", 0.0)

    def _after_priceLevel(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        changed = old is None or any(old.get(k) != data.get(k) for k in ("discountPct", "isInactive"))
        self.svc.invalidate_price_levels()
        if changed:
            for rtype in ITEM_TYPES:
                for rec in self.store.iter_type(rtype):
                    self.store.reproject(rtype, rec.id, rec.data, self.svc.projector)

    def _prepare_currency(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        missing = [
            label for field, label in (("name", "Name"), ("symbol", "ISO Code")) if not data.get(field)
        ]
        if missing:
            raise _missing(missing)
        data.setdefault("exchangeRate", 1.0)
        data.setdefault("isBaseCurrency", False)

    def _prepare_term(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        if not data.get("name"):
            raise _missing(["Name"])

    def _prepare_customerStatus(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        missing = [label for field, label in (("name", "Name"), ("stage", "Stage")) if not data.get(field)]
        if missing:
            raise _missing(missing)

    def _prepare_subsidiary(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        missing = [
            label for field, label in (("name", "Name"), ("currency", "Currency")) if not data.get(field)
        ]
        if missing:
            raise _missing(missing)
        parent = self._load("subsidiary", data.get("parent")) if data.get("parent") else None
        if data.get("parent") and str(data["parent"]) == str(rid):
            raise invalid_content(rid, "parent", "parent")
        data["fullName"] = (
            f"{parent.get('fullName') or parent.get('name')} : {data['name']}" if parent else data["name"]
        )

    # items ------------------------------------------------------------------------------------

    def _prepare_item(self, rtype: str, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        if not data.get("itemId"):
            raise _missing(["Item Name/Number"])
        if not data.get("displayName") and rtype != "discountItem":
            data["displayName"] = data["itemId"]
        if self.svc.config.one_world and not data.get("subsidiary"):
            data["subsidiary"] = ["1"]
            data.setdefault("includeChildren", True)
        dup = self.store.query(
            "SELECT id FROM sq_item WHERE LOWER(itemid) = LOWER(?) AND id != ? LIMIT 1", (data["itemId"], rid)
        )
        if dup:
            raise NetSuiteError(
                400,
                "DUP_ITEM",
                "Error while accessing a resource. An item record with this name already exists.",
                path="itemId",
            )
        if rtype == "discountItem":
            data.setdefault("rate", 0.0)
            return
        levels = {str(lid): pct for lid, pct in self.svc.price_levels()}
        base_currency = "1"
        lines = data.get("price") or []
        if "basePrice" in data and (old is None or data.get("basePrice") != (old or {}).get("basePrice")):
            base_line = next(
                (
                    ln
                    for ln in lines
                    if str(ln.get("priceLevel")) == "1"
                    and str(ln.get("currencyPage")) == base_currency
                    and not _num(ln.get("quantity"))
                ),
                None,
            )
            if base_line is None and data.get("basePrice") is not None:
                lines.append(
                    {
                        "currencyPage": base_currency,
                        "priceLevel": "1",
                        "quantity": 0.0,
                        "price": float(data["basePrice"]),
                    }
                )
            elif base_line is not None and data.get("basePrice") is not None:
                base_line["price"] = float(data["basePrice"])
        dedup: dict[tuple[str, str, float], dict[str, Any]] = {}
        for line in lines:
            key = (str(line.get("currencyPage")), str(line.get("priceLevel")), _num(line.get("quantity")))
            line["quantity"] = key[2]
            level = self._load("priceLevel", line.get("priceLevel"))
            line["priceLevelName"] = (level or {}).get("name", "")
            line["discountDisplay"] = levels.get(str(line.get("priceLevel")), 0.0)
            dedup[key] = line
        data["price"] = list(dedup.values())
        base = dedup.get((base_currency, "1", 0.0))
        if base is not None and base.get("price") is not None:
            data["basePrice"] = float(base["price"])

    def _prepare_inventoryItem(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._prepare_item("inventoryItem", rid, data, old)

    def _prepare_nonInventorySaleItem(
        self, rid: int, data: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        self._prepare_item("nonInventorySaleItem", rid, data, old)

    def _prepare_serviceSaleItem(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._prepare_item("serviceSaleItem", rid, data, old)

    def _prepare_discountItem(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._prepare_item("discountItem", rid, data, old)

    def item_price(self, item_type: str, item: dict[str, Any], level: str, currency: str) -> float | None:
        """Unit price of an item for a price level and currency (quantity break 0).

        Explicit pricing rows win; otherwise the currency's base price (or the base currency's,
        converted) with the level's discount % applied.
        """
        lines = item.get("price") or []

        def row(cur: str, lvl: str) -> float | None:
            for ln in lines:
                if (
                    str(ln.get("currencyPage")) == cur
                    and str(ln.get("priceLevel")) == lvl
                    and not _num(ln.get("quantity"))
                ):
                    return _num(ln.get("price")) if ln.get("price") is not None else None
            return None

        explicit = row(currency, level)
        if explicit is not None:
            return explicit
        pct = dict((str(k), v) for k, v in self.svc.price_levels()).get(level, 0.0)
        base = row(currency, "1")
        if base is None:
            base_usd = row("1", "1")
            if base_usd is None:
                base_usd = _num(item.get("basePrice")) if item.get("basePrice") is not None else None
            if base_usd is None:
                return None
            base = base_usd * self._currency_rate("1") / self._currency_rate(currency)
        return _r2(base * (1 + pct / 100.0))

    def _item_in_subsidiary(self, item: dict[str, Any], subsidiary: Any) -> bool:
        subs = [str(s) for s in item.get("subsidiary") or []]
        if not subs or subsidiary is None:
            return True
        chain = self._subsidiary_chain(subsidiary)
        if str(subsidiary) in subs:
            return True
        return bool(item.get("includeChildren")) and any(s in subs for s in chain)

    # transactions -----------------------------------------------------------------------------

    def _next_tranid(self, rtype: str) -> str:
        prefix = TRANID_PREFIX[rtype]
        return f"{prefix}{self.store.next_value(f'tranid:{prefix}', 1001)}"

    def _transaction_header(
        self, rtype: str, rid: int, data: dict[str, Any], old: dict[str, Any] | None, entity_field: str
    ) -> dict[str, Any]:
        if not data.get(entity_field):
            raise _missing(["Customer"], entity_field)
        customer = self._load("customer", data[entity_field])
        if customer is None:
            raise invalid_content(data[entity_field], entity_field, entity_field)
        if not data.get("subsidiary"):
            data["subsidiary"] = customer.get("subsidiary")
        if self.svc.config.one_world:
            if not data.get("subsidiary"):
                raise _missing(["Subsidiary"])
            if str(data["subsidiary"]) != str(customer.get("subsidiary")):
                raise NetSuiteError(
                    400,
                    "INVALID_KEY_OR_REF",
                    f"Invalid {entity_field} reference key {data[entity_field]} for subsidiary "
                    f"{data['subsidiary']}.",
                    path=entity_field,
                )
        if not data.get("currency"):
            data["currency"] = customer.get("currency")
        allowed = {str(customer.get("currency"))} | {
            str(ln.get("currency")) for ln in customer.get("currencyList") or []
        }
        if str(data["currency"]) not in allowed:
            raise NetSuiteError(
                400,
                "INVALID_KEY_OR_REF",
                f"Invalid currency reference key {data['currency']} for {entity_field} {data[entity_field]}.",
                path="currency",
            )
        sub = self._load("subsidiary", data.get("subsidiary")) if data.get("subsidiary") else None
        sub_currency = (sub or {}).get("currency") or "1"
        if data.get("exchangeRate") is None or (
            old is not None and old.get("currency") != data.get("currency")
        ):
            data["exchangeRate"] = round(
                self._currency_rate(data["currency"]) / self._currency_rate(sub_currency), 6
            )
        if not data.get("tranDate"):
            data["tranDate"] = self.svc.today().isoformat()
        if not data.get("tranId"):
            data["tranId"] = self._next_tranid(rtype)
        if old is None:
            data["source"] = data.get("_context") or "restWebServices"
        return customer

    def _price_lines(self, rtype: str, data: dict[str, Any], customer: dict[str, Any]) -> None:
        lines = data.get("item") or []
        if not lines and rtype in {"salesOrder", "invoice", "creditMemo"}:
            raise _missing(["Items"], "item")
        subtotal = 0.0
        previous_amount = 0.0
        for n, line in enumerate(lines):
            path = line.get("__path") or f"item.items[{n}]"
            given = set(line.get("__given") or ())
            if not line.get("item"):
                raise _missing(["Item"], f"{path}.item")
            found = self._load_any("item", line["item"])
            if found is None:
                raise invalid_content(line["item"], "item", f"{path}.item")
            itype, item = found
            line["itemType"] = ITEM_TYPE_CODES[itype]
            if self.svc.config.one_world and not self._item_in_subsidiary(item, data.get("subsidiary")):
                raise NetSuiteError(
                    400,
                    "INVALID_KEY_OR_REF",
                    f"Invalid item reference key {line['item']} for subsidiary {data.get('subsidiary')}.",
                    path=f"{path}.item",
                )
            if not line.get("description") and (item.get("salesDescription") or item.get("description")):
                line["description"] = item.get("salesDescription") or item.get("description")
            if itype == "discountItem":
                rate = line.get("rate") if line.get("rate") is not None else item.get("rate", 0.0)
                line["rate"] = rate
                line.pop("quantity", None)
                if isinstance(rate, str) and rate.endswith("%"):
                    amount = _r2(previous_amount * _num(rate[:-1]) / 100.0)
                else:
                    amount = _r2(_num(rate))
                if "amount" in given and "rate" not in given:
                    amount = _r2(_num(line.get("amount")))
                line["amount"] = amount
                subtotal += amount
                previous_amount = amount
                continue
            qty = _num(line.get("quantity"), 1.0) if line.get("quantity") is not None else 1.0
            line["quantity"] = qty
            if isinstance(line.get("rate"), str):
                raise invalid_content(line["rate"], "rate", f"{path}.rate")
            if "rate" in given and "price" not in given:
                line["price"] = "-1"
            if "amount" in given and "rate" not in given and qty:
                line["rate"] = _r2(_num(line["amount"]) / qty)
                line["price"] = "-1"
            needs_rate = line.get("rate") is None or ("price" in given and "rate" not in given)
            if not line.get("price"):
                line["price"] = customer.get("priceLevel") or "1"
            if needs_rate:
                if str(line["price"]) == "-1":
                    raise _missing(["Rate"], f"{path}.rate")
                price = self.item_price(itype, item, str(line["price"]), str(data["currency"]))
                if price is None:
                    raise user_error(
                        f"No price is defined for item {item.get('itemId')} in this currency.", f"{path}.item"
                    )
                line["rate"] = price
            if "amount" in given and "rate" in given:
                amount = _r2(_num(line["amount"]))
            else:
                amount = _r2(qty * _num(line["rate"]))
            line["amount"] = amount
            line.setdefault("quantityBilled", line.get("quantityBilled") or 0.0)
            if rtype != "salesOrder":
                line.pop("quantityBilled", None)
            subtotal += amount
            previous_amount = amount
        data["subtotal"] = _r2(subtotal)
        discount_total = 0.0
        if data.get("discountItem"):
            found = self._load_any("item", data["discountItem"])
            if found is None or found[0] != "discountItem":
                raise invalid_content(data["discountItem"], "discountItem", "discountItem")
            rate = data.get("discountRate")
            if rate is None:
                rate = found[1].get("rate", 0.0)
                data["discountRate"] = rate
            if isinstance(rate, str) and rate.endswith("%"):
                discount_total = _r2(subtotal * _num(rate[:-1]) / 100.0)
            else:
                discount_total = _r2(_num(rate))
        elif data.get("discountRate") is not None:
            data.pop("discountRate", None)
        data["discountTotal"] = discount_total
        data["taxTotal"] = 0.0
        data["total"] = _r2(subtotal + discount_total)

    def _due_date(self, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        unchanged_basis = old is not None and all(old.get(k) == data.get(k) for k in ("terms", "tranDate"))
        explicit = old is None or data.get("dueDate") != old.get("dueDate")
        if data.get("dueDate") and (explicit or unchanged_basis):
            return
        term = self._load("term", data.get("terms")) if data.get("terms") else None
        days = int(_num((term or {}).get("daysUntilNetDue"), 0.0))
        data["dueDate"] = (date.fromisoformat(data["tranDate"]) + timedelta(days=days)).isoformat()

    def _sales_common(
        self, rtype: str, rid: int, data: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        customer = self._transaction_header(rtype, rid, data, old, "entity")
        if not data.get("terms") and customer.get("terms") and old is None:
            data["terms"] = customer["terms"]
        if not data.get("salesRep") and customer.get("salesRep") and old is None:
            data["salesRep"] = customer["salesRep"]
        self._price_lines(rtype, data, customer)
        return customer

    def _prepare_salesOrder(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._sales_common("salesOrder", rid, data, old)
        if not data.get("orderStatus"):
            data["orderStatus"] = self.svc.config.default_order_status
        if old is not None and old.get("orderStatus") == "B" and data["orderStatus"] == "A":
            raise user_error("An approved sales order cannot be set back to Pending Approval.", "orderStatus")
        if old is not None:
            # keep billed quantities of the lines that still exist
            billed = {ln.get("line"): ln.get("quantityBilled") for ln in old.get("item") or []}
            for line in data.get("item") or []:
                if line.get("line") in billed and billed[line.get("line")]:
                    line["quantityBilled"] = billed[line.get("line")]
        data["status"] = self._so_status(data)

    @staticmethod
    def _so_status(data: dict[str, Any]) -> str:
        lines = [ln for ln in data.get("item") or [] if ln.get("itemType") != "Discount"]
        if lines and all(ln.get("isClosed") for ln in lines):
            return "H"
        if data.get("orderStatus") == "A":
            return "A"
        open_lines = [ln for ln in lines if not ln.get("isClosed")]
        billed_any = any(_num(ln.get("quantityBilled")) > 0 for ln in open_lines)
        all_billed = bool(open_lines) and all(
            _num(ln.get("quantityBilled")) >= _num(ln.get("quantity")) - 1e-9 for ln in open_lines
        )
        if all_billed:
            return "G"
        has_inventory = any(ln.get("itemType") == "InvtPart" for ln in open_lines)
        if billed_any:
            return "E" if has_inventory else "F"
        return "B" if has_inventory else "F"

    def _prepare_invoice(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._sales_common("invoice", rid, data, old)
        self._due_date(data, old)
        paid = self.store.applied_to(rid)
        if paid > data["total"] + CENT:
            raise user_error("The invoice total cannot be less than the amount already paid.", "item")
        data["amountPaid"] = _r2(paid)
        data["amountRemaining"] = _r2(data["total"] - paid)
        data["status"] = "B" if data["amountRemaining"] <= CENT else "A"
        if data["status"] == "B":
            data["_closeDate"] = data.get("_closeDate") or self.svc.today().isoformat()
        else:
            data.pop("_closeDate", None)

    def _prepare_opportunity(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        customer = self._transaction_header("opportunity", rid, data, old, "entity")
        self._price_lines("opportunity", data, customer)
        if not data.get("entityStatus"):
            cust_stage = self._stage_of(customer.get("entityStatus"))
            data["entityStatus"] = (
                customer.get("entityStatus") if cust_stage == "PROSPECT" else str(DEFAULT_PROSPECT_STATUS)
            )
        if not data.get("status"):
            data["status"] = "A"
        if data.get("probability") is None:
            status = self._load("customerStatus", data["entityStatus"])
            if status and status.get("probability") is not None:
                data["probability"] = float(status["probability"])
        if data.get("probability") is not None and not 0 <= _num(data["probability"]) <= 100:
            raise invalid_content(data["probability"], "probability", "probability")
        if data.get("projectedTotal") is None or (
            old is not None and old.get("projectedTotal") == old.get("total")
        ):
            data["projectedTotal"] = data["total"]
        data.setdefault("rangeLow", data["projectedTotal"])
        data.setdefault("rangeHigh", data["projectedTotal"])
        if data["status"] in {"C", "D"}:
            data["_closeDate"] = data.get("_closeDate") or self.svc.today().isoformat()

    def _prepare_creditMemo(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._sales_common("creditMemo", rid, data, old)
        applied = self._apply_lines("creditMemo", rid, data, str(data["entity"]), data["total"])
        data["applied"] = _r2(applied)
        data["unapplied"] = _r2(data["total"] - applied)
        data["amountRemaining"] = data["unapplied"]
        data["status"] = "B" if data["unapplied"] <= CENT else "A"

    def _prepare_customerPayment(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._transaction_header("customerPayment", rid, data, old, "customer")
        customer_id = str(data["customer"])
        if data.get("autoApply") and not data.get("apply") and data.get("payment") is not None:
            data["apply"] = self._auto_apply(rid, customer_id, _num(data["payment"]))
        if data.get("payment") is None:
            total = sum(_num(ln.get("amount")) for ln in data.get("apply") or [] if ln.get("apply", True))
            if total <= 0:
                raise _missing(["Payment Amount"], "payment")
            data["payment"] = _r2(total)
        if _num(data["payment"]) < 0:
            raise invalid_content(data["payment"], "payment", "payment")
        applied = self._apply_lines("customerPayment", rid, data, customer_id, _num(data["payment"]))
        data["applied"] = _r2(applied)
        data["unapplied"] = _r2(_num(data["payment"]) - applied)
        data["total"] = _r2(_num(data["payment"]))
        data.setdefault("undepFunds", True)
        data["status"] = "B" if data.get("undepFunds") else "C"

    def _auto_apply(self, rid: int, customer_id: str, amount: float) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT id FROM sq_transaction WHERE entity = ? AND type = 'CustInvc' "
            "AND foreignamountunpaid > 0 ORDER BY trandate, id",
            (int(customer_id),),
        )
        lines = []
        left = amount
        for (inv_id,) in rows:
            if left <= CENT:
                break
            due = self._invoice_due(int(inv_id), rid)
            if due <= CENT:
                continue
            take = min(due, left)
            lines.append(
                {
                    "doc": str(inv_id),
                    "apply": True,
                    "amount": _r2(take),
                    "__given": ["amount", "apply", "doc"],
                }
            )
            left -= take
        return lines

    def _invoice_due(self, inv_id: int, source_id: int) -> float:
        inv = self._load("invoice", inv_id)
        if inv is None:
            return 0.0
        return _r2(_num(inv.get("total")) - self.store.applied_to(inv_id, excluding=source_id))

    def _apply_lines(
        self, rtype: str, rid: int, data: dict[str, Any], customer_id: str, available: float
    ) -> float:
        total = 0.0
        lines = data.get("apply") or []
        for n, line in enumerate(lines):
            path = line.get("__path") or f"apply.items[{n}]"
            inv = self._load("invoice", line.get("doc"))
            if inv is None:
                raise NetSuiteError(
                    400,
                    "INVALID_KEY_OR_REF",
                    f"Invalid doc reference key {line.get('doc')}.",
                    path=f"{path}.doc",
                )
            if str(inv.get("entity")) != customer_id:
                raise NetSuiteError(
                    400,
                    "INVALID_KEY_OR_REF",
                    f"Invalid doc reference key {line.get('doc')} for customer {customer_id}.",
                    path=f"{path}.doc",
                )
            if str(inv.get("currency")) != str(data.get("currency")):
                raise NetSuiteError(
                    400,
                    "INVALID_KEY_OR_REF",
                    f"Invalid doc reference key {line.get('doc')} for currency {data.get('currency')}.",
                    path=f"{path}.doc",
                )
            due = self._invoice_due(int(line["doc"]), rid)
            if line.get("apply") is None:
                line["apply"] = True
            if line["apply"]:
                if line.get("amount") is None:
                    line["amount"] = _r2(max(0.0, min(due, available - total)))
                amount = _num(line["amount"])
                if amount < 0:
                    raise invalid_content(amount, "amount", f"{path}.amount")
                if amount > due + CENT:
                    raise user_error(
                        f"The amount applied to {TRANSACTION_LABELS['invoice']} #{inv.get('tranId')} "
                        f"({amount:.2f}) exceeds the amount due ({due:.2f}).",
                        f"{path}.amount",
                    )
                total += amount
            else:
                line["amount"] = 0.0
            line["due"] = _r2(due - (_num(line["amount"]) if line["apply"] else 0.0))
            line["total"] = _num(inv.get("total"))
            line["refNum"] = inv.get("tranId")
            line["applyDate"] = inv.get("tranDate")
            line["type"] = TRANSACTION_LABELS["invoice"]
            cur = self._load("currency", inv.get("currency"))
            line["currency"] = (cur or {}).get("name")
            line["line"] = 0
        if total > available + CENT:
            raise user_error(
                f"The total amount applied ({total:.2f}) cannot exceed the amount available "
                f"({available:.2f}).",
                "apply",
            )
        return total

    # side effects -----------------------------------------------------------------------------

    def _touch_derived(self) -> bool:
        return bool(self.svc.config.derived_touch_last_modified)

    def _promote_customer(self, customer_id: Any, to_stage: str) -> None:
        customer = self._load("customer", customer_id)
        if customer is None:
            return
        stage = self._stage_of(customer.get("entityStatus")) or "CUSTOMER"
        if STAGE_RANK[stage] >= STAGE_RANK[to_stage]:
            return
        customer["entityStatus"] = str(
            DEFAULT_CUSTOMER_STATUS if to_stage == "CUSTOMER" else DEFAULT_PROSPECT_STATUS
        )
        customer["searchStage"] = STAGE_LABEL[to_stage]
        if to_stage == "CUSTOMER":
            customer["_dateClosed"] = self.svc.today().isoformat()
        self.svc.save("customer", int(customer_id), customer, touch=True)

    def _after_salesOrder(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._promote_customer(data["entity"], "CUSTOMER")
        self.recompute_customer(data["entity"])
        if old is not None and old.get("entity") != data.get("entity"):
            self.recompute_customer(old.get("entity"))

    def _after_invoice(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._promote_customer(data["entity"], "CUSTOMER")
        self.recompute_customer(data["entity"])
        if old is not None and old.get("entity") != data.get("entity"):
            self.recompute_customer(old.get("entity"))
        for so_id in {data.get("createdFrom"), (old or {}).get("createdFrom")}:
            if so_id is not None and self._load("salesOrder", so_id) is not None:
                self.recompute_order_billing(int(so_id))

    def _after_creditMemo(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._after_application(rid, data, old, "entity")

    def _after_customerPayment(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._after_application(rid, data, old, "customer")

    def _after_application(
        self, rid: int, data: dict[str, Any], old: dict[str, Any] | None, entity_field: str
    ) -> None:
        links = [
            (int(ln["doc"]), _num(ln.get("amount")))
            for ln in data.get("apply") or []
            if ln.get("apply") and _num(ln.get("amount")) > 0
        ]
        self.store.set_apply_links(rid, links)
        docs = {doc for doc, _ in links} | {int(ln["doc"]) for ln in (old or {}).get("apply") or []}
        for doc in sorted(docs):
            self.recompute_invoice(doc)
        self.recompute_customer(data[entity_field])
        if old is not None and old.get(entity_field) != data.get(entity_field):
            self.recompute_customer(old.get(entity_field))

    def _after_opportunity(self, rid: int, data: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._promote_customer(data["entity"], "PROSPECT")

    def recompute_invoice(self, inv_id: int) -> None:
        """Re-derive an invoice's paid/remaining/status from what is applied to it."""
        inv = self._load("invoice", inv_id)
        if inv is None:
            return
        paid = _r2(self.store.applied_to(inv_id))
        remaining = _r2(_num(inv.get("total")) - paid)
        status = "B" if remaining <= CENT else "A"
        if (inv.get("amountPaid"), inv.get("amountRemaining"), inv.get("status")) == (
            paid,
            remaining,
            status,
        ):
            return
        inv["amountPaid"], inv["amountRemaining"], inv["status"] = paid, remaining, status
        if status == "B":
            inv["_closeDate"] = self.svc.today().isoformat()
        else:
            inv.pop("_closeDate", None)
        self.svc.save("invoice", inv_id, inv, touch=self._touch_derived())
        self.recompute_customer(inv.get("entity"))

    def recompute_order_billing(self, so_id: int) -> None:
        """Re-derive a sales order's billed quantities and status from its invoices."""
        so = self._load("salesOrder", so_id)
        if so is None:
            return
        billed: dict[str, float] = {}
        rows = self.store.query(
            'SELECT DISTINCT "transaction" FROM sq_transactionline '
            "WHERE createdfrom = ? AND mainline = 'T'",
            (so_id,),
        )
        for (inv_id,) in rows:
            inv = self._load("invoice", inv_id)
            for line in (inv or {}).get("item") or []:
                if line.get("orderLine") is not None:
                    key = str(line["orderLine"])
                    billed[key] = billed.get(key, 0.0) + _num(line.get("quantity"))
        changed = False
        for line in so.get("item") or []:
            qty = _r2(billed.get(str(line.get("line")), 0.0))
            if _num(line.get("quantityBilled")) != qty:
                line["quantityBilled"] = qty
                changed = True
        status = self._so_status(so)
        if status != so.get("status"):
            so["status"] = status
            changed = True
        if changed:
            self.svc.save("salesOrder", so_id, so, touch=True)
            self.recompute_customer(so.get("entity"))

    def recompute_customer(self, customer_id: Any) -> None:
        """Re-derive a customer's balances, aging, credit hold and sale dates from its transactions."""
        if customer_id is None:
            return
        cid = int(customer_id)
        customer = self._load("customer", cid)
        if customer is None:
            return
        today = self.svc.today()
        cust_rate = self._currency_rate(customer.get("currency"))
        rates: dict[str, float] = {}

        def conv(amount: float, currency: Any) -> float:
            key = str(currency)
            if key not in rates:
                rates[key] = self._currency_rate(currency)
            return amount * rates[key] / cust_rate

        balance = overdue = unbilled = 0.0
        aging = [0.0, 0.0, 0.0, 0.0, 0.0]
        days_overdue = 0
        sale_dates: list[str] = []
        order_dates: list[str] = []
        rows = self.store.query("SELECT id, type FROM sq_transaction WHERE entity = ?", (cid,))
        for tid, code in rows:
            rtype = _TYPE_BY_CODE.get(code)
            if rtype is None or rtype == "opportunity":
                continue
            tx = self._load(rtype, tid)
            if tx is None:
                continue
            if rtype == "invoice":
                remaining = conv(_num(tx.get("amountRemaining")), tx.get("currency"))
                balance += remaining
                sale_dates.append(str(tx.get("tranDate")))
                if remaining > CENT and tx.get("dueDate"):
                    late = (today - date.fromisoformat(tx["dueDate"])).days
                    if late > 0:
                        overdue += remaining
                        days_overdue = max(days_overdue, late)
                        aging[min(4, 1 + (late - 1) // 30)] += remaining
                    else:
                        aging[0] += remaining
            elif rtype in {"customerPayment", "creditMemo"}:
                balance -= conv(_num(tx.get("unapplied")), tx.get("currency"))
            elif rtype == "salesOrder":
                order_dates.append(str(tx.get("tranDate")))
                if tx.get("status") in {"B", "D", "E", "F"}:
                    rest = sum(
                        (_num(ln.get("quantity")) - _num(ln.get("quantityBilled"))) * _num(ln.get("rate"))
                        for ln in tx.get("item") or []
                        if not ln.get("isClosed") and ln.get("itemType") != "Discount"
                    )
                    unbilled += conv(rest, tx.get("currency"))
        new: dict[str, Any] = {
            "balance": _r2(balance),
            "overdueBalance": _r2(overdue),
            "unbilledOrders": _r2(unbilled),
            "consolBalance": _r2(balance),
            "consolOverdueBalance": _r2(overdue),
            "consolUnbilledOrders": _r2(unbilled),
            "daysOverdue": days_overdue,
            "consolDaysOverdue": days_overdue,
            "depositBalance": 0.0,
            "aging": _r2(aging[0]),
            "aging1": _r2(aging[1]),
            "aging2": _r2(aging[2]),
            "aging3": _r2(aging[3]),
            "aging4": _r2(aging[4]),
        }
        for key, values in (("firstSaleDate", sale_dates), ("firstOrderDate", order_dates)):
            new[key] = min(values) if values else None
        for key, values in (("lastSaleDate", sale_dates), ("lastOrderDate", order_dates)):
            new[key] = max(values) if values else None
        before = {k: customer.get(k) for k in new}
        hold_before = customer.get("_onCreditHold")
        for key, value in new.items():
            if value is None:
                customer.pop(key, None)
            else:
                customer[key] = value
        self._credit_hold(customer)
        if before != {k: customer.get(k) for k in new} or hold_before != customer.get("_onCreditHold"):
            self.svc.save("customer", cid, customer, touch=self._touch_derived())

    def refresh_aging(self) -> None:
        """Recompute date-dependent values after the date changed."""
        rows = self.store.query(
            "SELECT DISTINCT entity FROM sq_transaction "
            "WHERE (type = 'CustInvc' AND foreignamountunpaid > 0) "
            "OR (type = 'SalesOrd' AND status IN ('B','D','E','F'))"
        )
        for (cid,) in rows:
            self.recompute_customer(cid)
        rows = self.store.query(
            "SELECT id, type FROM sq_transaction WHERE daysopen IS NOT NULL OR daysoverduesearch IS NOT NULL "
            "OR (type = 'CustInvc' AND foreignamountunpaid > 0)"
        )
        for tid, code in rows:
            rtype = _TYPE_BY_CODE.get(code)
            tx = self._load(rtype, tid) if rtype else None
            if rtype and tx is not None:
                self.store.reproject(rtype, int(tid), tx, self.svc.projector)

    # deletes ----------------------------------------------------------------------------------

    def before_delete(self, rtype: str, rid: int, data: dict[str, Any]) -> None:
        """Refuse deletes other records depend on.

        Raises:
            NetSuiteError: USER_ERROR naming the dependency.
        """
        checks: list[tuple[str, tuple[Any, ...]]] = []
        if rtype == "customer":
            checks = [
                ("SELECT 1 FROM sq_transaction WHERE entity = ? LIMIT 1", (rid,)),
                ("SELECT 1 FROM sq_customer WHERE parent = ? LIMIT 1", (rid,)),
            ]
        elif rtype in ITEM_TYPES:
            checks = [("SELECT 1 FROM sq_transactionline WHERE item = ? LIMIT 1", (rid,))]
        elif rtype in {"invoice", "salesOrder", "opportunity"}:
            checks = [("SELECT 1 FROM sq_transactionline WHERE createdfrom = ? LIMIT 1", (rid,))]
            if rtype == "invoice" and self.store.sources_applied_to(rid):
                raise user_error("This record cannot be deleted because it has dependent records.")
        elif rtype == "employee":
            checks = [("SELECT 1 FROM sq_customer WHERE salesrep = ? LIMIT 1", (rid,))]
        elif rtype == "term":
            checks = [
                ("SELECT 1 FROM sq_customer WHERE terms = ? LIMIT 1", (rid,)),
                ("SELECT 1 FROM sq_transaction WHERE terms = ? LIMIT 1", (rid,)),
            ]
        elif rtype == "currency":
            checks = [
                ("SELECT 1 FROM sq_customer WHERE currency = ? LIMIT 1", (rid,)),
                ("SELECT 1 FROM sq_transaction WHERE currency = ? LIMIT 1", (rid,)),
                ("SELECT 1 FROM sq_subsidiary WHERE currency = ? LIMIT 1", (rid,)),
            ]
        elif rtype == "subsidiary":
            checks = [
                ("SELECT 1 FROM sq_customersubsidiaryrelationship WHERE subsidiary = ? LIMIT 1", (rid,)),
                ("SELECT 1 FROM sq_subsidiary WHERE parent = ? LIMIT 1", (rid,)),
            ]
        elif rtype == "priceLevel":
            checks = [("SELECT 1 FROM sq_customer WHERE pricelevel = ? LIMIT 1", (rid,))]
        elif rtype == "customerStatus":
            checks = [("SELECT 1 FROM sq_customer WHERE entitystatus = ? LIMIT 1", (rid,))]
        for sql, params in checks:
            if self.store.query(sql, params):
                raise user_error("This record cannot be deleted because it has dependent records.")

    def after_delete(self, rtype: str, rid: int, data: dict[str, Any]) -> None:
        """Side effects of a delete (balances, applications, billed quantities)."""
        if rtype in {"customerPayment", "creditMemo"}:
            for line in data.get("apply") or []:
                self.recompute_invoice(int(line["doc"]))
            self.recompute_customer(data.get("customer") or data.get("entity"))
        elif rtype in {"invoice", "salesOrder"}:
            self.recompute_customer(data.get("entity"))
            if (
                rtype == "invoice"
                and data.get("createdFrom")
                and self._load("salesOrder", data["createdFrom"])
            ):
                self.recompute_order_billing(int(data["createdFrom"]))
        elif rtype == "priceLevel":
            self.svc.invalidate_price_levels()

    # transforms -------------------------------------------------------------------------------

    def transform_init(
        self, from_type: str, src_id: int, src: dict[str, Any], to_type: str, body: Any
    ) -> tuple[dict[str, Any], Any]:
        """Starting values of the record a transform creates, and the body left to apply.

        Raises:
            NetSuiteError: unsupported transform or a source that cannot be transformed.
        """
        if (from_type, to_type) not in TRANSFORMS:
            raise NetSuiteError(
                400,
                "INVALID_REQUEST",
                f"The transformation from '{from_type}' to '{to_type}' is not supported.",
            )
        if not isinstance(body, dict):
            raise NetSuiteError(
                400,
                "INVALID_CONTENT",
                "Error while accessing resource: The request body must be a JSON object.",
            )
        if from_type == "customer":
            field = "customer" if to_type == "customerPayment" else "entity"
            return {field: str(src_id)}, body
        if from_type == "salesOrder":
            return self._order_to_invoice(src_id, src, body)
        if from_type == "opportunity":
            if src.get("status") in {"C", "D"} and to_type == "salesOrder" and src.get("_transformed"):
                raise user_error("This opportunity has already been closed.")
            init = self._copy_sales(src, src_id)
            init["opportunity"] = str(src_id)
            return init, body
        if from_type == "invoice" and to_type == "customerPayment":
            remaining = _num(src.get("amountRemaining"))
            if remaining <= CENT:
                raise user_error("This invoice has been paid in full.")
            init = {
                "customer": src.get("entity"),
                "currency": src.get("currency"),
                "subsidiary": src.get("subsidiary"),
                "payment": remaining,
                "apply": [{"doc": str(src_id), "apply": True, "amount": remaining}],
                "createdFrom": str(src_id),
            }
            return init, body
        if from_type == "invoice" and to_type == "creditMemo":
            init = self._copy_sales(src, src_id)
            remaining = _num(src.get("amountRemaining"))
            init["apply"] = (
                [{"doc": str(src_id), "apply": True, "amount": min(remaining, _num(src.get("total")))}]
                if remaining > CENT
                else []
            )
            return init, body
        raise NetSuiteError(
            400, "INVALID_REQUEST", f"The transformation from '{from_type}' to '{to_type}' is not supported."
        )

    def _copy_sales(self, src: dict[str, Any], src_id: int) -> dict[str, Any]:
        keep = (
            "entity",
            "currency",
            "subsidiary",
            "terms",
            "salesRep",
            "memo",
            "otherRefNum",
            "discountItem",
            "discountRate",
            "billingAddress",
            "shippingAddress",
            "location",
            "department",
            "class",
        )
        init = {k: copy.deepcopy(src[k]) for k in keep if src.get(k) is not None}
        for key, value in src.items():
            if key.startswith("custbody_"):
                init[key] = value
        lines = []
        for line in src.get("item") or []:
            new = {
                k: copy.deepcopy(v)
                for k, v in line.items()
                if k
                in {
                    "item",
                    "quantity",
                    "rate",
                    "price",
                    "amount",
                    "description",
                    "isTaxable",
                    "location",
                    "department",
                    "class",
                }
                or k.startswith("custcol_")
            }
            new["__given"] = ["amount", "rate", "price"] if line.get("itemType") != "Discount" else ["rate"]
            lines.append(new)
        init["item"] = lines
        init["createdFrom"] = str(src_id)
        return init

    def _order_to_invoice(
        self, src_id: int, src: dict[str, Any], body: dict[str, Any]
    ) -> tuple[dict[str, Any], Any]:
        if src.get("orderStatus") == "A" or src.get("status") == "A":
            raise user_error("You can not bill a sales order that is pending approval.")
        if src.get("status") in {"G", "H", "C"}:
            raise user_error("There are no billable lines on this sales order.")
        init = self._copy_sales(src, src_id)
        lines = []
        for line in src.get("item") or []:
            if line.get("isClosed"):
                continue
            if line.get("itemType") == "Discount":
                new = {
                    "item": line.get("item"),
                    "rate": line.get("rate"),
                    "orderLine": line.get("line"),
                    "__given": ["rate"],
                }
                lines.append(new)
                continue
            rest = _num(line.get("quantity")) - _num(line.get("quantityBilled"))
            if rest <= 1e-9:
                continue
            new = {
                k: copy.deepcopy(v)
                for k, v in line.items()
                if k
                in {"item", "rate", "price", "description", "isTaxable", "location", "department", "class"}
                or k.startswith("custcol_")
            }
            new["quantity"] = rest
            new["orderLine"] = line.get("line")
            new["__given"] = ["rate", "price", "quantity"]
            lines.append(new)
        body = dict(body)
        body_items: Any = None
        for key in list(body):
            if key.lower() == "item":
                body_items = body.pop(key)
        if isinstance(body_items, dict) and isinstance(body_items.get("items"), list):
            by_line = {str(ln.get("orderLine")): ln for ln in lines}
            extra = []
            for n, req in enumerate(body_items["items"]):
                if not isinstance(req, dict):
                    raise invalid_content("object", "item", f"item.items[{n}]")
                order_line = next((v for k, v in req.items() if k.lower() == "orderline"), None)
                if order_line is None:
                    extra.append(req)
                    continue
                target = by_line.get(str(order_line))
                if target is None:
                    raise invalid_content(order_line, "orderLine", f"item.items[{n}].orderLine")
                qty = next((v for k, v in req.items() if k.lower() == "quantity"), None)
                if qty is not None:
                    qty_num = _num(qty, -1.0)
                    if qty_num < 0:
                        raise invalid_content(qty, "quantity", f"item.items[{n}].quantity")
                    if qty_num > _num(target.get("quantity")) + 1e-9:
                        raise user_error(
                            f"You cannot bill more than the remaining quantity "
                            f"({_num(target.get('quantity')):g}) of line {order_line}.",
                            f"item.items[{n}].quantity",
                        )
                    target["quantity"] = qty_num
                for k, v in req.items():
                    if k.lower() not in {"orderline", "quantity"}:
                        target[k] = v
            lines = [
                ln
                for ln in lines
                if ln.get("itemType") == "Discount"
                or ln.get("quantity") is None
                or _num(ln.get("quantity")) > 1e-9
            ]
            if extra:
                body["item"] = {"items": extra}
        if not [ln for ln in lines if ln.get("quantity") is None or _num(ln.get("quantity")) > 0]:
            raise user_error("There are no billable lines on this sales order.")
        init["item"] = lines
        if src.get("opportunity"):
            init["opportunity"] = src["opportunity"]
        return init, body

    def after_transform(self, from_type: str, src_id: int, to_type: str, new_id: int) -> None:
        """Update the source of a transform (an opportunity closes as won)."""
        if from_type == "opportunity" and to_type in {"salesOrder", "invoice"}:
            opp = self._load("opportunity", src_id)
            if opp is not None:
                opp["status"] = "C"
                opp["_transformed"] = True
                opp["_closeDate"] = self.svc.today().isoformat()
                self.svc.save("opportunity", src_id, opp, touch=True)


_TYPE_BY_CODE = {code: rtype for rtype, code in TRANSACTION_CODES.items()}
_DERIVED_CUSTOMER = (
    "balance",
    "overdueBalance",
    "depositBalance",
    "unbilledOrders",
    "consolBalance",
    "consolOverdueBalance",
    "consolUnbilledOrders",
    "daysOverdue",
    "consolDaysOverdue",
    "aging",
    "aging1",
    "aging2",
    "aging3",
    "aging4",
    "firstSaleDate",
    "lastSaleDate",
    "firstOrderDate",
    "lastOrderDate",
)
