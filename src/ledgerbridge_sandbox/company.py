"""The one fictional company both sandboxes describe (deterministic from a seed).

The Salesforce and NetSuite demo seeds draw their accounts/customers, contacts, products/items
and leads from here, so the two sandboxes tell one story: most NetSuite customers match a
Salesforce account exactly, some only nearly (typos, "Inc." vs "Incorporated", another phone
format) so that matching is exercised. Plain data, no I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_PREFIXES = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent",
    "Hooli", "Vandelay", "Pied Piper", "Massive Dynamic", "Aperture", "Black Mesa", "Gringotts", "Monarch",
    "Oscorp", "Nakatomi", "Blue Sun", "Dunder", "Prestige", "Sterling", "Bluth", "Gekko", "Krusty",
    "Northwind", "Contoso", "Fabrikam", "Litware", "Tailspin", "Wingtip", "Adatum", "Proseware", "Lucerne",
    "Alpine", "Coho", "Fourth Coffee", "Humongous", "Margie", "Trey", "Woodgrove", "Blue Yonder",
    "Graphic Design", "Southridge", "Lamna", "Relecloud", "Consolidated", "Summit", "Pinnacle", "Cascade",
    "Redwood", "Granite", "Harbor", "Meridian", "Evergreen", "Silverline", "Ironwood", "Keystone",
]
_SUFFIXES = [
    "Analytics", "Logistics", "Health", "Foods", "Robotics", "Energy", "Media", "Systems", "Labs", "Capital",
    "Manufacturing", "Software", "Biotech", "Retail", "Aerospace", "Hotels", "Freight", "Pharma", "Motors",
    "Telecom", "Solar", "Textiles", "Insurance", "Consulting", "Networks",
]
_LEGAL = ["Inc.", "LLC", "Corp.", "Ltd.", "GmbH", "Group", "Co."]
_INDUSTRIES = [
    "Technology", "Manufacturing", "Healthcare", "Retail", "Energy", "Finance", "Transportation",
    "Media", "Biotechnology", "Hospitality", "Telecommunications", "Consulting",
]
_FIRST = [
    "Ava", "Liam", "Noah", "Emma", "Olivia", "Mia", "Lucas", "Amelia", "Ethan", "Sofia", "Mateo", "Chloe",
    "Arjun", "Priya", "Hiro", "Yuki", "Lena", "Jonas", "Elif", "Omar", "Fatima", "Grace", "Diego", "Ana",
    "Kwame", "Zara", "Ivan", "Nina", "Tom", "Sara",
]
_LAST = [
    "Smith", "Garcia", "Chen", "Patel", "Kim", "Müller", "Rossi", "Nguyen", "Johnson", "Brown", "Silva",
    "Kowalski", "Okafor", "Tanaka", "Dubois", "Larsen", "Novak", "Haddad", "Cohen", "Walker", "Reyes",
    "Schmidt", "Ivanova", "Andersen", "Murphy", "Costa", "Ali", "Berg", "Lopez", "Wright",
]
_TITLES = ["CFO", "Controller", "VP Sales", "Head of Procurement", "CEO", "Office Manager", "CTO",
           "Accounts Payable", "Operations Director", "IT Manager"]
_CITIES = [
    ("Austin", "TX", "78701", "US"), ("Seattle", "WA", "98101", "US"), ("Boston", "MA", "02110", "US"),
    ("Chicago", "IL", "60601", "US"), ("Denver", "CO", "80202", "US"), ("Atlanta", "GA", "30303", "US"),
    ("San Jose", "CA", "95113", "US"), ("New York", "NY", "10001", "US"), ("Toronto", "ON", "M5H 2N2", "CA"),
    ("London", "", "EC1A 1BB", "GB"), ("Berlin", "", "10115", "DE"), ("Dublin", "", "D02 X285", "IE"),
]
_STREETS = ["Main St", "Market St", "Oak Ave", "Pine Rd", "Harbor Blvd", "Congress Ave", "King St",
            "Elm St", "Cedar Ln", "Mission St", "High St", "Park Ave"]
_LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]

# Catalog: (family, item kind, name stem, price range)
_CATALOG = [
    ("Software", "service", "Cloud Platform Subscription", (900, 4800)),
    ("Software", "service", "Analytics Add-on", (300, 1500)),
    ("Software", "noninventory", "On-Prem License", (2000, 12000)),
    ("Hardware", "inventory", "Edge Gateway", (400, 2500)),
    ("Hardware", "inventory", "Sensor Kit", (80, 600)),
    ("Hardware", "inventory", "Rack Server", (3000, 9000)),
    ("Services", "service", "Implementation Package", (1500, 9000)),
    ("Services", "service", "Training Day", (800, 2400)),
    ("Services", "service", "Premium Support", (500, 3000)),
    ("Supplies", "noninventory", "Consumables Pack", (20, 200)),
]
_TIERS = ["Starter", "Standard", "Professional", "Enterprise", "Plus"]


@dataclass(frozen=True)
class Address:
    """A postal address."""

    street: str
    city: str
    state: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class Person:
    """A contact at a company."""

    first_name: str
    last_name: str
    email: str
    phone: str
    title: str


@dataclass(frozen=True)
class Company:
    """An account in Salesforce and (usually) a customer in NetSuite."""

    key: int
    name: str
    domain: str
    phone: str  # E.164-ish "+1 512 555 0100" style in Salesforce
    industry: str
    employees: int
    annual_revenue: int
    address: Address
    currency: str  # "USD", "EUR", "GBP", "CAD"
    contacts: tuple[Person, ...]
    # How NetSuite knows it: "exact" (same name), "near" (a variant name / phone format),
    # or "none" (only in Salesforce).
    netsuite_presence: str
    netsuite_name: str
    netsuite_phone: str
    parent_key: int | None = None


@dataclass(frozen=True)
class Product:
    """A catalog entry: a Product2 in Salesforce, an item in NetSuite."""

    key: int
    sku: str
    name: str
    family: str
    kind: str  # "inventory" | "service" | "noninventory" | "discount"
    description: str
    base_price: float
    is_active: bool = True


@dataclass(frozen=True)
class Lead:
    """A lead in Salesforce, scored 0-100."""

    key: int
    first_name: str
    last_name: str
    company: str
    email: str
    phone: str
    title: str
    score: int
    source: str
    address: Address


@dataclass(frozen=True)
class CompanyData:
    """Everything the demo seeds draw from."""

    companies: tuple[Company, ...]
    products: tuple[Product, ...]
    leads: tuple[Lead, ...]
    extra: dict[str, object] = field(default_factory=dict)


def _phone(rng: random.Random, country: str) -> str:
    area = rng.randint(201, 989)
    line = rng.randint(100, 9999)
    if country in {"US", "CA"}:
        return f"+1 {area} 555 {line:04d}"
    if country == "GB":
        return f"+44 20 7946 {line:04d}"
    if country == "DE":
        return f"+49 30 901820{line % 100:02d}"
    return f"+353 1 555 {line:04d}"


def _near_name(rng: random.Random, name: str) -> str:
    variants = []
    if name.endswith(" Inc."):
        variants.append(name[:-5] + " Incorporated")
    if name.endswith(" Corp."):
        variants.append(name[:-6] + " Corporation")
    if name.endswith(" Ltd."):
        variants.append(name[:-5] + " Limited")
    # a one-letter typo somewhere after the first character
    i = rng.randrange(1, max(2, len(name) - 1))
    if name[i].isalpha():
        variants.append(name[:i] + name[i + 1] + name[i] + name[i + 2:])
    variants.append(name.upper())
    return rng.choice(variants)


def _national_format(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    if phone.startswith("+1") and len(digits) == 11:
        d = "".join(digits[1:])
        return f"({d[0:3]}) {d[3:6]}-{d[6:]}"
    return phone.replace(" ", "")


def build_company(seed: int = 42, n_accounts: int = 200, n_products: int = 150,
                  n_leads: int = 150, contacts_per_account: int = 2) -> CompanyData:
    """Build the company's master data, deterministic for a given seed and sizes.

    Args:
        seed: random seed; the same seed and sizes always give the same data.
        n_accounts: number of companies (Salesforce accounts).
        n_products: number of catalog entries.
        n_leads: number of Salesforce leads.
        contacts_per_account: contacts generated per company.

    Returns:
        The companies, products and leads.
    """
    rng = random.Random(seed)
    used: set[str] = set()
    companies: list[Company] = []
    for key in range(n_accounts):
        while True:
            base = f"{rng.choice(_PREFIXES)} {rng.choice(_SUFFIXES)}"
            name = f"{base} {rng.choice(_LEGAL)}"
            if name not in used or len(used) > 10_000:
                if name in used:
                    name = f"{base} {key}"
                used.add(name)
                break
        domain = base.lower().replace(" ", "") + rng.choice([".com", ".io", ".net", ".example"])
        city, state, zip_code, country = rng.choice(_CITIES)
        currency = {"US": "USD", "CA": "CAD", "GB": "GBP"}.get(country, "EUR")
        address = Address(f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}", city, state, zip_code, country)
        phone = _phone(rng, country)
        contacts = []
        for _ in range(contacts_per_account):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            ascii_last = last.replace("ü", "ue")
            email = f"{first.lower()}.{ascii_last.lower()}@{domain}"
            contacts.append(Person(first, last, email, _phone(rng, country), rng.choice(_TITLES)))
        roll = rng.random()
        presence = "exact" if roll < 0.7 else ("near" if roll < 0.85 else "none")
        ns_name = _near_name(rng, name) if presence == "near" else name
        ns_phone = _national_format(phone) if presence == "near" else phone
        parent = None
        if key >= 20 and rng.random() < 0.05:
            parent = rng.randrange(0, 20)
        companies.append(Company(
            key=key, name=name, domain=domain, phone=phone, industry=rng.choice(_INDUSTRIES),
            employees=rng.choice([12, 45, 120, 350, 800, 2500, 10000]),
            annual_revenue=rng.choice([1, 5, 20, 80, 250, 900]) * 1_000_000,
            address=address, currency=currency, contacts=tuple(contacts), netsuite_presence=presence,
            netsuite_name=ns_name, netsuite_phone=ns_phone, parent_key=parent,
        ))
    products: list[Product] = []
    for key in range(n_products):
        family, kind, stem, (lo, hi) = _CATALOG[key % len(_CATALOG)]
        tier = _TIERS[(key // len(_CATALOG)) % len(_TIERS)]
        gen = key // (len(_CATALOG) * len(_TIERS))
        name = f"{stem} {tier}" + (f" G{gen + 1}" if gen else "")
        sku = f"{family[:3].upper()}-{key + 1000:05d}"
        price = round(rng.uniform(lo, hi) / 5) * 5.0
        products.append(Product(key, sku, name, family, kind, f"{name} ({family.lower()})", price,
                                is_active=rng.random() > 0.03))
    leads: list[Lead] = []
    for key in range(n_leads):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        prefix = rng.choice(_PREFIXES)
        comp = f"{prefix} {rng.choice(['Partners', 'Studios', 'Works', 'Ventures', 'Trading'])}"
        dom = comp.lower().replace(" ", "") + ".example"
        city, state, zip_code, country = rng.choice(_CITIES)
        leads.append(Lead(
            key, first, last, comp, f"{first.lower()}@{dom}", _phone(rng, country), rng.choice(_TITLES),
            score=min(100, max(0, int(rng.gauss(55, 22)))), source=rng.choice(_LEAD_SOURCES),
            address=Address(f"{rng.randint(1, 999)} {rng.choice(_STREETS)}", city, state, zip_code, country),
        ))
    return CompanyData(tuple(companies), tuple(products), tuple(leads))
