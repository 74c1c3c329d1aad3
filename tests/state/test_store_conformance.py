"""The StateStore port's conformance suite: every store must pass it with identical results.

Parametrised over the engine's in-memory store, the SQL store on in-memory SQLite, on a SQLite
file and on PostgreSQL (marked ``postgres``). A behaviour pinned here is part of the port's
contract (``ledgerbridge.core.store``); a store that differs is wrong, whichever store it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledgerbridge.core.records import System, Watermark
from ledgerbridge.core.store import (
    AuditEvent,
    Conflict,
    ConflictStatus,
    DeadLetter,
    DeadLetterStatus,
    MatchCandidate,
    MatchReview,
    ReviewStatus,
    Run,
    RunStatus,
    StateStore,
    Step,
    Xref,
)
from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.state import open_state_store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
SF, NS = System.SALESFORCE, System.NETSUITE
BASELINE = {
    "Name": "Acme Corp — Zürich",
    "AnnualRevenue": 1250000.5,
    "NumberOfEmployees": 12,
    "IsActive": True,
    "Fax": None,
    "BillingAddress": {"city": "Zürich", "lines": ["Bahnhofstrasse 1", None]},
    "tags": [1, "two", 3.25, False, {"nested": []}],
    "=expr": 2**53,
}


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


@pytest.fixture(params=[
    pytest.param("memory"),
    pytest.param("sqlite-memory"),
    pytest.param("sqlite-file"),
    pytest.param("postgres", marks=pytest.mark.postgres),
])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite-memory":
        return "sqlite://"
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path}/state.db"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[StateStore]:
    if store_url == "memory":
        yield MemoryStateStore()
        return
    sql = await open_state_store(store_url)
    try:
        yield sql
    finally:
        await sql.aclose()


def xref(sf_id: str = "001A", ns_id: str = "10", link: str = "accounts", **kw: Any) -> Xref:
    return Xref(link, sf_id, ns_id, **kw)


def dead_letter(id: str = "dl1", *, at: datetime = T0, **kw: Any) -> DeadLetter:
    base = dict(link="accounts", system=SF, source_id="001A", step=Step.WRITE,
                error_code="DUPLICATE_VALUE", error_message="duplicate value found: externalId",
                created_at=at, updated_at=at)
    base.update(kw)
    return DeadLetter(id, **base)  # type: ignore[arg-type]


def review(id: str = "rv1", *, at: datetime = T0, **kw: Any) -> MatchReview:
    base = dict(link="accounts", system=SF, record_id="001A", created_at=at, candidates=(
        MatchCandidate("10", 87.5, "fuzzy", "Acme Corp", {"name": 91, "address": 80.25}),
        MatchCandidate("11", 71.0, "key:domain", "Acme Inc"),
    ))
    base.update(kw)
    return MatchReview(id, **base)  # type: ignore[arg-type]


def conflict(id: str = "c1", *, at: datetime = T0, **kw: Any) -> Conflict:
    base = dict(link="accounts", sf_id="001A", ns_id="10", field="phone", created_at=at,
                base_sf="+41 44 000 00 00", base_ns=None, sf_value="+41 44 111 11 11",
                ns_value=["+41", 44, 222])
    base.update(kw)
    return Conflict(id, **base)  # type: ignore[arg-type]


# -- the port ------------------------------------------------------------------------------------
async def test_store_implements_the_port(store: StateStore) -> None:
    assert isinstance(store, StateStore)


# -- xrefs ---------------------------------------------------------------------------------------
async def test_xref_is_found_from_either_side_with_its_baselines(store: StateStore) -> None:
    pair = xref(sf_baseline=BASELINE, ns_baseline={"companyName": "Acme", "terms": {"id": "2"}},
                created_at=T0, updated_at=T0 + timedelta(seconds=1),
                sf_modified_at=T0 - timedelta(days=1), ns_modified_at=None)
    await store.put_xref(pair)
    assert await store.get_xref("accounts", SF, "001A") == pair
    assert await store.get_xref("accounts", NS, "10") == pair
    assert await store.get_xref("accounts", SF, "10") is None
    assert await store.get_xref("accounts", NS, "001A") is None
    assert await store.get_xref("contacts", SF, "001A") is None


async def test_get_xrefs_keys_by_the_asked_side_and_leaves_out_unlinked_ids(store: StateStore) -> None:
    async with store.transaction():
        for i in range(600):  # more than one IN (...) chunk
            await store.put_xref(xref(f"001{i:04d}", f"{i}"))
    wanted = [f"001{i:04d}" for i in range(0, 600, 3)] + ["001MISSING"]
    found = await store.get_xrefs("accounts", SF, wanted)
    assert list(found) == wanted[:-1]
    assert found["0010003"].ns_id == "3"
    by_ns = await store.get_xrefs("accounts", NS, ["5", "599", "nope"])
    assert {k: v.sf_id for k, v in by_ns.items()} == {"5": "0010005", "599": "0010599"}
    assert await store.get_xrefs("accounts", SF, []) == {}


async def test_put_xref_relinks_when_salesforce_id_changes_after_a_merge(store: StateStore) -> None:
    await store.put_xref(xref("001A", "10", sf_baseline={"Name": "Old"}))
    await store.put_xref(xref("001W", "10", sf_baseline={"Name": "Winner"}))
    assert await store.get_xref("accounts", SF, "001A") is None
    moved = await store.get_xref("accounts", NS, "10")
    assert moved is not None and moved.sf_id == "001W" and moved.sf_baseline == {"Name": "Winner"}
    assert await store.count_xrefs("accounts") == 1


async def test_put_xref_relinks_when_netsuite_id_changes(store: StateStore) -> None:
    await store.put_xref(xref("001A", "10"))
    await store.put_xref(xref("001A", "11"))
    assert await store.get_xref("accounts", NS, "10") is None
    assert (await store.get_xref("accounts", SF, "001A")) == xref("001A", "11")
    assert await store.count_xrefs("accounts") == 1


async def test_put_xref_matching_two_pairs_replaces_both(store: StateStore) -> None:
    await store.put_xref(xref("001A", "10"))
    await store.put_xref(xref("001B", "11"))
    await store.put_xref(xref("001A", "11"))
    assert await store.list_xrefs("accounts") == [xref("001A", "11")]
    assert await store.get_xref("accounts", NS, "10") is None
    assert await store.get_xref("accounts", SF, "001B") is None


async def test_put_xref_updates_baselines_in_place(store: StateStore) -> None:
    await store.put_xref(xref(sf_baseline={"Name": "A"}, ns_baseline={"companyName": "A"}))
    await store.put_xref(xref(sf_baseline={"Name": "B"}, ns_baseline={}, updated_at=T0))
    got = await store.get_xref("accounts", SF, "001A")
    assert got == xref(sf_baseline={"Name": "B"}, ns_baseline={}, updated_at=T0)


async def test_same_ids_in_two_links_are_independent(store: StateStore) -> None:
    await store.put_xref(xref("001A", "10", link="accounts"))
    await store.put_xref(xref("001A", "10", link="contacts"))
    await store.delete_xref("contacts", "001A", "10")
    assert await store.get_xref("accounts", SF, "001A") is not None
    assert await store.count_xrefs("accounts") == 1
    assert await store.count_xrefs("contacts") == 0


async def test_delete_xref_unlinks_and_ignores_absent_pairs(store: StateStore) -> None:
    await store.put_xref(xref("001A", "10"))
    await store.delete_xref("accounts", "001A", "10")
    await store.delete_xref("accounts", "001A", "10")
    await store.delete_xref("nolink", "x", "y")
    assert await store.get_xref("accounts", SF, "001A") is None
    assert await store.get_xref("accounts", NS, "10") is None
    assert await store.count_xrefs("accounts") == 0


async def test_list_xrefs_pages_in_code_point_order_of_salesforce_id(store: StateStore) -> None:
    ids = ["001b", "001B", "001a", "001_", "001Z", "0019", "001é", "001A"]
    for n, sf_id in enumerate(ids):
        await store.put_xref(xref(sf_id, str(n)))
    await store.put_xref(xref("000", "x", link="other"))
    pages: list[list[str]] = []
    after: str | None = None
    while page := await store.list_xrefs("accounts", after_sf_id=after, limit=3):
        pages.append([x.sf_id for x in page])
        after = page[-1].sf_id
    assert [i for p in pages for i in p] == sorted(ids)
    assert [len(p) for p in pages] == [3, 3, 2]
    assert await store.count_xrefs("accounts") == len(ids)
    assert await store.list_xrefs("accounts", limit=0) == []


# -- transactions ------------------------------------------------------------------------------
async def test_transaction_commits_baselines_and_watermark_together(store: StateStore) -> None:
    async with store.transaction():
        await store.put_xref(xref(sf_baseline={"Name": "A"}))
        await store.set_watermark("accounts", SF, "changes", Watermark(T0, "001A"))
    assert (await store.get_xref("accounts", SF, "001A")) is not None
    assert await store.get_watermark("accounts", SF, "changes") == Watermark(T0, "001A")


async def test_transaction_that_raises_keeps_neither_baselines_nor_watermark(store: StateStore) -> None:
    await store.put_xref(xref(sf_baseline={"Name": "A"}))
    await store.set_watermark("accounts", SF, "changes", Watermark(T0, "001A"))
    with pytest.raises(Boom):
        async with store.transaction():
            await store.put_xref(xref(sf_baseline={"Name": "B"}))
            await store.put_xref(xref("001B", "11"))
            await store.set_watermark("accounts", SF, "changes", Watermark(T0 + timedelta(hours=1), "001B"))
            await store.add_audit([AuditEvent("e1", T0, "accounts", "update", SF, "001A", "10")])
            assert await store.mark_once("k")
            raise Boom
    assert (await store.get_xref("accounts", SF, "001A")) == xref(sf_baseline={"Name": "A"})
    assert await store.get_xref("accounts", SF, "001B") is None
    assert await store.get_watermark("accounts", SF, "changes") == Watermark(T0, "001A")
    assert await store.list_audit() == []
    assert await store.mark_once("k")


async def test_reads_inside_a_transaction_see_its_own_writes(store: StateStore) -> None:
    async with store.transaction():
        await store.put_xref(xref())
        assert await store.get_xref("accounts", NS, "10") == xref()
        assert await store.count_xrefs("accounts") == 1
        await store.put_dead_letter(dead_letter())
        assert await store.find_dead_letter("accounts", SF, "001A") == dead_letter()


async def test_nested_transaction_joins_the_outer_one(store: StateStore) -> None:
    with pytest.raises(Boom):
        async with store.transaction():
            async with store.transaction():
                await store.put_xref(xref())
            assert await store.get_xref("accounts", SF, "001A") is not None
            raise Boom
    assert await store.get_xref("accounts", SF, "001A") is None


async def test_writes_outside_a_transaction_commit_on_their_own(store: StateStore) -> None:
    await store.put_xref(xref())
    with pytest.raises(Boom):
        async with store.transaction():
            raise Boom
    assert await store.get_xref("accounts", SF, "001A") == xref()


# -- watermarks ----------------------------------------------------------------------------------
async def test_watermark_is_none_until_set_and_kept_per_link_system_and_feed(store: StateStore) -> None:
    assert await store.get_watermark("accounts", SF, "changes") is None
    await store.set_watermark("accounts", SF, "changes", Watermark(T0, "001A"))
    await store.set_watermark("accounts", SF, "deletes", Watermark(T0 + timedelta(days=1)))
    await store.set_watermark("accounts", NS, "changes", Watermark(T0 - timedelta(days=1), "7"))
    assert await store.get_watermark("accounts", SF, "changes") == Watermark(T0, "001A")
    assert await store.get_watermark("accounts", SF, "deletes") == Watermark(T0 + timedelta(days=1), "")
    assert await store.get_watermark("accounts", NS, "changes") == Watermark(T0 - timedelta(days=1), "7")
    assert await store.get_watermark("contacts", SF, "changes") is None


async def test_watermark_advances_monotonically_with_each_committed_batch(store: StateStore) -> None:
    marks = sorted([Watermark(T0, "001A"), Watermark(T0, "001B"), Watermark(T0 + timedelta(microseconds=1)),
                    Watermark(T0 + timedelta(microseconds=1), "001A"), Watermark(T0 + timedelta(days=400))])
    previous: Watermark | None = None
    for mark in marks:
        await store.set_watermark("accounts", SF, "changes", mark)
        got = await store.get_watermark("accounts", SF, "changes")
        assert got == mark
        assert previous is None or got > previous
        previous = got
    # A batch that fails to commit does not move the feed.
    with pytest.raises(Boom):
        async with store.transaction():
            await store.set_watermark("accounts", SF, "changes", Watermark(T0 + timedelta(days=500)))
            raise Boom
    assert await store.get_watermark("accounts", SF, "changes") == marks[-1]


async def test_watermark_time_comes_back_as_the_same_instant_in_utc(store: StateStore) -> None:
    cest = timezone(timedelta(hours=2))
    at = datetime(2026, 6, 1, 14, 30, 0, 999999, tzinfo=cest)
    await store.set_watermark("accounts", NS, "changes", Watermark(at, "42"))
    got = await store.get_watermark("accounts", NS, "changes")
    assert got == Watermark(at, "42")
    assert got is not None and got.at.utcoffset() in (timedelta(0), timedelta(hours=2))
    assert got.to_token() == Watermark(at, "42").to_token()


# -- runs ----------------------------------------------------------------------------------------
async def test_run_is_stored_at_start_and_replaced_at_the_end(store: StateStore) -> None:
    started = Run("r1", T0, links=("accounts", "contacts"))
    await store.put_run(started)
    assert await store.get_run("r1") == started
    done = replace(started, finished_at=T0 + timedelta(minutes=3), status=RunStatus.FAILED,
                   counts={"synced": 10, "dead_lettered": 1}, error="1 record dead-lettered")
    await store.put_run(done)
    assert await store.get_run("r1") == done
    assert await store.get_run("nope") is None


async def test_list_runs_newest_first_filtered_by_link(store: StateStore) -> None:
    await store.put_run(Run("r1", T0, links=("accounts",)))
    await store.put_run(Run("r3", T0 + timedelta(minutes=2), links=("contacts",), kind="reconcile"))
    await store.put_run(Run("r2", T0 + timedelta(minutes=1), links=("accounts", "contacts")))
    await store.put_run(replace(Run("r1", T0, links=("items",)), status=RunStatus.SUCCEEDED))
    assert [r.id for r in await store.list_runs()] == ["r3", "r2", "r1"]
    assert [r.id for r in await store.list_runs(link="contacts")] == ["r3", "r2"]
    assert [r.id for r in await store.list_runs(link="accounts")] == ["r2"]
    assert [r.id for r in await store.list_runs(link="items")] == ["r1"]
    assert [r.id for r in await store.list_runs(limit=2)] == ["r3", "r2"]


# -- audit ---------------------------------------------------------------------------------------
async def test_audit_events_list_newest_first_by_record_link_and_run(store: StateStore) -> None:
    events = [
        AuditEvent("e1", T0, "accounts", "create", NS, "001A", "10", "r1", ("companyName",),
                   {}, {"companyName": "Acme"}, "created", "no match", "match:fuzzy"),
        AuditEvent("e2", T0, "accounts", "update", SF, "001A", "10", "r1", ("Phone",),
                   {"Phone": None}, {"Phone": "+41"}, "netsuite_wins", "", "owner:netsuite"),
        AuditEvent("e3", T0, "contacts", "link", None, "003A", "20", "r2"),
    ]
    await store.add_audit(events[:2])
    await store.add_audit([])
    await store.add_audit(events[2:])
    assert await store.list_audit() == list(reversed(events))
    assert [e.id for e in await store.list_audit(record_id="001A")] == ["e2", "e1"]
    assert [e.id for e in await store.list_audit(record_id="10")] == ["e2", "e1"]
    assert [e.id for e in await store.list_audit(record_id="20")] == ["e3"]
    assert [e.id for e in await store.list_audit(link="accounts", limit=1)] == ["e2"]
    assert [e.id for e in await store.list_audit(run_id="r2")] == ["e3"]
    assert await store.list_audit(link="accounts", run_id="r2") == []


# -- dead letters --------------------------------------------------------------------------------
async def test_dead_letter_lifecycle_retry_resolve_and_discard(store: StateStore) -> None:
    letter = dead_letter(payload={"companyName": "Acme", "subsidiary": {"id": "1"}},
                         target_system=NS, run_id="r1", error_kind="record")
    other = dead_letter("dl2", at=T0 + timedelta(minutes=1), source_id="001B", step=Step.MAP,
                        error_code="MAPPING", error_message="no value for required field terms")
    elsewhere = dead_letter("dl3", at=T0 + timedelta(minutes=2), link="items", system=NS, source_id="77")
    for d in (letter, other, elsewhere):
        await store.put_dead_letter(d)
    assert await store.get_dead_letter("dl1") == letter
    assert await store.find_dead_letter("accounts", SF, "001A") == letter
    assert await store.find_dead_letter("accounts", NS, "001A") is None
    assert [d.id for d in await store.list_dead_letters()] == ["dl3", "dl2", "dl1"]
    assert [d.id for d in await store.list_dead_letters(link="accounts")] == ["dl2", "dl1"]

    # A retry that fails again counts the attempt and moves the letter to the top.
    retried = replace(letter, attempts=2, updated_at=T0 + timedelta(minutes=5),
                      error_message="still duplicate")
    await store.put_dead_letter(retried)
    assert await store.get_dead_letter("dl1") == retried
    assert [d.id for d in await store.list_dead_letters()] == ["dl1", "dl3", "dl2"]

    # A person discards one (the reason goes to the audit log); a later retry resolves another.
    await store.put_dead_letter(replace(other, status=DeadLetterStatus.DISCARDED,
                                        updated_at=T0 + timedelta(minutes=6)))
    await store.add_audit([AuditEvent("a1", T0 + timedelta(minutes=6), "accounts", "discard", SF, "001B",
                                       reason="customer closed, do not sync")])
    await store.put_dead_letter(replace(retried, status=DeadLetterStatus.RESOLVED, attempts=3,
                                        updated_at=T0 + timedelta(minutes=7)))
    assert await store.find_dead_letter("accounts", SF, "001A") is None
    assert [d.id for d in await store.list_dead_letters()] == ["dl3"]
    assert [d.id for d in await store.list_dead_letters(status=DeadLetterStatus.DISCARDED)] == ["dl2"]
    assert [d.id for d in await store.list_dead_letters(status=None)] == ["dl1", "dl2", "dl3"]
    assert [d.id for d in await store.list_dead_letters(status=None, link="accounts", limit=1)] == ["dl1"]
    assert (await store.get_dead_letter("dl1")).attempts == 3  # type: ignore[union-attr]
    assert [e.reason for e in await store.list_audit(record_id="001B")] == ["customer closed, do not sync"]
    assert await store.get_dead_letter("nope") is None


async def test_dead_letters_with_equal_times_list_in_insertion_order(store: StateStore) -> None:
    for i in ("b", "a", "c"):
        await store.put_dead_letter(dead_letter(i, source_id=i))
    await store.put_dead_letter(dead_letter("a", source_id="a", attempts=2))
    assert [d.id for d in await store.list_dead_letters()] == ["b", "a", "c"]


# -- match reviews -------------------------------------------------------------------------------
async def test_match_review_lifecycle(store: StateStore) -> None:
    first = review(label="Acme Corp (001A)")
    second = review("rv2", at=T0 + timedelta(seconds=1), record_id="001B")
    other_link = review("rv3", at=T0 + timedelta(seconds=2), link="contacts", system=NS, record_id="20",
                        candidates=())
    for r in (first, second, other_link):
        await store.put_review(r)
    assert await store.get_review("rv1") == first
    assert await store.find_review("accounts", SF, "001A") == first
    assert await store.find_review("accounts", NS, "001A") is None
    assert [r.id for r in await store.list_reviews()] == ["rv3", "rv2", "rv1"]
    assert [r.id for r in await store.list_reviews(link="accounts", limit=1)] == ["rv2"]

    linked = replace(first, status=ReviewStatus.LINKED, chosen_id="10", resolved_at=T0 + timedelta(hours=1))
    await store.put_review(linked)
    await store.put_review(replace(second, status=ReviewStatus.DISMISSED, resolved_at=T0))
    assert await store.get_review("rv1") == linked
    assert await store.find_review("accounts", SF, "001A") is None
    assert [r.id for r in await store.list_reviews()] == ["rv3"]
    assert [r.id for r in await store.list_reviews(status=ReviewStatus.LINKED)] == ["rv1"]
    assert [r.id for r in await store.list_reviews(status=None, link="accounts")] == ["rv2", "rv1"]
    assert await store.get_review("nope") is None


# -- conflicts -----------------------------------------------------------------------------------
async def test_conflict_lifecycle(store: StateStore) -> None:
    phone = conflict()
    terms = conflict("c2", at=T0 + timedelta(seconds=1), field="terms", base_sf=None, base_ns={"id": "2"},
                     sf_value="Net 30", ns_value={"id": "3", "refName": "Net 45"})
    elsewhere = conflict("c3", at=T0 + timedelta(seconds=2), sf_id="001B", ns_id="11", field="fax",
                         base_sf=1.5, base_ns=True, sf_value=0, ns_value="")
    for c in (phone, terms, elsewhere):
        await store.put_conflict(c)
    assert await store.get_conflict("c1") == phone
    assert await store.get_conflict("c2") == terms
    assert [c.id for c in await store.list_conflicts()] == ["c3", "c2", "c1"]
    assert [c.id for c in await store.list_conflicts(sf_id="001A")] == ["c2", "c1"]
    assert [c.id for c in await store.list_conflicts(ns_id="11")] == ["c3"]
    assert [c.id for c in await store.list_conflicts(link="accounts", sf_id="001A", ns_id="11")] == []

    resolved = replace(phone, status=ConflictStatus.RESOLVED, resolution="value",
                       resolved_value="+41 44 333 33 33", resolved_at=T0 + timedelta(days=1))
    await store.put_conflict(resolved)
    assert await store.get_conflict("c1") == resolved
    assert [c.id for c in await store.list_conflicts(sf_id="001A")] == ["c2"]
    assert [c.id for c in await store.list_conflicts(status=ConflictStatus.RESOLVED)] == ["c1"]
    assert [c.id for c in await store.list_conflicts(status=None, limit=2)] == ["c3", "c2"]
    assert await store.get_conflict("nope") is None


# -- one-shot markers ----------------------------------------------------------------------------
async def test_mark_once_is_true_only_the_first_time(store: StateStore) -> None:
    assert await store.mark_once("welcome-invoice:42")
    assert not await store.mark_once("welcome-invoice:42")
    assert await store.mark_once("welcome-invoice:43")
    async with store.transaction():
        assert not await store.mark_once("welcome-invoice:42")


async def test_mark_once_has_one_winner_among_concurrent_callers(store: StateStore) -> None:
    results = await asyncio.gather(*(store.mark_once("notify:won:006A") for _ in range(20)))
    assert sorted(results) == [False] * 19 + [True]


# -- record leases ---------------------------------------------------------------------------------
async def test_only_one_of_two_concurrent_lockers_wins(store: StateStore) -> None:
    results = await asyncio.gather(
        *(store.try_lock_record("accounts:001A", f"w{i}", now=T0, ttl_s=30) for i in range(10)))
    assert results.count(True) == 1


async def test_lease_is_renewed_by_its_owner_and_taken_over_after_expiry(store: StateStore) -> None:
    assert await store.try_lock_record("k", "w1", now=T0, ttl_s=30)
    assert await store.try_lock_record("k", "w1", now=T0 + timedelta(seconds=20), ttl_s=30)  # renew to +50
    assert not await store.try_lock_record("k", "w2", now=T0 + timedelta(seconds=49), ttl_s=30)
    assert await store.try_lock_record("k", "w2", now=T0 + timedelta(seconds=50), ttl_s=30)  # expired
    assert not await store.try_lock_record("k", "w1", now=T0 + timedelta(seconds=51), ttl_s=30)
    assert await store.try_lock_record("other", "w1", now=T0 + timedelta(seconds=51), ttl_s=0.5)


async def test_unlock_releases_only_the_owners_lease(store: StateStore) -> None:
    assert await store.try_lock_record("k", "w1", now=T0, ttl_s=30)
    await store.unlock_record("k", "w2")
    assert not await store.try_lock_record("k", "w2", now=T0, ttl_s=30)
    await store.unlock_record("k", "w1")
    await store.unlock_record("k", "w1")
    assert await store.try_lock_record("k", "w2", now=T0, ttl_s=30)
