"""Kill the memory with SIGKILL at random moments and check that nothing acknowledged is lost.

    python -m benchmarks.torture [--kills 200] [--seed 1] [--json]

A child process (``--child``) opens the store (real embedded Chroma and
SQLite; a hash embedder so that a restart takes a second, not the six of
loading MiniLM) and loops over random operations: adding turns, editing a
turn, forgetting a turn (with its cascade), and consolidation runs with a
rule-based model. Before each operation it prints what it is about to do,
after it returns it prints an acknowledgement, each line flushed. The parent
kills it at a random moment, reopens the store itself and checks it against
what was acknowledged:

* lost: an acknowledged turn (or edit) that is missing, or a deleted turn back;
* duplicated: a turn text present more than once;
* inconsistent: an unfinished write left in the outbox after opening, or the
  ledger, its lexical index and Chroma disagreeing on what exists, or a turn
  whose text is neither its last acknowledged text nor the one in flight.

The last line is JSON: ``{"kills", "acknowledged", "lost", "duplicated",
"inconsistent", …}``. ``tests/test_torture.py`` runs a short version.
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


def _child(folder: str, seed: int) -> None:
    from memory import Kind, ListQuery, MemoryStore, NewEpisode
    from memory.consolidation import ConsolidationConfig, Consolidator
    from tests.fakes import HashEmbedder, RuleModel

    rng = random.Random(seed)
    store = MemoryStore.open(folder, HashEmbedder())
    config = ConsolidationConfig(chunk_turns=6, related_similarity=0.99)

    def say(**line: Any) -> None:
        print(json.dumps(line), flush=True)

    while True:
        turns = [m.id for m in store.browse(ListQuery(kinds=(Kind.EPISODE,), limit=500)).items]
        roll = rng.random()
        if roll < 0.55 or not turns:
            texts = [f"turn {seed}-{rng.getrandbits(48):x}" for _ in range(rng.randint(1, 3))]
            conversation = f"c{rng.randint(0, 5)}"
            say(begin="add", texts=texts)
            added = store.add_episodes([NewEpisode(t, "user", conversation) for t in texts])
            say(ack="add", items=[[m.id, m.text] for m in added])
        elif roll < 0.75:
            target = rng.choice(turns)
            text = f"edited {seed}-{rng.getrandbits(48):x}"
            say(begin="edit", id=target, text=text)
            store.edit(target, text)
            say(ack="edit", id=target, text=text)
        elif roll < 0.9:
            target = rng.choice(turns)
            say(begin="forget", id=target)
            store.forget([target])
            say(ack="forget", id=target)
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

    def read(self, lines: list[str]) -> None:
        for raw in lines:
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:  # the kill cut the last line
                continue
            if "begin" in line:
                self.in_flight = line
                continue
            self.in_flight = None
            self.acknowledged += 1
            if line["ack"] == "add":
                for memory_id, text in line["items"]:
                    self.texts[memory_id] = text
            elif line["ack"] == "edit" and line["id"] in self.texts:
                self.texts[line["id"]] = line["text"]
            elif line["ack"] == "forget":
                self.texts.pop(line["id"], None)
                self.gone.add(line["id"])


def _check(folder: Path, expected: _Expected) -> dict[str, int]:
    from memory import Kind, ListQuery, MemoryStore
    from tests.fakes import HashEmbedder

    found = {"lost": 0, "duplicated": 0, "inconsistent": 0}
    with MemoryStore.open(folder, HashEmbedder()) as store:
        if store._ledger.pending_intents():
            found["inconsistent"] += 1
        items = store.count()
        fts = store._ledger.query("SELECT count(*) FROM fts")[0][0]
        if not items == store._collection.count() == fts:
            found["inconsistent"] += 1
        turns = {
            m.id: m.text
            for m in store.browse(ListQuery(kinds=(Kind.EPISODE,), limit=1_000_000)).items
        }
        flight = expected.in_flight or {}

        def in_flight(op: str, memory_id: str) -> bool:
            return flight.get("begin") == op and flight.get("id") == memory_id

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
        # what the store holds now is the truth from here on
        expected.texts = {m: t for m, t in turns.items()}
    return found


def run(kills: int, seed: int = 1, log: Any = None) -> dict[str, Any]:
    rng = random.Random(seed)
    root = Path(__file__).resolve().parents[1]
    totals = {"lost": 0, "duplicated": 0, "inconsistent": 0}
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
