"""Consolidation killed with SIGKILL at random moments, then resumed: nothing lost,
nothing twice, nothing half-written."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from mneme.memory import Kind, ListQuery, MemoryStore
from mneme.memory.consolidation import ConsolidationConfig, Consolidator
from tests.fakes import HashEmbedder, RuleModel
from tests.memory.consolidation.support import DAY, START, say

CONVERSATIONS = 6


def seed(folder: Path) -> None:
    store = MemoryStore.open(folder, HashEmbedder())
    try:
        for c in range(CONVERSATIONS):
            turns = []
            for i in range(10):
                turns += [f"Conversation {c}: fact number {i} about topic {c * 10 + i}.", "ok"]
            say(store, f"conv-{c}", turns, at=START + c * 2 * DAY)
    finally:
        store.close()


def outcome(folder: Path) -> Counter[tuple[str, str, str | None, tuple[str, ...]]]:
    """Facts and summaries by content and by the texts of their sources."""
    store = MemoryStore.open(folder, HashEmbedder())
    try:
        assert store._ledger.pending_intents() == []  # nothing half-applied
        assert store.count() == store._collection.count()  # ledger and Chroma agree
        everything = {m.id: m for m in store.browse(ListQuery(limit=10_000)).items}

        def source_text(i: str) -> str:
            m = everything[i]
            return m.text if m.kind is Kind.EPISODE else f"<{m.scope}:{source_key(m)}>"

        def source_key(m):  # type: ignore[no-untyped-def]
            return "|".join(sorted(source_text(s) for s in m.sources))

        return Counter(
            (m.kind.value, m.text, m.scope, tuple(sorted(source_text(s) for s in m.sources)))
            for m in everything.values()
            if m.kind is not Kind.EPISODE
        )
    finally:
        store.close()


def child(folder: Path) -> subprocess.Popen[str]:
    progress = folder.with_suffix(".progress")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.memory.consolidation.crash_child",
            str(folder),
            str(progress),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[3],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )


def test_killed_consolidation_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    reference, victim = tmp_path / "reference", tmp_path / "victim"
    seed(reference)
    seed(victim)
    store = MemoryStore.open(reference, HashEmbedder())
    try:
        config = ConsolidationConfig(chunk_turns=6, related_similarity=0.99)
        assert Consolidator(store, RuleModel(), config).run(everything=True).jobs_left == 0
    finally:
        store.close()
    expected = outcome(reference)
    assert sum(expected.values()) > 60 and max(expected.values()) == 1

    rng = random.Random(4)
    progress = victim.with_suffix(".progress")
    mid_job_kills = 0
    for _ in range(12):
        before = len(progress.read_text().splitlines()) if progress.exists() else 0
        process = child(victim)
        time.sleep(rng.uniform(2.5, 5.0))  # interpreter and Chroma start take ~2 s
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            lines = progress.read_text().splitlines() if progress.exists() else []
            if len(lines) > before and not lines[-1].endswith(("done", "interrupted")):
                mid_job_kills += 1
            continue
        out, err = process.communicate()
        assert process.returncode == 0, err
        if "done" in out:
            break
    else:
        process = child(victim)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0 and "done" in out, err
    print(f"mid-job kills: {mid_job_kills}")
    assert mid_job_kills >= 3, "the kills all missed the jobs; slow the child down"
    assert outcome(victim) == expected
