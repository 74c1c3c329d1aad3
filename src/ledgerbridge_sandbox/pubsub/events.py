"""Change events as the Pub/Sub API delivers them: one Avro schema per entity, binary payloads, bitmaps.

Domain layer of the Pub/Sub emulation; imports the Salesforce sandbox's schema and value formats and
``fastavro``. Shapes follow the reference (salesforce-api §9.1, §9.2) and Salesforce's "Event
Deserialization Considerations":

- the schema of ``/data/AccountChangeEvent`` is a record ``com.sforce.eventbus.AccountChangeEvent``
  whose first field is ``ChangeEventHeader``, then every field of the entity as an optional union
  (``["null", T]``, default null); compound fields (addresses, person names) are nested records and
  their members are not repeated at the top level; ``Id``, ``IsDeleted`` and ``SystemModstamp`` are
  not in change events;
- datetimes are ``long`` epoch milliseconds, dates ``int`` days since the epoch;
- ``changedFields``, ``nulledFields`` and ``diffFields`` are bitmaps: the first string is a hex
  bitmap over the top-level field positions (``"0x1E"``: bit *i* set = field *i* of the schema),
  followed by one ``"{parentPosition}-0x.."`` string per compound field with nested members;
- the schema id is a fingerprint of the schema (22 characters of URL-safe base64, like
  ``IeRuaY6cbI_HsV8Rv1Mc5g``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import fastavro

from ledgerbridge_sandbox.salesforce.schema import ADDRESS_PARTS
from ledgerbridge_sandbox.salesforce.values import parse_date, parse_datetime

NAMESPACE = "com.sforce.eventbus"
ALL_CHANGES_TOPIC = "/data/ChangeEvents"
CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE",
                "GAP_UNDELETE", "GAP_OVERFLOW")
_NOT_IN_EVENTS = frozenset({"Id", "IsDeleted", "SystemModstamp"})  # reference §9.1
_PERSON_NAME_PARTS = ("Salutation", "FirstName", "LastName")
_STRING_TYPES = frozenset({"id", "reference", "string", "textarea", "picklist", "multipicklist", "combobox",
                           "email", "phone", "url", "encryptedstring", "base64"})
_AVRO_TYPES = {"boolean": "boolean", "int": "int", "long": "long", "double": "double", "currency": "double",
               "percent": "double", "date": "int", "datetime": "long", "time": "long"}
_EPOCH = date(1970, 1, 1)


class FieldLike(Protocol):
    """What the sandbox schema says about one field (``salesforce.schema.FieldDef`` fits)."""

    name: str
    type: str
    components: str | None


class ObjectLike(Protocol):
    """One sObject of the sandbox schema (``salesforce.schema.ObjectDef`` fits)."""

    name: str

    @property
    def fields(self) -> Mapping[str, FieldLike]:
        """Fields by name, in describe order."""
        ...


class SchemaLike(Protocol):
    """The sandbox schema (``salesforce.schema.Schema`` fits)."""

    @property
    def objects(self) -> Mapping[str, ObjectLike]:
        """sObjects by name."""
        ...


def channel_of(entity: str) -> str:
    """The change channel of an entity: ``/data/AccountChangeEvent``, ``/data/Foo__ChangeEvent``."""
    name = entity[:-3] + "__ChangeEvent" if entity.endswith("__c") else entity + "ChangeEvent"
    return f"/data/{name}"


def _header_schema() -> dict[str, Any]:
    strings = {"type": "array", "items": "string"}
    return {
        "type": "record", "name": "ChangeEventHeader", "namespace": NAMESPACE,
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": strings},
            {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "namespace": NAMESPACE,
                                            "symbols": list(CHANGE_TYPES)}},
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": strings},
            {"name": "diffFields", "type": strings},
            {"name": "changedFields", "type": strings},
        ],
    }


def _avro_type(sf_type: str) -> str:
    return "string" if sf_type in _STRING_TYPES else _AVRO_TYPES.get(sf_type, "string")


def _optional(name: str, avro_type: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "default": None}


@dataclass
class _Compound:
    name: str
    record: str
    parts: list[tuple[str, str, str]]  # (member name in the event, source field name, avro type)


@dataclass
class EventSchema:
    """The Avro schema of one entity's change events, and what encoding needs to know about it."""

    entity: str
    schema: dict[str, Any]
    schema_json: str
    schema_id: str
    parsed: Any
    top_fields: list[str]
    compounds: dict[str, _Compound] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # top-level field -> sandbox field type

    @property
    def topic(self) -> str:
        """The entity's change channel."""
        return channel_of(self.entity)

    def encode(self, payload: Mapping[str, Any]) -> bytes:
        """Avro-encode one change event payload as the sandbox change log stores it.

        Args:
            payload: ``{"ChangeEventHeader": {...field names...}, <fields in REST formats>}``.

        Returns:
            The Avro binary (schemaless) encoding.
        """
        header = dict(payload.get("ChangeEventHeader") or {})
        record: dict[str, Any] = {"ChangeEventHeader": {
            "entityName": str(header.get("entityName", self.entity)),
            "recordIds": [str(x) for x in header.get("recordIds") or []],
            "changeType": header.get("changeType") if header.get("changeType") in CHANGE_TYPES else "UPDATE",
            "changeOrigin": str(header.get("changeOrigin") or ""),
            "transactionKey": str(header.get("transactionKey") or ""),
            "sequenceNumber": _as_int(header.get("sequenceNumber")) or 0,
            "commitTimestamp": _as_int(header.get("commitTimestamp")) or 0,
            "commitNumber": _as_int(header.get("commitNumber")) or 0,
            "commitUser": str(header.get("commitUser") or ""),
            "nulledFields": self.bitmap(header.get("nulledFields") or []),
            "diffFields": self.bitmap(header.get("diffFields") or []),
            "changedFields": self.bitmap(header.get("changedFields") or []),
        }}
        for name in self.top_fields[1:]:
            value = payload.get(name)
            compound = self.compounds.get(name)
            if compound is not None:
                record[name] = None if not isinstance(value, Mapping) else {
                    member: _convert(value.get(member), avro_type) for member, _, avro_type in compound.parts}
            else:
                record[name] = _convert(value, _avro_type(self.types[name]), self.types[name])
        out = io.BytesIO()
        fastavro.schemaless_writer(out, self.parsed, record)
        return out.getvalue()

    def bitmap(self, names: Iterable[str]) -> list[str]:
        """Field names (``BillingAddress.City`` for compound members) as Salesforce's bitmap strings.

        Names the schema does not know are left out. An empty list stays empty; otherwise the first
        string is the top-level bitmap (``0x00`` when only compound members are listed).
        """
        top = 0
        nested: dict[int, int] = {}
        for name in names:
            parent, _, member = str(name).partition(".")
            if parent not in self.top_fields:
                continue
            position = self.top_fields.index(parent)
            compound = self.compounds.get(parent)
            if member and compound is not None:
                members = [m for m, _, _ in compound.parts]
                if member in members:
                    nested[position] = nested.get(position, 0) | (1 << members.index(member))
            elif not member:
                top |= 1 << position
        if not top and not nested:
            return []
        return [_hex(top)] + [f"{position}-{_hex(bits)}" for position, bits in sorted(nested.items())]


def _hex(bits: int) -> str:
    digits = f"{bits:X}"
    return "0x" + ("0" * (len(digits) % 2)) + digits


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _convert(value: Any, avro_type: str, sf_type: str = "") -> Any:
    """A REST-format value as the Avro type wants it; ``None`` when it does not fit."""
    if value is None:
        return None
    if sf_type == "datetime":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        when = parse_datetime(value) if isinstance(value, str) else None
        return int(when.timestamp() * 1000) if when else None
    if sf_type == "date":
        day = parse_date(value) if isinstance(value, str) else None
        return (day - _EPOCH).days if day else None
    if avro_type == "string":
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, list | dict) \
            else str(value)
    if avro_type == "boolean":
        return value if isinstance(value, bool) else None
    if avro_type in ("int", "long"):
        return _as_int(value)
    if avro_type == "double":
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return None


def _fingerprint(schema: dict[str, Any]) -> str:
    canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(schema))
    return base64.urlsafe_b64encode(hashlib.md5(canonical.encode()).digest()).decode().rstrip("=")


def build_event_schema(obj: ObjectLike) -> EventSchema:
    """The change-event schema of one sObject.

    Args:
        obj: the sObject from the sandbox schema.

    Returns:
        Its :class:`EventSchema`.
    """
    fields = dict(obj.fields)
    compounds: dict[str, _Compound] = {}
    members: set[str] = set()
    for f in fields.values():
        if f.type == "address":
            prefix = f.components or ""
            parts = [(suffix, prefix + suffix, "double" if suffix in ("Latitude", "Longitude") else "string")
                     for _, suffix in ADDRESS_PARTS]
            compounds[f.name] = _Compound(f.name, "Address", parts)
            members.update(prefix + suffix for _, suffix in ADDRESS_PARTS)
    if "Name" in fields and all(p in fields for p in ("FirstName", "LastName")):
        parts = [(p, p, "string") for p in _PERSON_NAME_PARTS if p in fields]
        compounds["Name"] = _Compound("Name", "PersonName", parts)
        members.update(p for p, _, _ in parts)
    avro_fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": _header_schema()}]
    top = ["ChangeEventHeader"]
    types: dict[str, str] = {}
    defined: set[str] = set()
    for f in fields.values():
        if f.name in _NOT_IN_EVENTS or f.name in members:
            continue
        compound = compounds.get(f.name)
        if compound is not None:
            if compound.record in defined:
                avro_type: Any = f"{NAMESPACE}.{compound.record}"
            else:
                defined.add(compound.record)
                avro_type = {"type": "record", "name": compound.record, "namespace": NAMESPACE,
                             "fields": [_optional(m, t) for m, _, t in compound.parts]}
            avro_fields.append(_optional(f.name, avro_type))
        else:
            avro_fields.append(_optional(f.name, _avro_type(f.type)))
            types[f.name] = f.type
        top.append(f.name)
    schema = {"type": "record", "name": channel_of(obj.name).removeprefix("/data/"), "namespace": NAMESPACE,
              "fields": avro_fields}
    return EventSchema(entity=obj.name, schema=schema, schema_json=json.dumps(schema, separators=(",", ":")),
                       schema_id=_fingerprint(schema), parsed=fastavro.parse_schema(schema), top_fields=top,
                       compounds=compounds, types=types)


class SchemaRegistry:
    """Change-event schemas of every sObject in the sandbox schema, by entity, topic and schema id.

    Args:
        schema: the sandbox's schema.
    """

    def __init__(self, schema: SchemaLike) -> None:
        self._by_entity: dict[str, EventSchema] = {}
        for obj in schema.objects.values():
            self._by_entity[obj.name.lower()] = build_event_schema(obj)
        self._by_topic = {s.topic: s for s in self._by_entity.values()}
        self._by_id = {s.schema_id: s for s in self._by_entity.values()}

    def for_entity(self, entity: str) -> EventSchema | None:
        """The schema of an entity's change events (case-insensitive)."""
        return self._by_entity.get(entity.lower())

    def for_topic(self, topic: str) -> EventSchema | None:
        """The schema of a single-entity change channel such as ``/data/AccountChangeEvent``."""
        return self._by_topic.get(topic)

    def by_id(self, schema_id: str) -> EventSchema | None:
        """A schema by its id."""
        return self._by_id.get(schema_id)

    @property
    def topics(self) -> Sequence[str]:
        """Every single-entity change channel."""
        return sorted(self._by_topic)

