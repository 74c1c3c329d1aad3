"""Identity: find the partner of an unlinked record before anything is created (layer ``engine``).

Order, per DESIGN §2: external id (either side carrying the other's id), then exact normalised keys
(email, web domain, E.164 phone, tax id, ...), then a fuzzy score on name and address (rapidfuzz).
At or above the auto threshold the records link; between the review and auto thresholds a person
decides (match review queue); below it the engine creates. Two candidates at or above auto, or two
records sharing an exact key, also go to review: the engine never guesses between equals. That holds
on both sides: an exact key links only when it is unique among the unlinked records of the record's
own side too (two accounts sharing a switchboard phone do not both own the one customer that has it);
a key shared there links nothing by itself, later rules (other keys, the fuzzy name) may still link,
and when none does the key's candidate goes to review rather than a create.

Exact keys and fuzzy scores are computed against a :class:`CandidateIndex` of the other side, built
once per pass from a full read of the link's scope (lazily: only when some record needs it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

from ledgerbridge.core.ports import SystemPort
from ledgerbridge.core.records import JsonValue, Record, System
from ledgerbridge.core.store import MatchCandidate, StateStore
from ledgerbridge.flows.expressions import Expression, ExpressionError, Path, compile_expression
from ledgerbridge.flows.mapping import LinkMapping, other
from ledgerbridge.flows.spec import LinkSpec, MatchKeySpec
from ledgerbridge.flows.transforms import TRANSFORMS, normalise_name, normalise_text

__all__ = ["CandidateIndex", "MatchResult", "Matcher"]


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What matching decided for one unlinked record."""

    kind: Literal["linked", "review", "none"]
    partner: Record | None = None
    candidates: tuple[MatchCandidate, ...] = ()
    rule: str = ""
    score: float = 0.0


def _norm(key: MatchKeySpec, value: JsonValue) -> str | None:
    if key.normalise == "none":
        return None if value is None or value == "" else str(value)
    out = TRANSFORMS[key.normalise](value)
    return None if out is None or out == "" else str(out)


@dataclass
class _Fuzzy:
    name: dict[System, Expression]
    address: dict[System, Expression] | None


@dataclass
class CandidateIndex:
    """Records of one side, indexed by normalised keys and names."""

    system: System
    records: dict[str, Record] = field(default_factory=dict)
    keys: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)


class Matcher:
    """Matching for one link during one pass.

    Args:
        name: the link's name.
        spec: the link.
        mapping: its compiled mapping (for record inputs).
        ports: both systems.
        store: the state store (to skip candidates that are already linked).
    """

    def __init__(self, name: str, spec: LinkSpec, mapping: LinkMapping, ports: Mapping[System, SystemPort],
                 store: StateStore) -> None:
        self.name = name
        self.spec = spec
        self.mapping = mapping
        self.ports = ports
        self.store = store
        self.claimed: dict[System, set[str]] = {System.SALESFORCE: set(), System.NETSUITE: set()}
        self._indexes: dict[System, CandidateIndex] = {}
        self._by_ext_value: dict[System, dict[str, Record]] = {System.SALESFORCE: {}, System.NETSUITE: {}}
        self._by_pointer: dict[System, dict[str, list[Record]]] = {System.SALESFORCE: {},
                                                                     System.NETSUITE: {}}
        opts = spec.options
        fz = spec.match.fuzzy
        self._fuzzy: _Fuzzy | None = None
        if fz is not None:
            def comp(text: str | None) -> Expression:
                return compile_expression(text or "null", timeout_ms=opts.expression_timeout_ms,
                                          max_depth=opts.expression_max_depth)
            self._fuzzy = _Fuzzy(
                {s: comp(fz.name.of(s)) for s in System},
                {s: comp(fz.address.of(s)) for s in System} if fz.address is not None else None)
        self.n_index_reads = 0

    def claim(self, system: System, id: str) -> None:
        """Mark ``id`` on ``system`` as taken in this pass (linked or just created)."""
        self.claimed[system].add(id)

    async def _is_free(self, system: System, id: str) -> bool:
        if id in self.claimed[system]:
            return False
        return await self.store.get_xref(self.name, system, id) is None

    # -- external ids ----------------------------------------------------------------------------
    async def prefetch(self, system: System, records: Sequence[Record]) -> None:
        """Batch the external-id lookups for the unlinked ``records`` of ``system`` (two calls at most).

        Args:
            system: the side the records come from.
            records: unlinked records.
        """
        if not self.spec.match.external_id or not records:
            return
        target = other(system)
        port = self.ports[target]
        obj = self.spec.object_of(target)
        fields = self.mapping.read_fields(target)
        pointer_field = self.spec.external_id_field(system)  # on the record: the partner's id
        back_field = self.spec.external_id_field(target)  # on the partner: the record's id
        if pointer_field:
            wanted = sorted({str(v) for r in records if (v := r.fields.get(pointer_field)) not in (None, "")}
                            - set(self._by_ext_value[target]))
            if wanted:
                for rec in await port.read_by_ids(obj, wanted, fields=fields):
                    self._by_ext_value[target][rec.id] = rec
        if back_field:
            ids = sorted({r.id for r in records} - set(self._by_pointer[target]))
            if ids:
                for i in ids:
                    self._by_pointer[target].setdefault(i, [])
                for rec in await port.find(obj, back_field, ids, fields=fields):
                    value = rec.fields.get(back_field)
                    if value is not None:
                        self._by_pointer[target].setdefault(str(value), []).append(rec)

    async def _by_external_id(self, system: System, record: Record) -> MatchResult | None:
        if not self.spec.match.external_id:
            return None
        await self.prefetch(system, [record])
        target = other(system)
        found: dict[str, Record] = {}
        pointer_field = self.spec.external_id_field(system)
        if pointer_field:
            value = record.fields.get(pointer_field)
            if value not in (None, "") and (rec := self._by_ext_value[target].get(str(value))) is not None:
                found[rec.id] = rec
        for rec in self._by_pointer[target].get(record.id, []):
            found[rec.id] = rec
        free = [r for r in found.values() if await self._is_free(target, r.id)]
        if len(free) == 1:
            return MatchResult("linked", free[0], (MatchCandidate(free[0].id, 100.0, "external_id"),),
                               "external_id", 100.0)
        if len(free) > 1:
            return MatchResult("review", None, tuple(MatchCandidate(r.id, 100.0, "external_id")
                                                     for r in free), "external_id", 100.0)
        return None

    # -- index -----------------------------------------------------------------------------------
    async def index(self, system: System) -> CandidateIndex:
        """The candidate index of ``system`` (read once per pass)."""
        if system in self._indexes:
            return self._indexes[system]
        idx = CandidateIndex(system)
        port = self.ports[system]
        async for page in port.read_changes(self.spec.object_of(system), None,
                                            fields=self.mapping.read_fields(system),
                                            where=self.spec.scope.of(system)):
            self.n_index_reads += 1
            linked = await self.store.get_xrefs(self.name, system, [r.id for r in page.records])
            for rec in page.records:
                if rec.id not in linked and not rec.is_deleted:
                    self._add(idx, rec)
        self._indexes[system] = idx
        return idx

    def _add(self, idx: CandidateIndex, rec: Record) -> None:
        idx.records[rec.id] = rec
        data = self.mapping.input_of(rec, idx.system)
        for key in self.spec.match.keys:
            path = key.salesforce if idx.system is System.SALESFORCE else key.netsuite
            value = _norm(key, Path(path).get(data))
            if value is not None:
                idx.keys.setdefault(key.key, {}).setdefault(value, set()).add(rec.id)
        if self._fuzzy is not None:
            name, address = self._fuzzy_text(idx.system, data)
            if name:
                idx.names[rec.id] = name
            if address:
                idx.addresses[rec.id] = address

    def _fuzzy_text(self, system: System, data: Mapping[str, JsonValue]) -> tuple[str | None, str | None]:
        assert self._fuzzy is not None
        try:
            name = normalise_name(self._fuzzy.name[system].evaluate(data))
            address = None
            if self._fuzzy.address is not None:
                address = normalise_text(self._fuzzy.address[system].evaluate(data))
        except ExpressionError:
            return None, None
        return name, address

    # -- matching --------------------------------------------------------------------------------
    async def match(self, system: System, record: Record) -> MatchResult:
        """Find the partner of an unlinked record of ``system`` on the other side.

        Returns:
            ``linked`` with the partner, ``review`` with candidates, or ``none``.
        """
        by_ext = await self._by_external_id(system, record)
        if by_ext is not None:
            return by_ext
        spec = self.spec.match
        if not spec.keys and spec.fuzzy is None:
            return MatchResult("none")
        target = other(system)
        idx = await self.index(target)
        data = self.mapping.input_of(record, system)
        held: list[MatchCandidate] = []  # unique on the target, but shared on the record's side
        for key in spec.keys:
            path = key.salesforce if system is System.SALESFORCE else key.netsuite
            value = _norm(key, Path(path).get(data))
            if value is None:
                continue
            ids = [i for i in sorted(idx.keys.get(key.key, {}).get(value, set()))
                   if await self._is_free(target, i)]
            if len(ids) == 1:
                rule = f"key:{key.key}"
                twins = await self._sharing(system, key, value, record.id)
                if not twins:
                    return MatchResult("linked", idx.records[ids[0]], (MatchCandidate(ids[0], 100.0, rule),),
                                       rule, 100.0)
                if all(c.id != ids[0] for c in held):
                    held.append(MatchCandidate(
                        ids[0], 100.0, rule, label=idx.names.get(ids[0], ""),
                        details={"shared_with": [f"{system.value} {t}" for t in twins[:5]]}))
                continue
            if len(ids) > 1:
                return MatchResult("review", None, tuple(
                    MatchCandidate(i, 100.0, f"key:{key.key}", label=idx.names.get(i, ""))
                    for i in ids[:10]), f"key:{key.key}", 100.0)
        result = await self._fuzzy_match(system, target, idx, data)
        if not held or result.kind == "linked":
            return result
        cands = held + [c for c in result.candidates if all(c.id != h.id for h in held)]
        return MatchResult("review", None, tuple(cands[:10]), held[0].rule, 100.0)

    async def _sharing(self, system: System, key: MatchKeySpec, value: str, record_id: str) -> list[str]:
        """Other unlinked records of ``system`` (the record's own side) with the same key value."""
        own = await self.index(system)
        return [i for i in sorted(own.keys.get(key.key, {}).get(value, set()))
                if i != record_id and await self._is_free(system, i)]

    async def _fuzzy_match(self, system: System, target: System, idx: CandidateIndex,
                           data: Mapping[str, JsonValue]) -> MatchResult:
        """The fuzzy step of :meth:`match`."""
        spec = self.spec.match
        if spec.fuzzy is None or self._fuzzy is None:
            return MatchResult("none")
        name, address = self._fuzzy_text(system, data)
        if not name or not idx.names:
            return MatchResult("none")
        hits = process.extract(name, idx.names, scorer=fuzz.token_sort_ratio, limit=20,
                               score_cutoff=max(0.0, spec.fuzzy.review - 30))
        w = spec.fuzzy.name_weight
        scored: list[MatchCandidate] = []
        for _label, name_score, cid in hits:
            if not await self._is_free(target, cid):
                continue
            score = float(name_score)
            addr_score = None
            other_addr = idx.addresses.get(cid)
            if address and other_addr:
                addr_score = float(fuzz.token_set_ratio(address, other_addr))
                score = w * score + (1 - w) * addr_score
            scored.append(MatchCandidate(cid, round(score, 1), "fuzzy", label=idx.names.get(cid, ""),
                                         details={"name": round(float(name_score), 1),
                                                  "address": None if addr_score is None
                                                  else round(addr_score, 1)}))
        scored.sort(key=lambda c: (-c.score, c.id))
        if not scored or scored[0].score < spec.fuzzy.review:
            return MatchResult("none", score=scored[0].score if scored else 0.0)
        best = scored[0]
        at_auto = [c for c in scored if c.score >= spec.fuzzy.auto]
        if len(at_auto) == 1:
            return MatchResult("linked", idx.records[best.id], (best,), "fuzzy", best.score)
        return MatchResult("review", None, tuple(c for c in scored if c.score >= spec.fuzzy.review)[:10],
                           "fuzzy", best.score)
