"""Forgetting with its cascade is one write: whole after a SIGKILL at any point, or not at all.

The cascade of one forget here: an episode cited by a fact with another source
(trimmed), by a fact with no other source (deleted; it had superseded an older
fact, which comes back) and by a session summary (deleted, as is the week
summary above it; both rewrites queued).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mneme.memory import Change, JobState, Kind, ListQuery, MemoryStore, NewEpisode, State
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parents[2]
WEEK = "2024-W18"


@dataclass(frozen=True)
class Seeded:
    episodes: list[str]
    trimmed: str
    """A fact citing the forgotten episode and another one."""
    deleted_fact: str
    """A fact citing only the forgotten episode; it superseded ``revived``."""
    revived: str
    kept: str
    """A fact that has nothing to do with the forgotten episode."""
    session: str
    week: str


def seed(store: MemoryStore) -> Seeded:
    turns = store.add_episodes(
        [NewEpisode(f"Turn {i} about the garden.", "user", "c") for i in range(4)]
    )
    ids = [t.id for t in turns]
    trimmed = store.add_memory(Kind.FACT, "The user grows beans and leeks.", sources=ids[:2])
    old = store.add_memory(Kind.FACT, "The user grows tomatoes.", sources=[ids[3]])
    deleted = store.add_memory(Kind.FACT, "The user stopped growing tomatoes.", sources=[ids[0]])
    store.update(old.id, state=State.SUPERSEDED, superseded_by=deleted.id, valid_to=1.0)
    kept = store.add_memory(Kind.FACT, "The user waters at dawn.", sources=[ids[2]])
    session = store.add_memory(
        Kind.SUMMARY, "Talked about the garden.", sources=ids, scope="session", conversation_id="c"
    )
    week = store.add_memory(
        Kind.SUMMARY, "A week of gardening.", sources=[session.id], scope="week",
        extra={"period": WEEK},
    )  # fmt: skip
    return Seeded(ids, trimmed.id, deleted.id, old.id, kept.id, session.id, week.id)


def everything(store: MemoryStore) -> dict[str, Any]:
    return {m.id: m for m in store.browse(ListQuery(limit=10_000)).items}


def check_whole(store: MemoryStore, seeded: Seeded) -> None:
    """The forget of the first episode happened, all of it, exactly once."""
    assert store._ledger.pending_intents() == []
    assert store.count() == store._collection.count() == 6  # of 4 turns, 4 facts, 2 summaries
    memories = everything(store)
    gone = {seeded.episodes[0], seeded.deleted_fact, seeded.session, seeded.week}
    assert not gone & set(memories)
    cited = {s for m in memories.values() for s in m.sources}
    assert cited <= set(memories), "a memory cites one that was deleted"
    trimmed = memories[seeded.trimmed]
    assert trimmed.sources == (seeded.episodes[1],) and trimmed.version == 2
    assert [h.version for h in store.history(seeded.trimmed)] == [1]
    revived = memories[seeded.revived]
    assert (revived.state, revived.superseded_by, revived.valid_to) == (State.ACTIVE, None, None)
    assert [h.version for h in store.history(seeded.revived)] == [1, 2]
    assert memories[seeded.kept].version == 1
    pending = {j.key: j for j in store.jobs.pending()}
    assert set(pending) == {"session:c", f"week:{WEEK}"}  # every deleted summary's rewrite
    assert all(j.state is JobState.PENDING for j in pending.values())


def check_untouched(store: MemoryStore, seeded: Seeded) -> None:
    assert store._ledger.pending_intents() == []
    memories = everything(store)
    assert len(memories) == store._collection.count() == 10
    assert all(m.version == 1 for i, m in memories.items() if i != seeded.revived)
    assert store.jobs.pending() == []


def test_a_forget_is_one_change_and_takes_its_cascade_with_it(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "memory", HashEmbedder()) as store:
        seeded = seed(store)
        gone, trimmed = store.forget_preview([seeded.episodes[0]])
        heard: list[Change] = []
        store.subscribe(heard.append)
        report = store.forget([seeded.episodes[0]])
        assert {m.id for m in gone} == set(report.deleted)
        assert [m.id for m in trimmed] == list(report.trimmed) == [seeded.trimmed]
        assert report.revived == (seeded.revived,)
        assert report.resummarise == ("session:c", f"week:{WEEK}")
        assert heard == [
            Change(updated=tuple(sorted([seeded.trimmed, seeded.revived])), deleted=report.deleted)
        ]
        check_whole(store, seeded)
        assert store.forget([seeded.episodes[0]]).deleted == ()  # gone already: nothing to do


def test_a_fact_both_trimmed_and_revived_gets_one_new_version(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "memory", HashEmbedder()) as store:
        a, b = (t.id for t in store.add_episodes([NewEpisode(t, "user", "c") for t in "ab"]))
        old = store.add_memory(Kind.FACT, "The user lives in Ghent.", sources=[a, b])
        new = store.add_memory(Kind.FACT, "The user lives in Lyon.", sources=[a])
        store.update(old.id, state=State.SUPERSEDED, superseded_by=new.id, valid_to=1.0)
        report = store.forget([a])
        assert report.trimmed == report.revived == (old.id,)
        back = store.get(old.id)
        assert (back.version, back.sources, back.state) == (3, (b,), State.ACTIVE)


def run_child(folder: Path, point: str, ids: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.memory.forget_child", str(folder), point, *ids],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    folder = tmp_path_factory.mktemp("forget") / "memory"
    with MemoryStore.open(folder, HashEmbedder()) as store:
        seeded = seed(store)
    return folder, seeded


@pytest.mark.parametrize(
    "point", ["before-intent", "intent", "chroma-deletes", "chroma", "ledger", "none"]
)
def test_a_forget_killed_at_any_point_is_whole_after_reopening(
    template: tuple[Path, Seeded], tmp_path: Path, point: str
) -> None:
    """Killed before its intent is committed, nothing changed; at any later point, the
    next open finishes all of it: nothing cites a deleted memory, every deleted summary's
    rewrite is queued, the ledger and Chroma agree."""
    source, seeded = template
    folder = tmp_path / "memory"
    shutil.copytree(source, folder)
    done = run_child(folder, point, [seeded.episodes[0]])
    if point == "none":
        assert done.returncode == 0 and "done" in done.stdout, done.stderr[-3000:]
    else:
        assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    with MemoryStore.open(folder, HashEmbedder()) as store:
        assert store.warnings == []
        if point == "before-intent":
            check_untouched(store, seeded)
        else:
            check_whole(store, seeded)
    with MemoryStore.open(folder, HashEmbedder()) as store:  # and it stays so
        (check_untouched if point == "before-intent" else check_whole)(store, seeded)


def test_what_a_forget_changed_is_what_chroma_holds(tmp_path: Path) -> None:
    """Chroma is the memory: a ledger rebuilt from it after a forget shows the trimmed
    sources and the revived fact without its end date or successor."""
    folder = tmp_path / "memory"
    with MemoryStore.open(folder, HashEmbedder()) as store:
        seeded = seed(store)
        store.forget([seeded.episodes[0]])
        before = everything(store)
        ledger = store._ledger.path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    with MemoryStore.open(folder, HashEmbedder()) as rebuilt:
        after = everything(rebuilt)
        assert after.keys() == before.keys()
        for memory_id in (seeded.trimmed, seeded.revived):
            old, new = before[memory_id], after[memory_id]
            assert (new.sources, new.state, new.valid_to, new.superseded_by, new.version) == (
                old.sources, old.state, old.valid_to, old.superseded_by, old.version
            )  # fmt: skip
