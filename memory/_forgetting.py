"""True forgetting: when a memory is deleted, so is what only it supported.

Provenance decides. A fact that loses all of its sources is deleted; one that
keeps some is kept with the rest. A summary that used a deleted memory is
deleted at once (its text may repeat what was deleted) and queued to be
written again from what remains, which the consolidator does on its next run.
Summaries above it (week, month) go the same way. A fact that the deleted
fact had superseded becomes current again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .records import Author, Kind, Memory, State

if TYPE_CHECKING:
    from .store import MemoryStore


@dataclass(frozen=True, slots=True)
class ForgetReport:
    deleted: tuple[str, ...]
    """Everything deleted: what was asked, and what only it supported."""
    trimmed: tuple[str, ...]
    """Facts kept with fewer sources."""
    revived: tuple[str, ...]
    """Facts current again because the fact that superseded them was deleted."""
    resummarise: tuple[str, ...]
    """Jobs queued to write deleted summaries again without the forgotten parts."""


def plan(store: MemoryStore, ids: list[str]) -> tuple[set[str], dict[str, list[str]], list[Memory]]:
    """What deleting ``ids`` takes with it, without changing anything (for a preview)."""
    gone = {m.id for m in store.get_many(ids)}
    trimmed: dict[str, list[str]] = {}
    summaries: list[Memory] = []
    frontier = list(gone)
    while frontier:
        derived = store.get_many(store.derived_from(frontier))
        frontier = []
        for memory in derived:
            if memory.id in gone:
                continue
            remaining = [s for s in memory.sources if s not in gone]
            if memory.kind is Kind.SUMMARY or not remaining:
                gone.add(memory.id)
                frontier.append(memory.id)
                trimmed.pop(memory.id, None)
                if memory.kind is Kind.SUMMARY:
                    summaries.append(memory)
            else:
                trimmed[memory.id] = remaining
    return gone, trimmed, summaries


def cascade(store: MemoryStore, ids: list[str]) -> ForgetReport:
    gone, trimmed, summaries = plan(store, ids)
    if not gone:
        return ForgetReport((), (), (), ())
    doomed = store.get_many(sorted(gone))
    store.delete(sorted(gone))
    for fact_id, remaining in trimmed.items():
        store.update(fact_id, sources=remaining, author=Author.CONSOLIDATION)
    revived = []
    for fact in doomed:
        if fact.kind is not Kind.FACT:
            continue
        for old in store.get_many(store.superseded_by(fact.id)):
            if old.id not in gone and old.state is State.SUPERSEDED:
                store.update(
                    old.id,
                    state=State.ACTIVE,
                    valid_to=None,
                    superseded_by=None,
                    author=Author.CONSOLIDATION,
                )
                revived.append(old.id)
    jobs = [key for s in summaries if (key := _queue_rewrite(store, s)) is not None]
    return ForgetReport(
        tuple(sorted(gone)), tuple(sorted(trimmed)), tuple(revived), tuple(dict.fromkeys(jobs))
    )


def _queue_rewrite(store: MemoryStore, summary: Memory) -> str | None:
    """Queue the consolidation job that writes this summary; returns its key."""
    if summary.scope in ("session", "part") and summary.conversation_id:
        return store.jobs.queue_conversation(summary.conversation_id, store.now())
    period = summary.extra.get("period")
    if summary.scope in ("week", "month") and isinstance(period, str):
        return store.jobs.queue_period(summary.scope, period, store.now())
    return None
