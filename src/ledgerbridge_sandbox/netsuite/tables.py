"""SuiteQL's tables (the "NetSuite2.com" analytics schema) and how records project into them.

Layer: data model under ``store`` and ``suiteql``; imports ``schema`` only.

SuiteQL column names are not the REST field names (reference §4.3): the customer's REST ``balance``
is ``balancesearch`` here, the invoice's ``amountRemaining`` is ``foreignamountunpaid``, booleans
are ``'T'``/``'F'``, ids are numbers. Every record write replaces the rows it owns in these tables
(a hidden ``_owner`` column names the owning record), so SuiteQL reads plain SQLite tables.

Dates and datetimes are stored as Julian day numbers (SQLite ``julianday``), so that Oracle's date
arithmetic (``SYSDATE - 30``, ``duedate - trandate``) works unchanged; datetimes are shifted to the
SuiteQL time zone first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from ledgerbridge_sandbox.netsuite.schema import (
    ITEM_TYPE_CODES,
    TRANSACTION_CODES,
    TRANSACTION_LABELS,
    Schema,
)

JULIAN_EPOCH = 2440587.5
"""Julian day number of 1970-01-01T00:00:00Z."""
_ORDINAL_1970 = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class Column:
    """A SuiteQL column.

    Attributes:
        name: lower-case column name.
        type: ``int``, ``float``, ``text``, ``bool`` (``'T'``/``'F'``), ``date`` or ``datetime``.
        ref: the table a foreign key points at (used by ``BUILTIN.DF``).
    """

    name: str
    type: str
    ref: str | None = None


@dataclass
class Table:
    """A SuiteQL table."""

    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    display: str = "name"

    @property
    def sql_name(self) -> str:
        """The SQLite table holding it."""
        return f"sq_{self.name}"


def _cols(spec: str) -> dict[str, Column]:
    out: dict[str, Column] = {}
    for token in spec.split():
        name, _, rest = token.partition(":")
        typ, _, ref = rest.partition(">")
        out[name] = Column(name, typ or "text", ref or None)
    return out


_TABLE_SPECS: dict[str, tuple[str, str]] = {
    "customer": (
        "entityid",
        """
        id:int entityid entitynumber:int companyname altname entitytitle isperson:bool firstname middlename
        lastname salutation title email altemail phone altphone mobilephone homephone fax url comments
        externalid datecreated:datetime lastmodifieddate:datetime isinactive:bool
        entitystatus:int>entitystatus searchstage probability:float salesrep:int>employee leadsource
        parent:int>customer terms:int>term currency:int>currency pricelevel:int>pricelevel category
        creditlimit:float creditholdoverride oncredithold:bool balancesearch:float overduebalancesearch:float
        unbilledorderssearch:float depositbalancesearch:float consolbalancesearch:float
        consoloverduebalancesearch:float consoldaysoverduesearch:int consolunbilledorderssearch:float
        defaultbillingaddress:int>entityaddress defaultshippingaddress:int>entityaddress
        firstsaledate:date lastsaledate:date firstorderdate:date lastorderdate:date dateclosed:date
        emailtransactions:bool taxable:bool""",
    ),
    "contact": (
        "entityid",
        """
        id:int entityid firstname middlename lastname salutation title email altemail phone mobilephone
        officephone homephone fax company:int>customer subsidiary:int>subsidiary contactrole isinactive:bool
        externalid datecreated:datetime lastmodifieddate:datetime globalsubscriptionstatus comments""",
    ),
    "employee": (
        "entityid",
        """
        id:int entityid firstname middlename lastname title email phone mobilephone subsidiary:int>subsidiary
        issalesrep:bool issupportrep:bool supervisor:int>employee department isinactive:bool giveaccess:bool
        initials externalid datecreated:datetime lastmodifieddate:datetime""",
    ),
    "transaction": (
        "trandisplayname",
        """
        id:int tranid transactionnumber trandisplayname type recordtype status entity:int>customer
        trandate:date createddate:datetime lastmodifieddate:datetime duedate:date closedate:date
        currency:int>currency exchangerate:float foreigntotal:float foreignamountpaid:float
        foreignamountunpaid:float daysopen:int daysoverduesearch:int memo otherrefnum externalid
        posting:bool voided:bool employee:int>employee terms:int>term probability:float
        expectedclosedate:date projectedtotal:float entitystatus:int>entitystatus title rangelow:float
        rangehigh:float forecasttype winlossreason source approvalstatus""",
    ),
    "transactionline": (
        "memo",
        """
        id:int transaction:int>transaction linesequencenumber:int uniquekey:int mainline:bool taxline:bool
        item:int>item itemtype quantity:float rate:float rateamount:float price:int>pricelevel
        foreignamount:float netamount:float memo isclosed:bool quantitybilled:float
        createdfrom:int>transaction linelastmodifieddate:datetime location department class
        subsidiary:int>subsidiary entity:int>customer donotdisplayline:bool""",
    ),
    "item": (
        "itemid",
        """
        id:int itemid displayname fullname description itemtype subtype isinactive:bool createddate:datetime
        lastmodifieddate:datetime externalid subsidiary includechildren:bool incomeaccount upccode
        cost:float rate""",
    ),
    "pricing": (
        "unitprice",
        """
        internalid:int item:int>item pricelevel:int>pricelevel currency:int>currency quantity:float
        saleunit unitprice:float""",
    ),
    "pricelevel": (
        "name",
        """
        id:int name discountpct:float isinactive:bool isonline:bool externalid lastmodifieddate:datetime""",
    ),
    "currency": (
        "name",
        """
        id:int name symbol displaysymbol isbasecurrency:bool exchangerate:float isinactive:bool externalid
        lastmodifieddate:datetime""",
    ),
    "subsidiary": (
        "fullname",
        """
        id:int name fullname parent:int>subsidiary currency:int>currency country isinactive:bool
        iselimination:bool externalid lastmodifieddate:datetime""",
    ),
    "term": (
        "name",
        """
        id:int name daysuntilnetdue:int discountpercent:float daysuntilexpiry:int isinactive:bool externalid
        lastmodifieddate:datetime""",
    ),
    "entitystatus": (
        "name",
        """
        id:int name stage probability:float descr includeinleadreports:bool isinactive:bool externalid
        lastmodifieddate:datetime""",
    ),
    "deletedrecord": (
        "name",
        """
        recordid:int recordtypeid:int scriptid type name deleteddate:datetime deletedby:int context
        iscustomlist:bool iscustomrecord:bool iscustomtransaction:bool""",
    ),
    "customersubsidiaryrelationship": (
        "name",
        """
        id:int entity:int>customer subsidiary:int>subsidiary isprimarysub:bool primarycurrency:int>currency
        name""",
    ),
    "entityaddress": (
        "addrtext",
        """
        nkey:int addressee attention addr1 addr2 addr3 city state zip country addrphone addrtext
        lastmodifieddate:datetime""",
    ),
    "transactionstatus": ("name", "id trantype name fullname"),
}

_CUSTOM_TABLES = {
    "custentity_": ("customer", "contact", "employee"),
    "custbody_": ("transaction",),
    "custitem_": ("item",),
    "custcol_": ("transactionline",),
}
_CUSTOM_KIND_TYPES = {
    "str": "text",
    "int": "int",
    "num": "float",
    "bool": "bool",
    "date": "date",
    "datetime": "datetime",
    "ref": "int",
}


def build_tables(schema: Schema) -> dict[str, Table]:
    """All SuiteQL tables, with the custom fields of ``schema`` added as columns.

    Args:
        schema: the record schema (for custom fields).

    Returns:
        Table name -> table.
    """
    tables = {name: Table(name, _cols(spec), display) for name, (display, spec) in _TABLE_SPECS.items()}
    for cf in schema.custom_fields:
        prefix = next(p for p in _CUSTOM_TABLES if cf.script_id.startswith(p))
        kind, _, arg = cf.kind_spec.partition(":")
        ctype = _CUSTOM_KIND_TYPES.get(kind, "text")
        ref = arg.lower() if kind == "ref" and arg.lower() in tables else None
        for tname in _CUSTOM_TABLES[prefix]:
            if prefix == "custentity_" and tname not in cf.applies_to:
                continue
            tables[tname].columns[cf.script_id] = Column(cf.script_id, ctype, ref)
    return tables


TRANSACTION_STATUS_ROWS: list[tuple[str, str, str]] = [
    ("A", "SalesOrd", "Pending Approval"),
    ("B", "SalesOrd", "Pending Fulfillment"),
    ("C", "SalesOrd", "Cancelled"),
    ("D", "SalesOrd", "Partially Fulfilled"),
    ("E", "SalesOrd", "Pending Billing/Partially Fulfilled"),
    ("F", "SalesOrd", "Pending Billing"),
    ("G", "SalesOrd", "Billed"),
    ("H", "SalesOrd", "Closed"),
    ("A", "CustInvc", "Open"),
    ("B", "CustInvc", "Paid In Full"),
    ("A", "CustPymt", "Unapproved Payment"),
    ("B", "CustPymt", "Not Deposited"),
    ("C", "CustPymt", "Deposited"),
    ("A", "CustCred", "Open"),
    ("B", "CustCred", "Fully Applied"),
    ("A", "Opprtnty", "In Progress"),
    ("B", "Opprtnty", "Issued Estimate"),
    ("C", "Opprtnty", "Closed – Won"),
    ("D", "Opprtnty", "Closed – Lost"),
]
"""(letter, type code, label) rows of ``transactionstatus`` (reference §4.3)."""

TYPE_LABEL_BY_CODE = {TRANSACTION_CODES[k]: v for k, v in TRANSACTION_LABELS.items()}
"""Transaction type code -> label (``CustInvc`` -> ``Invoice``)."""

ITEM_TYPE_LABELS = {
    "InvtPart": "Inventory Item",
    "NonInvtPart": "Non-inventory Item",
    "Service": "Service",
    "Discount": "Discount",
}
"""Item type code -> label (BUILTIN.DF of ``item.itemtype``)."""


def status_label(type_code: str | None, letter: str | None) -> str | None:
    """``BUILTIN.DF`` of a transaction status (``Sales Order : Pending Fulfillment``)."""
    if type_code is None or letter is None:
        return None
    for row_letter, code, label in TRANSACTION_STATUS_ROWS:
        if code == type_code and row_letter == letter:
            return f"{TYPE_LABEL_BY_CODE.get(code, code)} : {label}"
    return letter


# --- value conversion -------------------------------------------------------------------------


def julian_from_datetime(value: datetime) -> float:
    """Julian day number of an aware datetime (its wall-clock time, zone dropped)."""
    naive = value.replace(tzinfo=UTC)
    return naive.timestamp() / 86400.0 + JULIAN_EPOCH


def julian_from_date(value: date) -> float:
    """Julian day number of midnight at a date."""
    return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() / 86400.0 + JULIAN_EPOCH


def datetime_from_julian(value: float) -> datetime:
    """The (naive, wall-clock) datetime of a Julian day number, rounded to the millisecond."""
    seconds = round((value - JULIAN_EPOCH) * 86400.0, 3)
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


@dataclass
class ProjectionContext:
    """What projection needs beyond the record itself.

    Attributes:
        tz: time zone SuiteQL shows datetimes in.
        today: the current date (for days overdue / days open).
        price_levels: active price levels as ``(id, discount pct)``.
        base_currency: currency id of an item's ``basePrice`` when it has no pricing rows.
    """

    tz: tzinfo
    today: date
    price_levels: Callable[[], list[tuple[int, float]]]
    base_currency: int = 1


def _b(value: Any) -> str:
    return "T" if value else "F"


def _i(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _f(value: Any) -> float | None:
    if type(value) is float:
        return value
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class Projector:
    """Turns a stored record into the SuiteQL rows it owns."""

    def __init__(self, tables: Mapping[str, Table], ctx: ProjectionContext) -> None:
        self.tables = tables
        self.ctx = ctx
        self._customs: dict[str, list[Column]] = {}
        self._utc = str(ctx.tz) in {"UTC", "Etc/UTC"}

    def dt(self, value: Any) -> float | None:
        """Julian day of a stored REST datetime string (UTC ``...Z``), in the SuiteQL time zone."""
        if not value:
            return None
        text = str(value)
        if self._utc and len(text) == 20 and text[10] == "T" and text[19] == "Z":
            days = date(int(text[0:4]), int(text[5:7]), int(text[8:10])).toordinal() - _ORDINAL_1970
            seconds = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
            return days + seconds / 86400.0 + JULIAN_EPOCH
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return julian_from_datetime(parsed.astimezone(self.ctx.tz))

    @staticmethod
    def d(value: Any) -> float | None:
        """Julian day of a stored date string (``YYYY-MM-DD``)."""
        if not value:
            return None
        return date.fromisoformat(str(value)[:10]).toordinal() - _ORDINAL_1970 + JULIAN_EPOCH

    def _custom(self, table: str, data: Mapping[str, Any], row: dict[str, Any]) -> None:
        customs = self._customs.get(table)
        if customs is None:
            customs = [c for n, c in self.tables[table].columns.items() if n.startswith("cust")]
            self._customs[table] = customs
        for col in customs:
            if col.name in data:
                row[col.name] = self._convert(col, data[col.name])

    def _convert(self, col: Column, value: Any) -> Any:
        if value is None:
            return None
        if col.type == "bool":
            return _b(value)
        if col.type == "int":
            return _i(value)
        if col.type == "float":
            return _f(value)
        if col.type == "date":
            return self.d(value)
        if col.type == "datetime":
            return self.dt(value)
        return str(value)

    def project(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The rows a record owns, per table (every table it may own rows in is listed).

        Args:
            rtype: record type.
            rid: internal id.
            data: stored record.

        Returns:
            Table name -> rows (each a column -> value dict).
        """
        fn = getattr(self, f"_p_{rtype}", None)
        if fn is None and rtype in TRANSACTION_CODES:
            fn = self._p_transaction
        if fn is None and rtype in ITEM_TYPE_CODES:
            fn = self._p_item
        if fn is None:
            return {}
        result: dict[str, list[dict[str, Any]]] = fn(rtype, rid, data)
        return result

    # entities ---------------------------------------------------------------------------------

    def _addresses(
        self, rid: int, data: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], int | None, int | None]:
        rows: list[dict[str, Any]] = []
        billing = shipping = None
        for line in data.get("addressBook") or []:
            addr = line.get("addressBookAddress") or {}
            nkey = _i(line.get("id"))
            rows.append(
                {
                    "nkey": nkey,
                    "addressee": addr.get("addressee"),
                    "attention": addr.get("attention"),
                    "addr1": addr.get("addr1"),
                    "addr2": addr.get("addr2"),
                    "addr3": addr.get("addr3"),
                    "city": addr.get("city"),
                    "state": addr.get("state"),
                    "zip": addr.get("zip"),
                    "country": addr.get("country"),
                    "addrphone": addr.get("addrPhone"),
                    "addrtext": addr.get("addrText"),
                    "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
                }
            )
            if line.get("defaultBilling"):
                billing = nkey
            if line.get("defaultShipping"):
                shipping = nkey
        return rows, billing, shipping

    def _p_customer(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        addresses, billing, shipping = self._addresses(rid, data)
        row = {
            "id": rid,
            "entityid": data.get("entityId"),
            "entitynumber": rid,
            "companyname": data.get("companyName"),
            "altname": data.get("altName"),
            "entitytitle": data.get("entityId"),
            "isperson": _b(data.get("isPerson")),
            "firstname": data.get("firstName"),
            "middlename": data.get("middleName"),
            "lastname": data.get("lastName"),
            "salutation": data.get("salutation"),
            "title": data.get("title"),
            "email": data.get("email"),
            "altemail": data.get("altEmail"),
            "phone": data.get("phone"),
            "altphone": data.get("altPhone"),
            "mobilephone": data.get("mobilePhone"),
            "homephone": data.get("homePhone"),
            "fax": data.get("fax"),
            "url": data.get("url"),
            "comments": data.get("comments"),
            "externalid": data.get("externalId"),
            "datecreated": self.dt(data.get("dateCreated")),
            "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
            "isinactive": _b(data.get("isInactive")),
            "entitystatus": _i(data.get("entityStatus")),
            "searchstage": data.get("searchStage"),
            "probability": _f(data.get("probability")),
            "salesrep": _i(data.get("salesRep")),
            "leadsource": data.get("leadSource"),
            "parent": _i(data.get("parent")),
            "terms": _i(data.get("terms")),
            "currency": _i(data.get("currency")),
            "pricelevel": _i(data.get("priceLevel")),
            "category": data.get("category"),
            "creditlimit": _f(data.get("creditLimit")),
            "creditholdoverride": data.get("creditHoldOverride"),
            "oncredithold": _b(data.get("_onCreditHold")),
            "balancesearch": _f(data.get("balance")),
            "overduebalancesearch": _f(data.get("overdueBalance")),
            "unbilledorderssearch": _f(data.get("unbilledOrders")),
            "depositbalancesearch": _f(data.get("depositBalance")),
            "consolbalancesearch": _f(data.get("consolBalance")),
            "consoloverduebalancesearch": _f(data.get("consolOverdueBalance")),
            "consoldaysoverduesearch": _i(data.get("consolDaysOverdue")),
            "consolunbilledorderssearch": _f(data.get("consolUnbilledOrders")),
            "defaultbillingaddress": billing,
            "defaultshippingaddress": shipping,
            "firstsaledate": self.d(data.get("firstSaleDate")),
            "lastsaledate": self.d(data.get("lastSaleDate")),
            "firstorderdate": self.d(data.get("firstOrderDate")),
            "lastorderdate": self.d(data.get("lastOrderDate")),
            "dateclosed": self.d(data.get("_dateClosed")),
            "emailtransactions": _b(data.get("emailTransactions")),
            "taxable": _b(data.get("taxable")),
        }
        self._custom("customer", data, row)
        rel = [
            {
                "id": rid,
                "entity": rid,
                "subsidiary": _i(data.get("subsidiary")),
                "isprimarysub": "T",
                "primarycurrency": _i(data.get("currency")),
                "name": data.get("entityId"),
            }
        ]
        return {"customer": [row], "entityaddress": addresses, "customersubsidiaryrelationship": rel}

    def _p_contact(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        addresses, _, _ = self._addresses(rid, data)
        row = {
            "id": rid,
            "entityid": data.get("entityId"),
            "firstname": data.get("firstName"),
            "middlename": data.get("middleName"),
            "lastname": data.get("lastName"),
            "salutation": data.get("salutation"),
            "title": data.get("title"),
            "email": data.get("email"),
            "altemail": data.get("altEmail"),
            "phone": data.get("phone"),
            "mobilephone": data.get("mobilePhone"),
            "officephone": data.get("officePhone"),
            "homephone": data.get("homePhone"),
            "fax": data.get("fax"),
            "company": _i(data.get("company")),
            "subsidiary": _i(data.get("subsidiary")),
            "contactrole": data.get("contactRole"),
            "isinactive": _b(data.get("isInactive")),
            "externalid": data.get("externalId"),
            "datecreated": self.dt(data.get("dateCreated")),
            "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
            "globalsubscriptionstatus": data.get("globalSubscriptionStatus"),
            "comments": data.get("comments"),
        }
        self._custom("contact", data, row)
        return {"contact": [row], "entityaddress": addresses}

    def _p_employee(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        row = {
            "id": rid,
            "entityid": data.get("entityId"),
            "firstname": data.get("firstName"),
            "middlename": data.get("middleName"),
            "lastname": data.get("lastName"),
            "title": data.get("title"),
            "email": data.get("email"),
            "phone": data.get("phone"),
            "mobilephone": data.get("mobilePhone"),
            "subsidiary": _i(data.get("subsidiary")),
            "issalesrep": _b(data.get("isSalesRep")),
            "issupportrep": _b(data.get("isSupportRep")),
            "supervisor": _i(data.get("supervisor")),
            "department": data.get("department"),
            "isinactive": _b(data.get("isInactive")),
            "giveaccess": _b(data.get("giveAccess")),
            "initials": data.get("initials"),
            "externalid": data.get("externalId"),
            "datecreated": self.dt(data.get("dateCreated")),
            "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
        }
        self._custom("employee", data, row)
        return {"employee": [row]}

    # transactions -----------------------------------------------------------------------------

    def _p_transaction(
        self, rtype: str, rid: int, data: Mapping[str, Any]
    ) -> dict[str, list[dict[str, Any]]]:
        code = TRANSACTION_CODES[rtype]
        entity = _i(data.get("customer") if rtype == "customerPayment" else data.get("entity"))
        total = _f(data.get("total")) or 0.0
        if rtype == "opportunity":
            total = _f(data.get("total")) or 0.0
        paid = unpaid = None
        if rtype == "invoice":
            paid = _f(data.get("amountPaid")) or 0.0
            unpaid = _f(data.get("amountRemaining"))
        elif rtype == "creditMemo":
            paid = _f(data.get("applied")) or 0.0
            unpaid = -(_f(data.get("unapplied")) or 0.0)
            total = -total
        elif rtype == "customerPayment":
            total = _f(data.get("payment")) or 0.0
            paid = _f(data.get("applied")) or 0.0
            unpaid = -(_f(data.get("unapplied")) or 0.0)
        trandate = self.d(data.get("tranDate"))
        today = julian_from_date(self.ctx.today)
        duedate = self.d(data.get("dueDate"))
        days_overdue = None
        if rtype == "invoice" and duedate is not None and (unpaid or 0) > 0 and today > duedate:
            days_overdue = int(today - duedate)
        open_statuses = {
            "invoice": {"A"},
            "salesOrder": {"A", "B", "D", "E", "F"},
            "opportunity": {"A", "B"},
            "creditMemo": {"A"},
        }
        days_open = None
        if trandate is not None and data.get("status") in open_statuses.get(rtype, set()):
            days_open = max(0, int(today - trandate))
        label = TRANSACTION_LABELS[rtype]
        row: dict[str, Any] = {
            "id": rid,
            "tranid": data.get("tranId"),
            "transactionnumber": data.get("tranId"),
            "trandisplayname": f"{label} #{data.get('tranId')}",
            "type": code,
            "recordtype": rtype.lower(),
            "status": data.get("status"),
            "entity": entity,
            "trandate": trandate,
            "createddate": self.dt(data.get("createdDate")),
            "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
            "duedate": duedate,
            "closedate": self.d(data.get("_closeDate")),
            "currency": _i(data.get("currency")),
            "exchangerate": _f(data.get("exchangeRate")),
            "foreigntotal": total,
            "foreignamountpaid": paid,
            "foreignamountunpaid": unpaid,
            "daysopen": days_open,
            "daysoverduesearch": days_overdue,
            "memo": data.get("memo"),
            "otherrefnum": data.get("otherRefNum"),
            "externalid": data.get("externalId"),
            "posting": _b(rtype in {"invoice", "customerPayment", "creditMemo"}),
            "voided": "F",
            "employee": _i(data.get("salesRep")),
            "terms": _i(data.get("terms")),
            "source": "restWebServices" if data.get("source") == "restWebServices" else data.get("source"),
            "approvalstatus": None,
        }
        if rtype == "opportunity":
            row.update(
                {
                    "probability": _f(data.get("probability")),
                    "expectedclosedate": self.d(data.get("expectedCloseDate")),
                    "projectedtotal": _f(data.get("projectedTotal")),
                    "entitystatus": _i(data.get("entityStatus")),
                    "title": data.get("title"),
                    "rangelow": _f(data.get("rangeLow")),
                    "rangehigh": _f(data.get("rangeHigh")),
                    "forecasttype": data.get("forecastType"),
                    "winlossreason": data.get("winLossReason"),
                }
            )
        self._custom("transaction", data, row)
        subsidiary = _i(data.get("subsidiary"))
        lastmod = self.dt(data.get("lastModifiedDate"))
        created_from = _i(data.get("createdFrom"))
        # Sales documents store line quantities and amounts negated (reference §4.3).
        sign = -1.0 if rtype in {"salesOrder", "invoice", "opportunity"} else 1.0
        lines: list[dict[str, Any]] = [
            {
                "id": 0,
                "transaction": rid,
                "linesequencenumber": 0,
                "uniquekey": rid * 1000,
                "mainline": "T",
                "taxline": "F",
                "item": None,
                "itemtype": None,
                "quantity": None,
                "rate": None,
                "rateamount": None,
                "price": None,
                "foreignamount": total,
                "netamount": total,
                "memo": data.get("memo"),
                "isclosed": "F",
                "quantitybilled": None,
                "createdfrom": created_from,
                "linelastmodifieddate": lastmod,
                "subsidiary": subsidiary,
                "entity": entity,
                "donotdisplayline": "F",
            }
        ]
        for seq, line in enumerate(data.get("item") or [], start=1):
            qty = _f(line.get("quantity"))
            amount = _f(line.get("amount"))
            rate = _f(line.get("rate"))
            row_line = {
                "id": _i(line.get("line")),
                "transaction": rid,
                "linesequencenumber": seq,
                "uniquekey": rid * 1000 + (_i(line.get("line")) or seq),
                "mainline": "F",
                "taxline": "F",
                "item": _i(line.get("item")),
                "itemtype": line.get("itemType"),
                "quantity": sign * qty if qty is not None else None,
                "rate": rate,
                "rateamount": sign * amount if amount is not None else None,
                "price": _i(line.get("price")),
                "foreignamount": sign * amount if amount is not None else None,
                "netamount": sign * amount if amount is not None else None,
                "memo": line.get("description"),
                "isclosed": _b(line.get("isClosed")),
                "quantitybilled": _f(line.get("quantityBilled")),
                "createdfrom": created_from,
                "linelastmodifieddate": self.dt(line.get("_lastModified")) or lastmod,
                "location": line.get("location"),
                "department": line.get("department"),
                "class": line.get("class"),
                "subsidiary": subsidiary,
                "entity": entity,
                "donotdisplayline": "F",
            }
            self._custom("transactionline", line, row_line)
            lines.append(row_line)
        return {"transaction": [row], "transactionline": lines}

    # items and lists --------------------------------------------------------------------------

    def _p_item(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        subs = data.get("subsidiary") or []
        row = {
            "id": rid,
            "itemid": data.get("itemId"),
            "displayname": data.get("displayName"),
            "fullname": data.get("itemId"),
            "description": data.get("salesDescription") or data.get("description"),
            "itemtype": ITEM_TYPE_CODES[rtype],
            "subtype": "Sale",
            "isinactive": _b(data.get("isInactive")),
            "createddate": self.dt(data.get("createdDate")),
            "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
            "externalid": data.get("externalId"),
            "subsidiary": ", ".join(str(s) for s in subs) or None,
            "includechildren": _b(data.get("includeChildren")),
            "incomeaccount": data.get("incomeAccount"),
            "upccode": data.get("upcCode"),
            "cost": _f(data.get("cost")),
            "rate": str(data["rate"]) if data.get("rate") is not None else None,
        }
        self._custom("item", data, row)
        pricing: list[dict[str, Any]] = []
        explicit: dict[tuple[int, int, float], float] = {}
        for line in data.get("price") or []:
            cur, lvl = _i(line.get("currencyPage")), _i(line.get("priceLevel"))
            price = _f(line.get("price"))
            if cur is None or lvl is None or price is None:
                continue
            explicit[(cur, lvl, _f(line.get("quantity")) or 0.0)] = price
        bases = {cur: price for (cur, lvl, qty), price in explicit.items() if lvl == 1 and qty == 0.0}
        if not bases and _f(data.get("basePrice")) is not None:
            bases[self.ctx.base_currency] = float(data["basePrice"])
        seen = set(explicit)
        for (cur, lvl, qty), price in sorted(explicit.items()):
            pricing.append(
                {"item": rid, "pricelevel": lvl, "currency": cur, "quantity": qty, "unitprice": price}
            )
        for cur, base in sorted(bases.items()):
            for lvl, pct in self.ctx.price_levels():
                if (cur, lvl, 0.0) in seen:
                    continue
                pricing.append(
                    {
                        "item": rid,
                        "pricelevel": lvl,
                        "currency": cur,
                        "quantity": 0.0,
                        "unitprice": round(base * (1 + pct / 100.0), 2),
                    }
                )
        for n, p in enumerate(pricing, start=1):
            p["internalid"] = rid * 1000 + n
        return {"item": [row], "pricing": pricing}

    _p_inventoryItem = _p_item
    _p_nonInventorySaleItem = _p_item
    _p_serviceSaleItem = _p_item
    _p_discountItem = _p_item

    def _p_priceLevel(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {
            "pricelevel": [
                {
                    "id": rid,
                    "name": data.get("name"),
                    "discountpct": _f(data.get("discountPct")),
                    "isinactive": _b(data.get("isInactive")),
                    "isonline": _b(data.get("isOnline")),
                    "externalid": data.get("externalId"),
                    "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
                }
            ]
        }

    def _p_currency(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {
            "currency": [
                {
                    "id": rid,
                    "name": data.get("name"),
                    "symbol": data.get("symbol"),
                    "displaysymbol": data.get("displaySymbol"),
                    "isbasecurrency": _b(data.get("isBaseCurrency")),
                    "exchangerate": _f(data.get("exchangeRate")),
                    "isinactive": _b(data.get("isInactive")),
                    "externalid": data.get("externalId"),
                    "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
                }
            ]
        }

    def _p_subsidiary(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {
            "subsidiary": [
                {
                    "id": rid,
                    "name": data.get("name"),
                    "fullname": data.get("fullName") or data.get("name"),
                    "parent": _i(data.get("parent")),
                    "currency": _i(data.get("currency")),
                    "country": data.get("country"),
                    "isinactive": _b(data.get("isInactive")),
                    "iselimination": _b(data.get("isElimination")),
                    "externalid": data.get("externalId"),
                    "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
                }
            ]
        }

    def _p_term(self, rtype: str, rid: int, data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {
            "term": [
                {
                    "id": rid,
                    "name": data.get("name"),
                    "daysuntilnetdue": _i(data.get("daysUntilNetDue")),
                    "discountpercent": _f(data.get("discountPercent")),
                    "daysuntilexpiry": _i(data.get("daysUntilExpiry")),
                    "isinactive": _b(data.get("isInactive")),
                    "externalid": data.get("externalId"),
                    "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
                }
            ]
        }

    def _p_customerStatus(
        self, rtype: str, rid: int, data: Mapping[str, Any]
    ) -> dict[str, list[dict[str, Any]]]:
        return {
            "entitystatus": [
                {
                    "id": rid,
                    "name": data.get("name"),
                    "stage": data.get("stage"),
                    "probability": _f(data.get("probability")),
                    "descr": data.get("description"),
                    "includeinleadreports": _b(data.get("includeInLeadReports")),
                    "isinactive": _b(data.get("isInactive")),
                    "externalid": data.get("externalId"),
                    "lastmodifieddate": self.dt(data.get("lastModifiedDate")),
                }
            ]
        }


OWNED_TABLES: dict[str, tuple[str, ...]] = {
    "customer": ("customer", "entityaddress", "customersubsidiaryrelationship"),
    "contact": ("contact", "entityaddress"),
    "employee": ("employee",),
    "priceLevel": ("pricelevel",),
    "currency": ("currency",),
    "subsidiary": ("subsidiary",),
    "term": ("term",),
    "customerStatus": ("entitystatus",),
    **{t: ("transaction", "transactionline") for t in TRANSACTION_CODES},
    **{t: ("item", "pricing") for t in ITEM_TYPE_CODES},
}
"""Record type -> the tables its rows live in (replaced on every write)."""
