"""Where relevance ends: calibrating the floor below which a memory is neither shown nor used.

    python -m benchmarks.relevance [--data ../shared/bench/locomo/locomo_dev.json]
        [--k 10] [--threads 2] [--json]

Each LoCoMo dev conversation is ingested as a chat would (see
``benchmarks.locomo``); then its own questions (categories 1-4) and the
questions of the next conversation are searched, top ``k``. A hit is
*evidence* when it is one of its own question's evidence turns, and *foreign*
when it answers another conversation's question (nothing in this store can:
what the floor should drop). For each candidate floor ("cosine ≥ D, or the
memory shares the question's words") it reports the share of evidence hits
kept and of foreign hits dropped, on the conversations the floor is fitted
on (conv-26, conv-30, conv-41) and on the others (conv-42, conv-43, conv-44),
and which D is the highest keeping every fitted evidence hit. The app's floor
is :data:`mneme.assistant.memories.RELEVANT_MEANING`; the JSON line says how it
does. LoCoMo's conversations are all chit-chat between two friends, so foreign
questions share much of their vocabulary and topics: the share dropped here is
a lower bound of what the floor drops in a person's varied memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.locomo import Conversation, _Clock, ingest_turns, load

FITTED = ("conv-26", "conv-30", "conv-41")
FLOORS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


@dataclass(frozen=True)
class Seen:
    conversation: str
    evidence: bool
    foreign: bool
    dense: float
    lexical: float


def collect(conversations: Sequence[Conversation], k: int, threads: int) -> list[Seen]:
    from mneme.memory import MemoryStore, SearchFilter, SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(threads=threads)
    embedder.load()
    seen: list[Seen] = []
    for i, conv in enumerate(conversations):
        other = conversations[(i + 1) % len(conversations)]
        clock = _Clock()
        with tempfile.TemporaryDirectory() as folder:
            store = MemoryStore.open(folder, embedder, clock=clock)
            try:
                ingest_turns(store, conv, conv.turns, clock)
                clock.now = conv.turns[-1].said_at + 86_400
                for foreign, questions in ((False, conv.questions), (True, other.questions)):
                    for q in questions:
                        for h in store.search(q.text, k=k, filters=SearchFilter()):
                            said = str(h.memory.extra.get("dia_id"))
                            seen.append(
                                Seen(
                                    conv.sample_id,
                                    not foreign and said in q.evidence,
                                    foreign,
                                    h.explanation.dense or 0.0,
                                    h.explanation.lexical or 0.0,
                                )
                            )
            finally:
                store.close()
        print(f"{conv.sample_id}: searched", file=sys.stderr, flush=True)
    return seen


def shares(seen: Sequence[Seen], floor: float, words: float) -> tuple[float, float]:
    """(evidence kept, foreign dropped) with the floor ``cosine ≥ floor or lexical ≥ words``."""

    def kept(s: Seen) -> bool:
        return s.dense >= floor or s.lexical >= words

    evidence = [s for s in seen if s.evidence]
    foreign = [s for s in seen if s.foreign]
    return (
        sum(map(kept, evidence)) / max(1, len(evidence)),
        sum(not kept(s) for s in foreign) / max(1, len(foreign)),
    )


def main(argv: list[str] | None = None) -> int:
    from mneme.assistant.memories import RELEVANT_MEANING, RELEVANT_WORDS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(__file__).parents[2] / "shared" / "bench" / "locomo" / "locomo_dev.json"
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seen = collect(load(args.data), args.k, args.threads)
    fitted = [s for s in seen if s.conversation in FITTED]
    held = [s for s in seen if s.conversation not in FITTED]
    best = max(
        (f for f in FLOORS if shares(fitted, f, RELEVANT_WORDS)[0] == 1.0), default=FLOORS[0]
    )
    rows = []
    for floor in FLOORS:
        fit_kept, fit_dropped = shares(fitted, floor, RELEVANT_WORDS)
        held_kept, held_dropped = shares(held, floor, RELEVANT_WORDS)
        rows.append((floor, fit_kept, fit_dropped, held_kept, held_dropped))
    if not args.json:
        print(f"floor: cosine ≥ D, or shares the question's words (lexical ≥ {RELEVANT_WORDS})")
        print("   D   fitted: evidence kept, foreign dropped   held out: kept, dropped")
        for floor, fk, fd, hk, hd in rows:
            print(f"{floor:5.2f}{fk:18.3f}{fd:17.3f}{hk:20.3f}{hd:9.3f}")
        print(
            f"highest D keeping every fitted evidence hit: {best}; the app uses {RELEVANT_MEANING}"
        )
    fit_kept, fit_dropped = shares(fitted, RELEVANT_MEANING, RELEVANT_WORDS)
    held_kept, held_dropped = shares(held, RELEVANT_MEANING, RELEVANT_WORDS)
    line = {
        "floor": RELEVANT_MEANING,
        "words": RELEVANT_WORDS,
        "best_fitted_floor": best,
        "evidence_kept_fitted": round(fit_kept, 4),
        "evidence_kept_held_out": round(held_kept, 4),
        "foreign_dropped_fitted": round(fit_dropped, 4),
        "foreign_dropped_held_out": round(held_dropped, 4),
        "evidence_hits": sum(s.evidence for s in seen),
        "foreign_hits": sum(s.foreign for s in seen),
        "k": args.k,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
