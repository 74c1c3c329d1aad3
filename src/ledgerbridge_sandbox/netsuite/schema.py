"""Record types the sandbox serves: their fields, kinds, references, enumerations and sublists.

Layer: leaf data model; standard library only.

Field names and kinds follow the 2026.1 REST API Browser (reference §5). Each record type belongs to
an id *family* (entities, transactions, items, one per list record) because NetSuite numbers
internal ids per family: a customer and a contact never share an id, and ``transaction`` in SuiteQL
holds sales orders, invoices and payments under one id space.

Field specs are written compactly as ``"kind[:arg] [ro] [req]"``:

- kinds: ``str``, ``int``, ``num`` (number), ``numstr`` (number or ``"-10%"``), ``bool``, ``date``,
  ``datetime``, ``ref:<type or family>``, ``xref`` (a reference to a record type the sandbox does not
  serve; kept as given), ``enum:<name>``, ``multi:<type>``, ``sublist:<name>``, ``subrecord:<name>``,
  ``qty`` (pricing quantity ``{"value": n}``);
- ``ro``: read-only (computed by the sandbox; ignored on input);
- ``req``: required on create (in addition to rules in the business layer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENUMS: dict[str, dict[str, str]] = {
    "creditHoldOverride": {"AUTO": "Auto", "ON": "On", "OFF": "Off"},
    "orderStatus": {"A": "Pending Approval", "B": "Pending Fulfillment"},
    "salesOrderStatus": {
        "A": "Pending Approval",
        "B": "Pending Fulfillment",
        "C": "Cancelled",
        "D": "Partially Fulfilled",
        "E": "Pending Billing/Partially Fulfilled",
        "F": "Pending Billing",
        "G": "Billed",
        "H": "Closed",
    },
    "invoiceStatus": {"A": "Open", "B": "Paid In Full"},
    "paymentStatus": {"A": "Unapproved Payment", "B": "Not Deposited", "C": "Deposited"},
    "creditMemoStatus": {"A": "Open", "B": "Fully Applied"},
    "opportunityStatus": {
        "A": "In Progress",
        "B": "Issued Estimate",
        "C": "Closed – Won",
        "D": "Closed – Lost",
    },
    "stage": {"LEAD": "Lead", "PROSPECT": "Prospect", "CUSTOMER": "Customer"},
    "globalSubscriptionStatus": {
        "1": "Soft Opt-In",
        "2": "Soft Opt-Out",
        "3": "Confirmed Opt-In",
        "4": "Confirmed Opt-Out",
    },
    "itemType": {
        "InvtPart": "InvtPart",
        "NonInvtPart": "NonInvtPart",
        "Service": "Service",
        "Discount": "Discount",
    },
    "source": {
        "restWebServices": "REST Web Services",
        "webServices": "Web Services",
        "userInterface": "User Interface",
        "csv": "CSV",
    },
    "country": {
        "US": "United States",
        "CA": "Canada",
        "GB": "United Kingdom",
        "DE": "Germany",
        "IE": "Ireland",
        "FR": "France",
        "NL": "Netherlands",
        "ES": "Spain",
        "IT": "Italy",
        "AU": "Australia",
        "JP": "Japan",
        "MX": "Mexico",
        "BR": "Brazil",
        "IN": "India",
        "SE": "Sweden",
        "CH": "Switzerland",
    },
}
"""Enumerations: id -> refName."""

# Record type -> family. Families number internal ids independently.
FAMILIES: dict[str, str] = {
    "customer": "entity",
    "contact": "entity",
    "employee": "entity",
    "salesOrder": "transaction",
    "invoice": "transaction",
    "customerPayment": "transaction",
    "creditMemo": "transaction",
    "opportunity": "transaction",
    "inventoryItem": "item",
    "nonInventorySaleItem": "item",
    "serviceSaleItem": "item",
    "discountItem": "item",
    "priceLevel": "priceLevel",
    "subsidiary": "subsidiary",
    "currency": "currency",
    "term": "term",
    "customerStatus": "customerStatus",
}
"""Record type -> id family."""

TRANSACTION_CODES = {
    "salesOrder": "SalesOrd",
    "invoice": "CustInvc",
    "customerPayment": "CustPymt",
    "creditMemo": "CustCred",
    "opportunity": "Opprtnty",
}
"""SuiteQL ``transaction.type`` codes."""

TRANSACTION_LABELS = {
    "salesOrder": "Sales Order",
    "invoice": "Invoice",
    "customerPayment": "Payment",
    "creditMemo": "Credit Memo",
    "opportunity": "Opportunity",
}
"""Display names of transaction types (as in refName and BUILTIN.DF of status)."""

TRANID_PREFIX = {
    "salesOrder": "SO",
    "invoice": "INV",
    "customerPayment": "PYMT",
    "creditMemo": "CM",
    "opportunity": "OPP",
}
"""Prefixes of auto-generated document numbers (SO1001, INV1001, ...)."""

ITEM_TYPE_CODES = {
    "inventoryItem": "InvtPart",
    "nonInventorySaleItem": "NonInvtPart",
    "serviceSaleItem": "Service",
    "discountItem": "Discount",
}
"""SuiteQL ``item.itemtype`` codes."""

_ENTITY_COMMON = {
    "entityId": "str",
    "externalId": "str",
    "isInactive": "bool",
    "email": "str",
    "phone": "str",
    "subsidiary": "ref:subsidiary",
    "dateCreated": "datetime ro",
    "lastModifiedDate": "datetime ro",
    "firstName": "str",
    "middleName": "str",
    "lastName": "str",
    "salutation": "str",
    "title": "str",
    "mobilePhone": "str",
    "fax": "str",
    "comments": "str",
}
_ADDRESS_BOOK = {"addressBook": "sublist:addressBook"}

_TRAN_COMMON = {
    "tranId": "str",
    "tranDate": "date",
    "externalId": "str",
    "subsidiary": "ref:subsidiary",
    "currency": "ref:currency",
    "exchangeRate": "num",
    "memo": "str",
    "otherRefNum": "str",
    "createdDate": "datetime ro",
    "lastModifiedDate": "datetime ro",
    "createdFrom": "ref:transaction ro",
    "source": "enum:source ro",
    "location": "xref",
    "department": "xref",
    "class": "xref",
    "postingPeriod": "xref",
}
_SALES_BODY = {
    "entity": "ref:customer req",
    "terms": "ref:term",
    "dueDate": "date",
    "salesRep": "ref:employee",
    "discountItem": "ref:item",
    "discountRate": "numstr",
    "discountTotal": "num ro",
    "subtotal": "num ro",
    "taxTotal": "num ro",
    "total": "num ro",
    "billingAddress": "subrecord:address",
    "shippingAddress": "subrecord:address",
    "item": "sublist:item",
    "toBeEmailed": "bool",
}
_ITEM_COMMON = {
    "itemId": "str req",
    "displayName": "str",
    "description": "str",
    "salesDescription": "str",
    "externalId": "str",
    "isInactive": "bool",
    "subsidiary": "multi:subsidiary",
    "includeChildren": "bool",
    "incomeAccount": "xref",
    "taxSchedule": "xref",
    "createdDate": "datetime ro",
    "lastModifiedDate": "datetime ro",
    "upcCode": "str",
}
_SALE_ITEM = {"basePrice": "num", "price": "sublist:price", "cost": "num"}

RECORD_FIELDS: dict[str, dict[str, str]] = {
    "customer": {
        **_ENTITY_COMMON,
        **_ADDRESS_BOOK,
        "companyName": "str",
        "altName": "str ro",
        "isPerson": "bool",
        "autoName": "bool",
        "altEmail": "str",
        "altPhone": "str",
        "homePhone": "str",
        "url": "str",
        "entityStatus": "ref:customerStatus",
        "searchStage": "str ro",
        "probability": "num",
        "terms": "ref:term",
        "currency": "ref:currency",
        "currencyList": "sublist:currencyList",
        "priceLevel": "ref:priceLevel",
        "creditLimit": "num",
        "creditHoldOverride": "enum:creditHoldOverride",
        "balance": "num ro",
        "overdueBalance": "num ro",
        "depositBalance": "num ro",
        "unbilledOrders": "num ro",
        "consolBalance": "num ro",
        "consolOverdueBalance": "num ro",
        "consolUnbilledOrders": "num ro",
        "daysOverdue": "int ro",
        "consolDaysOverdue": "int ro",
        "aging": "num ro",
        "aging1": "num ro",
        "aging2": "num ro",
        "aging3": "num ro",
        "aging4": "num ro",
        "salesRep": "ref:employee",
        "leadSource": "xref",
        "category": "xref",
        "parent": "ref:customer",
        "firstSaleDate": "date ro",
        "lastSaleDate": "date ro",
        "firstOrderDate": "date ro",
        "lastOrderDate": "date ro",
        "defaultAddress": "str ro",
        "taxable": "bool",
        "emailTransactions": "bool",
    },
    "contact": {
        **_ENTITY_COMMON,
        **_ADDRESS_BOOK,
        "company": "ref:customer",
        "contactRole": "xref",
        "officePhone": "str",
        "homePhone": "str",
        "altEmail": "str",
        "globalSubscriptionStatus": "enum:globalSubscriptionStatus",
    },
    "employee": {
        **_ENTITY_COMMON,
        "isSalesRep": "bool",
        "isSupportRep": "bool",
        "supervisor": "ref:employee",
        "department": "xref",
        "giveAccess": "bool",
        "initials": "str",
    },
    "salesOrder": {
        **_TRAN_COMMON,
        **_SALES_BODY,
        "orderStatus": "enum:orderStatus",
        "status": "enum:salesOrderStatus ro",
        "opportunity": "ref:opportunity",
        "shipDate": "date",
    },
    "invoice": {
        **_TRAN_COMMON,
        **_SALES_BODY,
        "status": "enum:invoiceStatus ro",
        "amountRemaining": "num ro",
        "amountPaid": "num ro",
        "opportunity": "ref:opportunity",
        "account": "xref",
    },
    "creditMemo": {
        **_TRAN_COMMON,
        **_SALES_BODY,
        "status": "enum:creditMemoStatus ro",
        "applied": "num ro",
        "unapplied": "num ro",
        "amountRemaining": "num ro",
        "apply": "sublist:apply",
        "account": "xref",
    },
    "opportunity": {
        **_TRAN_COMMON,
        **_SALES_BODY,
        "title": "str",
        "expectedCloseDate": "date",
        "probability": "num",
        "entityStatus": "ref:customerStatus",
        "status": "enum:opportunityStatus",
        "projectedTotal": "num",
        "rangeLow": "num",
        "rangeHigh": "num",
        "forecastType": "xref",
        "winLossReason": "xref",
        "leadSource": "xref",
    },
    "customerPayment": {
        **_TRAN_COMMON,
        "customer": "ref:customer req",
        "payment": "num",
        "account": "xref",
        "undepFunds": "bool",
        "paymentMethod": "xref",
        "applied": "num ro",
        "unapplied": "num ro",
        "total": "num ro",
        "status": "enum:paymentStatus ro",
        "apply": "sublist:apply",
        "autoApply": "bool",
    },
    "inventoryItem": {**_ITEM_COMMON, **_SALE_ITEM},
    "nonInventorySaleItem": {**_ITEM_COMMON, **_SALE_ITEM},
    "serviceSaleItem": {**_ITEM_COMMON, **_SALE_ITEM},
    "discountItem": {**_ITEM_COMMON, "rate": "numstr", "isPreTax": "bool", "account": "xref"},
    "priceLevel": {
        "name": "str req",
        "discountPct": "num",
        "isInactive": "bool",
        "isOnline": "bool",
        "updateExistingPrices": "bool",
        "externalId": "str",
        "lastModifiedDate": "datetime ro",
    },
    "subsidiary": {
        "name": "str req",
        "parent": "ref:subsidiary",
        "currency": "ref:currency",
        "country": "enum:country",
        "isInactive": "bool",
        "isElimination": "bool",
        "fullName": "str ro",
        "externalId": "str",
        "lastModifiedDate": "datetime ro",
    },
    "currency": {
        "name": "str req",
        "symbol": "str req",
        "displaySymbol": "str",
        "isBaseCurrency": "bool",
        "exchangeRate": "num",
        "isInactive": "bool",
        "externalId": "str",
        "lastModifiedDate": "datetime ro",
    },
    "term": {
        "name": "str req",
        "daysUntilNetDue": "int",
        "discountPercent": "num",
        "daysUntilExpiry": "int",
        "isInactive": "bool",
        "externalId": "str",
        "lastModifiedDate": "datetime ro",
    },
    "customerStatus": {
        "name": "str req",
        "stage": "enum:stage req",
        "probability": "num",
        "description": "str",
        "includeInLeadReports": "bool",
        "isInactive": "bool",
        "externalId": "str",
        "lastModifiedDate": "datetime ro",
    },
}
"""Record type -> field name -> spec."""

SUBLISTS: dict[str, tuple[str | None, dict[str, str]]] = {
    "addressBook": (
        "id",
        {
            "id": "int ro",
            "label": "str",
            "defaultBilling": "bool",
            "defaultShipping": "bool",
            "isResidential": "bool",
            "addressBookAddress": "subrecord:address",
            "addressBookAddress_text": "str ro",
        },
    ),
    "currencyList": (
        "currency",
        {"currency": "ref:currency req", "balance": "num ro", "overdueBalance": "num ro"},
    ),
    "item": (
        "line",
        {
            "line": "int ro",
            "item": "ref:item req",
            "itemType": "enum:itemType ro",
            "quantity": "num",
            "rate": "numstr",
            "price": "ref:priceLevel",
            "amount": "num",
            "description": "str",
            "isClosed": "bool",
            "quantityBilled": "num ro",
            "quantityFulfilled": "num ro",
            "orderLine": "int",
            "location": "xref",
            "department": "xref",
            "class": "xref",
            "isTaxable": "bool",
            "expectedShipDate": "date",
        },
    ),
    "apply": (
        "doc",
        {
            "doc": "ref:transaction req",
            "apply": "bool",
            "amount": "num",
            "due": "num ro",
            "total": "num ro",
            "refNum": "str ro",
            "applyDate": "date ro",
            "type": "str ro",
            "currency": "str ro",
            "line": "int ro",
        },
    ),
    "price": (
        None,
        {
            "currencyPage": "ref:currency req",
            "priceLevel": "ref:priceLevel req",
            "priceLevelName": "str ro",
            "price": "num",
            "quantity": "qty",
            "discountDisplay": "num ro",
            "isInactive": "bool",
        },
    ),
}
"""Sublist name -> (line key field or None for unkeyed lists, line field specs)."""

SUBRECORDS: dict[str, dict[str, str]] = {
    "address": {
        "addressee": "str",
        "attention": "str",
        "addr1": "str",
        "addr2": "str",
        "addr3": "str",
        "city": "str",
        "state": "str",
        "zip": "str",
        "country": "enum:country",
        "addrPhone": "str",
        "addrText": "str ro",
        "override": "bool",
        "externalId": "str",
    },
}
"""Subrecord name -> field specs."""

CUSTOM_PREFIX_TARGETS: dict[str, tuple[str, ...]] = {
    "custentity_": ("customer", "contact", "employee"),
    "custbody_": ("salesOrder", "invoice", "customerPayment", "creditMemo", "opportunity"),
    "custitem_": ("inventoryItem", "nonInventorySaleItem", "serviceSaleItem", "discountItem"),
    "custcol_": ("item",),
}
"""Custom field prefix -> record types (or, for ``custcol_``, sublists) it applies to."""

CUSTOM_TYPES = {
    "string": "str",
    "text": "str",
    "integer": "int",
    "number": "num",
    "decimal": "num",
    "currency": "num",
    "boolean": "bool",
    "checkbox": "bool",
    "date": "date",
    "datetime": "datetime",
    "email": "str",
    "phone": "str",
    "url": "str",
}
"""Custom field ``type`` in the schema file -> field kind (``select:<type>`` gives a reference)."""

DEFAULT_CUSTOM_FIELDS_FILE = Path(__file__).with_name("custom_fields.json")
"""The packaged schema of custom fields LedgerBridge uses."""


@dataclass(frozen=True)
class FieldDef:
    """One field of a record, sublist line or subrecord.

    Attributes:
        name: canonical camelCase name (custom fields keep their script id).
        kind: ``str``, ``int``, ``num``, ``numstr``, ``bool``, ``date``, ``datetime``, ``ref``, ``xref``,
            ``enum``, ``multi``, ``sublist``, ``subrecord`` or ``qty``.
        arg: the referenced type, enum, sublist or subrecord name.
        read_only: computed by the sandbox.
        required: required on create.
        custom: declared in the custom field schema.
        label: display label.
    """

    name: str
    kind: str
    arg: str = ""
    read_only: bool = False
    required: bool = False
    custom: bool = False
    label: str = ""


@dataclass
class Shape:
    """The fields of a record, a sublist line or a subrecord, with case-insensitive lookup."""

    name: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    key: str | None = None

    def __post_init__(self) -> None:
        self._lower = {k.lower(): k for k in self.fields}

    def add(self, fdef: FieldDef) -> None:
        """Add a field (used for custom fields)."""
        self.fields[fdef.name] = fdef
        self._lower[fdef.name.lower()] = fdef.name

    def canonical(self, name: str) -> str | None:
        """The canonical name of a field given in any case, or None when unknown."""
        return self._lower.get(name.lower())


def parse_spec(name: str, spec: str, *, custom: bool = False, label: str = "") -> FieldDef:
    """Parse a compact field spec (see the module docstring).

    Args:
        name: field name.
        spec: ``"kind[:arg] [ro] [req]"``.
        custom: whether the field is a custom field.
        label: display label.

    Returns:
        The field definition.
    """
    parts = spec.split()
    kind, _, arg = parts[0].partition(":")
    return FieldDef(
        name,
        kind,
        arg,
        read_only="ro" in parts[1:],
        required="req" in parts[1:],
        custom=custom,
        label=label or _label(name),
    )


def _label(name: str) -> str:
    out: list[str] = []
    for ch in name:
        if ch.isupper() and out:
            out.append(" ")
        out.append(ch)
    text = "".join(out)
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class CustomField:
    """A custom field declared in the schema file."""

    script_id: str
    kind_spec: str
    label: str
    applies_to: tuple[str, ...]


@dataclass
class Schema:
    """All record, sublist and subrecord shapes, with custom fields merged in."""

    records: dict[str, Shape]
    sublists: dict[str, Shape]
    subrecords: dict[str, Shape]
    custom_fields: list[CustomField]

    def record(self, name: str) -> Shape | None:
        """The shape of a record type named in any case, or None."""
        canon = self.record_type(name)
        return self.records[canon] if canon else None

    def record_type(self, name: str) -> str | None:
        """The canonical record type name for a name given in any case, or None."""
        lowered = name.lower()
        for key in self.records:
            if key.lower() == lowered:
                return key
        return None


def load_custom_fields(path: Path | None) -> list[CustomField]:
    """Read the custom field schema file.

    The file is JSON: ``{"customFields": [{"scriptId": "custentity_x", "type": "string",
    "label": "...", "appliesTo": ["customer"]}]}``; ``type`` is one of ``CUSTOM_TYPES`` or
    ``select:<recordType>``; ``appliesTo`` defaults to every record the prefix applies to.

    Args:
        path: the file; None reads the packaged default.

    Returns:
        The declared fields.

    Raises:
        ValueError: a script id without a known prefix or an unknown type.
    """
    data = json.loads((path or DEFAULT_CUSTOM_FIELDS_FILE).read_text(encoding="utf-8"))
    out: list[CustomField] = []
    for entry in data.get("customFields", []):
        sid = str(entry["scriptId"]).lower()
        prefix = next((p for p in CUSTOM_PREFIX_TARGETS if sid.startswith(p)), None)
        if prefix is None:
            raise ValueError(
                f"custom field {sid!r}: script id must start with one of {list(CUSTOM_PREFIX_TARGETS)}"
            )
        ftype = str(entry.get("type", "string"))
        if ftype.startswith("select:"):
            kind_spec = "ref:" + ftype.split(":", 1)[1]
        elif ftype in CUSTOM_TYPES:
            kind_spec = CUSTOM_TYPES[ftype]
        else:
            raise ValueError(f"custom field {sid!r}: unknown type {ftype!r}")
        applies = tuple(entry.get("appliesTo") or CUSTOM_PREFIX_TARGETS[prefix])
        out.append(CustomField(sid, kind_spec, str(entry.get("label", sid)), applies))
    return out


def build_schema(custom_fields_file: Path | None = None) -> Schema:
    """Build every shape, merging in custom fields.

    Args:
        custom_fields_file: custom field schema; None uses the packaged default.

    Returns:
        The schema.
    """
    records = {
        name: Shape(name, {f: parse_spec(f, s) for f, s in specs.items()})
        for name, specs in RECORD_FIELDS.items()
    }
    sublists = {
        name: Shape(name, {f: parse_spec(f, s) for f, s in specs.items()}, key=key)
        for name, (key, specs) in SUBLISTS.items()
    }
    subrecords = {
        name: Shape(name, {f: parse_spec(f, s) for f, s in specs.items()})
        for name, specs in SUBRECORDS.items()
    }
    customs = load_custom_fields(custom_fields_file)
    for cf in customs:
        fdef = parse_spec(cf.script_id, cf.kind_spec, custom=True, label=cf.label)
        if cf.script_id.startswith("custcol_"):
            for sub in cf.applies_to:
                if sub in sublists:
                    sublists[sub].add(fdef)
            continue
        for rtype in cf.applies_to:
            if rtype in records:
                records[rtype].add(fdef)
    return Schema(records, sublists, subrecords, customs)


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for tuples and sets."""
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
