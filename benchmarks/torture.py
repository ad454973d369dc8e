"""Kill the memory with SIGKILL at random moments and check that nothing acknowledged is lost.

    python -m benchmarks.torture [--kills 200] [--seed 1] [--json]

A child process (``--child``) opens the store (real embedded Chroma and
SQLite; a hash embedder so that a restart takes a second, not the six of
loading MiniLM) and loops over random operations: adding turns, editing a
turn, noting a fact that cites one to three turns (sometimes superseding an
older fact), forgetting turns (often ones that facts or summaries cite, so
that forgets cascade: facts trimmed or deleted, superseded facts revived,
summaries deleted and their rewrites queued), and consolidation runs with a
rule-based model (which write session and week summaries citing the turns).
Before each operation it prints what it is about to do, after it returns it
prints an acknowledgement, each line flushed. The parent kills it at a
random moment, reopens the store itself and checks it against what was
acknowledged:

* lost: an acknowledged turn (or edit) that is missing, or a deleted turn back;
* duplicated: a turn text present more than once;
* inconsistent: an unfinished write left in the outbox after opening, or the
  ledger, its lexical index and Chroma disagreeing on what exists, or a turn
  whose text is neither its last acknowledged text nor the one in flight;
* dangling: broken provenance, counted as the sum of
  - memories (of any kind and state) whose ``sources`` name at least one id
    the store no longer holds (one per memory, however many such ids), and
  - summaries that a forget of this child's life deleted (acknowledged, or
    in flight when it was killed; the child prints, before each forget, the
    summaries it will delete and the job that writes each) that are absent
    now while their rewrite job is neither pending nor done since that forget
    began (a job done earlier does not count: it wrote the deleted version).

The last line is JSON: ``{"kills", "acknowledged", "lost", "duplicated",
"inconsistent", "dangling", …}``, with how many forgets were acknowledged and
how many facts they trimmed and summaries they deleted (to show the cascades
ran). ``tests/test_torture.py`` runs a short version.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHECKS = ("lost", "duplicated", "inconsistent", "dangling")


def _child(folder: str, seed: int) -> None:
    from mneme.memory import Kind, ListQuery, MemoryStore, NewEpisode, State
    from mneme.memory.consolidation import ConsolidationConfig, Consolidator
    from tests.fakes import HashEmbedder, RuleModel

    rng = random.Random(seed)
    store = MemoryStore.open(folder, HashEmbedder())
    config = ConsolidationConfig(chunk_turns=6, related_similarity=0.99)

    def say(**line: Any) -> None:
        print(json.dumps(line), flush=True)

    while True:
        turns = [m.id for m in store.browse(ListQuery(kinds=(Kind.EPISODE,), limit=500)).items]
        derived = store.browse(ListQuery(kinds=(Kind.FACT, Kind.SUMMARY), limit=200)).items
        roll = rng.random()
        if roll < 0.45 or not turns:
            texts = [f"turn {seed}-{rng.getrandbits(48):x}" for _ in range(rng.randint(1, 3))]
            conversation = f"c{rng.randint(0, 5)}"
            say(begin="add", texts=texts)
            added = store.add_episodes([NewEpisode(t, "user", conversation) for t in texts])
            say(ack="add", items=[[m.id, m.text] for m in added])
        elif roll < 0.57:
            target = rng.choice(turns)
            text = f"edited {seed}-{rng.getrandbits(48):x}"
            say(begin="edit", id=target, text=text)
            store.edit(target, text)
            say(ack="edit", id=target, text=text)
        elif roll < 0.70:
            sources = rng.sample(turns, min(len(turns), rng.randint(1, 3)))
            facts = [m for m in derived if m.kind is Kind.FACT and m.state is State.ACTIVE]
            old = rng.choice(facts) if facts and rng.random() < 0.3 else None
            say(begin="note", sources=sources)
            fact = store.add_memory(Kind.FACT, f"note {rng.getrandbits(48):x}", sources=sources)
            if old is not None:  # forgetting the new fact's turns brings the old one back
                store.update(
                    old.id, state=State.SUPERSEDED, superseded_by=fact.id, valid_to=store.now()
                )
            say(ack="note", id=fact.id)
        elif roll < 0.87:
            known = set(turns)
            cited = [s for m in derived for s in m.sources if s in known]
            pool = cited if cited and rng.random() < 0.7 else turns
            targets = sorted(set(rng.sample(pool, min(len(pool), rng.randint(1, 2)))))
            gone, _ = store.forget_preview(targets)
            summaries = [
                [m.id, job[0]]
                for m in gone
                if m.kind is Kind.SUMMARY and (job := store.jobs.rewrite_job(m)) is not None
            ]
            say(begin="forget", ids=targets, at=time.time(), summaries=summaries)
            report = store.forget(targets)
            say(
                ack="forget",
                ids=targets,
                trimmed=len(report.trimmed),
                summaries=sum(1 for m in gone if m.kind is Kind.SUMMARY),
            )
        else:
            say(begin="consolidate")
            Consolidator(store, RuleModel(), config).run(everything=True)
            say(ack="consolidate")


@dataclass
class _Expected:
    texts: dict[str, str] = field(default_factory=dict)
    """Acknowledged turns and their last acknowledged text."""
    gone: set[str] = field(default_factory=set)
    in_flight: dict[str, Any] | None = None
    acknowledged: int = 0
    forgets: list[dict[str, Any]] = field(default_factory=list)
    """This child life's forgets (begin lines), for the check of deleted summaries."""
    cascades: dict[str, int] = field(
        default_factory=lambda: {"forgets": 0, "trimmed": 0, "summaries_deleted": 0}
    )

    def read(self, lines: list[str]) -> None:
        for raw in lines:
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:  # the kill cut the last line
                continue
            if "begin" in line:
                self.in_flight = line
                if line["begin"] == "forget":
                    self.forgets.append(line)
                continue
            self.in_flight = None
            self.acknowledged += 1
            if line["ack"] == "add":
                for memory_id, text in line["items"]:
                    self.texts[memory_id] = text
            elif line["ack"] == "edit" and line["id"] in self.texts:
                self.texts[line["id"]] = line["text"]
            elif line["ack"] == "forget":
                for memory_id in line["ids"]:
                    self.texts.pop(memory_id, None)
                    self.gone.add(memory_id)
                self.cascades["forgets"] += 1
                self.cascades["trimmed"] += line["trimmed"]
                self.cascades["summaries_deleted"] += line["summaries"]


def _check(folder: Path, expected: _Expected) -> dict[str, int]:
    from mneme.memory import JobState, Kind, ListQuery, MemoryStore
    from tests.fakes import HashEmbedder

    found = dict.fromkeys(CHECKS, 0)
    with MemoryStore.open(folder, HashEmbedder()) as store:
        if store._ledger.pending_intents():
            found["inconsistent"] += 1
        items = store.count()
        fts = store._ledger.query("SELECT count(*) FROM fts")[0][0]
        if not items == store._collection.count() == fts:
            found["inconsistent"] += 1
        everything = {m.id: m for m in store.browse(ListQuery(limit=1_000_000)).items}
        turns = {m.id: m.text for m in everything.values() if m.kind is Kind.EPISODE}
        flight = expected.in_flight or {}

        def in_flight(op: str, memory_id: str) -> bool:
            if flight.get("begin") != op:
                return False
            return memory_id == flight.get("id") or memory_id in flight.get("ids", ())

        for memory_id, text in expected.texts.items():
            if memory_id not in turns and not in_flight("forget", memory_id):
                found["lost"] += 1  # an acknowledged turn may go only with its own forget
            elif memory_id in turns and turns[memory_id] != text:
                found["inconsistent"] += 0 if in_flight("edit", memory_id) else 1
        found["lost"] += sum(1 for memory_id in expected.gone if memory_id in turns)
        counts: dict[str, int] = {}
        for text in turns.values():
            counts[text] = counts.get(text, 0) + 1
        found["duplicated"] += sum(n - 1 for n in counts.values() if n > 1)
        # unacknowledged adds may be there, but whole: only the texts in flight
        allowed = set(expected.texts.values()) | set(flight.get("texts", []))
        allowed |= {flight["text"]} if flight.get("begin") == "edit" else set()
        stray = [m for m, t in turns.items() if m not in expected.texts and t not in allowed]
        found["inconsistent"] += len(stray)
        # provenance: nothing cites what is gone, and no forgotten summary is left unwritten
        found["dangling"] += sum(
            1 for m in everything.values() if any(s not in everything for s in m.sources)
        )
        for forget in expected.forgets:
            for summary_id, key in forget["summaries"]:
                if summary_id in everything:  # not deleted after all, or written again
                    continue
                job = store.jobs.get(key)
                queued = job is not None and job.state is JobState.PENDING
                done = job is not None and job.state is JobState.DONE
                if not (queued or (done and job is not None and job.updated_at >= forget["at"])):
                    found["dangling"] += 1
        # what the store holds now is the truth from here on
        expected.texts = dict(turns)
        expected.forgets = []
    return found


def run(kills: int, seed: int = 1, log: Any = None) -> dict[str, Any]:
    rng = random.Random(seed)
    root = Path(__file__).resolve().parents[1]
    totals = dict.fromkeys(CHECKS, 0)
    expected = _Expected()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mneme-torture-") as tmp:
        folder = Path(tmp) / "memory"
        for kill in range(kills):
            command = [sys.executable, "-m", "benchmarks.torture", "--child", str(folder)]
            child = subprocess.Popen(
                [*command, "--seed", str(rng.getrandbits(32))],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root)},
            )
            time.sleep(rng.uniform(1.5, 4.0))  # start-up takes ~1.5 s; then ops
            child.send_signal(signal.SIGKILL)
            out, err = child.communicate()
            if child.returncode != -signal.SIGKILL:
                raise RuntimeError(f"the child ended by itself ({child.returncode}): {err[-2000:]}")
            expected.in_flight = None
            expected.read(out.splitlines())
            found = _check(folder, expected)
            for key in totals:
                totals[key] += found[key]
            if log is not None:
                log(
                    f"kill {kill + 1}/{kills}: {expected.acknowledged} acknowledged so far, {found}"
                )
    return {
        "kills": kills,
        "acknowledged": expected.acknowledged,
        **totals,
        **expected.cascades,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.seed)
        return 0

    def log(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    print(json.dumps(run(args.kills, args.seed, log)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
