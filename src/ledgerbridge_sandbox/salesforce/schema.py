"""The org's metadata: sObjects, their fields and relationships, loaded from data files.

Domain layer of the Salesforce sandbox; imports only the standard library and ``ruamel.yaml``.
The default schema ships as ``schema.yaml`` next to this module; a user schema file (YAML or
JSON, same format) can add objects and fields or override field attributes. From the schema
this module renders the describe resources (reference §3.1, §3.2).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ledgerbridge_sandbox.salesforce import ids

DEFAULT_SCHEMA_FILE = Path(__file__).with_name("schema.yaml")

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "address": "urn:address",
    "base64": "xsd:base64Binary",
    "long": "xsd:long",
}
STRING_TYPES = frozenset(
    {
        "string",
        "textarea",
        "picklist",
        "multipicklist",
        "combobox",
        "email",
        "phone",
        "url",
        "encryptedstring",
    }
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
ADDRESS_PARTS = (
    ("street", "Street"),
    ("city", "City"),
    ("state", "State"),
    ("postalCode", "PostalCode"),
    ("country", "Country"),
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
    ("geocodeAccuracy", "GeocodeAccuracy"),
)


@dataclass
class FieldDef:
    """One field of an sObject, with the describe attributes the emulator needs."""

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default_value: Any = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    id_lookup: bool = False
    name_field: bool = False
    picklist: tuple[str, ...] = ()
    picklist_default: str | None = None
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    child_relationship: str | None = None
    cascade_delete: bool = False
    relationship_order: int | None = None
    components: str | None = None
    custom: bool = False
    calculated: bool = False

    @property
    def lname(self) -> str:
        """Lower-cased name, for case-insensitive lookups."""
        return self.name.lower()

    @property
    def is_required_on_create(self) -> bool:
        """``createable && !nillable && !defaultedOnCreate`` (reference §3.2)."""
        return (
            self.createable and not self.nillable and not self.defaulted_on_create and self.type != "boolean"
        )

    def describe(self) -> dict[str, Any]:
        """Render the field as one entry of ``describe().fields`` (real key set, reference §3.2)."""
        t = self.type
        is_text = t in STRING_TYPES
        long_text = t == "textarea" and self.length > 255
        filterable = t != "address" and not long_text
        return {
            "aggregatable": filterable and t not in {"boolean"},
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": self.length * 3 if (is_text or t in {"id", "reference"}) else 0,
            "calculated": self.calculated,
            "calculatedFormula": None,
            "cascadeDelete": self.cascade_delete,
            "caseSensitive": self.case_sensitive,
            "compoundFieldName": None,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default_value if t != "picklist" else None,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": _extra_type_info(self),
            "filterable": filterable,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": filterable
            and t not in NUMBER_TYPES - {"int"}
            and t not in {"datetime", "multipicklist"},
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.id_lookup,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length if (is_text or t in {"id", "reference"}) else 0,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": len(self.reference_to) > 1,
            "nillable": self.nillable,
            "permissionable": self.custom and self.nillable,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": v == self.picklist_default,
                    "label": v,
                    "validFor": None,
                    "value": v,
                }
                for v in self.picklist
            ],
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": self.precision,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": self.relationship_order,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "searchPrefilterable": t == "reference",
            "soapType": _SOAP_TYPES.get(t, "xsd:string"),
            "sortable": filterable and t != "multipicklist",
            "type": t,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": self.relationship_order == 0,
        }


def _extra_type_info(f: FieldDef) -> str | None:
    # Text areas are "plaintextarea" (or "richtextarea"); other types carry no extra info here.
    return "plaintextarea" if f.type == "textarea" else None


@dataclass
class ChildRelationship:
    """A parent-to-child relationship (``Account.Contacts``)."""

    name: str
    child: str
    field: str
    cascade_delete: bool


@dataclass
class ObjectDef:
    """One sObject type."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: dict[str, FieldDef]
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    child_relationships: dict[str, ChildRelationship] = field(default_factory=dict)
    _by_lower: dict[str, FieldDef] = field(default_factory=dict)
    _rel_by_lower: dict[str, FieldDef] = field(default_factory=dict)
    _child_by_lower: dict[str, ChildRelationship] = field(default_factory=dict)

    def index(self) -> None:
        """Rebuild the case-insensitive lookup tables after fields changed."""
        self._by_lower = {f.lname: f for f in self.fields.values()}
        self._rel_by_lower = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name
        }
        self._child_by_lower = {c.name.lower(): c for c in self.child_relationships.values()}

    def field(self, name: str) -> FieldDef | None:
        """The field of that name (case-insensitive), or ``None``."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name`` (case-insensitive)."""
        return self._rel_by_lower.get(name.lower())

    def child(self, name: str) -> ChildRelationship | None:
        """The child relationship of that name (case-insensitive)."""
        return self._child_by_lower.get(name.lower())

    @property
    def name_field(self) -> FieldDef | None:
        """The field flagged ``nameField``."""
        for f in self.fields.values():
            if f.name_field:
                return f
        return None

    def urls(self, version: str) -> dict[str, str]:
        """The ``urls`` block of describe results."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}

    def global_entry(self, version: str) -> dict[str, Any]:
        """The object's entry in describeGlobal (real key set, reference §3.1)."""
        return {
            "activateable": False,
            "associateEntityType": None,
            "associateParentEntity": None,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": not self.custom,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name in {"Account", "Contact", "Lead"},
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": self.deletable,
            "updateable": self.updateable,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        """The full sObject describe result (real top-level key set, reference §3.2)."""
        entry = self.global_entry(version)
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "actionOverrides": [],
            "activateable": False,
            "childRelationships": [
                {
                    "cascadeDelete": c.cascade_delete,
                    "childSObject": c.child,
                    "deprecatedAndHidden": False,
                    "field": c.field,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": c.name,
                    "restrictedDelete": False,
                }
                for c in self.child_relationships.values()
            ],
            "compactLayoutable": True,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "defaultImplementation": None,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "extendedBy": None,
            "extendsInterfaces": None,
            "feedEnabled": entry["feedEnabled"],
            "fields": [f.describe() for f in self.fields.values()],
            "hasSubtypes": False,
            "implementedBy": None,
            "implementsInterfaces": None,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "listviewable": None,
            "lookupLayoutable": None,
            "mergeable": entry["mergeable"],
            "mruEnabled": True,
            "name": self.name,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "queryable": True,
            "recordTypeInfos": [
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": "012000000000000AAA",
                    "urls": {"layout": f"{base}/describe/layouts/012000000000000AAA"},
                }
            ],
            "replicateable": True,
            "retrieveable": True,
            "searchLayoutable": True,
            "searchable": True,
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [
                {"label": "All records", "name": "everything"},
                {"label": "My records", "name": "mine"},
            ],
            "triggerable": True,
            "undeletable": self.deletable,
            "updateable": self.updateable,
            "urls": {
                **self.urls(version),
                "compactLayouts": f"{base}/describe/compactLayouts",
                "approvalLayouts": f"{base}/describe/approvalLayouts",
                "listviews": f"{base}/listviews",
                "quickActions": f"{base}/quickActions",
                "layouts": f"{base}/describe/layouts",
            },
        }


@dataclass(frozen=True)
class Stage:
    """One OpportunityStage: its defaults drive Opportunity's derived fields."""

    name: str
    probability: int
    is_closed: bool
    is_won: bool
    forecast_category_name: str

    @property
    def forecast_category(self) -> str:
        """The API value of ForecastCategory for this stage's forecast category name."""
        return {"Best Case": "BestCase", "Commit": "Forecast"}.get(
            self.forecast_category_name, self.forecast_category_name
        )


class Schema:
    """All sObject types of the org, looked up case-insensitively."""

    def __init__(self, objects: dict[str, ObjectDef], stages: list[Stage]) -> None:
        self.objects = objects
        self.stages = {s.name: s for s in stages}
        self._by_lower = {name.lower(): obj for name, obj in objects.items()}
        self._by_prefix = {obj.key_prefix: obj for obj in objects.values()}

    def get(self, name: str) -> ObjectDef | None:
        """The object of that name (case-insensitive), or ``None``."""
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        """The object whose ids start with ``prefix``."""
        return self._by_prefix.get(prefix)

    def type_of_id(self, record_id: str) -> ObjectDef | None:
        """The object an id belongs to, from its key prefix."""
        return self._by_prefix.get(record_id[:3])

    def describe_global(self, version: str) -> dict[str, Any]:
        """The describeGlobal result (reference §3.1)."""
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [o.global_entry(version) for o in self.objects.values()],
        }


def parse_yaml(text: str) -> Any:
    """Parse YAML with PyYAML's C loader when installed (fast), else with ``ruamel.yaml``."""
    try:
        pyyaml: Any = importlib.import_module("yaml")
    except ImportError:
        return YAML(typ="safe").load(text)
    return pyyaml.load(text, Loader=getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader))


def _load_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix.lower() == ".json" else parse_yaml(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a schema file must hold a mapping with an 'objects' key")
    return data


@lru_cache(maxsize=4)
def _load_cached(path: str) -> str:
    # Cached as JSON text so every Schema gets its own mutable copy cheaply.
    return json.dumps(_load_file(Path(path)))


def _field_from_spec(name: str, spec: Mapping[str, Any], options: Mapping[str, Any]) -> FieldDef:
    t = str(spec.get("type", "string"))
    readonly = bool(spec.get("readonly", False))
    required = bool(spec.get("required", False))
    values = spec.get("values", ())
    if values == "stages":
        values = [row[0] for row in options["stages"]]
    elif values == "currencies":
        values = list(options["currencies"])
    default = spec.get("default")
    nillable = spec.get("nillable", not required)
    if t == "boolean":
        nillable = False
    defaulted = bool(spec.get("defaulted", default is not None or t == "boolean"))
    length = int(spec.get("length", 18 if t in {"id", "reference"} else (255 if t in STRING_TYPES else 0)))
    f = FieldDef(
        name=name,
        type=t,
        label=str(spec.get("label", name)),
        length=length,
        precision=int(spec.get("precision", 0)),
        scale=int(spec.get("scale", 0)),
        digits=int(spec.get("digits", 0)),
        nillable=bool(nillable),
        createable=bool(spec.get("createable", not readonly and t not in {"address", "id"})),
        updateable=bool(spec.get("updateable", not readonly and t not in {"address", "id"})),
        defaulted_on_create=defaulted,
        default_value=default if t == "boolean" else None,
        external_id=bool(spec.get("externalId", False)),
        unique=bool(spec.get("unique", False)),
        case_sensitive=bool(spec.get("caseSensitive", False)),
        id_lookup=bool(spec.get("idLookup", spec.get("externalId", False) or t == "id")),
        name_field=bool(spec.get("nameField", False)),
        picklist=tuple(str(v) for v in values or ()),
        picklist_default=str(default) if default is not None and t != "boolean" else None,
        restricted=bool(spec.get("restricted", False)),
        reference_to=tuple(spec.get("referenceTo", ())),
        relationship_name=spec.get("relationshipName"),
        child_relationship=spec.get("childRelationship"),
        cascade_delete=bool(spec.get("cascadeDelete", False)),
        relationship_order=spec.get("relationshipOrder"),
        components=spec.get("components"),
        custom=name.endswith("__c"),
        calculated=bool(spec.get("calculated", False)),
    )
    if t == "reference" and f.relationship_name is None and name.endswith("__c"):
        f.relationship_name = name[:-3] + "__r"
    return f


def _system_fields(owner: bool, minimal: bool) -> list[FieldDef]:
    fields = [
        FieldDef(
            "Id",
            "id",
            "Record ID",
            length=18,
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            id_lookup=True,
        )
    ]
    if not minimal:
        fields.append(
            FieldDef(
                "IsDeleted",
                "boolean",
                "Deleted",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
                default_value=False,
            )
        )
    if owner:
        fields.append(
            FieldDef(
                "OwnerId",
                "reference",
                "Owner ID",
                length=18,
                nillable=False,
                defaulted_on_create=True,
                reference_to=("User",),
                relationship_name="Owner",
            )
        )
    fields += [
        FieldDef(
            "CreatedDate",
            "datetime",
            "Created Date",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        FieldDef(
            "CreatedById",
            "reference",
            "Created By ID",
            length=18,
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            reference_to=("User",),
            relationship_name="CreatedBy",
        ),
        FieldDef(
            "LastModifiedDate",
            "datetime",
            "Last Modified Date",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        FieldDef(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            length=18,
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
        ),
        FieldDef(
            "SystemModstamp",
            "datetime",
            "System Modstamp",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
    ]
    return fields


def load_schema(
    user_files: Iterable[Path] = (),
    *,
    multi_currency: bool = False,
    currencies: Iterable[str] = ("USD",),
    corporate_currency: str = "USD",
) -> Schema:
    """Build the org schema from the default file plus optional user files.

    Args:
        user_files: extra schema files (YAML or JSON) adding objects/fields or overriding
            attributes of existing fields; applied in order.
        multi_currency: add ``CurrencyIsoCode`` to objects flagged ``currency`` and the
            ``CurrencyType`` object.
        currencies: ISO codes of the active currencies (multi-currency only).
        corporate_currency: the default currency.

    Returns:
        The schema.

    Raises:
        ValueError: a schema file is malformed.
    """
    data = json.loads(_load_cached(str(DEFAULT_SCHEMA_FILE)))
    for path in user_files:
        extra = _load_file(Path(path))
        for oname, ospec in (extra.get("objects") or {}).items():
            target = data["objects"].setdefault(oname, {"fields": {}})
            for key, value in ospec.items():
                if key == "fields":
                    for fname, fspec in (value or {}).items():
                        target.setdefault("fields", {}).setdefault(fname, {}).update(fspec or {})
                else:
                    target[key] = value
    options = {"stages": data.get("opportunity_stages", []), "currencies": list(currencies)}
    objects: dict[str, ObjectDef] = {}
    n_custom = 0
    used_prefixes = {str(o.get("keyPrefix")) for o in data["objects"].values() if o.get("keyPrefix")}
    for oname, ospec in data["objects"].items():
        if ospec.get("requires") == "multi_currency" and not multi_currency:
            continue
        custom = oname.endswith("__c")
        prefix = ospec.get("keyPrefix")
        while not prefix:
            n_custom += 1
            candidate = ids.custom_prefix(n_custom)
            if candidate not in used_prefixes:
                prefix = candidate
                used_prefixes.add(prefix)
        owner = bool(ospec.get("owner", custom and not _has_master(ospec)))
        minimal = ospec.get("system") == "minimal"
        fields = {f.name: f for f in _system_fields(owner, minimal)}
        specs = dict(ospec.get("fields") or {})
        if custom and "Name" not in specs:
            specs = {
                "Name": {
                    "type": "string",
                    "length": 80,
                    "label": f"{ospec.get('label', oname)} Name",
                    "nameField": True,
                    "defaulted": True,
                },
                **specs,
            }
        for fname, fspec in specs.items():
            fields[fname] = _field_from_spec(fname, fspec or {}, options)
        if multi_currency and ospec.get("currency", custom):
            fields["CurrencyIsoCode"] = FieldDef(
                "CurrencyIsoCode",
                "picklist",
                "Currency ISO Code",
                length=3,
                nillable=False,
                defaulted_on_create=True,
                picklist=tuple(currencies),
                picklist_default=corporate_currency,
                restricted=True,
            )
        obj = ObjectDef(
            name=oname,
            key_prefix=str(prefix),
            label=str(ospec.get("label", oname)),
            label_plural=str(ospec.get("labelPlural", ospec.get("label", oname) + "s")),
            fields=fields,
            custom=custom,
            createable=bool(ospec.get("createable", True)),
            updateable=bool(ospec.get("updateable", True)),
            deletable=bool(ospec.get("deletable", True)),
        )
        objects[oname] = obj
    for obj in objects.values():
        for f in obj.fields.values():
            if f.type == "reference" and f.child_relationship:
                for target in f.reference_to:
                    parent = objects.get(target)
                    if parent is not None and f.child_relationship not in parent.child_relationships:
                        parent.child_relationships[f.child_relationship] = ChildRelationship(
                            f.child_relationship, obj.name, f.name, f.cascade_delete
                        )
    for obj in objects.values():
        obj.index()
    stages = [
        Stage(str(r[0]), int(r[1]), bool(r[2]), bool(r[3]), str(r[4]))
        for r in data.get("opportunity_stages", [])
    ]
    return Schema(objects, stages)


def _has_master(ospec: Mapping[str, Any]) -> bool:
    return any((f or {}).get("relationshipOrder") == 0 for f in (ospec.get("fields") or {}).values())
