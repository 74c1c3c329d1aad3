"""Links of ``ledgerbridge.yaml`` as typed specs (layer ``flows``; imports only ``core``).

A *link* pairs a Salesforce object with a NetSuite record type and says how records flow between
them::

    links:
      accounts:
        salesforce: Account
        netsuite: customer
        direction: both                      # both | to_netsuite | to_salesforce
        scope: {salesforce: "Type = 'Customer'"}
        ids: {salesforce_external_id: NetSuite_Id__c}
        fields:
          - {salesforce: Name, netsuite: companyName}
          - {salesforce: Phone, netsuite: phone, transform: phone, conflict: {owner: salesforce}}
          - {salesforce: Credit_Limit__c, netsuite: creditLimit, direction: to_salesforce}
          - netsuite: subsidiary
            value: {id: "1"}                  # a constant (here: to NetSuite only)
        match:
          keys: [{salesforce: Website, netsuite: url, normalise: domain}]
          fuzzy: {name: {salesforce: Name, netsuite: companyName}, auto: 92, review: 75}
        conflict: newest                      # default for fields: newest | review | salesforce | netsuite
        delete: {policy: deactivate, netsuite: {field: isInactive, value: true}}
        triggers: [{interval: 5m}, {cron: "0 2 * * *"}]

Every model forbids unknown keys. Problems that need the whole set of links (a ``ref`` to an
unknown link, a cycle of references) are found by :func:`link_problems`, which returns each problem
with its path in the file so the loader can add the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import JsonValue as Json

from ledgerbridge.core.records import JsonValue, System

__all__ = [
    "ConflictPolicySpec",
    "DeletePolicySpec",
    "DeleteTargetSpec",
    "Direction",
    "EnrichSpec",
    "FieldMapSpec",
    "FuzzyMatchSpec",
    "IdsSpec",
    "LinkOptionsSpec",
    "LinkProblem",
    "LinkSpec",
    "MatchKeySpec",
    "MatchSpec",
    "PreflightSpec",
    "ScopeSpec",
    "SidePair",
    "TriggerSpec",
    "WatchSpec",
    "link_order",
    "link_problems",
    "parse_duration_s",
]

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?)*$")
_REF_CALL = re.compile(r"\$ref\(\s*(\[[^\]]*\]|[\"'][A-Za-z0-9_\-]+[\"'])")
_REF_NAME = re.compile(r"[\"']([A-Za-z0-9_\-]+)[\"']")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Direction(StrEnum):
    """Which way records or fields flow."""

    BOTH = "both"
    TO_NETSUITE = "to_netsuite"
    TO_SALESFORCE = "to_salesforce"

    def flows_to(self, system: System) -> bool:
        """True when values flow towards ``system``."""
        if self is Direction.BOTH:
            return True
        return (self is Direction.TO_NETSUITE) == (system is System.NETSUITE)


def parse_duration_s(value: object) -> float:
    """``90``, ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"250ms"`` → seconds.

    Raises:
        ValueError: not a duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _check_path(value: str, what: str) -> str:
    if not _PATH.match(value):
        raise ValueError(f"{what} {value!r} is not a field path (name, name.sub, lines[0].x, "
                         "lines[].x or book[default=true].x)")
    return value


class SidePair(_Spec):
    """One value per side (a field path, a filter, or an expression)."""

    salesforce: str | None = None
    netsuite: str | None = None

    def of(self, system: System) -> str | None:
        """The value for ``system``."""
        return self.salesforce if system is System.SALESFORCE else self.netsuite


class ScopeSpec(SidePair):
    """Source filters per side, in that system's own query language (SOQL / SuiteQL ``WHERE``)."""


class ConflictPolicySpec(_Spec):
    """How a field changed differently on both sides is settled.

    Written as ``newest``, ``review``, ``salesforce``/``netsuite`` (the owner), or
    ``{owner: netsuite}`` / ``{policy: newest}``.
    """

    policy: Literal["owner", "newest", "review"]
    owner: Literal["salesforce", "netsuite"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            text = data.strip().lower()
            if text in {"salesforce", "netsuite"}:
                return {"policy": "owner", "owner": text}
            if text.startswith("owner:") or text.startswith("owner "):
                return {"policy": "owner", "owner": text[6:].strip()}
            return {"policy": text}
        if isinstance(data, dict) and "owner" in data and "policy" not in data:
            return {"policy": "owner", **data}
        return data

    @model_validator(mode="after")
    def _owner_given(self) -> ConflictPolicySpec:
        if self.policy == "owner" and self.owner is None:
            raise ValueError("policy 'owner' needs owner: salesforce or owner: netsuite")
        if self.policy != "owner" and self.owner is not None:
            raise ValueError(f"owner is only meaningful with policy 'owner', not {self.policy!r}")
        return self

    @property
    def owner_system(self) -> System | None:
        """The owning system for the owner policy."""
        return System(self.owner) if self.owner else None


class FieldMapSpec(_Spec):
    """One mapped field.

    ``salesforce``/``netsuite`` are the field paths on each side (a list of paths when one value
    spreads over several fields, e.g. an address). For a direction, the source is, in order:
    the ``value`` constant, the ``to_netsuite``/``to_salesforce`` JSONata expression, or the other
    side's path (a plain copy, compiled without an expression engine). ``ref`` translates an id
    through another link; ``value_map`` translates values (Salesforce value → NetSuite value,
    inverted for the other direction); ``transform`` applies a named normaliser.

    ``create_only: true`` writes the value only when the engine creates the record on the target
    side (a new prospect's status, say); updates never write it, and a later change of it on either
    side stays where it was made: it is neither copied across nor a conflict.
    """

    name: str | None = Field(None, description="stable name for conflict policies and reviews")
    salesforce: str | list[str] | None = None
    netsuite: str | list[str] | None = None
    direction: Direction | None = Field(None, description="defaults to the link's direction")
    to_netsuite: str | None = Field(None, description="JSONata over the Salesforce record")
    to_salesforce: str | None = Field(None, description="JSONata over the NetSuite record")
    value: Json = Field(None, description="a constant for the target side")
    ref: str | None = Field(None, description="translate ids through this link")
    ref_shape: Literal["auto", "id", "object"] = Field(
        "auto", description="NetSuite side of a ref: a {id: ...} object (auto) or a plain id")
    value_map: dict[str, Json] | None = None
    transform: str | None = None
    default: Json = Field(None, description="used when the source value is empty")
    defaults: dict[Literal["to_netsuite", "to_salesforce"], Json] | None = None
    conflict: ConflictPolicySpec | None = None
    compare: Literal["exact", "loose"] = Field(
        "loose", description="loose: '' equals null, 1 equals 1.0, trailing spaces ignored")
    create_only: bool = Field(
        False, description="true: written only when the engine creates the record on the target side "
                           "(e.g. a prospect's initial status), never on updates; a later change of it on "
                           "either side is kept there, not copied across and not a conflict")

    @property
    def has_value(self) -> bool:
        """True when a ``value`` constant was given (``value: null`` included)."""
        return "value" in self.model_fields_set

    @field_validator("salesforce", "netsuite")
    @classmethod
    def _paths(cls, value: str | list[str] | None, info: Any) -> str | list[str] | None:
        if value is None:
            return None
        what = f"{info.field_name} path"
        if isinstance(value, list):
            if not value:
                raise ValueError(f"{info.field_name}: give at least one path")
            return [_check_path(v, what) for v in value]
        return _check_path(value, what)

    @field_validator("transform")
    @classmethod
    def _transform(cls, value: str | None) -> str | None:
        from ledgerbridge.flows.transforms import TRANSFORMS

        if value is not None and value not in TRANSFORMS:
            raise ValueError(f"unknown transform {value!r}; known: {', '.join(sorted(TRANSFORMS))}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> FieldMapSpec:
        if self.salesforce is None and self.netsuite is None:
            raise ValueError("a field needs a salesforce path, a netsuite path, or both")
        sources = [n for n, v in (("value", self.has_value), ("ref", self.ref is not None))
                   if v]
        if len(sources) > 1:
            raise ValueError("give only one of value and ref")
        if self.ref is not None and (self.to_netsuite or self.to_salesforce):
            raise ValueError("ref: use $ref(link, id) inside the expression instead of both")
        if self.has_value and self.salesforce is not None and self.netsuite is not None:
            raise ValueError("a constant value: name only the target side's path")
        for system, expr in ((System.NETSUITE, self.to_netsuite), (System.SALESFORCE, self.to_salesforce)):
            target = self.path_of(system)
            if expr is not None and target is None:
                raise ValueError(f"to_{system.value} needs a {system.value} path to write to")
        if isinstance(self.salesforce, list) and isinstance(self.netsuite, list):
            raise ValueError("only one side may list several paths")
        for system in System:
            paths = self.path_of(system)
            if isinstance(paths, list) and self.direction_flows_to(system, None) \
                    and self.expression_to(system) is None:
                raise ValueError(f"several {system.value} paths need a to_{system.value} expression that "
                                 "returns an object with one key per path")
        if self.value_map is not None and (self.to_netsuite or self.to_salesforce or self.has_value):
            raise ValueError("value_map applies to plain path copies; in an expression use $lookup")
        if self.create_only and self.conflict is not None:
            raise ValueError("a create_only field is never merged after the create, so it has no "
                             "conflict policy; remove conflict")
        return self

    def path_of(self, system: System) -> str | list[str] | None:
        """This field's path(s) on ``system``."""
        return self.salesforce if system is System.SALESFORCE else self.netsuite

    def expression_to(self, system: System) -> str | None:
        """The expression that computes the ``system`` side, if any."""
        return self.to_salesforce if system is System.SALESFORCE else self.to_netsuite

    def direction_flows_to(self, system: System, link_direction: Direction | None) -> bool:
        """True when this field is written on ``system``."""
        if self.path_of(system) is None:
            return False
        other = System.NETSUITE if system is System.SALESFORCE else System.SALESFORCE
        if self.direction is not None:
            return self.direction.flows_to(system)
        if self.has_value or self.expression_to(system) is not None:
            return link_direction is None or link_direction.flows_to(system) \
                or self.path_of(other) is None
        if self.path_of(other) is None:
            return False
        return link_direction is None or link_direction.flows_to(system)

    def default_for(self, system: System) -> JsonValue:
        """The default value when writing ``system``'s side."""
        if self.defaults and f"to_{system.value}" in self.defaults:
            return self.defaults[f"to_{system.value}"]  # type: ignore[index]
        return self.default

    @property
    def key(self) -> str:
        """The field's name: ``name``, else its Salesforce path, else its NetSuite path."""
        if self.name:
            return self.name
        for p in (self.salesforce, self.netsuite):
            if p is not None:
                return ",".join(p) if isinstance(p, list) else p
        return "?"

    def refs(self) -> set[str]:
        """Links this field translates ids through."""
        found = {self.ref} if self.ref else set()
        for expr in (self.to_netsuite, self.to_salesforce):
            if expr:
                for arg in _REF_CALL.findall(expr):
                    found.update(_REF_NAME.findall(arg))
        return found


class MatchKeySpec(_Spec):
    """An exact key: values are normalised, then compared."""

    name: str | None = None
    salesforce: str
    netsuite: str
    normalise: Literal["none", "text", "email", "domain", "phone", "tax_id", "name"] = "text"

    @property
    def key(self) -> str:
        """Rule name for audit and reviews."""
        return self.name or f"{self.salesforce}={self.netsuite}"


class FuzzyMatchSpec(_Spec):
    """Fuzzy matching on name (and address) with two thresholds on a 0–100 score."""

    name: SidePair
    address: SidePair | None = Field(None, description="paths or JSONata giving one address string")
    auto: float = Field(92.0, ge=0, le=100, description="at or above: link automatically")
    review: float = Field(75.0, ge=0, le=100, description="at or above (below auto): ask a person")
    name_weight: float = Field(0.7, gt=0, le=1)

    @model_validator(mode="after")
    def _thresholds(self) -> FuzzyMatchSpec:
        if self.review > self.auto:
            raise ValueError(f"review threshold {self.review} is above auto threshold {self.auto}")
        if self.name.salesforce is None or self.name.netsuite is None:
            raise ValueError("fuzzy.name needs both a salesforce and a netsuite path")
        return self


class MatchSpec(_Spec):
    """How an unlinked record finds its partner before anything is created."""

    external_id: bool = Field(True, description="match by the external-id fields first")
    keys: list[MatchKeySpec] = Field(default_factory=list)
    fuzzy: FuzzyMatchSpec | None = None
    create: bool = Field(True, description="create the record on the other side when nothing matches")


class DeleteTargetSpec(_Spec):
    """The inactive flag to set on one side."""

    field: str
    value: Json = True


_DEFAULT_INACTIVE = {
    System.SALESFORCE: DeleteTargetSpec(field="IsActive", value=False),
    System.NETSUITE: DeleteTargetSpec(field="isInactive", value=True),
}


class DeletePolicySpec(_Spec):
    """What a delete on one side does to the other side."""

    policy: Literal["deactivate", "delete", "unlink", "ignore"] = "deactivate"
    salesforce: DeleteTargetSpec | None = Field(None, description="inactive flag on Salesforce")
    netsuite: DeleteTargetSpec | None = Field(None, description="inactive flag on NetSuite")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"policy": data} if isinstance(data, str) else data

    def inactive_on(self, system: System) -> DeleteTargetSpec:
        """The inactive flag used when deactivating on ``system``."""
        given = self.salesforce if system is System.SALESFORCE else self.netsuite
        return given or _DEFAULT_INACTIVE[system]


class TriggerSpec(_Spec):
    """When a link runs: every ``interval``, on a ``cron`` schedule (UTC), or on ``push``.

    Each trigger has exactly one of the three keys; a link lists as many as it needs and they
    combine (``triggers: [{push: true}, {interval: 15m}]``). ``full: true`` on an interval or cron
    trigger makes its passes re-read every record instead of changes since the last pass
    (``{cron: "0 2 * * *", full: true}``: a nightly full pass). ``push: true`` means "as soon as a
    system reports a change": Salesforce Change Data Capture over the Pub/Sub API and the NetSuite
    User Event script's webhook (see the ``realtime`` section of the configuration). A link with
    push and no interval or cron still polls at ``realtime.safety_net_interval``. A link without
    triggers gets push (when ``realtime`` is configured) plus that safety-net polling, or else the
    ``ledgerbridge run --interval`` polling.
    """

    interval: float | None = Field(None, description="seconds, or 30s / 5m / 1h")
    cron: str | None = Field(None, description="minute hour day-of-month month day-of-week")
    push: Literal[True] | None = Field(
        None, description="true: run on changes pushed by the systems (CDC, NetSuite webhook)")
    full: bool = Field(
        False, description="with interval or cron: re-read every record in scope, not only changes "
                           "(for values a system changes without touching the record's modification "
                           "date, e.g. a NetSuite customer's balance)")

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float | None:
        if value is None:
            return None
        seconds = parse_duration_s(value)
        if seconds <= 0:
            raise ValueError("interval must be positive")
        return seconds

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from ledgerbridge.flows.cron import CronSchedule

            CronSchedule.parse(value)
        return value

    @model_validator(mode="after")
    def _one(self) -> TriggerSpec:
        if sum(v is not None for v in (self.interval, self.cron, self.push)) != 1:
            raise ValueError("a trigger has exactly one of interval, cron and push (push: true)")
        if self.full and self.push is not None:
            raise ValueError("full: true goes with an interval or cron trigger, not with push")
        return self


class IdsSpec(_Spec):
    """Fields that carry the other system's id, used for idempotent creates and matching."""

    salesforce_external_id: str | None = Field(
        None, description="Salesforce external-id field holding the NetSuite internal id")
    netsuite_external_id: str | None = Field(
        "externalId", description="NetSuite field holding the Salesforce id (externalId)")


class PreflightSpec(_Spec):
    """One check run before a record is created on NetSuite; a failure parks the record as a review.

    Written as the check's name (``lines_total``) or an object with its settings:

    - ``lines_total``: the lines' total as NetSuite computes it (``quantity × rate`` rounded to
      cents per line, over the ``lines`` sublist of the payload; a discount-item line, one whose
      rate is a percentage such as ``"-10%"``, takes that share of the line above it, and one
      with an amount rate counts that amount once, whatever its quantity) equals ``total`` on
      the source record (a Salesforce path, default ``Amount``), within ``tolerance``.
    - ``items_linked``: every id translated through ``links`` (default: the links of every
      several-link ``$ref``) found a partner; a line without one is not created.
    - ``subsidiary``: the customer (``entity``), the ``currency`` and every line's item agree with
      the order's subsidiary (the customer's, unless the payload sets one), as NetSuite requires.
    - ``credit_limit``: the customer's ``balance`` (plus its ``unbilledOrders`` with ``unbilled:
      true``, NetSuite's "include orders in credit limit calculation") plus this transaction's
      total stays within its ``creditLimit``, as NetSuite's credit hold does: override ``ON``
      always holds, ``OFF`` never, ``AUTO`` (the default) compares; no credit limit, no hold.
    """

    check: Literal["lines_total", "items_linked", "subsidiary", "credit_limit"]
    lines: str = Field("item.items", description="the sublist of the NetSuite payload")
    total: str = Field("Amount", description="Salesforce path of the expected total (lines_total)")
    tolerance: float = Field(0.005, ge=0)
    links: list[str] | None = Field(None, description="links whose refs must resolve (items_linked)")
    discount_items: list[str] = Field(
        default_factory=list, description="NetSuite ids of discount items (lines_total, credit_limit): "
                                          "their lines ignore quantity, as NetSuite does")
    unbilled: bool = Field(False, description="credit_limit also counts the customer's unbilled orders")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"check": data} if isinstance(data, str) else data


_IDS_PLACEHOLDER = "{ids}"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnrichSpec(_Spec):
    """A named step that adds a value read with a query to each source record before mapping.

    ``query`` is one statement in the side's own query language (SuiteQL for ``netsuite``) whose
    ``{ids}`` stands for the batch's record ids, bound as ``?`` parameters (never pasted into the
    text), at most 1,000 per call. Each record gets field ``name``: the first row whose ``key``
    column holds its id (an object of the row's other columns, as the system returns them), or
    null when no row has it. Mappings then read ``name.column``, e.g. ``last_payment.amount``.
    """

    name: str = Field(description="the field the value is set on, e.g. last_payment")
    salesforce: str | None = Field(None, description="a query for the Salesforce side's records")
    netsuite: str | None = Field(None, description="a SuiteQL query with IN ({ids}) for the NetSuite side")
    key: str = Field(description="the column holding the record id (compared case-insensitively)")

    @field_validator("name", "key")
    @classmethod
    def _identifier(cls, value: str, info: Any) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{info.field_name} {value!r} must be a plain name (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _one_query(self) -> EnrichSpec:
        given = [s for s in System if self.query_of(s) is not None]
        if len(given) != 1:
            raise ValueError(f"enrich {self.name!r}: give exactly one query, as netsuite: (SuiteQL) "
                             "or salesforce:")
        text = self.query_of(given[0]) or ""
        if text.count(_IDS_PLACEHOLDER) != 1:
            raise ValueError(f"enrich {self.name!r}: the query must contain {_IDS_PLACEHOLDER} exactly "
                             f"once, where the record ids go, e.g. WHERE t.entity IN ({_IDS_PLACEHOLDER})")
        if "?" in text:
            raise ValueError(f"enrich {self.name!r}: the query must not contain '?'; {_IDS_PLACEHOLDER} "
                             "is its only parameter (write constants inline)")
        return self

    def query_of(self, system: System) -> str | None:
        """The query for ``system`` (None when it enriches the other side)."""
        return self.salesforce if system is System.SALESFORCE else self.netsuite

    @property
    def system(self) -> System:
        """The side whose records are enriched (and where the query runs)."""
        return System.SALESFORCE if self.salesforce is not None else System.NETSUITE

    def statement(self, n_ids: int) -> str:
        """The query with ``{ids}`` replaced by ``n_ids`` placeholders."""
        text = self.query_of(self.system) or ""
        return text.replace(_IDS_PLACEHOLDER, ", ".join("?" * max(1, n_ids)))


class WatchSpec(_Spec):
    """Another record type whose changes make the link look at a related record of its own.

    ``{netsuite: customerPayment, via: customer}``: customer payments changed since this watch's
    watermark name their customers (the ``via`` field, a reference or an id), and those customers go
    through the link's pipeline in the same pass, level-triggered: the change only says which record
    to look at; its current state (with its enrich values) is read and compared with the baseline.
    """

    salesforce: str | None = Field(None, description="a Salesforce object whose changes are watched")
    netsuite: str | None = Field(None, description="a NetSuite record type whose changes are watched")
    via: str = Field(description="the watched record's field that holds the id of the link's record")

    @field_validator("via")
    @classmethod
    def _via(cls, value: str) -> str:
        return _check_path(value, "via")

    @model_validator(mode="after")
    def _one_side(self) -> WatchSpec:
        if (self.salesforce is None) == (self.netsuite is None):
            raise ValueError("a watch names exactly one record type, as netsuite: or salesforce:")
        return self

    @property
    def system(self) -> System:
        """The side the watched record type (and the related records) live on."""
        return System.SALESFORCE if self.salesforce is not None else System.NETSUITE

    @property
    def object(self) -> str:
        """The watched object or record type."""
        return self.salesforce or self.netsuite or ""


class LinkOptionsSpec(_Spec):
    """Tuning knobs, the steps that guard writes (``preflight``, ``freeze_when``) and the ones that
    add queried values to source records (``enrich``)."""

    batch_size: int | None = Field(None, ge=1, description="records per write call (capped by the system)")
    page_size: int | None = Field(None, ge=1)
    overlap_s: float = Field(120.0, ge=0, description="re-read this much before the watermark")
    expression_timeout_ms: int = Field(1000, ge=1, le=60_000)
    expression_max_depth: int = Field(200, ge=1, le=10_000)
    read_deletes: bool = True
    lookups: dict[str, dict[str, Json]] = Field(
        default_factory=dict, description="value tables, available in expressions as $lookups.<name>")
    children: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Salesforce child relationships read with each record, e.g. "
                    "{OpportunityLineItems: [Id, Product2Id, Quantity]}; mappings see "
                    "OpportunityLineItems.records[]")
    preflight: list[PreflightSpec] = Field(
        default_factory=list, description="checks before a NetSuite create; a failure is a review")
    freeze_when: SidePair | None = Field(
        None, description="per side, an expression on that side's record (e.g. netsuite: "
                          "\"orderStatus.id != 'A'\"); while it holds, changes are not written to that "
                          "side but raise a review")
    enrich: list[EnrichSpec] = Field(
        default_factory=list,
        description="queries run once per batch of source records; each record gets the first row for "
                    "its id as field <name> (or null), e.g. {name: last_payment, netsuite: \"SELECT ... "
                    "WHERE t.entity IN ({ids}) ORDER BY ...\", key: customer}")

    watch: list[WatchSpec] = Field(
        default_factory=list,
        description="other record types whose changes make the link re-read the related record, e.g. "
                    "{netsuite: customerPayment, via: customer}")

    @field_validator("enrich")
    @classmethod
    def _enrich_names(cls, value: list[EnrichSpec]) -> list[EnrichSpec]:
        seen: set[tuple[System, str]] = set()
        for i, e in enumerate(value):
            if (e.system, e.name.lower()) in seen:
                raise ValueError(f"enrich[{i}]: the name {e.name!r} is used twice for {e.system.value}")
            seen.add((e.system, e.name.lower()))
        return value

    def enrichments(self, system: System) -> list[EnrichSpec]:
        """The enrich steps for ``system``'s records."""
        return [e for e in self.enrich if e.system is system]

    def watches(self, system: System) -> list[WatchSpec]:
        """The watches of record types on ``system``."""
        return [w for w in self.watch if w.system is system]

    @field_validator("children")
    @classmethod
    def _children(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for rel, names in value.items():
            _check_path(rel, "child relationship")
            if not names:
                raise ValueError(f"children.{rel}: list the fields to read")
            for n in names:
                _check_path(n, f"children.{rel} field")
        return value

    @field_validator("overlap_s", mode="before")
    @classmethod
    def _overlap(cls, value: object) -> float:
        return parse_duration_s(value)


class LinkSpec(_Spec):
    """One Salesforce object ↔ NetSuite record type, and how records flow between them."""

    salesforce: str = Field(description="Salesforce object API name, e.g. Account")
    netsuite: str = Field(description="NetSuite record type, e.g. customer")
    direction: Direction = Direction.BOTH
    scope: ScopeSpec = Field(default_factory=ScopeSpec)
    ids: IdsSpec = Field(default_factory=IdsSpec)
    fields: list[FieldMapSpec] = Field(default_factory=list)
    match: MatchSpec = Field(default_factory=MatchSpec)
    conflict: ConflictPolicySpec = Field(
        default_factory=lambda: ConflictPolicySpec(policy="newest"),
        description="default policy for fields without their own")
    delete: DeletePolicySpec = Field(default_factory=DeletePolicySpec)
    triggers: list[TriggerSpec] = Field(default_factory=list)
    options: LinkOptionsSpec = Field(default_factory=LinkOptionsSpec)
    enabled: bool = True

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, value: list[FieldMapSpec]) -> list[FieldMapSpec]:
        seen: dict[str, int] = {}
        for i, f in enumerate(value):
            if f.key in seen:
                raise ValueError(f"fields[{i}] has the same name {f.key!r} as fields[{seen[f.key]}]; "
                                 "give one of them a name")
            seen[f.key] = i
        return value

    def policy_for(self, field: FieldMapSpec) -> ConflictPolicySpec:
        """The conflict policy of one field."""
        return field.conflict or self.conflict

    def object_of(self, system: System) -> str:
        """The object name on ``system``."""
        return self.salesforce if system is System.SALESFORCE else self.netsuite

    def external_id_field(self, system: System) -> str | None:
        """The field on ``system`` that holds the other system's id."""
        return self.ids.salesforce_external_id if system is System.SALESFORCE \
            else self.ids.netsuite_external_id

    def creates_on(self, system: System) -> bool:
        """True when records of the other side are created on ``system`` when unmatched."""
        return self.direction.flows_to(system) and self.match.create

    def fields_to(self, system: System) -> list[FieldMapSpec]:
        """Fields written on ``system``."""
        return [f for f in self.fields if f.direction_flows_to(system, self.direction)]

    def refs(self) -> set[str]:
        """Links this link's fields translate ids through."""
        found: set[str] = set()
        for f in self.fields:
            found |= f.refs()
        return found


@dataclass(frozen=True, slots=True)
class LinkProblem:
    """A problem with its place in the configuration (keys and list indexes from the top)."""

    path: tuple[str | int, ...]
    message: str

    def format(self, where: str = "") -> str:
        """``where: links.accounts.fields[2]: message``."""
        dotted = ""
        for p in self.path:
            dotted += f"[{p}]" if isinstance(p, int) else (f".{p}" if dotted else str(p))
        head = f"{where}: " if where else ""
        return f"{head}{dotted}: {self.message}"


def link_problems(links: Mapping[str, LinkSpec]) -> list[LinkProblem]:
    """Problems that need all links to see: unknown ``ref`` targets and reference cycles.

    Args:
        links: the links by name.

    Returns:
        Every problem, each with its path (``("links", name, "fields", i)``).
    """
    problems: list[LinkProblem] = []
    for name, link in links.items():
        for i, f in enumerate(link.fields):
            for target in sorted(f.refs()):
                if target not in links:
                    known = ", ".join(sorted(links)) or "none"
                    problems.append(LinkProblem(("links", name, "fields", i),
                                                f"ref to unknown link {target!r} (links: {known})"))
        for i, f in enumerate(link.fields):
            if f.conflict and f.conflict.policy == "owner" and f.direction is not None \
                    and f.direction is not Direction.BOTH:
                owner = System(f.conflict.owner or "salesforce")
                if f.direction.flows_to(owner):
                    problems.append(LinkProblem(
                        ("links", name, "fields", i, "conflict"),
                        f"owner {owner.value} contradicts direction {f.direction.value}: "
                        "a one-way field is owned by its source"))
        problems += _enrich_problems(name, link)
        if link.direction is not Direction.BOTH:
            target = System.NETSUITE if link.direction is Direction.TO_NETSUITE else System.SALESFORCE
            if not link.fields_to(target):
                problems.append(LinkProblem(("links", name, "fields"),
                                            f"no field is written to {target.value}"))
    try:
        link_order(links)
    except ValueError as exc:
        problems.append(LinkProblem(("links",), str(exc)))
    return problems


def _enrich_problems(name: str, link: LinkSpec) -> list[LinkProblem]:
    """An enrich name that would hide a field the link reads or writes on that side."""
    problems: list[LinkProblem] = []
    for j, e in enumerate(link.options.enrich):
        path = ("links", name, "options", "enrich", j, "name")
        s, lowered = e.system, e.name.lower()

        def head(text: str | None) -> str:
            return (text or "").split(".")[0].split("[")[0].lower()

        used = {"id": "the record id"}
        ext = link.external_id_field(s)
        if ext:
            used[head(ext)] = "the external id field"
        for k in link.match.keys:
            used.setdefault(head(k.salesforce if s is System.SALESFORCE else k.netsuite),
                            f"match key {k.key!r}")
        fuzzy = link.match.fuzzy
        for pair in (fuzzy.name, fuzzy.address) if fuzzy is not None else ():
            if pair is not None and pair.of(s):
                used.setdefault(head(pair.of(s)), "the fuzzy match")
        if link.delete.policy == "deactivate":
            used.setdefault(head(link.delete.inactive_on(s).field), "the inactive flag of the delete policy")
        for i, f in enumerate(link.fields):
            raw = f.path_of(s)
            for p in raw if isinstance(raw, list) else [raw] if raw else []:
                if head(p) == lowered and f.direction_flows_to(s, link.direction):
                    used.setdefault(lowered, f"fields[{i}] ({f.key!r}), which writes {s.value} {p!r}")
        if lowered in used:
            problems.append(LinkProblem(path, f"enrich name {e.name!r} clashes with {used[lowered]}; an "
                                              "enriched value is read-only: choose another name"))
    for j, w in enumerate(link.options.watch):
        if w.object.lower() == link.object_of(w.system).lower():
            problems.append(LinkProblem(("links", name, "options", "watch", j),
                                        f"{w.system.value} {w.object} is the link's own record type, "
                                        "whose changes the link reads anyway; watch a related type"))
    return problems


def link_order(links: Mapping[str, LinkSpec], names: list[str] | None = None) -> list[str]:
    """Links in dependency order: a link comes after the links its refs point to.

    Args:
        links: all links.
        names: the links wanted (their dependencies are not added); None for all.

    Returns:
        The names, parents first, otherwise in the given order.

    Raises:
        ValueError: the refs form a cycle (self-references are allowed).
    """
    wanted = list(links) if names is None else list(names)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, trail: tuple[str, ...]) -> None:
        if state.get(n) == 2 or n not in links:
            return
        if state.get(n) == 1:
            raise ValueError("links refer to each other in a cycle: " + " -> ".join((*trail, n)))
        state[n] = 1
        for dep in sorted(links[n].refs() - {n}):
            visit(dep, (*trail, n))
        state[n] = 2
        order.append(n)

    for n in wanted:
        visit(n, ())
    chosen = set(wanted)
    return [n for n in order if n in chosen]


LinksSpec = Annotated[dict[str, LinkSpec], Field(description="links by name")]
