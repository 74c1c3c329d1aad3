"""The metadata catalog: ``GET /record/v1/metadata-catalog[/{type}]`` as JSON Schema or OpenAPI 3.

Layer: rendering of ``schema``; imports ``schema`` only.

The list answers ``{"items": [{"name", "links": [canonical, alternate (swagger), alternate
(schema), describes]}]}`` (Oracle, "Getting Metadata"); one record type with ``Accept:
application/schema+json`` gives its JSON Schema, with ``application/swagger+json`` (the default) an
OpenAPI 3 document with the record's paths. Custom fields carry ``x-ns-custom-field``, filterable
body fields ``x-ns-filterable``.
"""

from __future__ import annotations

from typing import Any

from ledgerbridge_sandbox.netsuite.schema import ENUMS, FieldDef, Schema, Shape

_SIMPLE = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "num": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "numstr": {"type": "number", "format": "double"},
}
_NS_LINK = {"type": "object", "properties": {"rel": {"type": "string"}, "href": {"type": "string"}}}
_NS_RESOURCE = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "title": "Internal identifier"},
        "refName": {"type": "string", "title": "Reference Name"},
        "externalId": {"type": "string", "title": "External identifier"},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/nsLink"}, "readOnly": True},
    },
}


def catalog(schema: Schema, base: str, select: list[str] | None = None) -> dict[str, Any]:
    """The metadata catalog list.

    Args:
        schema: record shapes.
        base: ``.../services/rest``.
        select: only these record types.

    Returns:
        The catalog JSON.
    """
    names = [n for n in schema.records if select is None or n.lower() in {s.lower() for s in select}]
    items = []
    for name in names:
        href = f"{base}/record/v1/metadata-catalog/{name.lower()}"
        items.append(
            {
                "name": name,
                "links": [
                    {"rel": "canonical", "href": href, "mediaType": "application/json"},
                    {"rel": "alternate", "href": href, "mediaType": "application/swagger+json"},
                    {"rel": "alternate", "href": href, "mediaType": "application/schema+json"},
                    {"rel": "describes", "href": f"{base}/record/v1/{name.lower()}"},
                ],
            }
        )
    return {"links": [{"rel": "self", "href": f"{base}/record/v1/metadata-catalog"}], "items": items}


def _field_schema(schema: Schema, fdef: FieldDef, owner: str, ref_prefix: str) -> dict[str, Any]:
    out: dict[str, Any]
    if fdef.kind in _SIMPLE:
        out = dict(_SIMPLE[fdef.kind])
    elif fdef.kind == "enum":
        out = {
            "type": "object",
            "properties": {
                "id": {"type": "string", "title": "Internal identifier", "enum": list(ENUMS[fdef.arg])},
                "refName": {"type": "string", "title": "Reference Name"},
            },
        }
    elif fdef.kind in {"ref", "xref"}:
        target = fdef.arg if fdef.kind == "ref" and fdef.arg in schema.records else "nsResource"
        out = {"$ref": f"{ref_prefix}{target}"}
    elif fdef.kind == "multi":
        out = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"{ref_prefix}nsResource"}},
                "totalResults": {"type": "integer"},
            },
        }
    elif fdef.kind == "sublist":
        out = {"$ref": f"{ref_prefix}{owner}-{fdef.name}Collection"}
    elif fdef.kind == "subrecord":
        out = {"$ref": f"{ref_prefix}{owner}-{fdef.name}"}
    elif fdef.kind == "qty":
        out = {"type": "object", "properties": {"value": {"type": "number"}}}
    else:
        out = {"type": "string"}
    if fdef.label:
        out["title"] = fdef.label
    if fdef.read_only:
        out["readOnly"] = True
    if fdef.custom:
        out["x-ns-custom-field"] = True
    if fdef.kind not in {"sublist", "subrecord", "multi", "qty"}:
        out["x-ns-filterable"] = True
    return out


def _object(schema: Schema, shape: Shape, owner: str, ref_prefix: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "links": {"type": "array", "items": {"$ref": f"{ref_prefix}nsLink"}, "readOnly": True}
    }
    if "id" not in shape.fields:
        props["id"] = {"type": "string", "title": "Internal ID", "readOnly": True}
    for name, fdef in shape.fields.items():
        props[name] = _field_schema(schema, fdef, owner, ref_prefix)
    required = [n for n, f in shape.fields.items() if f.required]
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def definitions(schema: Schema, rtype: str, ref_prefix: str) -> dict[str, Any]:
    """Every schema definition a record type needs (the record, its sublists and subrecords)."""
    shape = schema.records[rtype]
    defs: dict[str, Any] = {
        "nsLink": _NS_LINK,
        "nsResource": _NS_RESOURCE,
        rtype: _object(schema, shape, rtype, ref_prefix),
    }
    for name, fdef in shape.fields.items():
        if fdef.kind == "ref" and fdef.arg in schema.records and fdef.arg not in defs:
            defs[fdef.arg] = _NS_RESOURCE
        if fdef.kind == "sublist":
            line = schema.sublists[fdef.arg]
            element = f"{rtype}-{name}Element"
            defs[element] = _object(schema, line, rtype, ref_prefix)
            defs[f"{rtype}-{name}Collection"] = {
                "type": "object",
                "properties": {
                    "links": {"type": "array", "items": {"$ref": f"{ref_prefix}nsLink"}, "readOnly": True},
                    "items": {"type": "array", "items": {"$ref": f"{ref_prefix}{element}"}},
                    "totalResults": {"type": "integer", "readOnly": True},
                    "count": {"type": "integer", "readOnly": True},
                    "hasMore": {"type": "boolean", "readOnly": True},
                    "offset": {"type": "integer", "readOnly": True},
                },
            }
            for sub_name, sub_def in line.fields.items():
                if sub_def.kind == "subrecord":
                    defs[f"{rtype}-{sub_name}"] = _object(
                        schema, schema.subrecords[sub_def.arg], rtype, ref_prefix
                    )
        if fdef.kind == "subrecord":
            defs[f"{rtype}-{name}"] = _object(schema, schema.subrecords[fdef.arg], rtype, ref_prefix)
    return defs


def json_schema(schema: Schema, rtype: str) -> dict[str, Any]:
    """The JSON Schema (draft 2019-09 style) of a record type."""
    defs = definitions(schema, rtype, "#/definitions/")
    root = defs.pop(rtype)
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "title": rtype,
        **root,
        "definitions": defs,
    }


def openapi(schema: Schema, rtype: str, base: str) -> dict[str, Any]:
    """An OpenAPI 3.0 document for a record type's REST operations."""
    defs = definitions(schema, rtype, "#/components/schemas/")
    ref = {"$ref": f"#/components/schemas/{rtype}"}
    id_param = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "Internal identifier, or eid:externalId",
    }
    defs[f"{rtype}Collection"] = {
        "type": "object",
        "properties": {
            "links": {"type": "array", "items": {"$ref": "#/components/schemas/nsLink"}},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/nsResource"}},
            "count": {"type": "integer"},
            "hasMore": {"type": "boolean"},
            "offset": {"type": "integer"},
            "totalResults": {"type": "integer"},
        },
    }
    no_content = {"204": {"description": "Success, no content. The Location header names the record."}}
    return {
        "openapi": "3.0.1",
        "info": {"title": "NetSuite REST Record API (sandbox)", "version": "v1"},
        "servers": [{"url": f"{base}/record/v1"}],
        "paths": {
            f"/{rtype}": {
                "get": {
                    "summary": f"Get list of {rtype} records.",
                    "parameters": [
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 1000}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}},
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/vnd.oracle.resource+json; type=collection": {
                                    "schema": {"$ref": f"#/components/schemas/{rtype}Collection"}
                                }
                            },
                        }
                    },
                },
                "post": {
                    "summary": f"Insert {rtype} record.",
                    "requestBody": {"content": {"application/json": {"schema": ref}}},
                    "responses": no_content,
                },
            },
            f"/{rtype}/{{id}}": {
                "get": {
                    "summary": f"Get {rtype} record.",
                    "parameters": [id_param],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/vnd.oracle.resource+json; type=singular": {"schema": ref}
                            },
                        }
                    },
                },
                "patch": {
                    "summary": f"Update {rtype} record.",
                    "parameters": [id_param],
                    "requestBody": {"content": {"application/json": {"schema": ref}}},
                    "responses": no_content,
                },
                "put": {
                    "summary": f"Insert or update {rtype} record (external id only).",
                    "parameters": [id_param],
                    "requestBody": {"content": {"application/json": {"schema": ref}}},
                    "responses": no_content,
                },
                "delete": {
                    "summary": f"Remove {rtype} record.",
                    "parameters": [id_param],
                    "responses": no_content,
                },
            },
        },
        "components": {"schemas": defs},
    }


def openapi_many(schema: Schema, rtypes: list[str], base: str) -> dict[str, Any]:
    """One OpenAPI 3.0 document for several record types (``metadata-catalog?select=a,b``)."""
    merged: dict[str, Any] = {}
    for rtype in rtypes:
        doc = openapi(schema, rtype, base)
        if not merged:
            merged = doc
            continue
        merged["paths"].update(doc["paths"])
        merged["components"]["schemas"].update(doc["components"]["schemas"])
    return merged
