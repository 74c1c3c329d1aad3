"""Seed data of the Salesforce sandbox: the ``empty`` org and the ``demo`` company.

Data layer; imports the org, the id helpers and ``ledgerbridge_sandbox.company`` (the fictional
company shared with the NetSuite sandbox, so both describe the same customers, contacts,
products and leads). Seeding writes straight to the store in bulk (no validation, no change
events: the data is "already there" when the org starts), deterministic for a seed number and
relative to the sandbox clock. ``NetSuite_Id__c`` is never set: nothing is linked yet.

- ``empty``: setup records only (organisation, profiles, roles, opportunity stages), the
  integration user and the standard price book.
- ``demo``: plus users (sales reps and customer-success managers), ~200 accounts with
  ~400 contacts, ~150 leads with ``Lead_Score__c``, ~150 products in the standard, "Partner"
  and "Enterprise" price books, ~300 opportunities across every stage with line items, tasks,
  and CPQ discount schedules. ``scale=N`` generates N accounts (with contacts and
  opportunities) instead, for benchmarks.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from ledgerbridge_sandbox.company import build_company
from ledgerbridge_sandbox.salesforce import ids
from ledgerbridge_sandbox.salesforce.org import Org, _opportunity
from ledgerbridge_sandbox.salesforce.store import Record
from ledgerbridge_sandbox.salesforce.values import format_datetime

SEEDS = ("empty", "demo")
_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.36}
_ID_BLOCK = 1024
_OPPORTUNITY_KINDS = ["Expansion", "New Business", "Renewal", "Upgrade", "Pilot"]
_STAGE_WEIGHTS = [12, 10, 9, 9, 7, 6, 8, 7, 20, 12]


class _Seeder:
    def __init__(self, org: Org, seed_number: int) -> None:
        self.org = org
        self.now = org.now().replace(microsecond=0)
        self.rng = random.Random(seed_number * 7919 + 17)
        self.buffers: dict[str, list[Record]] = {}
        self.user_id = ""
        self._next_seq = 0
        self._end_seq = 0

    def stamp(self, days_back: float) -> str:
        return format_datetime(self.now - timedelta(days=days_back))

    def add(
        self,
        type_name: str,
        values: dict[str, Any],
        *,
        created: str | None = None,
        modified: str | None = None,
    ) -> Record:
        obj = self.org.schema.objects[type_name]
        if self._next_seq >= self._end_seq:  # reserve ids in blocks: one metadata write per block
            self._next_seq = self.org.store.next_sequence(_ID_BLOCK)
            self._end_seq = self._next_seq + _ID_BLOCK
        rid = ids.make_id(obj.key_prefix, self._next_seq)
        self._next_seq += 1
        rec: Record = {"Id": rid, "IsDeleted": False}
        for f in obj.fields.values():
            if f.type == "boolean":
                rec[f.name] = bool(f.default_value)
            elif f.picklist_default is not None:
                rec[f.name] = f.picklist_default
        if "OwnerId" in obj.fields:
            rec["OwnerId"] = self.user_id or rid
        rec.update({k: v for k, v in values.items() if v is not None})
        created = created or format_datetime(self.now)
        modified = modified or created
        rec["CreatedDate"] = created
        rec["CreatedById"] = self.user_id or rid
        rec["LastModifiedDate"] = modified
        rec["LastModifiedById"] = self.user_id or rid
        rec["SystemModstamp"] = modified
        if obj.custom and not rec.get("Name"):
            rec["Name"] = rid
        self.buffers.setdefault(type_name, []).append(rec)
        return rec

    def flush(self) -> None:
        store = self.org.store
        for type_name, records in self.buffers.items():
            obj = self.org.schema.objects[type_name]
            keys = [(r["Id"], f, v) for r in records for f, v in self.org.key_values(obj, r)]
            store.bulk_insert(type_name, records, keys)
        self.buffers.clear()


def _person_name(rec: Record) -> None:
    rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)


def seed_org(org: Org, seed: str = "demo", scale: int | None = None, seed_number: int = 42) -> None:
    """Wipe the org and load a seed.

    Args:
        org: the org.
        seed: ``"empty"`` or ``"demo"``.
        scale: number of accounts to generate for ``demo`` (default: the demo company's 200).
        seed_number: random seed; the same value gives the same data.

    Raises:
        ValueError: unknown seed name.
    """
    if seed not in SEEDS:
        raise ValueError(f"unknown seed {seed!r}; use one of {', '.join(SEEDS)}")
    store = org.store
    store.wipe()
    with store.transaction():
        s = _Seeder(org, seed_number)
        _seed_base(org, s)
        if seed == "demo":
            _seed_demo(org, s, scale, seed_number)
        s.flush()


def _seed_base(org: Org, s: _Seeder) -> None:
    cfg = org.config
    store = org.store
    org_id = ids.to18("00DHp0000001LbZ")
    store.set_meta("org_id", org_id)
    s.add(
        "Organization",
        {
            "Name": cfg.org_name,
            "OrganizationType": "Enterprise Edition",
            "IsSandbox": False,
            "InstanceName": "LB1",
            "DefaultLocaleSidKey": "en_US",
            "LanguageLocaleKey": "en_US",
            "TimeZoneSidKey": "America/Los_Angeles",
            "FiscalYearStartMonth": 1,
        },
    )
    admin = s.add("Profile", {"Name": "System Administrator", "UserType": "Standard"})
    s.add("Profile", {"Name": "Standard User", "UserType": "Standard"})
    integration = s.add(
        "User",
        {
            "Username": cfg.username,
            "FirstName": "Integration",
            "LastName": "User",
            "Email": cfg.username,
            "Alias": "integ",
            "CommunityNickname": "integration",
            "IsActive": True,
            "Title": "Integration User",
            "CompanyName": cfg.org_name,
            "TimeZoneSidKey": "America/Los_Angeles",
            "LocaleSidKey": "en_US",
            "EmailEncodingKey": "UTF-8",
            "LanguageLocaleKey": "en_US",
            "ProfileId": admin["Id"],
            "UserType": "Standard",
        },
        created=s.stamp(400),
    )
    _person_name(integration)
    s.user_id = integration["Id"]
    for rec in s.buffers.values():
        for r in rec:
            r["CreatedById"] = r["LastModifiedById"] = s.user_id
    store.set_meta("integration_user_id", integration["Id"])
    book = s.add(
        "Pricebook2",
        {
            "Name": "Standard Price Book",
            "IsActive": True,
            "IsStandard": True,
            "IsArchived": False,
            "Description": "Standard price book",
        },
        created=s.stamp(400),
    )
    store.set_meta("standard_pricebook_id", book["Id"])
    for order, stage in enumerate(org.schema.stages.values(), start=1):
        s.add(
            "OpportunityStage",
            {
                "MasterLabel": stage.name,
                "ApiName": stage.name,
                "IsActive": True,
                "SortOrder": order,
                "IsClosed": stage.is_closed,
                "IsWon": stage.is_won,
                "DefaultProbability": float(stage.probability),
                "ForecastCategoryName": stage.forecast_category_name,
                "ForecastCategory": stage.forecast_category,
            },
        )
    if cfg.multi_currency:
        for code in cfg.currencies:
            s.add(
                "CurrencyType",
                {
                    "IsoCode": code,
                    "ConversionRate": _RATES.get(code, 1.0),
                    "DecimalPlaces": 2,
                    "IsActive": True,
                    "IsCorporate": code == cfg.corporate_currency,
                },
            )


def _seed_demo(org: Org, s: _Seeder, scale: int | None, seed_number: int) -> None:
    cfg = org.config
    rng = s.rng
    n_accounts = scale if scale is not None else 200
    data = build_company(seed_number, n_accounts=n_accounts, n_products=150, n_leads=150)
    multi = cfg.multi_currency
    profile_std = next(r for r in s.buffers["Profile"] if r["Name"] == "Standard User")["Id"]
    roles = {
        name: s.add("UserRole", {"Name": name, "DeveloperName": name.replace(" ", "_")})["Id"]
        for name in ("CEO", "Sales Manager", "Sales Representative", "Customer Success")
    }
    people = [
        ("Maya", "Okafor", "Sales Manager", "VP Sales"),
        ("Leo", "Brandt", "Sales Representative", "Account Executive"),
        ("Sofia", "Reyes", "Sales Representative", "Account Executive"),
        ("Ken", "Watanabe", "Sales Representative", "Account Executive"),
        ("Nora", "Lindqvist", "Customer Success", "Customer Success Manager"),
        ("Samir", "Haddad", "Customer Success", "Customer Success Manager"),
    ]
    users: dict[str, list[str]] = {"sales": [], "cs": []}
    for first, last, role, title in people:
        user = s.add(
            "User",
            {
                "Username": f"{first.lower()}.{last.lower()}@ledgerbridge.sandbox",
                "FirstName": first,
                "LastName": last,
                "Email": f"{first.lower()}.{last.lower()}@ledgerbridge.sandbox",
                "Alias": (first[0] + last)[:8].lower(),
                "CommunityNickname": f"{first}{last}",
                "IsActive": True,
                "Title": title,
                "Department": "Customer Success" if role == "Customer Success" else "Sales",
                "CompanyName": cfg.org_name,
                "TimeZoneSidKey": "America/New_York",
                "LocaleSidKey": "en_US",
                "EmailEncodingKey": "UTF-8",
                "LanguageLocaleKey": "en_US",
                "ProfileId": profile_std,
                "UserRoleId": roles[role],
                "UserType": "Standard",
            },
            created=s.stamp(380),
        )
        _person_name(user)
        users["cs" if role == "Customer Success" else "sales"].append(user["Id"])

    # Products and price books.
    std_book = org.standard_pricebook_id
    books = {"Standard": std_book}
    for name, desc in (("Partner", "Channel partner prices"), ("Enterprise", "Enterprise agreement prices")):
        books[name] = s.add(
            "Pricebook2",
            {"Name": name, "IsActive": True, "IsStandard": False, "IsArchived": False, "Description": desc},
            created=s.stamp(370),
        )["Id"]
    factors = {"Standard": 1.0, "Partner": 0.85, "Enterprise": 0.92}
    currencies = list(cfg.currencies) if multi else [None]
    entries: dict[tuple[str, str | None], list[Record]] = {}
    products: list[Record] = []
    for p in data.products:
        prod = s.add(
            "Product2",
            {
                "Name": p.name,
                "ProductCode": p.sku,
                "StockKeepingUnit": p.sku,
                "Family": p.family,
                "Description": p.description,
                "IsActive": p.is_active,
                "QuantityUnitOfMeasure": "Each",
                "IsArchived": False,
            },
            created=s.stamp(360 - p.key % 30),
        )
        products.append(prod)
        for book_name, book_id in books.items():
            for cur in currencies:
                price = round(p.base_price * factors[book_name] * _RATES.get(cur or "USD", 1.0), 2)
                entry = s.add(
                    "PricebookEntry",
                    {
                        "Pricebook2Id": book_id,
                        "Product2Id": prod["Id"],
                        "UnitPrice": price,
                        "IsActive": p.is_active,
                        "UseStandardPrice": False,
                        "Name": p.name,
                        "ProductCode": p.sku,
                        "IsArchived": False,
                        "CurrencyIsoCode": cur,
                    },
                    created=prod["CreatedDate"],
                )
                if p.is_active:
                    entries.setdefault((book_id, cur), []).append(entry)

    # CPQ discount schedules on a few products.
    for n, prod in enumerate(products[:8]):
        sched = s.add(
            "SBQQ__DiscountSchedule__c",
            {
                "Name": f"Volume discount {prod['Name']}",
                "SBQQ__Type__c": "Range" if n % 2 == 0 else "Slab",
                "SBQQ__DiscountUnit__c": "Percent",
                "SBQQ__Product__c": prod["Id"],
                "SBQQ__Description__c": "Volume tiers",
                "SBQQ__UsePriceForAmount__c": False,
            },
            created=s.stamp(300),
        )
        for tier, (lo, hi, pct) in enumerate(((1, 10, 0.0), (10, 50, 5.0), (50, None, 10.0)), start=1):
            s.add(
                "SBQQ__DiscountTier__c",
                {
                    "Name": f"Tier {tier}",
                    "SBQQ__Schedule__c": sched["Id"],
                    "SBQQ__LowerBound__c": float(lo),
                    "SBQQ__UpperBound__c": float(hi) if hi is not None else None,
                    "SBQQ__Discount__c": pct,
                    "SBQQ__Number__c": float(tier),
                },
                created=sched["CreatedDate"],
            )

    # Accounts and contacts.
    accounts: list[Record] = []
    contacts_by_account: dict[str, list[Record]] = {}
    for c in data.companies:
        age = rng.uniform(30, 365)
        modified_age = rng.uniform(0.1, age)
        a = c.address
        customer = c.netsuite_presence != "none"
        values: dict[str, Any] = {
            "Name": c.name,
            "Phone": c.phone,
            "Website": f"https://www.{c.domain}",
            "Industry": c.industry,
            "NumberOfEmployees": c.employees,
            "AnnualRevenue": float(c.annual_revenue),
            "Type": "Customer - Direct" if customer else "Prospect",
            "AccountSource": rng.choice(
                ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
            ),
            "BillingStreet": a.street,
            "BillingCity": a.city,
            "BillingState": a.state or None,
            "BillingPostalCode": a.postal_code,
            "BillingCountry": a.country,
            "ShippingStreet": a.street,
            "ShippingCity": a.city,
            "ShippingState": a.state or None,
            "ShippingPostalCode": a.postal_code,
            "ShippingCountry": a.country,
            "Rating": rng.choice(["Hot", "Warm", "Cold"]),
            "OwnerId": rng.choice(users["sales"]),
            "Customer_Success_Owner__c": rng.choice(users["cs"]) if customer else None,
            "CurrencyIsoCode": c.currency if multi else None,
        }
        acc = s.add("Account", values, created=s.stamp(age), modified=s.stamp(modified_age))
        accounts.append(acc)
        for person in c.contacts:
            con = s.add(
                "Contact",
                {
                    "AccountId": acc["Id"],
                    "FirstName": person.first_name,
                    "LastName": person.last_name,
                    "Email": person.email,
                    "Phone": person.phone,
                    "Title": person.title,
                    "MailingStreet": a.street,
                    "MailingCity": a.city,
                    "MailingState": a.state or None,
                    "MailingPostalCode": a.postal_code,
                    "MailingCountry": a.country,
                    "OwnerId": acc["OwnerId"],
                    "LeadSource": values["AccountSource"],
                    "CurrencyIsoCode": c.currency if multi else None,
                    "Lead_Score__c": float(rng.randint(20, 95)) if rng.random() < 0.5 else None,
                },
                created=acc["CreatedDate"],
                modified=s.stamp(rng.uniform(0.05, modified_age)),
            )
            _person_name(con)
            contacts_by_account.setdefault(acc["Id"], []).append(con)
    for c, acc in zip(data.companies, accounts, strict=True):
        if c.parent_key is not None:
            acc["ParentId"] = accounts[c.parent_key]["Id"]

    # Leads.
    statuses = [
        "Open - Not Contacted",
        "Working - Contacted",
        "Working - Contacted",
        "Closed - Not Converted",
    ]
    for lead in data.leads:
        a = lead.address
        rec = s.add(
            "Lead",
            {
                "FirstName": lead.first_name,
                "LastName": lead.last_name,
                "Company": lead.company,
                "Title": lead.title,
                "Email": lead.email,
                "Phone": lead.phone,
                "LeadSource": lead.source,
                "Status": rng.choice(statuses),
                "Street": a.street,
                "City": a.city,
                "State": a.state or None,
                "PostalCode": a.postal_code,
                "Country": a.country,
                "Lead_Score__c": float(lead.score),
                "Rating": rng.choice(["Hot", "Warm", "Cold"]),
                "Industry": rng.choice(["Technology", "Manufacturing", "Retail", "Healthcare", "Finance"]),
                "OwnerId": rng.choice(users["sales"]),
                "IsConverted": False,
                "IsUnreadByOwner": rng.random() < 0.3,
            },
            created=s.stamp(rng.uniform(1, 200)),
        )
        rec["LastModifiedDate"] = rec["SystemModstamp"] = rec["CreatedDate"]
        _person_name(rec)

    # Opportunities with line items across every stage.
    stages = list(org.schema.stages.values())
    n_opps = round(n_accounts * 1.5)
    book_choices = [std_book] * 6 + [books["Partner"]] * 2 + [books["Enterprise"]] * 2
    today = s.now.date()
    for n in range(n_opps):
        acc = accounts[n % len(accounts)] if n < len(accounts) else rng.choice(accounts)
        stage = rng.choices(stages, weights=_STAGE_WEIGHTS[: len(stages)])[0]
        if stage.is_closed:
            close = today - timedelta(days=rng.randint(1, 330))
        else:
            close = today + timedelta(days=rng.randint(7, 180))
        cur = acc.get("CurrencyIsoCode") if multi else None
        book = rng.choice(book_choices)
        pool = entries.get((book, cur)) or entries.get((std_book, cur)) or []
        created_age = (
            max(1.0, (today - close).days + rng.uniform(20, 90)) if stage.is_closed else rng.uniform(5, 120)
        )
        opp: Record = {
            "Name": f"{acc['Name']} - {rng.choice(_OPPORTUNITY_KINDS)}",
            "AccountId": acc["Id"],
            "StageName": stage.name,
            "CloseDate": close.isoformat(),
            "Type": rng.choice(
                ["New Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement"]
            ),
            "LeadSource": acc.get("AccountSource"),
            "OwnerId": acc["OwnerId"],
            "IsPrivate": False,
            "CurrencyIsoCode": cur,
            "NextStep": None if stage.is_closed else "Follow up with buyer",
            "Pricebook2Id": book if pool else None,
        }
        if not pool or rng.random() < 0.08:
            opp["Amount"] = float(rng.randint(5, 200) * 500)
            opp["Pricebook2Id"] = None
        rec = s.add(
            "Opportunity",
            opp,
            created=s.stamp(min(created_age, 364)),
            modified=s.stamp(rng.uniform(0.02, min(created_age, 364))),
        )
        _opportunity(org, org.system_context(), rec, opp, None)
        if opp["Pricebook2Id"]:
            total = 0.0
            qty_total = 0.0
            for entry in rng.sample(pool, k=min(len(pool), rng.randint(1, 4))):
                qty = float(rng.choice([1, 1, 2, 3, 5, 10, 25]))
                discount = rng.choice([None, None, 5.0, 10.0])
                unit = float(entry["UnitPrice"])
                subtotal = round(qty * unit, 2)
                line_total = round(subtotal * (1 - (discount or 0.0) / 100.0), 2)
                s.add(
                    "OpportunityLineItem",
                    {
                        "OpportunityId": rec["Id"],
                        "PricebookEntryId": entry["Id"],
                        "Product2Id": entry["Product2Id"],
                        "ProductCode": entry["ProductCode"],
                        "Name": f"{rec['Name']} {entry['Name']}"[:376],
                        "Quantity": qty,
                        "UnitPrice": unit,
                        "ListPrice": unit,
                        "Discount": discount,
                        "Subtotal": subtotal,
                        "TotalPrice": line_total,
                        "CurrencyIsoCode": cur,
                    },
                    created=rec["CreatedDate"],
                )
                total += line_total
                qty_total += qty
            rec["Amount"] = round(total, 2)
            rec["TotalOpportunityQuantity"] = qty_total
            rec["HasOpportunityLineItem"] = True
        rec["ExpectedRevenue"] = round(rec["Amount"] * rec["Probability"] / 100.0, 2)

    # A few follow-up tasks for customer success.
    for acc in accounts[: min(40, len(accounts))]:
        contacts = contacts_by_account.get(acc["Id"]) or []
        status = rng.choice(["Not Started", "In Progress", "Completed"])
        priority = rng.choice(["Normal", "Normal", "High"])
        s.add(
            "Task",
            {
                "Subject": rng.choice(["Call", "Send Quote", "Other"]),
                "Status": status,
                "Priority": priority,
                "ActivityDate": (today + timedelta(days=rng.randint(-20, 30))).isoformat(),
                "WhatId": acc["Id"],
                "WhoId": contacts[0]["Id"] if contacts else None,
                "AccountId": acc["Id"],
                "OwnerId": acc.get("Customer_Success_Owner__c") or acc["OwnerId"],
                "IsClosed": status == "Completed",
                "IsHighPriority": priority == "High",
                "TaskSubtype": "Task",
                "Type": "Call",
            },
            created=s.stamp(rng.uniform(1, 30)),
        )
