"""Compiled field mappings of a link: map a record to the other side, read each side's view of a
field, build write payloads, preview, and check mappings against described schemas (layer ``flows``).

Imports ``core`` and this package only. A :class:`LinkMapping` is built once per link; mapping a
record never touches the network. Ids translated through another link (``ref``) are looked up in a
:class:`MapContext`: an id it does not know yet is recorded in ``missing`` and mapped to ``None``,
so the engine can resolve every missing parent at once (syncing it first) and map again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledgerbridge.core.errors import MappingSpecError
from ledgerbridge.core.records import JsonValue, ObjectSchema, Record, System
from ledgerbridge.flows.expressions import (
    Expression,
    ExpressionError,
    Path,
    compile_expression,
    is_plain_path,
    same_value,
    satisfies,
)
from ledgerbridge.flows.spec import ConflictPolicySpec, FieldMapSpec, LinkProblem, LinkSpec, link_problems
from ledgerbridge.flows.transforms import TRANSFORMS

__all__ = [
    "CompiledField",
    "FieldPreview",
    "LinkMapping",
    "MapContext",
    "MappingPreview",
    "RefRequest",
    "check_links_against",
    "id_field",
    "mapping_problems",
    "other",
    "validate_links",
]


def other(system: System) -> System:
    """The other system."""
    return System.NETSUITE if system is System.SALESFORCE else System.SALESFORCE


def id_field(system: System) -> str:
    """The name under which a record's own id is visible to mappings (``Id`` / ``id``)."""
    return "Id" if system is System.SALESFORCE else "id"


@dataclass(frozen=True, slots=True)
class RefRequest:
    """An id of ``from_system`` to translate through ``link`` (or, failing that, through each of
    ``also`` in turn: ``$ref(["items", "service_items"], Product2Id)``) to the other system's id."""

    link: str
    from_system: System
    id: str
    also: tuple[str, ...] = ()

    @property
    def links(self) -> tuple[str, ...]:
        """Every link tried, in order."""
        return (self.link, *self.also)

    def describe(self) -> str:
        """``items, service_items salesforce 01t...`` for messages."""
        return f"{', '.join(self.links)} {self.from_system.value} {self.id}"


@dataclass
class MapContext:
    """Resolved references for one mapping, and those still missing."""

    refs: dict[RefRequest, str] = field(default_factory=dict)
    missing: set[RefRequest] = field(default_factory=set)
    unresolved: set[RefRequest] = field(default_factory=set)  # several-link refs no link could resolve
    via: dict[RefRequest, str] = field(default_factory=dict)  # the link that resolved each ref

    def ref(self, link: str | list[str] | tuple[str, ...], from_system: System,
            value: JsonValue) -> str | None:
        """Translate ``value`` (an id, or a ``{"id": ...}`` reference) through ``link`` (or the first
        of several links that knows it) or note it as missing.

        Raises:
            ExpressionError: ``link`` is an empty list.
        """
        if isinstance(value, dict):
            value = value.get("id")
        if value is None or value == "":
            return None
        names = [str(n) for n in link] if isinstance(link, list | tuple) else [str(link)]
        if not names:
            raise ExpressionError("$ref needs a link name or a list of link names", code="EXPRESSION_TYPE")
        key = RefRequest(names[0], from_system, str(value), tuple(names[1:]))
        found = self.refs.get(key)
        if found is None and key not in self.unresolved:
            self.missing.add(key)
        return found


Source = Callable[[Mapping[str, JsonValue], MapContext], JsonValue]


@dataclass
class CompiledField:
    """One field mapping, compiled."""

    spec: FieldMapSpec
    key: str
    policy: ConflictPolicySpec
    paths: dict[System, tuple[Path, ...]]
    multi: dict[System, bool]
    flows: dict[System, bool]
    sources: dict[System, Source | None]  # computes the value written ON the key system

    def value_for(self, target: System, source_data: Mapping[str, JsonValue], ctx: MapContext) -> JsonValue:
        """The value this field writes on ``target``, computed from the other side's record."""
        src = self.sources[target]
        if src is None:
            return None
        return src(source_data, ctx)

    def view(self, system: System, data: Mapping[str, JsonValue], ctx: MapContext) -> JsonValue:
        """This field's value as ``system`` holds it (its path values, or the value it maps to)."""
        paths = self.paths[system]
        if paths:
            if self.multi[system]:
                return {p.text: p.get(data) for p in paths}
            return paths[0].get(data)
        if self.flows[other(system)]:
            return self.value_for(other(system), data, ctx)
        return None

    def current_on(self, system: System, data: Mapping[str, JsonValue]) -> JsonValue:
        """The value at this field's path(s) on ``system`` (what a write would replace)."""
        paths = self.paths[system]
        if not paths:
            return None
        if self.multi[system]:
            return {p.text: p.get(data) for p in paths}
        return paths[0].get(data)

    def put(self, system: System, payload: dict[str, JsonValue], value: JsonValue) -> None:
        """Add this field's value to a write payload for ``system``."""
        paths = self.paths[system]
        if self.multi[system]:
            values = value if isinstance(value, dict) else {}
            for p in paths:
                p.set(payload, values.get(p.text))
        else:
            paths[0].set(payload, value)

    def is_satisfied(self, system: System, data: Mapping[str, JsonValue], value: JsonValue) -> bool:
        """True when ``system``'s record already holds ``value`` in this field."""
        current = self.current_on(system, data)
        if self.spec.compare == "exact":
            return current == value
        return satisfies(current, value)

    def same(self, a: JsonValue, b: JsonValue) -> bool:
        """Change-detection equality under this field's comparison mode."""
        return a == b if self.spec.compare == "exact" else same_value(a, b)


@dataclass(frozen=True, slots=True)
class FieldPreview:
    """One field of a mapping preview."""

    field: str
    path: str
    mapped: JsonValue
    current: JsonValue
    differs: bool


@dataclass(frozen=True, slots=True)
class MappingPreview:
    """What mapping a record would write on the other side."""

    link: str
    source: System
    source_id: str
    target: System
    target_id: str | None
    fields: tuple[FieldPreview, ...]
    payload: Mapping[str, JsonValue]
    missing_refs: tuple[RefRequest, ...] = ()

    @property
    def diff(self) -> dict[str, tuple[JsonValue, JsonValue]]:
        """``{field: (current, mapped)}`` for the fields that would change."""
        return {f.field: (f.current, f.mapped) for f in self.fields if f.differs}


def _with_default(fn: Source, default: JsonValue) -> Source:
    if default is None:
        return fn

    def run(data: Mapping[str, JsonValue], ctx: MapContext) -> JsonValue:
        value = fn(data, ctx)
        return default if value is None or value == "" else value

    return run


def _with_transform(fn: Source, name: str | None) -> Source:
    if name is None:
        return fn
    transform = TRANSFORMS[name]

    def run(data: Mapping[str, JsonValue], ctx: MapContext) -> JsonValue:
        return transform(fn(data, ctx))

    return run


class LinkMapping:
    """All field mappings of one link, compiled.

    Args:
        name: the link's name.
        spec: the link.

    Raises:
        MappingSpecError: a mapping cannot work (its ``problems`` attribute lists each one).
    """

    def __init__(self, name: str, spec: LinkSpec) -> None:
        self.name = name
        self.spec = spec
        self.problems: list[LinkProblem] = []
        self.fields: list[CompiledField] = []
        for i, f in enumerate(spec.fields):
            try:
                self.fields.append(self._compile(f))
            except MappingSpecError as exc:
                self.problems.append(LinkProblem(("links", name, "fields", i), str(exc)))
        self._exprs: dict[tuple[System, str], Expression] = {}
        if self.problems:
            err = MappingSpecError("; ".join(p.format() for p in self.problems))
            err.problems = self.problems  # type: ignore[attr-defined]
            raise err

    # -- compilation ------------------------------------------------------------------------------
    def _expr(self, text: str) -> Expression:
        o = self.spec.options
        return compile_expression(text, timeout_ms=o.expression_timeout_ms, max_depth=o.expression_max_depth)

    def _compile(self, f: FieldMapSpec) -> CompiledField:
        paths: dict[System, tuple[Path, ...]] = {}
        multi: dict[System, bool] = {}
        for system in System:
            raw = f.path_of(system)
            items = raw if isinstance(raw, list) else ([raw] if raw is not None else [])
            paths[system] = tuple(Path(p) for p in items)
            multi[system] = isinstance(raw, list)
        flows = {s: f.direction_flows_to(s, self.spec.direction) for s in System}
        sources: dict[System, Source | None] = {}
        for target in System:
            if not flows[target]:
                sources[target] = None
                continue
            for p in paths[target]:
                if not p.is_writable:
                    raise MappingSpecError(f"{target.value} path {p.text!r} is written to but has list "
                                           "steps; write the whole sublist with a to_"
                                           f"{target.value} expression")
            src = self._source(f, target, paths)
            src = _with_transform(src, f.transform)
            sources[target] = _with_default(src, f.default_for(target))
        return CompiledField(f, f.key, self.spec.policy_for(f), paths, multi, flows, sources)

    def _source(self, f: FieldMapSpec, target: System, paths: dict[System, tuple[Path, ...]]) -> Source:
        origin = other(target)
        if f.has_value:
            constant = f.value

            def const(data: Mapping[str, JsonValue], ctx: MapContext) -> JsonValue:
                return constant

            return const
        expr_text = f.expression_to(target)
        lookups = self.spec.options.lookups
        if expr_text is not None:
            expr = self._expr(expr_text)
            link_name = self.name
            is_multi = isinstance(f.path_of(target), list)

            def run(data: Mapping[str, JsonValue], ctx: MapContext) -> JsonValue:
                def ref(link: Any, value: Any = None) -> Any:
                    return ctx.ref(link if isinstance(link, list) else str(link), origin, value)

                value = expr.evaluate(data, {"ref": ref, "lookups": lookups, "link": link_name})
                if is_multi and value is not None and not isinstance(value, dict):
                    raise ExpressionError(f"field {f.key!r}: the expression must return an object with "
                                          "one key per path", code="EXPRESSION_TYPE", expression=expr_text)
                return value

            return run
        src_paths = paths[origin]
        if len(src_paths) != 1:
            raise MappingSpecError(f"field {f.key!r} is written to {target.value} but has no single "
                                   f"{origin.value} path to copy from; add to_{target.value}")
        path = src_paths[0]
        vmap: dict[str, JsonValue] | None = None
        if f.value_map is not None:
            if target is System.NETSUITE:
                vmap = dict(f.value_map)
            else:
                inverse: dict[str, JsonValue] = {}
                for k, v in f.value_map.items():
                    if str(v) in inverse:
                        raise MappingSpecError(
                            f"value_map of {f.key!r} maps two values to {v!r}, so it cannot be reversed "
                            "for to_salesforce; give the field direction: to_netsuite")
                    inverse[str(v)] = k
                vmap = inverse
        ref_link = f.ref
        ref_object = target is System.NETSUITE and f.ref_shape != "id"

        def copy(data: Mapping[str, JsonValue], ctx: MapContext) -> JsonValue:
            value = path.get(data)
            if vmap is not None and value is not None and not isinstance(value, dict | list):
                value = vmap.get(str(value), value)
            if ref_link is not None:
                translated = ctx.ref(ref_link, origin, value)
                if translated is None:
                    return None
                return {"id": translated} if ref_object else translated
            return value

        return copy

    # -- use --------------------------------------------------------------------------------------
    @staticmethod
    def input_of(record: Record, system: System) -> dict[str, JsonValue]:
        """The record as mappings see it: its fields plus its own id (``Id`` / ``id``)."""
        data = dict(record.fields)
        data.setdefault(id_field(system), record.id)
        return data

    def fields_to(self, target: System) -> list[CompiledField]:
        """Fields written on ``target``."""
        return [f for f in self.fields if f.flows[target]]

    def map_values(self, target: System, source: Record, ctx: MapContext) -> dict[str, JsonValue]:
        """``{field key: value}`` for every field written on ``target``, from the other side's record.

        Raises:
            ExpressionError: an expression failed for this record.
        """
        data = self.input_of(source, other(target))
        return {f.key: f.value_for(target, data, ctx) for f in self.fields_to(target)}

    def views(self, system: System, record: Record, ctx: MapContext) -> dict[str, JsonValue]:
        """``{field key: view}`` of ``system``'s record (what the baseline stores).

        Raises:
            ExpressionError: an expression failed for this record.
        """
        data = self.input_of(record, system)
        return {f.key: f.view(system, data, ctx) for f in self.fields}

    def payload(self, target: System, values: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
        """A nested write payload for ``target`` from ``{field key: value}``."""
        out: dict[str, JsonValue] = {}
        by_key = {f.key: f for f in self.fields}
        for key, value in values.items():
            by_key[key].put(target, out, value)
        return out

    def _create_only(self, key: str) -> bool:
        f = self.field(key)
        return f is not None and f.spec.create_only

    def field(self, key: str) -> CompiledField | None:
        """A field by key."""
        for f in self.fields:
            if f.key == key:
                return f
        return None

    def read_fields(self, system: System) -> list[str] | None:
        """Top-level fields to request from ``system``; None (all) when an expression reads it.

        With Salesforce child relationships (``options.children``), the list also holds one
        ``(SELECT ... FROM Relationship)`` entry per relationship, and ``FIELDS(ALL)`` stands for
        "every field of the object" where None would be returned otherwise.
        """
        names = self._read_fields(system)
        children = self.spec.options.children if system is System.SALESFORCE else {}
        if not children:
            return names
        subqueries = [f"(SELECT {', '.join(cols)} FROM {rel})" for rel, cols in children.items()]
        own = [n for n in names if n not in children] if names is not None else ["FIELDS(ALL)"]
        return [*own, *subqueries]

    def _read_fields(self, system: System) -> list[str] | None:
        names: set[str] = {id_field(system)}
        for f in self.fields:
            if f.flows[other(system)] and f.spec.expression_to(other(system)) is not None:
                return None
            names.update(p.head for p in f.paths[system])
        spec = self.spec
        for k in spec.match.keys:
            names.add((k.salesforce if system is System.SALESFORCE else k.netsuite).split(".")[0])
        if spec.match.fuzzy is not None:
            for pair in (spec.match.fuzzy.name, spec.match.fuzzy.address):
                text = pair.of(system) if pair is not None else None
                if text is not None:
                    if not is_plain_path(text):
                        return None
                    names.add(text.split(".")[0].split("[")[0])
        ext = spec.external_id_field(system)
        if ext:
            names.add(ext)
        if spec.delete.policy == "deactivate":
            names.add(spec.delete.inactive_on(system).field)
        # values the engine's enrich steps set are not fields of the record: never request them
        names -= {e.name for e in spec.options.enrichments(system)}
        return sorted(names)

    def preview(self, source_system: System, source: Record, target: Record | None,
                ctx: MapContext | None = None) -> MappingPreview:
        """Mapped values for ``source``, the target's current values and the difference.

        Raises:
            ExpressionError: an expression failed for this record.
        """
        ctx = ctx or MapContext()
        target_system = other(source_system)
        values = self.map_values(target_system, source, ctx)
        if target is not None:  # an update: create-only fields are not written
            values = {k: v for k, v in values.items() if not self._create_only(k)}
        tdata = self.input_of(target, target_system) if target is not None else {}
        rows = []
        for f in self.fields_to(target_system):
            if f.key not in values:
                continue
            value = values[f.key]
            current = f.current_on(target_system, tdata) if target is not None else None
            differs = not f.is_satisfied(target_system, tdata, value) if target is not None \
                else value is not None
            rows.append(FieldPreview(f.key, ",".join(p.text for p in f.paths[target_system]), value,
                                     current, differs))
        return MappingPreview(self.name, source_system, source.id, target_system,
                              target.id if target is not None else None, tuple(rows),
                              self.payload(target_system, values), tuple(sorted(
                                  ctx.missing, key=lambda r: (r.link, r.id))))


def mapping_problems(links: Mapping[str, LinkSpec]) -> list[LinkProblem]:
    """Every mapping that does not compile (bad expression, unwritable path, irreversible map).

    Returns:
        Problems with their configuration paths.
    """
    problems: list[LinkProblem] = []
    for name, spec in links.items():
        try:
            LinkMapping(name, spec)
        except MappingSpecError as exc:
            problems.extend(getattr(exc, "problems", [LinkProblem(("links", name), str(exc))]))
    return problems


def _schema_field_exists(schema: ObjectSchema, name: str, system: System) -> bool:
    return name.lower() == id_field(system).lower() or schema.field(name) is not None


def check_links_against(links: Mapping[str, LinkSpec],
                        schemas: Mapping[tuple[System, str], ObjectSchema]) -> list[LinkProblem]:
    """Check links against described objects: unknown fields, writes to read-only fields, external-id
    fields that are not external ids, inactive flags that cannot be set.

    Objects missing from ``schemas`` are reported as unknown objects.

    Args:
        links: the links by name.
        schemas: ``{(system, object name): schema}`` from the connectors' ``describe``.

    Returns:
        Every problem found (empty when the links can work).
    """
    problems: list[LinkProblem] = []
    for name, link in links.items():
        base = ("links", name)
        for system in System:
            obj = link.object_of(system)
            schema = schemas.get((system, obj))
            if schema is None:
                problems.append(LinkProblem((*base, system.value),
                                            f"{system.value} has no object {obj!r} (or it cannot be read)"))
                continue

            enriched = {e.name for e in link.options.enrichments(system)}
            for j, e in enumerate(link.options.enrich):
                if e.system is system and _schema_field_exists(schema, e.name, system):
                    problems.append(LinkProblem(
                        (*base, "options", "enrich", j, "name"),
                        f"enrich name {e.name!r} is a field of {system.value} {obj}, which the value would "
                        "hide; choose another name"))

            def need(path: tuple[str | int, ...], field_name: str, *, writes: bool, what: str,
                     schema: ObjectSchema = schema, system: System = system, obj: str = obj,
                     enriched: set[str] = enriched) -> None:
                head = field_name.split(".")[0].split("[")[0]
                if head in enriched and not writes:
                    return  # set by an enrich step, not read from the system
                if not _schema_field_exists(schema, head, system):
                    problems.append(LinkProblem(path, f"{what}: {system.value} {obj} has no field {head!r}"))
                    return
                fs = schema.field(head)
                if writes and fs is not None and not (fs.createable or fs.updateable):
                    problems.append(LinkProblem(
                        path, f"{what}: {system.value} {obj}.{fs.name} is read-only and cannot be written"))

            for i, f in enumerate(link.fields):
                raw = f.path_of(system)
                paths = raw if isinstance(raw, list) else ([raw] if raw else [])
                writes = f.direction_flows_to(system, link.direction)
                for p in paths:
                    need((*base, "fields", i, system.value), p, writes=writes, what=f"field {f.key!r}")
            for j, k in enumerate(link.match.keys):
                need((*base, "match", "keys", j, system.value),
                     k.salesforce if system is System.SALESFORCE else k.netsuite,
                     writes=False, what=f"match key {k.key!r}")
            ext = link.external_id_field(system)
            if ext:
                need((*base, "ids"), ext, writes=link.creates_on(system), what="external id field")
                fs = schema.field(ext)
                if system is System.SALESFORCE and fs is not None and not fs.is_external_id:
                    problems.append(LinkProblem(
                        (*base, "ids", "salesforce_external_id"),
                        f"{obj}.{fs.name} is not marked External ID, so creates cannot be idempotent "
                        "upserts; tick External ID (and Unique) on the field"))
            if link.delete.policy == "deactivate" and link.direction.flows_to(system):
                flag = link.delete.inactive_on(system)
                need((*base, "delete", system.value), flag.field, writes=True,
                     what="inactive flag for the deactivate policy")
    return problems


def validate_links(links: Mapping[str, LinkSpec], where: Callable[[tuple[str | int, ...]], str],
                   *, source: str | None = None,
                   schemas: Mapping[tuple[System, str], ObjectSchema] | None = None) -> None:
    """Run every offline check (cross-link refs, cycles, mapping compilation) and, when ``schemas``
    are given, the online ones; raise one error listing all problems with their file positions.

    Args:
        links: the links by name.
        where: ``path -> "file:line:col"``; ``ConfigDocument.where`` from ``flows.load``.
        source: the file name for the error.
        schemas: described objects, for :func:`check_links_against`.

    Raises:
        FlowSpecError: at least one problem.
    """
    from ledgerbridge.core.errors import FlowSpecError

    problems = link_problems(links) + mapping_problems(links)
    if schemas is not None:
        problems += check_links_against(links, schemas)
    if problems:
        raise FlowSpecError([p.format(where(p.path)) for p in problems], source=source)
