"""Record JSON on the wire: reading request bodies into stored form, and rendering stored records.

Layer: translation between the REST shapes and the stored record; imports ``schema`` and ``errors``.

Reading (``Inbound``) follows Oracle's rules: property names match case-insensitively (``entityid``
and ``entityId`` are one field); references arrive as ``{"id": ..}`` (string or number) or
``{"externalId": ..}``, enumerations as ``{"id": ..}``, ``{"refName": ..}`` or a bare string;
sublists as ``{"items": [...]}``; ``null`` clears. Unknown names follow
``X-NetSuite-PropertyNameValidation`` (default ``warning``), malformed values
``X-NetSuite-PropertyValueValidation`` (default ``error``); a reference to a missing record is
always an error (Oracle: "For semantic errors ... an error is always returned").

Rendering (``Outbound``) emits camelCase names, references as ``{links, id, refName}``, enumerations
as ``{id, refName}`` (or the bare id with ``simpleEnumFormat``), datetimes in UTC ``Z``, omits empty
fields, and shows sublists as links unless ``expandSubResources=true``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from ledgerbridge_sandbox.netsuite.errors import NetSuiteError, invalid_content
from ledgerbridge_sandbox.netsuite.schema import ENUMS, FieldDef, Schema, Shape

RefResolver = Callable[[str, str, str, str], str]
"""``(target type or family, id or "eid:X", field name, error path) -> internal id`` or raises."""

RefNamer = Callable[[str, str], tuple[str, str] | None]
"""``(target type or family, id) -> (record type, refName)`` or None."""

SUBLIST_ALIASES = {
    "addressbook": "addressBook",
    "item": "item",
    "apply": "apply",
    "price": "price",
    "currencylist": "currencyList",
}


def format_datetime(value: datetime) -> str:
    """Render a datetime as NetSuite does: ISO 8601, UTC, second precision, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime (``Z`` or offset; naive values are UTC).

    Raises:
        ValueError: not a datetime.
    """
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def number_out(value: float | int) -> float | int:
    """A number as NetSuite prints it (integers without a fraction stay JSON integers)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return float(value)
    return value


class Inbound:
    """Reads one request body into stored form, collecting warnings."""

    def __init__(
        self,
        schema: Schema,
        resolve: RefResolver,
        *,
        name_validation: str = "warning",
        value_validation: str = "error",
    ) -> None:
        self.schema = schema
        self.resolve = resolve
        self.name_validation = name_validation.lower()
        self.value_validation = value_validation.lower()
        self.warnings: list[str] = []

    def record(self, shape: Shape, body: Any, record_name: str, path: str = "") -> dict[str, Any]:
        """Read a record (or sublist line, or subrecord) body.

        Args:
            shape: the fields allowed.
            body: the JSON object sent.
            record_name: record type, for messages.
            path: JSON path prefix of ``body`` (for ``o:errorPath``).

        Returns:
            Canonical field name -> stored value; ``None`` values mean "clear"; read-only fields dropped.

        Raises:
            NetSuiteError: INVALID_CONTENT / NONEXISTENT_FIELD per the validation headers.
        """
        if not isinstance(body, dict):
            raise NetSuiteError(
                400,
                "INVALID_CONTENT",
                "Error while accessing resource: The request body must be a JSON object.",
                path=path or None,
            )
        out: dict[str, Any] = {}
        for key, raw in body.items():
            if key in {"links", "refName"}:
                continue
            canon = shape.canonical(key)
            fpath = f"{path}.{key}" if path else key
            if canon is None:
                if key.lower() == "id":
                    continue
                self._unknown(key, record_name, fpath)
                continue
            fdef = shape.fields[canon]
            if fdef.read_only:
                continue
            value = self.value(fdef, raw, fpath)
            if value is _SKIP:
                continue
            out[canon] = value
        return out

    def _unknown(self, key: str, record_name: str, path: str) -> None:
        if self.name_validation == "error":
            raise NetSuiteError(
                400,
                "NONEXISTENT_FIELD",
                f"Error while accessing a resource. Field '{key}' does not exist on record '{record_name}'.",
                path=path,
            )
        if self.name_validation == "warning":
            self.warnings.append(f"Unknown field '{key}' was ignored.")

    def _bad(self, value: Any, fdef: FieldDef, path: str) -> Any:
        if self.value_validation == "error":
            shown = value if not isinstance(value, dict | list) else "object"
            raise invalid_content(shown, fdef.name, path)
        if self.value_validation == "warning":
            self.warnings.append(f"Invalid value for field '{fdef.name}' was ignored.")
        return _SKIP

    def value(self, fdef: FieldDef, raw: Any, path: str) -> Any:
        """Read one field value (``None`` means clear)."""
        if raw is None:
            return None
        kind = fdef.kind
        if kind == "str":
            if isinstance(raw, str):
                return raw
            if isinstance(raw, bool):
                return self._bad(raw, fdef, path)
            if isinstance(raw, int | float):
                return str(raw)
            return self._bad(raw, fdef, path)
        if kind == "int":
            num = _as_number(raw)
            if num is None or not float(num).is_integer():
                return self._bad(raw, fdef, path)
            return int(num)
        if kind in {"num", "qty"}:
            if kind == "qty" and isinstance(raw, dict):
                raw = raw.get("value")
                if raw is None:
                    return None
            num = _as_number(raw)
            if num is None:
                return self._bad(raw, fdef, path)
            return float(num)
        if kind == "numstr":
            if isinstance(raw, str) and raw.strip().endswith("%"):
                pct = _as_number(raw.strip()[:-1])
                if pct is None:
                    return self._bad(raw, fdef, path)
                return f"{float(pct)}%"
            num = _as_number(raw)
            if num is None:
                return self._bad(raw, fdef, path)
            return float(num)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in {"true", "false", "t", "f"}:
                return raw.lower() in {"true", "t"}
            return self._bad(raw, fdef, path)
        if kind == "date":
            if isinstance(raw, str):
                try:
                    if "T" in raw or " " in raw.strip():
                        return parse_datetime(raw).date().isoformat()
                    return date.fromisoformat(raw.strip()).isoformat()
                except ValueError:
                    pass
            return self._bad(raw, fdef, path)
        if kind == "datetime":
            if isinstance(raw, str):
                try:
                    return format_datetime(parse_datetime(raw))
                except ValueError:
                    pass
            return self._bad(raw, fdef, path)
        if kind == "enum":
            return self._enum(fdef, raw, path)
        if kind in {"ref", "xref"}:
            return self._ref(fdef, raw, path)
        if kind == "multi":
            items = raw.get("items") if isinstance(raw, dict) else raw
            if items is None:
                return None
            if not isinstance(items, list):
                return self._bad(raw, fdef, path)
            ids = []
            for n, entry in enumerate(items):
                ids.append(self._ref(FieldDef(fdef.name, "ref", fdef.arg), entry, f"{path}.items[{n}]"))
            return ids
        if kind == "sublist":
            return self._sublist(fdef, raw, path)
        if kind == "subrecord":
            if not isinstance(raw, dict):
                return self._bad(raw, fdef, path)
            return self.record(self.schema.subrecords[fdef.arg], raw, fdef.arg, path)
        return raw

    def _enum(self, fdef: FieldDef, raw: Any, path: str) -> Any:
        values = ENUMS[fdef.arg]
        candidate: Any = raw
        by_name = False
        if isinstance(raw, dict):
            if "id" in raw and raw["id"] is not None:
                candidate = raw["id"]
            elif "refName" in raw:
                candidate, by_name = raw["refName"], True
            else:
                return self._bad(raw, fdef, path)
        if isinstance(candidate, int | float) and not isinstance(candidate, bool):
            candidate = str(int(candidate))
        if not isinstance(candidate, str):
            return self._bad(raw, fdef, path)
        if not by_name:
            for key in values:
                if key.lower() == candidate.lower():
                    return key
        for key, label in values.items():
            if label.lower() == candidate.lower():
                return key
        if fdef.arg == "country" and len(candidate) == 2 and candidate.isalpha():
            return candidate.upper()
        return self._bad(candidate, fdef, path)

    def _ref(self, fdef: FieldDef, raw: Any, path: str) -> Any:
        ident: Any = raw
        if isinstance(raw, dict):
            if raw.get("id") is not None:
                ident = raw["id"]
            elif raw.get("externalId") is not None:
                ident = "eid:" + str(raw["externalId"])
            else:
                return self._bad(raw, fdef, path)
        if isinstance(ident, bool) or not isinstance(ident, str | int | float):
            return self._bad(raw, fdef, path)
        if isinstance(ident, float):
            if not ident.is_integer():
                return self._bad(raw, fdef, path)
            ident = int(ident)
        text = str(ident).strip()
        if fdef.kind == "xref":
            return text
        return self.resolve(fdef.arg, text, fdef.name, path)

    def _sublist(self, fdef: FieldDef, raw: Any, path: str) -> Any:
        if isinstance(raw, list):
            items: Any = raw
        elif isinstance(raw, dict):
            if "items" not in raw:
                return _SKIP if not raw else self._bad(raw, fdef, path)
            items = raw["items"]
        else:
            return self._bad(raw, fdef, path)
        if items is None:
            return None
        if not isinstance(items, list):
            return self._bad(raw, fdef, path)
        shape = self.schema.sublists[fdef.arg]
        lines = []
        for n, line in enumerate(items):
            lpath = f"{path}.items[{n}]"
            if not isinstance(line, dict):
                raise invalid_content("object", fdef.name, lpath)
            parsed = self.record(shape, line, fdef.arg, lpath)
            key = shape.key
            if key is not None and key in shape.fields and shape.fields[key].read_only:
                # keyed by a read-only field (line / id): still needed to match lines
                for k, v in line.items():
                    if k.lower() == key.lower() and v is not None:
                        num = _as_number(v)
                        if num is None:
                            raise invalid_content(v, key, f"{lpath}.{k}")
                        parsed[key] = int(num)
            parsed["__path"] = lpath
            lines.append(parsed)
        return lines


class _Skip:
    def __repr__(self) -> str:
        return "<skip>"


_SKIP: Any = _Skip()


def _as_number(raw: Any) -> float | int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return None


class Outbound:
    """Renders stored records as REST JSON."""

    def __init__(self, schema: Schema, ref_namer: RefNamer, base: str) -> None:
        """Create a renderer.

        Args:
            schema: record shapes.
            ref_namer: looks up the type and refName of a referenced record.
            base: ``https://host[:port]/services/rest`` for links.
        """
        self.schema = schema
        self.ref_namer = ref_namer
        self.base = base
        self._cache: dict[tuple[str, str], tuple[str, str] | None] = {}

    def link(self, path: str) -> list[dict[str, str]]:
        """A ``links`` array with one ``self`` link to ``{base}/{path}``."""
        return [{"rel": "self", "href": f"{self.base}/{path}"}]

    def ref(self, target: str, ident: str) -> dict[str, Any]:
        """A reference value ``{links, id, refName}``."""
        key = (target, ident)
        if key not in self._cache:
            self._cache[key] = self.ref_namer(target, ident)
        info = self._cache[key]
        if info is None:
            return {
                "links": [{"rel": "self", "href": f"{self.base}/record/v1/"}],
                "id": ident,
                "refName": ident,
            }
        rtype, ref_name = info
        out: dict[str, Any] = {"links": self.link(f"record/v1/{rtype.lower()}/{ident}"), "id": ident}
        if ref_name:
            out["refName"] = ref_name
        return out

    def record(
        self,
        shape: Shape,
        data: Mapping[str, Any],
        path: str,
        *,
        fields: set[str] | None = None,
        expand: bool = False,
        simple_enum: bool = False,
    ) -> dict[str, Any]:
        """Render a record (or line, or subrecord).

        Args:
            shape: its fields.
            data: stored values.
            path: URL path of this object under ``{base}/`` (for ``links``).
            fields: only these canonical body fields (``?fields=``).
            expand: expand sublists and subrecords.
            simple_enum: enumerations as bare ids.

        Returns:
            The JSON object.
        """
        out: dict[str, Any] = {"links": self.link(path)}
        if "id" in data and "id" not in shape.fields:
            out["id"] = str(data["id"])
        for name, fdef in shape.fields.items():
            if fields is not None and name not in fields:
                continue
            value = data.get(name)
            if fdef.kind == "sublist":
                if fields is not None:
                    continue
                out[name] = self.sublist(
                    fdef, value or [], f"{path}/{name}", expand=expand, simple_enum=simple_enum
                )
                continue
            if value is None or value == "" or value == []:
                continue
            out[name] = self.value(fdef, value, f"{path}/{name}", expand=expand, simple_enum=simple_enum)
        return out

    def value(self, fdef: FieldDef, value: Any, path: str, *, expand: bool, simple_enum: bool) -> Any:
        """Render one stored value."""
        kind = fdef.kind
        if kind == "ref":
            return self.ref(fdef.arg, str(value))
        if kind == "xref":
            return {"links": [{"rel": "self", "href": f"{self.base}/record/v1/"}], "id": str(value)}
        if kind == "enum":
            if simple_enum:
                return value
            return {"id": value, "refName": ENUMS[fdef.arg].get(value, value)}
        if kind == "multi":
            items = [{"links": self.ref(fdef.arg, str(v))["links"], "id": str(v)} for v in value]
            return {"links": self.link(path), "items": items, "totalResults": len(items)}
        if kind == "subrecord":
            if not expand:
                return {"links": self.link(path)}
            return self.record(self.schema.subrecords[fdef.arg], value, path, simple_enum=simple_enum)
        if kind == "qty":
            return {"value": number_out(value)}
        if kind in {"num", "numstr"} and isinstance(value, float):
            return number_out(value)
        return value

    def sublist(
        self, fdef: FieldDef, lines: list[dict[str, Any]], path: str, *, expand: bool, simple_enum: bool
    ) -> dict[str, Any]:
        """Render a sublist: links only, or the expanded collection."""
        if not expand:
            return {"links": self.link(path)}
        shape = self.schema.sublists[fdef.arg]
        items = [
            self.record(
                shape, line, f"{path}/{line_key(fdef.arg, line, n)}", expand=True, simple_enum=simple_enum
            )
            for n, line in enumerate(lines)
        ]
        return {"links": self.link(path), "items": items, "totalResults": len(items)}


def line_key(sublist: str, line: Mapping[str, Any], index: int) -> str:
    """The URL segment of a sublist line (``item/3``, ``addressBook/24``, ``apply/doc=60,line=0``)."""
    if sublist == "apply":
        return f"doc={line.get('doc')},line={line.get('line', 0)}"
    if sublist == "addressBook":
        return str(line.get("id", index))
    if sublist == "item":
        return str(line.get("line", index + 1))
    if sublist == "currencyList":
        return str(line.get("currency", index))
    return str(index)
