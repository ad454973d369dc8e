"""True forgetting: when a memory is deleted, so is what only it supported.

Provenance decides. A fact that loses all of its sources is deleted; one that
keeps some is kept with the rest. A summary that used a deleted memory is
deleted at once (its text may repeat what was deleted) and queued to be
written again from what remains, which the consolidator does on its next run.
Summaries above it (week, month) go the same way. A fact that the deleted
fact had superseded becomes current again.

All of that is worked out here, before anything is written, into one
:class:`Forgetting`; the write path (``_writes.py``) applies it as a single
outbox intent, so a crash leaves either none of it or all of it (no fact
citing a deleted memory, no deleted summary without its rewrite queued).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ._jobs import JobBook
from ._ledger_reads import Catalogue
from ._transcript import TranscriptBook
from .records import Author, Kind, Memory, State, TranscriptTurn


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


@dataclass(frozen=True, slots=True)
class Forgetting:
    """One forget, decided: what the write path applies in one intent."""

    deleted: tuple[str, ...]
    changed: tuple[tuple[Memory, Memory], ...]
    """(version before, version after) of each fact trimmed or revived: one new
    version each, even for a fact both trimmed and revived."""
    jobs: tuple[tuple[str, str], ...]
    """(key, kind) of the consolidation jobs that write the deleted summaries again."""
    report: ForgetReport


NOTHING = Forgetting((), (), (), ForgetReport((), (), (), ()))


def plan(
    catalogue: Catalogue, ids: list[str]
) -> tuple[set[str], dict[str, list[str]], list[Memory]]:
    """What deleting ``ids`` takes with it, without changing anything (for a preview):
    (every id deleted, facts kept with their remaining sources, summaries deleted)."""
    gone = set(catalogue.get(ids))
    trimmed: dict[str, list[str]] = {}
    summaries: list[Memory] = []
    frontier = sorted(gone)
    while frontier:
        derived = catalogue.get(catalogue.derived_from(frontier))
        frontier = []
        for memory in (derived[i] for i in sorted(derived)):
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


def decide(catalogue: Catalogue, ids: list[str], now: float) -> Forgetting:
    """Everything forgetting ``ids`` changes, as of ``now`` (the time of the new versions
    and of the queued jobs)."""
    gone, trimmed, summaries = plan(catalogue, ids)
    if not gone:
        return NOTHING
    changes: dict[str, dict[str, Any]] = {i: {"sources": tuple(r)} for i, r in trimmed.items()}
    revived: list[str] = []
    doomed = catalogue.get(sorted(gone))
    for fact in (doomed[i] for i in sorted(doomed)):
        if fact.kind is not Kind.FACT:
            continue
        for old_id in sorted(catalogue.superseded_by(fact.id)):
            if old_id not in gone and old_id not in revived:
                revive = {"state": State.ACTIVE, "valid_to": None, "superseded_by": None}
                changes.setdefault(old_id, {}).update(revive)
                revived.append(old_id)
    current = catalogue.get(sorted(changes))
    changed = tuple(
        (
            old,
            replace(old, **c, version=old.version + 1, author=Author.CONSOLIDATION, updated_at=now),
        )
        for old_id, c in sorted(changes.items())
        if (old := current.get(old_id)) is not None
        and any(getattr(old, k) != v for k, v in c.items())
    )
    jobs = tuple(dict.fromkeys(j for s in summaries if (j := JobBook.rewrite_job(s)) is not None))
    report = ForgetReport(
        tuple(sorted(gone)), tuple(sorted(trimmed)), tuple(revived), tuple(k for k, _ in jobs)
    )
    return Forgetting(tuple(sorted(gone)), changed, jobs, report)


@dataclass(frozen=True, slots=True)
class ForgetUndo:
    """What a forget is about to change, kept (in memory, never on disk) so that the
    person can take it back for a little while: the memories it deletes with their
    history, the facts it trims or revives as they were, and the turns it changes in
    their conversations as they were."""

    deleted: tuple[Memory, ...]
    history: tuple[tuple[Memory, float], ...]
    changed: tuple[Memory, ...]
    turns: tuple[TranscriptTurn, ...]


def capture(catalogue: Catalogue, transcript: TranscriptBook, ids: list[str]) -> ForgetUndo:
    """Everything forgetting ``ids`` would change, as it is now."""
    gone, trimmed, _ = plan(catalogue, ids)
    deleted = catalogue.get(sorted(gone))
    revived = {
        old
        for f in deleted.values()
        if f.kind is Kind.FACT
        for old in catalogue.superseded_by(f.id)
    }
    changed = catalogue.get(sorted((set(trimmed) | revived) - gone))
    return ForgetUndo(
        tuple(deleted[i] for i in sorted(deleted)),
        tuple(catalogue.history_of(sorted(deleted))),
        tuple(changed[i] for i in sorted(changed)),
        tuple(transcript.get(sorted(deleted)).values()),
    )
