"""Three-way, field-level merge of a linked pair against its baselines (layer ``engine``).

For each mapped field the merge asks three questions:

1. *Is the pair already in sync?* (the target already holds the mapped value, in each direction the
   field flows). Then nothing is written — this is what makes an echo of our own write free.
2. *Which side changed since the last sync?* Each side's current view of the field is compared with
   that side's baseline, in the side's own vocabulary.
3. *If both changed (or there is no baseline yet), who wins?* The side the record was just created
   from; the source of a one-way field; otherwise the field's policy — ``owner``, ``newest`` (record
   modification stamps, ties to Salesforce) or ``review`` (parked for a person, baseline kept).

A ``create_only`` field is never written here: its value went out with the create, and whatever
either side holds since then stays (no write, no conflict).

The merge is pure: it returns the values to write per side and one :class:`FieldDecision` per field
for the audit log, and never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ledgerbridge.core.records import JsonValue, Record, System
from ledgerbridge.flows.mapping import LinkMapping, MapContext

__all__ = ["FieldDecision", "MergeOutcome", "merge_pair"]

Action = Literal["in_sync", "unchanged", "write", "ignored", "parked"]


@dataclass(frozen=True, slots=True)
class FieldDecision:
    """What the merge decided for one field."""

    field: str
    action: Action
    winner: System | None = None
    rule: str = ""  # changed_on_salesforce | changed_on_netsuite | created | one_way | owner | newest | ...
    reason: str = ""
    sf_value: JsonValue = None  # each side's view before the merge
    ns_value: JsonValue = None
    base_sf: JsonValue = None
    base_ns: JsonValue = None
    conflict: bool = False  # both sides had changed (a human edit was overridden or parked)


@dataclass
class MergeOutcome:
    """Values to write on each side, and the decisions that led there."""

    writes: dict[System, dict[str, JsonValue]] = field(
        default_factory=lambda: {System.SALESFORCE: {}, System.NETSUITE: {}})
    decisions: list[FieldDecision] = field(default_factory=list)

    @property
    def parked(self) -> list[FieldDecision]:
        """Fields waiting for review."""
        return [d for d in self.decisions if d.action == "parked"]

    @property
    def has_writes(self) -> bool:
        """True when anything is to be written."""
        return any(self.writes.values())


def merge_pair(mapping: LinkMapping, sf: Record, ns: Record, *, sf_baseline: Mapping[str, JsonValue] | None,
               ns_baseline: Mapping[str, JsonValue] | None, ctx: MapContext,
               prefer: System | None = None, force: Mapping[str, System] | None = None,
               heal: bool = False) -> MergeOutcome:
    """Merge one linked pair.

    Args:
        mapping: the link's compiled mapping.
        sf: the Salesforce record's current state.
        ns: the NetSuite record's current state.
        sf_baseline: Salesforce views at the last sync (None: never synced).
        ns_baseline: NetSuite views at the last sync.
        ctx: resolved references.
        prefer: the side that wins every field not yet in sync (a record just created from it).
        force: per field key, the side that wins regardless of changes (conflict resolutions).
        heal: treat fields that are out of sync although neither side changed as conflicts
            (reconcile --heal); normally they are left alone.

    Returns:
        The writes per side and one decision per field.

    Raises:
        ExpressionError: a mapping expression failed.
    """
    out = MergeOutcome()
    bs = sf_baseline or {}
    bn = ns_baseline or {}
    sdata = mapping.input_of(sf, System.SALESFORCE)
    ndata = mapping.input_of(ns, System.NETSUITE)
    to_ns = mapping.map_values(System.NETSUITE, sf, ctx)
    to_sf = mapping.map_values(System.SALESFORCE, ns, ctx)
    for f in mapping.fields:
        key = f.key
        vs = f.view(System.SALESFORCE, sdata, ctx)
        vn = f.view(System.NETSUITE, ndata, ctx)
        base_s, base_n = bs.get(key), bn.get(key)
        flows_n, flows_s = f.flows[System.NETSUITE], f.flows[System.SALESFORCE]
        ok_n = not flows_n or f.is_satisfied(System.NETSUITE, ndata, to_ns[key])
        ok_s = not flows_s or f.is_satisfied(System.SALESFORCE, sdata, to_sf[key])

        def decide(action: Action, winner: System | None = None, rule: str = "", reason: str = "",
                   conflict: bool = False, key: str = key, vs: JsonValue = vs, vn: JsonValue = vn,
                   base_s: JsonValue = base_s, base_n: JsonValue = base_n) -> None:
            out.decisions.append(FieldDecision(key, action, winner, rule, reason, vs, vn, base_s, base_n,
                                               conflict))

        forced = (force or {}).get(key)
        if ok_n and ok_s and forced is None:
            decide("in_sync")
            continue
        if f.spec.create_only:  # written by the create; whatever either side holds since then stays
            decide("in_sync", rule="create_only", reason=f"{key} is written only when the record is created")
            continue
        sf_changed = key not in bs or not f.same(vs, base_s)
        ns_changed = key not in bn or not f.same(vn, base_n)
        has_base = key in bs and key in bn
        conflict = sf_changed and ns_changed
        winner: System | None
        if forced is not None:
            winner, rule = forced, "resolved"
        elif has_base and not sf_changed and not ns_changed and not heal:
            decide("unchanged", reason="out of sync, but neither side changed since the last sync")
            continue
        elif prefer is not None:
            conflict = False
            if flows_n != flows_s:
                winner, rule = (System.SALESFORCE if flows_n else System.NETSUITE), "one_way"
            else:
                winner, rule = prefer, "created"
        elif sf_changed and not ns_changed:
            winner, rule = System.SALESFORCE, "changed_on_salesforce"
        elif ns_changed and not sf_changed:
            winner, rule = System.NETSUITE, "changed_on_netsuite"
        elif flows_n and not flows_s:
            winner, rule = System.SALESFORCE, "one_way"
        elif flows_s and not flows_n:
            winner, rule = System.NETSUITE, "one_way"
        else:
            policy = f.policy
            if policy.policy == "owner":
                winner, rule = policy.owner_system, f"owner:{policy.owner}"
            elif policy.policy == "newest":
                s_at, n_at = sf.modified_at, ns.modified_at
                winner = System.NETSUITE if (s_at is not None and n_at is not None and n_at > s_at) \
                    else System.SALESFORCE
                rule = "newest"
            else:
                decide("parked", rule="review", reason="changed on both sides; policy is review",
                       conflict=True)
                continue
        assert winner is not None
        loser = System.NETSUITE if winner is System.SALESFORCE else System.SALESFORCE
        if not f.flows[loser]:
            decide("ignored", winner, rule, f"{key} does not flow to {loser.value}; the "
                   f"{winner.value} value stays", conflict)
            continue
        if (loser is System.NETSUITE and ok_n) or (loser is System.SALESFORCE and ok_s):
            decide("in_sync", winner, rule, conflict=conflict)
            continue
        value = to_ns[key] if loser is System.NETSUITE else to_sf[key]
        out.writes[loser][key] = value
        decide("write", winner, rule, conflict=conflict)
    return out
