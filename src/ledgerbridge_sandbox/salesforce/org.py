"""The emulated org: records, validation, derived fields and change events.

Domain layer of the Salesforce sandbox; imports schema, store, change log, governance and the
SOQL package (for validation-rule conditions), never anything HTTP. Handlers call one public
method per operation; each runs in its own store transaction (nested in the caller's when a
composite or collection request opened one), so a failure leaves nothing behind.

Behaviour follows reference §3 (CRUD, upsert, replication), §7 (errors) and §8 (standard
objects): required fields, lengths, restricted picklists, references, unique and external-id
values, duplicate rules, admin validation rules, opportunity stages and roll-ups, price book
rules for entries and opportunity products, lead conversion.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ledgerbridge_sandbox.salesforce import ids
from ledgerbridge_sandbox.salesforce.changes import ChangeLog
from ledgerbridge_sandbox.salesforce.config import DEFAULT_API_VERSION, SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.errors import (
    MESSAGES,
    ApiError,
    MultipleChoices,
    RecordError,
    message,
    not_found,
)
from ledgerbridge_sandbox.salesforce.governance import ApiUsage, FaultInjector
from ledgerbridge_sandbox.salesforce.schema import (
    ADDRESS_PARTS,
    NUMBER_TYPES,
    STRING_TYPES,
    FieldDef,
    ObjectDef,
    Schema,
    load_schema,
)
from ledgerbridge_sandbox.salesforce.store import Record, Store
from ledgerbridge_sandbox.salesforce.values import (
    canonical_datetime,
    format_datetime,
    parse_date,
    parse_datetime,
    parse_time,
)

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SYSTEM_STAMPS = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
# Fields a change event never carries (reference §9.1).
_NOT_IN_EVENTS = frozenset({"Id", "IsDeleted", "SystemModstamp"})
_NAME_PARTS = ("Salutation", "FirstName", "LastName")
# Duplicate rules of a new org (standard rules; matching here is exact, case-insensitive).
_DUPLICATE_RULES = {
    "Account": ("Name", "Standard_Account_Duplicate_Rule", "Standard_Account_Match_Rule_v1_0"),
    "Contact": ("Email", "Standard_Contact_Duplicate_Rule", "Standard_Contact_Match_Rule_v1_1"),
}


@dataclass
class CallContext:
    """Who makes a change and through which channel.

    Attributes:
        user_id: the running user.
        version: API version of the call (for URLs and ``changeOrigin``).
        client: the ``client=`` value of ``Sforce-Call-Options``.
        api: ``rest``, ``bulkapi`` or ``ui`` (sandbox-internal changes: no change origin).
        allow_save: ``Sforce-Duplicate-Rule-Header: allowSave=true``.
        include_record_details: ``includeRecordDetails=true`` of the same header.
    """

    user_id: str
    version: str = DEFAULT_API_VERSION
    client: str | None = None
    api: str = "rest"
    allow_save: bool = False
    include_record_details: bool = False

    @property
    def origin(self) -> str:
        """``changeOrigin`` of the change events this call produces."""
        if self.api == "ui":
            return ""
        origin = f"com/salesforce/api/{self.api}/{self.version}"
        return f"{origin};client={self.client}" if self.client else origin


def _err(code: str, msg: str, fields: list[str] | None = None, status: int = 400) -> ApiError:
    return ApiError(status, [RecordError(code, msg, fields)])


def _norm_key(f: FieldDef, value: Any) -> str:
    text = _format_number(value) if isinstance(value, float) else str(value)
    return text if f.case_sensitive else text.lower()


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


class Org:
    """One emulated Salesforce org.

    Args:
        config: the sandbox settings.
        store: an open store (defaults to one on ``config.data``).
    """

    def __init__(self, config: SalesforceSandboxConfig, store: Store | None = None) -> None:
        self.config = config
        self.clock = config.clock
        self.schema: Schema = load_schema(
            config.schema_files,
            multi_currency=config.multi_currency,
            currencies=config.currencies,
            corporate_currency=config.corporate_currency,
        )
        self.store = store or Store(config.data)
        self.changes = ChangeLog(self.store, self.clock)
        self.faults = FaultInjector(config.faults)
        self.usage = ApiUsage(self.clock, config.api_allocation)
        self._rules: list[tuple[Any, Callable[[Record], bool]]] | None = None
        self._key_fields: dict[str, list[FieldDef]] = {}
        for obj in self.schema.objects.values():
            self._key_fields[obj.name] = self._compute_key_fields(obj)

    # -- identity of the org --------------------------------------------------------------

    @property
    def org_id(self) -> str:
        """The 18-character organisation id."""
        return self.store.get_meta("org_id") or ids.to18("00DHp0000001LbZ")

    @property
    def user_id(self) -> str:
        """The integration user's id."""
        uid = self.store.get_meta("integration_user_id")
        if uid is None:
            raise RuntimeError("org is not seeded")
        return uid

    @property
    def standard_pricebook_id(self) -> str:
        """Id of the standard price book."""
        pid = self.store.get_meta("standard_pricebook_id")
        if pid is None:
            raise RuntimeError("org is not seeded")
        return pid

    def is_seeded(self) -> bool:
        """Whether the org holds its base data (integration user, standard price book)."""
        return self.store.get_meta("integration_user_id") is not None

    def system_context(self) -> CallContext:
        """A context for sandbox-internal changes made as the integration user."""
        return CallContext(self.user_id, self.config.api_version, api="ui")

    def now(self) -> datetime:
        """The sandbox time."""
        return self.clock.now()

    # -- metadata helpers -----------------------------------------------------------------

    def object(self, type_name: str) -> ObjectDef:
        """The sObject type of that name.

        Raises:
            ApiError: 404 NOT_FOUND for an unknown type.
        """
        obj = self.schema.get(type_name)
        if obj is None:
            raise not_found()
        return obj

    def object_of_id(self, record_id: str) -> ObjectDef | None:
        """The sObject type an id belongs to."""
        return self.schema.type_of_id(record_id)

    def _compute_key_fields(self, obj: ObjectDef) -> list[FieldDef]:
        out = []
        dup = _DUPLICATE_RULES.get(obj.name)
        for f in obj.fields.values():
            if f.name == "Id":
                continue
            if (
                f.unique
                or f.external_id
                or f.id_lookup
                or (dup and dup[0] == f.name)
                or (f.type == "reference" and f.name not in _SYSTEM_STAMPS and f.name != "OwnerId")
            ):
                out.append(f)
        return out

    def key_values(self, obj: ObjectDef, rec: Record) -> list[tuple[str, str]]:
        """Index entries of a live record: ``(lower-cased field name, normalised value)``."""
        out = []
        for f in self._key_fields[obj.name]:
            v = rec.get(f.name)
            if v is not None and v != "":
                out.append((f.lname, _norm_key(f, v)))
        return out

    def find(self, obj: ObjectDef, f: FieldDef, value: Any) -> list[str]:
        """Ids of live records whose indexed field ``f`` equals ``value``."""
        if f.name == "Id":
            rid = ids.normalize(str(value))
            rec = self.store.get(obj.name, rid) if rid else None
            return [rid] if rid and rec and not rec.get("IsDeleted") else []
        if f not in self._key_fields[obj.name]:
            return [r["Id"] for r in self.live(obj.name) if _eq_ci(r.get(f.name), value, f)]
        return self.store.find_key(obj.name, f.lname, _norm_key(f, value))

    def children(self, child_type: str, fk_field: str, parent_id: str) -> list[Record]:
        """Live child records pointing at ``parent_id`` through ``fk_field``."""
        store = self.store
        return [
            r
            for rid in store.find_key(child_type, fk_field.lower(), parent_id.lower())
            if (r := store.get(child_type, rid)) is not None
        ]

    def live(self, type_name: str) -> Iterable[Record]:
        """Live (not deleted) records of a type."""
        return (r for r in self.store.records(type_name).values() if not r.get("IsDeleted"))

    def get_live(self, type_name: str, record_id: str) -> Record | None:
        """A live record or ``None``."""
        rec = self.store.get(type_name, record_id)
        return rec if rec is not None and not rec.get("IsDeleted") else None

    # -- rendering ------------------------------------------------------------------------

    def url(self, type_name: str, record_id: str, version: str) -> str:
        """``/services/data/vNN.0/sobjects/Type/Id``."""
        return f"/services/data/v{version}/sobjects/{type_name}/{record_id}"

    def field_value(self, obj: ObjectDef, f: FieldDef, rec: Record) -> Any:
        """A field's output value (compound address fields assembled from their members)."""
        if f.type == "address":
            prefix = f.components or ""
            parts = {key: rec.get(prefix + suffix) for key, suffix in ADDRESS_PARTS}
            if all(v is None for v in parts.values()):
                return None
            return dict(sorted(parts.items()))
        return rec.get(f.name)

    def render(
        self, obj: ObjectDef, rec: Record, version: str, fields: list[FieldDef] | None = None
    ) -> dict[str, Any]:
        """A record as REST returns it: ``attributes`` first, then the fields (nulls included)."""
        out: dict[str, Any] = {
            "attributes": {"type": obj.name, "url": self.url(obj.name, rec["Id"], version)}
        }
        for f in fields if fields is not None else obj.fields.values():
            out[f.name] = self.field_value(obj, f, rec)
        return out

    def resolve_fields(self, obj: ObjectDef, names: Iterable[str]) -> list[FieldDef]:
        """Field definitions for a ``fields=`` list.

        Raises:
            ApiError: 400 INVALID_FIELD for an unknown field.
        """
        out = []
        for raw in names:
            name = raw.strip()
            if not name:
                continue
            f = obj.field(name)
            if f is None:
                raise _err("INVALID_FIELD", message("INVALID_FIELD", field=name, type=obj.name))
            out.append(f)
        return out

    # -- reads ----------------------------------------------------------------------------

    def retrieve(
        self, type_name: str, record_id: str, version: str, field_names: list[str] | None = None
    ) -> dict[str, Any]:
        """Read one record by id.

        Raises:
            ApiError: 404 NOT_FOUND (unknown id, deleted, or a non-id naming no external-id
                field), 400 INVALID_FIELD (unknown ``fields=`` entry).
        """
        obj = self.object(type_name)
        rid = ids.normalize(record_id)
        if rid is None:
            raise _err("NOT_FOUND", message("EXTERNAL_ID_FIELD", field=record_id), status=404)
        fields = self.resolve_fields(obj, field_names) if field_names else None
        rec = self.store.get(obj.name, rid)
        if rec is None or rec.get("IsDeleted") or rid[:3] != obj.key_prefix:
            raise not_found()
        return self.render(obj, rec, version, fields)

    def external_field(self, obj: ObjectDef, field_name: str) -> FieldDef:
        """The key field of an external-id URL (``Id``, an external id or an idLookup field).

        Raises:
            ApiError: 404 NOT_FOUND naming the field.
        """
        f = obj.field(field_name)
        if f is None or not (f.external_id or f.id_lookup or f.name == "Id"):
            raise _err("NOT_FOUND", message("EXTERNAL_ID_FIELD", field=field_name), status=404)
        return f

    def find_by_external(self, type_name: str, field_name: str, value: str) -> tuple[ObjectDef, list[str]]:
        """Ids of live records whose external-id ``field_name`` equals ``value``."""
        obj = self.object(type_name)
        f = self.external_field(obj, field_name)
        return obj, self.find(obj, f, value)

    # -- writes: public operations ----------------------------------------------------------

    def create(self, ctx: CallContext, type_name: str, body: Any) -> str:
        """Insert one record; returns its id.

        Raises:
            ApiError: the record is invalid (400 with the error items).
        """
        obj = self.object(type_name)
        if not obj.createable:
            raise _err("INVALID_TYPE_FOR_OPERATION", "entity type cannot be inserted")
        with self.store.transaction():
            return self._save(ctx, obj, _body_dict(body), None)

    def update(self, ctx: CallContext, type_name: str | None, record_id: str, body: Any) -> None:
        """Update one record with the fields in ``body``.

        Raises:
            ApiError: unknown/deleted record (404) or invalid values (400).
        """
        obj, rec = self._existing(type_name, record_id)
        if not obj.updateable:
            raise _err("INVALID_TYPE_FOR_OPERATION", "entity type cannot be updated")
        values = _body_dict(body)
        given_id = values.pop("Id", None) or values.pop("id", None)
        if given_id is not None and ids.normalize(str(given_id)) != rec["Id"]:
            raise _err("INVALID_ID_FIELD", f"Id in body ({given_id}) does not match id in URL ({rec['Id']})")
        with self.store.transaction():
            self._save(ctx, obj, values, rec)

    def upsert(
        self, ctx: CallContext, type_name: str, field_name: str, value: str, body: Any
    ) -> tuple[str, bool]:
        """Upsert by an external id: returns ``(id, created)``.

        Raises:
            ApiError: 300 with record URLs when several match; 404 for an unknown key field;
                400 for invalid values.
        """
        obj = self.object(type_name)
        f = self.external_field(obj, field_name)
        values = _body_dict(body)
        matches = self.find(obj, f, value)
        if len(matches) > 1:
            raise MultipleChoices([self.url(obj.name, m, ctx.version) for m in matches])
        with self.store.transaction():
            if matches:
                rec = self.store.get(obj.name, matches[0])
                assert rec is not None
                self._save(ctx, obj, values, rec)
                return matches[0], False
            if f.name == "Id":
                raise not_found()
            values = {k: v for k, v in values.items() if k.lower() != f.lname}
            values[f.name] = value
            return self._save(ctx, obj, values, None), True

    def delete(self, ctx: CallContext, type_name: str | None, record_id: str) -> None:
        """Delete one record (to the recycle bin; cascades to dependent children).

        Raises:
            ApiError: 404 NOT_FOUND / ENTITY_IS_DELETED, 400 for non-deletable types.
        """
        obj, rec = self._existing(type_name, record_id)
        if not obj.deletable:
            raise _err("INVALID_TYPE_FOR_OPERATION", "entity type cannot be deleted")
        if obj.name == "Pricebook2" and rec.get("IsStandard"):
            raise _err("DELETE_FAILED", "Cannot delete the standard price book")
        with self.store.transaction():
            self._check_lock(rec["Id"])
            self._delete(ctx, obj, rec, None)

    def undelete(self, ctx: CallContext, record_id: str) -> None:
        """Restore a deleted record (and the children deleted with it).

        Raises:
            ApiError: 404 when the record is unknown, 400 when it is not deleted.
        """
        rid = ids.normalize(record_id)
        obj = self.object_of_id(rid) if rid else None
        rec = self.store.get(obj.name, rid) if obj and rid else None
        if obj is None or rec is None:
            raise not_found()
        if not rec.get("IsDeleted"):
            raise _err("UNDELETE_FAILED", "Entity is not in the recycle bin")
        with self.store.transaction():
            self._undelete(ctx, obj, rec)

    # -- writes: internals ------------------------------------------------------------------

    def _existing(self, type_name: str | None, record_id: str) -> tuple[ObjectDef, Record]:
        rid = ids.normalize(record_id)
        if type_name is not None:
            obj = self.object(type_name)
            if rid is None:
                raise _err("NOT_FOUND", message("EXTERNAL_ID_FIELD", field=record_id), status=404)
        else:
            if rid is None:
                raise _err("MALFORMED_ID", f"invalid record id: {record_id}", status=400)
            found = self.object_of_id(rid)
            if found is None:
                raise _err("INVALID_CROSS_REFERENCE_KEY", MESSAGES["INVALID_CROSS_REFERENCE_KEY"])
            obj = found
        rec = self.store.get(obj.name, rid)
        if rec is None or rid[:3] != obj.key_prefix:
            raise not_found()
        if rec.get("IsDeleted"):
            raise _err("ENTITY_IS_DELETED", MESSAGES["ENTITY_IS_DELETED"], [], status=404)
        return obj, rec

    def _check_lock(self, record_id: str) -> None:
        if self.faults.lock_row():
            raise _err("UNABLE_TO_LOCK_ROW", message("UNABLE_TO_LOCK_ROW", id=record_id), [])

    def _coerce(self, obj: ObjectDef, body: dict[str, Any], creating: bool, system: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        not_writable: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                rel = obj.relationship(key)
                if rel is not None and isinstance(raw, dict):
                    values[rel.name] = self._resolve_foreign_key(obj, rel, raw)
                    continue
                raise _err("INVALID_FIELD", message("INVALID_FIELD", field=key, type=obj.name))
            if not system and not (f.createable if creating else f.updateable):
                not_writable.append(f.name)
                continue
            values[f.name] = self._coerce_value(obj, f, raw)
        if not_writable:
            raise _err(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                message("INVALID_FIELD_FOR_INSERT_UPDATE", fields=", ".join(not_writable)),
                not_writable,
            )
        return values

    def _resolve_foreign_key(self, obj: ObjectDef, rel: FieldDef, raw: dict[str, Any]) -> str:
        target_name = (raw.get("attributes") or {}).get("type") or rel.reference_to[0]
        target = self.object(target_name)
        keys = [(k, v) for k, v in raw.items() if k != "attributes"]
        if len(keys) != 1:
            raise _err(
                "INVALID_FIELD",
                f"A foreign key reference for {rel.relationship_name} must name exactly "
                "one external ID field",
            )
        fname, value = keys[0]
        f = target.field(fname)
        if f is None or not (f.external_id or f.id_lookup):
            raise _err("INVALID_FIELD", message("EXTERNAL_ID_FIELD", field=fname))
        matches = self.find(target, f, value)
        if len(matches) != 1:
            text = message("FOREIGN_KEY_NOT_FOUND", value=value, field=f.name, type=target.name)
            if matches:
                text = (
                    f"Foreign key external ID: {value} matched more than one record for field {f.name} "
                    f"in entity {target.name}"
                )
            raise _err("INVALID_FIELD", text)
        return matches[0]

    def _coerce_value(self, obj: ObjectDef, f: FieldDef, raw: Any) -> Any:
        if raw is None:
            return None
        t = f.type
        if t in STRING_TYPES:
            if isinstance(raw, bool | dict | list):
                raise self._parse_error(f, raw)
            text = raw if isinstance(raw, str) else _format_number(float(raw))
            if text == "":
                return None
            if t == "email" and not _EMAIL_RE.match(text):
                raise _err(
                    "INVALID_EMAIL_ADDRESS",
                    message("INVALID_EMAIL_ADDRESS", label=f.label, value=text),
                    [f.name],
                )
            if t == "picklist" and f.restricted and text not in f.picklist:
                raise _err(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    message("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", label=f.label, value=text),
                    [f.name],
                )
            if t == "multipicklist":
                text = ";".join(v.strip() for v in text.split(";") if v.strip())
            if len(text) > f.length:
                raise _err(
                    "STRING_TOO_LONG",
                    message("STRING_TOO_LONG", label=f.label, value=text, length=f.length),
                    [f.name],
                )
            return text
        if t == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in {"true", "false"}:
                return raw.lower() == "true"
            raise self._parse_error(f, raw)
        if t in NUMBER_TYPES:
            if isinstance(raw, bool):
                raise self._parse_error(f, raw)
            try:
                num = float(raw)
            except (TypeError, ValueError):
                raise self._parse_error(f, raw) from None
            if num != num or num in (float("inf"), float("-inf")):
                raise self._parse_error(f, raw)
            limit_digits = (f.precision - f.scale) if f.precision else (f.digits or 18)
            if abs(num) >= 10**limit_digits:
                raise _err(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{f.label}: value outside of valid range on numeric field: {raw}",
                    [f.name],
                )
            if t in {"int", "long"}:
                return int(num)
            return round(num, f.scale) if f.scale or f.precision else num
        if t == "date":
            d = parse_date(raw) if isinstance(raw, str) else None
            if d is None:
                raise self._parse_error(f, raw)
            return d.isoformat()
        if t == "datetime":
            dt = canonical_datetime(raw) if isinstance(raw, str) else None
            if dt is None:
                raise self._parse_error(f, raw)
            return dt
        if t == "time":
            tm = parse_time(raw) if isinstance(raw, str) else None
            if tm is None:
                raise self._parse_error(f, raw)
            return tm
        if t in {"reference", "id"}:
            rid = ids.normalize(raw) if isinstance(raw, str) else None
            if rid is None or not self._prefix_ok(f, rid):
                raise _err("MALFORMED_ID", message("MALFORMED_ID", label=f.label, value=raw), [f.name])
            return rid
        return raw

    def _prefix_ok(self, f: FieldDef, rid: str) -> bool:
        if f.type == "id":
            return True
        for target in f.reference_to:
            obj = self.schema.get(target)
            if obj is not None and obj.key_prefix == rid[:3]:
                return True
        return False

    def _parse_error(self, f: FieldDef, raw: Any) -> ApiError:
        kind = {
            "int": "int",
            "double": "double",
            "currency": "double",
            "percent": "double",
            "date": "date",
            "datetime": "datetime",
            "boolean": "boolean",
            "time": "time",
        }.get(f.type, "String")
        return _err("JSON_PARSER_ERROR", message("JSON_PARSER_ERROR", type=kind, value=raw))

    def _save(
        self,
        ctx: CallContext,
        obj: ObjectDef,
        body: dict[str, Any],
        existing: Record | None,
        *,
        system: bool = False,
    ) -> str:
        creating = existing is None
        values = self._coerce(obj, body, creating, system)
        now = format_datetime(self.now())
        if creating:
            rec: Record = {"Id": ids.make_id(obj.key_prefix, self.store.next_sequence()), "IsDeleted": False}
            for f in obj.fields.values():
                if f.type == "boolean" and f.name not in values:
                    rec[f.name] = bool(f.default_value)
                elif f.picklist_default is not None and f.name not in values:
                    rec[f.name] = f.picklist_default
            if "OwnerId" in obj.fields and values.get("OwnerId") is None:
                values["OwnerId"] = ctx.user_id
            rec.update(values)
        else:
            assert existing is not None
            rec = dict(existing)
            rec.update(values)
        self._check_required(obj, rec, values, creating)
        self._check_references(obj, values)
        hook = _BEFORE_SAVE.get(obj.name)
        after: Callable[[], None] | None = hook(self, ctx, rec, values, existing) if hook else None
        if obj.custom and not rec.get("Name") and "Name" in obj.fields:
            rec["Name"] = rec["Id"]
        self._check_validation_rules(obj, rec)
        self._check_duplicates(ctx, obj, rec, values, creating)
        self._check_unique(obj, rec, values)
        self._check_lock(rec["Id"])
        if creating:
            rec["CreatedDate"] = now
            rec["CreatedById"] = ctx.user_id
        rec["LastModifiedDate"] = now
        rec["LastModifiedById"] = ctx.user_id
        rec["SystemModstamp"] = now
        self.store.put(obj.name, rec, self.key_values(obj, rec))
        self._emit(ctx, obj, rec, existing)
        if after is not None:
            after()
        return str(rec["Id"])

    def _check_required(self, obj: ObjectDef, rec: Record, values: dict[str, Any], creating: bool) -> None:
        missing = []
        for f in obj.fields.values():
            if f.nillable or f.type == "boolean" or f.name in _SYSTEM_STAMPS or f.name == "Id":
                continue
            if creating:
                if f.is_required_on_create and rec.get(f.name) is None:
                    missing.append(f.name)
            elif f.name in values and values[f.name] is None:
                missing.append(f.name)
        if missing:
            raise _err(
                "REQUIRED_FIELD_MISSING",
                message("REQUIRED_FIELD_MISSING", fields=", ".join(missing)),
                missing,
            )

    def _check_references(self, obj: ObjectDef, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if value is None:
                continue
            f = obj.fields[name]
            if f.type != "reference":
                continue
            target = self.schema.type_of_id(value)
            rec = self.store.get(target.name, value) if target else None
            if rec is None:
                raise _err("INVALID_CROSS_REFERENCE_KEY", MESSAGES["INVALID_CROSS_REFERENCE_KEY"], [f.name])
            if rec.get("IsDeleted"):
                raise _err("ENTITY_IS_DELETED", MESSAGES["ENTITY_IS_DELETED"], [f.name])

    def _check_validation_rules(self, obj: ObjectDef, rec: Record) -> None:
        rules = self._compiled_rules()
        errors = [
            RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, [rule.field] if rule.field else [])
            for rule, test in rules
            if rule.object.lower() == obj.name.lower() and test(rec)
        ]
        if errors:
            raise ApiError(400, errors)

    def _compiled_rules(self) -> list[tuple[Any, Callable[[Record], bool]]]:
        if self._rules is None:
            from ledgerbridge_sandbox.salesforce.soql.engine import compile_condition

            self._rules = [
                (rule, compile_condition(self, rule.object, rule.condition))
                for rule in self.config.validation_rules
            ]
        return self._rules

    def set_validation_rules(self, rules: list[Any]) -> None:
        """Replace the admin validation rules (compiled on first use).

        Raises:
            ApiError: a rule's condition is not a valid SOQL condition.
        """
        from ledgerbridge_sandbox.salesforce.soql.engine import compile_condition

        compiled = [(rule, compile_condition(self, rule.object, rule.condition)) for rule in rules]
        self.config.validation_rules = list(rules)
        self._rules = compiled

    def _check_duplicates(
        self, ctx: CallContext, obj: ObjectDef, rec: Record, values: dict[str, Any], creating: bool
    ) -> None:
        rule = _DUPLICATE_RULES.get(obj.name)
        if not self.config.duplicate_rules or rule is None or ctx.api not in ("rest", "bulkapi"):
            return
        field_name, rule_name, match_rule = rule
        if field_name not in values or rec.get(field_name) is None:
            return
        f = obj.fields[field_name]
        matches = [m for m in self.find(obj, f, rec[field_name]) if m != rec["Id"]]
        if not matches:
            return
        alert = self.config.duplicate_rule_action == "alert"
        if alert and ctx.allow_save:
            return
        records = []
        for m in matches:
            match = self.store.get(obj.name, m) or {"Id": m}
            if ctx.include_record_details:
                shown = self.render(obj, match, ctx.version)
            else:
                shown = {"attributes": {"type": obj.name, "url": self.url(obj.name, m, ctx.version)}, "Id": m}
            records.append(
                {"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0, "record": shown}
            )
        text = MESSAGES["DUPLICATES_DETECTED"]
        result = {
            "allowSave": alert,
            "duplicateRule": rule_name,
            "duplicateRuleEntityType": obj.name,
            "errorMessage": text,
            "matchResults": [
                {
                    "entityType": obj.name,
                    "errors": [],
                    "matchEngine": "FuzzyMatchEngine",
                    "matchRecords": records,
                    "rule": match_rule,
                    "size": len(records),
                    "success": True,
                }
            ],
        }
        raise ApiError(400, [RecordError("DUPLICATES_DETECTED", text, None, {"duplicateResult": result})])

    def _check_unique(self, obj: ObjectDef, rec: Record, values: dict[str, Any]) -> None:
        for name, value in values.items():
            f = obj.fields[name]
            if not f.unique or value is None:
                continue
            others = [m for m in self.find(obj, f, value) if m != rec["Id"]]
            if others:
                raise _err("DUPLICATE_VALUE", message("DUPLICATE_VALUE", field=f.name, id=others[0]), [])

    def _emit(self, ctx: CallContext, obj: ObjectDef, rec: Record, existing: Record | None) -> None:
        if existing is None:
            changed = [
                k
                for k, v in rec.items()
                if v is not None and k not in _NOT_IN_EVENTS and not k.startswith("__")
            ]
            self.changes.append(
                entity=obj.name,
                record_ids=[rec["Id"]],
                change_type="CREATE",
                fields=self._event_fields(obj, rec, changed),
                changed_fields=[],
                nulled_fields=[],
                commit_user=ctx.user_id,
                origin=ctx.origin,
            )
            return
        changed = [
            k
            for k, v in rec.items()
            if k not in _NOT_IN_EVENTS
            and not k.startswith("__")
            and existing.get(k) != v
            and k not in ("LastModifiedDate", "LastModifiedById")
        ]
        changed += [k for k in existing if k not in rec and k not in _NOT_IN_EVENTS]
        if not changed:
            return
        changed += ["LastModifiedDate", "LastModifiedById"]
        nulled = [k for k in changed if rec.get(k) is None]
        names = [self._event_name(obj, k) for k in changed]
        self.changes.append(
            entity=obj.name,
            record_ids=[rec["Id"]],
            change_type="UPDATE",
            fields=self._event_fields(obj, rec, changed),
            changed_fields=names,
            nulled_fields=[self._event_name(obj, k) for k in nulled],
            commit_user=ctx.user_id,
            origin=ctx.origin,
        )

    def _compound_of(self, obj: ObjectDef, name: str) -> tuple[str, str] | None:
        if name in _NAME_PARTS and obj.name in {"Contact", "Lead", "User"}:
            return "Name", name
        for f in obj.fields.values():
            if f.type == "address":
                prefix = f.components or ""
                for _, suffix in ADDRESS_PARTS:
                    if name == prefix + suffix:
                        return f.name, suffix
        return None

    def _event_name(self, obj: ObjectDef, name: str) -> str:
        compound = self._compound_of(obj, name)
        return f"{compound[0]}.{compound[1]}" if compound else name

    def _event_fields(self, obj: ObjectDef, rec: Record, names: Iterable[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in names:
            if name == "Name" and obj.name in {"Contact", "Lead", "User"}:
                continue
            compound = self._compound_of(obj, name)
            if compound is None:
                out[name] = rec.get(name)
                continue
            parent, part = compound
            box = out.setdefault(parent, {})
            if isinstance(box, dict):
                box[part] = rec.get(name)
        return out

    def _delete(self, ctx: CallContext, obj: ObjectDef, rec: Record, cascade_of: str | None) -> None:
        for rel in obj.child_relationships.values():
            if not rel.cascade_delete:
                continue
            for child in self.children(rel.child, rel.field, rec["Id"]):
                self._delete(ctx, self.schema.objects[rel.child], child, rec["Id"])
        now = format_datetime(self.now())
        new = dict(rec)
        new["IsDeleted"] = True
        new["SystemModstamp"] = now
        new["__deleted"] = now
        if cascade_of:
            new["__cascade_of"] = cascade_of
        self.store.put(obj.name, new, [])
        self.changes.append(
            entity=obj.name,
            record_ids=[rec["Id"]],
            change_type="DELETE",
            fields={},
            changed_fields=[],
            nulled_fields=[],
            commit_user=ctx.user_id,
            origin=ctx.origin,
        )
        if obj.name == "OpportunityLineItem" and cascade_of is None:
            self._rollup_opportunity(ctx, rec["OpportunityId"])

    def _undelete(self, ctx: CallContext, obj: ObjectDef, rec: Record) -> None:
        new = {k: v for k, v in rec.items() if k not in ("__deleted", "__cascade_of")}
        new["IsDeleted"] = False
        self._check_unique(obj, new, {f.name: new.get(f.name) for f in obj.fields.values() if f.unique})
        new["SystemModstamp"] = format_datetime(self.now())
        self.store.put(obj.name, new, self.key_values(obj, new))
        fields = [k for k, v in new.items() if v is not None and k not in _NOT_IN_EVENTS]
        self.changes.append(
            entity=obj.name,
            record_ids=[rec["Id"]],
            change_type="UNDELETE",
            fields=self._event_fields(obj, new, fields),
            changed_fields=[],
            nulled_fields=[],
            commit_user=ctx.user_id,
            origin=ctx.origin,
        )
        for rel in obj.child_relationships.values():
            child_obj = self.schema.objects[rel.child]
            for child in list(self.store.records(rel.child).values()):
                if child.get("__cascade_of") == rec["Id"]:
                    self._undelete(ctx, child_obj, child)
        if obj.name == "OpportunityLineItem":
            self._rollup_opportunity(ctx, rec["OpportunityId"])

    # -- object behaviours ------------------------------------------------------------------

    def _rollup_opportunity(self, ctx: CallContext, opp_id: str, pricebook_id: str | None = None) -> None:
        opp = self.get_live("Opportunity", opp_id)
        if opp is None:
            return
        lines = self.children("OpportunityLineItem", "OpportunityId", opp_id)
        new = dict(opp)
        new["HasOpportunityLineItem"] = bool(lines)
        if lines:
            new["Amount"] = round(sum(line.get("TotalPrice") or 0.0 for line in lines), 2)
            new["TotalOpportunityQuantity"] = round(sum(line.get("Quantity") or 0.0 for line in lines), 2)
        elif opp.get("HasOpportunityLineItem"):
            new["Amount"] = 0.0
            new["TotalOpportunityQuantity"] = None
        if pricebook_id and not new.get("Pricebook2Id"):
            new["Pricebook2Id"] = pricebook_id
        _opportunity_expected(new)
        if new == opp:
            return
        now = format_datetime(self.now())
        new["LastModifiedDate"] = now
        new["LastModifiedById"] = ctx.user_id
        new["SystemModstamp"] = now
        obj = self.schema.objects["Opportunity"]
        self.store.put("Opportunity", new, self.key_values(obj, new))
        self._emit(ctx, obj, new, opp)

    def find_pricebook_entry(self, pricebook_id: str, product_id: str, currency: str | None) -> Record | None:
        """The live entry of a product in a price book (and currency, when multi-currency)."""
        for entry in self.children("PricebookEntry", "Product2Id", product_id):
            if entry.get("Pricebook2Id") == pricebook_id and (
                currency is None or entry.get("CurrencyIsoCode", currency) == currency
            ):
                return entry
        return None

    # -- replication (getUpdated / getDeleted) ----------------------------------------------

    def replication_window(self, start: str | None, end: str | None) -> tuple[datetime, datetime]:
        """Parse and check a getUpdated/getDeleted window (minute granularity, reference §3.5).

        Raises:
            ApiError: 400 for a missing or invalid window.
        """
        if not start or not end:
            raise _err("MALFORMED_QUERY", "Both start and end parameters are required")
        s, e = parse_datetime(start), parse_datetime(end)
        if s is None or e is None:
            raise _err("INVALID_REPLICATION_DATE", "Invalid date format for start or end parameter")
        s = s.replace(second=0, microsecond=0)
        e = e.replace(second=0, microsecond=0)
        now = self.now()
        if e > now:
            e = now.replace(second=0, microsecond=0)
        if s >= e:
            raise _err(
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            )
        if s < now - timedelta(days=30):
            raise _err("INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        return s, e

    def updated(self, type_name: str, start: str | None, end: str | None) -> dict[str, Any]:
        """getUpdated: ids changed in the window and ``latestDateCovered``."""
        obj = self.object(type_name)
        s, e = self.replication_window(start, end)
        lo, hi = format_datetime(s), format_datetime(e)
        found = [r["Id"] for r in self.live(obj.name) if lo <= r["SystemModstamp"] < hi]
        return {"ids": found, "latestDateCovered": hi}

    def deleted(self, type_name: str, start: str | None, end: str | None) -> dict[str, Any]:
        """getDeleted: records deleted in the window, with the window bounds."""
        obj = self.object(type_name)
        s, e = self.replication_window(start, end)
        lo, hi = format_datetime(s), format_datetime(e)
        rows = [
            {"id": r["Id"], "deletedDate": r["__deleted"]}
            for r in self.store.records(obj.name).values()
            if r.get("IsDeleted") and lo <= r.get("__deleted", "") < hi
        ]
        earliest = format_datetime((self.now() - timedelta(days=15)).replace(second=0, microsecond=0))
        return {"deletedRecords": rows, "earliestDateAvailable": earliest, "latestDateCovered": hi}

    # -- lead conversion (what the UI does; REST has no such resource) -----------------------

    def convert_lead(
        self,
        lead_id: str,
        *,
        account_id: str | None = None,
        contact_id: str | None = None,
        create_opportunity: bool = True,
        opportunity_name: str | None = None,
        converted_status: str = "Closed - Converted",
    ) -> dict[str, Any]:
        """Convert a lead: create (or reuse) the account and contact, optionally an opportunity.

        Args:
            lead_id: the lead.
            account_id: merge into this existing account instead of creating one.
            contact_id: merge into this existing contact instead of creating one.
            create_opportunity: whether to create an opportunity.
            opportunity_name: its name (default: the lead's company).
            converted_status: the lead status to set.

        Returns:
            ``{"leadId","accountId","contactId","opportunityId","success":true}``.

        Raises:
            ApiError: unknown or already converted lead.
        """
        ctx = self.system_context()
        _, lead = self._existing("Lead", lead_id)
        if lead.get("IsConverted"):
            raise _err(
                "INVALID_STATUS",
                f"This lead was already converted to the contact {lead.get('ConvertedContactId')}",
            )
        with self.store.transaction():
            if account_id is None:
                account = {
                    "Name": lead["Company"],
                    "Phone": lead.get("Phone"),
                    "Website": lead.get("Website"),
                    "Industry": lead.get("Industry"),
                    "AnnualRevenue": lead.get("AnnualRevenue"),
                    "NumberOfEmployees": lead.get("NumberOfEmployees"),
                    "BillingStreet": lead.get("Street"),
                    "BillingCity": lead.get("City"),
                    "BillingState": lead.get("State"),
                    "BillingPostalCode": lead.get("PostalCode"),
                    "BillingCountry": lead.get("Country"),
                    "AccountSource": lead.get("LeadSource"),
                    "OwnerId": lead.get("OwnerId"),
                }
                account_id = self._save(
                    ctx, self.schema.objects["Account"], _compact(account), None, system=True
                )
            if contact_id is None:
                contact = {
                    "AccountId": account_id,
                    "FirstName": lead.get("FirstName"),
                    "LastName": lead["LastName"],
                    "Salutation": lead.get("Salutation"),
                    "Email": lead.get("Email"),
                    "Phone": lead.get("Phone"),
                    "MobilePhone": lead.get("MobilePhone"),
                    "Title": lead.get("Title"),
                    "LeadSource": lead.get("LeadSource"),
                    "MailingStreet": lead.get("Street"),
                    "MailingCity": lead.get("City"),
                    "MailingState": lead.get("State"),
                    "MailingPostalCode": lead.get("PostalCode"),
                    "MailingCountry": lead.get("Country"),
                    "Lead_Score__c": lead.get("Lead_Score__c"),
                    "OwnerId": lead.get("OwnerId"),
                }
                contact_id = self._save(
                    ctx, self.schema.objects["Contact"], _compact(contact), None, system=True
                )
            opp_id = None
            if create_opportunity:
                first_stage = next(iter(self.schema.stages))
                close = (self.now() + timedelta(days=30)).date().isoformat()
                opp = {
                    "Name": opportunity_name or f"{lead['Company']}-",
                    "AccountId": account_id,
                    "StageName": first_stage,
                    "CloseDate": close,
                    "LeadSource": lead.get("LeadSource"),
                    "OwnerId": lead.get("OwnerId"),
                }
                opp_id = self._save(ctx, self.schema.objects["Opportunity"], _compact(opp), None, system=True)
            today = self.now().date().isoformat()
            self._save(
                ctx,
                self.schema.objects["Lead"],
                {
                    "IsConverted": True,
                    "Status": converted_status,
                    "ConvertedDate": today,
                    "ConvertedAccountId": account_id,
                    "ConvertedContactId": contact_id,
                    "ConvertedOpportunityId": opp_id,
                },
                lead,
                system=True,
            )
        return {
            "leadId": lead["Id"],
            "accountId": account_id,
            "contactId": contact_id,
            "opportunityId": opp_id,
            "success": True,
        }


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _eq_ci(a: Any, b: Any, f: FieldDef) -> bool:
    if a is None:
        return False
    return _norm_key(f, a) == _norm_key(f, b)


def _body_dict(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _err("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object JSON value")
    return dict(body)


def _opportunity_expected(rec: Record) -> None:
    amount, prob = rec.get("Amount"), rec.get("Probability")
    rec["ExpectedRevenue"] = (
        round(amount * prob / 100.0, 2) if amount is not None and prob is not None else None
    )


def _names(org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None) -> None:
    rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)


def _user(org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None) -> None:
    _names(org, ctx, rec, values, existing)
    rec.setdefault("UserType", "Standard")


def _opportunity(
    org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None
) -> None:
    stage = org.schema.stages.get(rec.get("StageName") or "")
    if stage is None:
        raise _err(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            message("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", label="Stage", value=rec.get("StageName")),
            ["StageName"],
        )
    if existing is None or "StageName" in values:
        if values.get("Probability") is None:
            rec["Probability"] = float(stage.probability)
        if values.get("ForecastCategoryName") is None:
            rec["ForecastCategoryName"] = stage.forecast_category_name
    rec["IsClosed"] = stage.is_closed
    rec["IsWon"] = stage.is_won
    rec["ForecastCategory"] = {"Best Case": "BestCase", "Commit": "Forecast"}.get(
        rec.get("ForecastCategoryName") or "", rec.get("ForecastCategoryName")
    )
    if existing is not None and existing.get("HasOpportunityLineItem"):
        rec["Amount"] = existing.get("Amount")  # a roll-up once the opportunity has products
        if "Pricebook2Id" in values and values["Pricebook2Id"] != existing.get("Pricebook2Id"):
            raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["OPP_PRICEBOOK_CHANGE"], ["Pricebook2Id"])
        if "CurrencyIsoCode" in values and values["CurrencyIsoCode"] != existing.get("CurrencyIsoCode"):
            raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["OPP_CURRENCY_CHANGE"], ["CurrencyIsoCode"])
    rec.setdefault("HasOpportunityLineItem", False)
    close = parse_date(rec.get("CloseDate") or "")
    if close is not None:
        quarter = (close.month - 1) // 3 + 1
        rec["FiscalYear"], rec["FiscalQuarter"], rec["Fiscal"] = (
            close.year,
            quarter,
            f"{close.year} {quarter}",
        )
    _opportunity_expected(rec)


def _line_item(
    org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None
) -> Callable[[], None]:
    opp = org.get_live("Opportunity", rec["OpportunityId"])
    assert opp is not None  # reference already checked
    currency = opp.get("CurrencyIsoCode") if org.config.multi_currency else None
    pricebook_to_set: str | None = None
    if existing is None:
        pbe_id = rec.get("PricebookEntryId")
        if not pbe_id and rec.get("Product2Id"):
            book = opp.get("Pricebook2Id") or org.standard_pricebook_id
            found = org.find_pricebook_entry(book, rec["Product2Id"], currency)
            pbe_id = found["Id"] if found else None
        if not pbe_id:
            raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["PBE_MISSING"], ["PricebookEntryId", "unknown"])
        pbe = org.get_live("PricebookEntry", pbe_id)
        assert pbe is not None
        if not pbe.get("IsActive"):
            raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["PBE_INACTIVE"], ["PricebookEntryId"])
        if opp.get("Pricebook2Id") and pbe["Pricebook2Id"] != opp["Pricebook2Id"]:
            raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["PBE_OTHER_PRICEBOOK"], ["PricebookEntryId"])
        if currency is not None and pbe.get("CurrencyIsoCode") != currency:
            raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["PBE_CURRENCY"], ["PricebookEntryId"])
        has_unit, has_total = values.get("UnitPrice") is not None, values.get("TotalPrice") is not None
        if has_unit and has_total:
            raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["OLI_PRICE_BOTH"], ["TotalPrice"])
        if not has_unit and not has_total:
            raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["OLI_PRICE_MISSING"], ["TotalPrice"])
        product = org.get_live("Product2", pbe["Product2Id"]) or {}
        rec["PricebookEntryId"] = pbe["Id"]
        rec["Product2Id"] = pbe["Product2Id"]
        rec["ListPrice"] = pbe.get("UnitPrice")
        rec["ProductCode"] = product.get("ProductCode")
        rec["Name"] = f"{opp.get('Name')} {product.get('Name')}"[:376]
        if currency is not None:
            rec["CurrencyIsoCode"] = currency
        if not opp.get("Pricebook2Id"):
            pricebook_to_set = pbe["Pricebook2Id"]
        rec["SortOrder"] = None
    elif values.get("UnitPrice") is not None and values.get("TotalPrice") is not None:
        raise _err("INVALID_FIELD", MESSAGES["OLI_BOTH_UPDATE"])
    quantity = float(rec.get("Quantity") or 0.0)
    discount = float(rec.get("Discount") or 0.0)
    if values.get("TotalPrice") is not None and quantity:
        rec["UnitPrice"] = round(float(values["TotalPrice"]) / quantity / (1 - discount / 100.0 or 1.0), 2)
    unit = float(rec.get("UnitPrice") or 0.0)
    rec["Subtotal"] = round(quantity * unit, 2)
    rec["TotalPrice"] = round(rec["Subtotal"] * (1 - discount / 100.0), 2)
    opp_id = rec["OpportunityId"]
    return lambda: org._rollup_opportunity(ctx, opp_id, pricebook_to_set)


def _pricebook_entry(
    org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None
) -> Callable[[], None] | None:
    currency = rec.get("CurrencyIsoCode") if org.config.multi_currency else None
    if existing is None:
        book = org.get_live("Pricebook2", rec["Pricebook2Id"]) or {}
        if org.find_pricebook_entry(rec["Pricebook2Id"], rec["Product2Id"], currency) is not None:
            raise _err("DUPLICATE_VALUE", MESSAGES["PBE_DUPLICATE"], [])
        if book.get("IsStandard"):
            if rec.get("UseStandardPrice"):
                raise _err(
                    "FIELD_INTEGRITY_EXCEPTION", MESSAGES["PBE_STANDARD_USES_STANDARD"], ["UseStandardPrice"]
                )
        else:
            standard = org.find_pricebook_entry(org.standard_pricebook_id, rec["Product2Id"], currency)
            if standard is None:
                raise _err("STANDARD_PRICE_NOT_DEFINED", MESSAGES["STANDARD_PRICE_NOT_DEFINED"], [])
            if rec.get("UseStandardPrice"):
                rec["UnitPrice"] = standard.get("UnitPrice")
        if rec.get("UnitPrice") is None:
            raise _err(
                "REQUIRED_FIELD_MISSING", message("REQUIRED_FIELD_MISSING", fields="UnitPrice"), ["UnitPrice"]
            )
        product = org.get_live("Product2", rec["Product2Id"]) or {}
        rec["Name"] = product.get("Name")
        rec["ProductCode"] = product.get("ProductCode")
        rec["IsArchived"] = False
        return None
    if (
        existing.get("UseStandardPrice")
        and values.get("UseStandardPrice") is not False
        and "UnitPrice" in values
    ):
        raise _err("FIELD_INTEGRITY_EXCEPTION", MESSAGES["PBE_UNIT_PRICE_LOCKED"], ["UnitPrice"])
    if rec.get("UnitPrice") is None:
        raise _err(
            "REQUIRED_FIELD_MISSING", message("REQUIRED_FIELD_MISSING", fields="UnitPrice"), ["UnitPrice"]
        )
    if "UnitPrice" not in values or rec["Pricebook2Id"] != org.standard_pricebook_id:
        return None
    product_id, price = rec["Product2Id"], rec["UnitPrice"]

    def mirror() -> None:
        obj = org.schema.objects["PricebookEntry"]
        for entry in org.children("PricebookEntry", "Product2Id", product_id):
            if (
                entry.get("UseStandardPrice")
                and entry.get("UnitPrice") != price
                and (currency is None or entry.get("CurrencyIsoCode") == currency)
            ):
                org._save(ctx, obj, {"UnitPrice": price}, entry, system=True)

    return mirror


def _task(org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None) -> None:
    rec["IsClosed"] = rec.get("Status") == "Completed"
    rec["IsHighPriority"] = rec.get("Priority") == "High"
    rec.setdefault("TaskSubtype", "Task")
    account = None
    what, who = rec.get("WhatId"), rec.get("WhoId")
    if what and what.startswith("001"):
        account = what
    elif what and what.startswith("006"):
        account = (org.get_live("Opportunity", what) or {}).get("AccountId")
    elif who and who.startswith("003"):
        account = (org.get_live("Contact", who) or {}).get("AccountId")
    rec["AccountId"] = account


def _pricebook(
    org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None
) -> None:
    rec.setdefault("IsStandard", False)
    rec.setdefault("IsArchived", False)


def _product(
    org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None
) -> None:
    rec.setdefault("IsArchived", False)


def _lead(org: Org, ctx: CallContext, rec: Record, values: dict[str, Any], existing: Record | None) -> None:
    _names(org, ctx, rec, values, existing)
    rec.setdefault("IsConverted", False)


# Each hook runs after required/reference checks, may adjust ``rec`` and raise ApiError, and
# may return a callable run after the record is written (roll-ups on other records).
_BEFORE_SAVE: dict[str, Callable[..., Any]] = {
    "Contact": _names,
    "Lead": _lead,
    "User": _user,
    "Opportunity": _opportunity,
    "OpportunityLineItem": _line_item,
    "PricebookEntry": _pricebook_entry,
    "Task": _task,
    "Pricebook2": _pricebook,
    "Product2": _product,
}
