"""Consolidation with the bundled model: how long it takes, and what it does to recall.

    python -m benchmarks.consolidation [--data ../shared/bench/locomo/locomo_dev.json]
        [--conversations conv-26 ...] [--turns N] [--threads 2] [--k 5 10 25] [--json]

For each LoCoMo conversation chosen (default: the first), a fresh store
ingests its turns exactly as ``benchmarks.locomo`` does (each session a
conversation, the session's date as the clock). Recall@k of the evidence
turns is measured for every question of categories 1-4 (episodes returned,
facts and summaries allowed to lend their scores to their sources), then the
whole store is consolidated with SmolLM2 through the same path the app uses
(``BackgroundModel`` over the ``ModelOwner``, llama.cpp, JSON-schema
grammars), and recall is measured again. With ``--turns N`` only the first
N turns are ingested and only questions whose evidence lies among them count.

Reported: consolidation seconds and seconds per 100 turns, model calls,
facts and summaries written, answers skipped (with reasons), recall before
and after. SmolLM2-135M is tiny: this measures the machinery's cost and
whether consolidation can hurt retrieval, not how good the facts are.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.locomo import Conversation, Recall, _Clock, ingest_turns, load


class _CountingModel:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def generate(self, system: str, prompt: str, **kwargs: Any) -> str:
        task = system.split()[1]  # "You summarise…", "You extract…"
        started = time.perf_counter()
        try:
            return str(self.inner.generate(system, prompt, **kwargs))
        finally:
            self.calls[task] += 1
            self.seconds[task] += time.perf_counter() - started


def _recall(store: Any, conv: Conversation, ids: set[str], ks: list[int]) -> Recall:
    from mneme.memory import Kind, SearchFilter

    recall = Recall(ks)
    episodes = SearchFilter(kinds=(Kind.EPISODE,))
    for q in conv.questions:
        if not set(q.evidence) <= ids:
            continue
        hits = store.search(q.text, k=max(ks), filters=episodes)
        recall.add(q.category, q.evidence, [str(h.memory.extra["dia_id"]) for h in hits])
    return recall


def _weighted(results: list[dict[str, Any]], key: str, ks: list[int]) -> dict[str, float]:
    """Recall over all questions of all conversations, not a mean of means."""
    n = sum(r["questions"] for r in results) or 1
    return {str(k): round(sum(r[key][str(k)] * r["questions"] for r in results) / n, 1) for k in ks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/bench/locomo/locomo_dev.json"))
    parser.add_argument("--conversations", nargs="*", default=None)
    parser.add_argument("--turns", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 25])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep each consolidated store in DIR/<id>"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: measure recall on the kept stores instead of consolidating again",
    )
    args = parser.parse_args(argv)

    from mneme.assistant.consolidation import BackgroundModel
    from mneme.assistant.llm.local import LlamaCppBackend
    from mneme.assistant.llm.owner import ModelOwner
    from mneme.assistant.models import bundled_model_path
    from mneme.memory import Kind, MemoryStore, SentenceTransformerEmbedder
    from mneme.memory.consolidation import Consolidator

    def say(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    conversations = load(args.data)
    if args.conversations:
        conversations = [c for c in conversations if c.sample_id in args.conversations]
    else:
        conversations = conversations[:1]
    embedder = SentenceTransformerEmbedder(threads=1)
    embedder.load()
    backend = LlamaCppBackend(bundled_model_path(), context_length=4096, threads=args.threads)
    backend.load()
    results = []
    for conv in conversations:
        turns = list(conv.turns[: args.turns] if args.turns else conv.turns)
        ids = {t.dia_id for t in turns}
        clock = _Clock()
        with tempfile.TemporaryDirectory() as folder:
            store = MemoryStore.open(folder, embedder, clock=clock)
            try:
                ingest_turns(store, conv, turns, clock)
                clock.now = turns[-1].said_at + 86_400
                before = _recall(store, conv, ids, args.k)
            finally:
                store.close()
            kept = args.keep / conv.sample_id if args.keep else None
            if args.reuse and kept is not None and kept.exists():
                store = MemoryStore.open(kept, embedder, clock=clock)
                try:
                    after = _recall(store, conv, ids, args.k)
                finally:
                    store.close()
                result = {
                    "conversation": conv.sample_id,
                    "turns": len(turns),
                    "questions": before.n(),
                    "reused": str(kept),
                    "seconds": float("nan"),
                    "recall_before": {str(k): round(100 * before.at(k), 1) for k in args.k},
                    "recall_after": {str(k): round(100 * after.at(k), 1) for k in args.k},
                }
                results.append(result)
                say(json.dumps(result))
                continue
            store = MemoryStore.open(folder, embedder, clock=clock)
            try:
                model = _CountingModel(BackgroundModel(ModelOwner(backend)))
                say(f"{conv.sample_id}: consolidating {len(turns)} turns…")
                started = time.perf_counter()

                def progress(done: int, total: int, what: str, began: float = started) -> None:
                    say(f"  [{done}/{total}] {what} ({time.perf_counter() - began:.0f} s)")

                report = Consolidator(store, model).run(everything=True, progress=progress)
                seconds = time.perf_counter() - started
                after = _recall(store, conv, ids, args.k)
                reasons = Counter(reason.split(" for ")[0][:60] for _, reason in report.skipped)
                result = {
                    "conversation": conv.sample_id,
                    "turns": len(turns),
                    "questions": before.n(),
                    "status": report.status,
                    "seconds": round(seconds, 1),
                    "seconds_per_100_turns": round(100 * seconds / len(turns), 1),
                    "model_calls": dict(model.calls),
                    "model_seconds": {k: round(v, 1) for k, v in model.seconds.items()},
                    "facts": store.count(Kind.FACT),
                    "summaries": store.count(Kind.SUMMARY),
                    "reinforced": len(report.reinforced),
                    "superseded": len(report.superseded),
                    "contradictions": len(report.contradictions),
                    "archived": len(report.archived),
                    "skipped": len(report.skipped),
                    "skipped_reasons": dict(reasons.most_common(8)),
                    "failed_jobs": report.failed_jobs,
                    "recall_before": {str(k): round(100 * before.at(k), 1) for k in args.k},
                    "recall_after": {str(k): round(100 * after.at(k), 1) for k in args.k},
                }
            finally:
                store.close()
            if kept is not None:
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(folder, kept)
        results.append(result)
        say(json.dumps(result, indent=1))
    backend.close()
    total_turns = sum(r["turns"] for r in results)
    total_seconds = sum(r["seconds"] for r in results)  # nan when reused
    final = {
        "conversations": [r["conversation"] for r in results],
        "turns": total_turns,
        "seconds_per_100_turns": round(100 * total_seconds / total_turns, 1),
        "recall_before": _weighted(results, "recall_before", args.k),
        "recall_after": _weighted(results, "recall_after", args.k),
        "by_conversation": results,
    }
    print(json.dumps(final))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
