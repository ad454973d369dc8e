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

from benchmarks import fact_quality
from benchmarks.locomo import Conversation, Recall, _Clock, ingest_turns, load


class _CountingModel:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}

    def generate(self, system: str, prompt: str, **kwargs: Any) -> str:
        task = system.split()[1]  # "You summarise…", "You extract…"
        started = time.perf_counter()
        try:
            return str(self.inner.generate(system, prompt, **kwargs))
        finally:
            self.calls[task] += 1
            self.seconds[task] = self.seconds.get(task, 0.0) + time.perf_counter() - started


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


def _written(store: Any) -> tuple[list[Any], dict[int, list[str]], dict[str, Any]]:
    """The live facts, each session's summaries, and the turns the facts cite."""
    from mneme.memory import Kind, ListQuery, State

    everything = 1_000_000
    facts = list(
        store.browse(ListQuery(kinds=(Kind.FACT,), states=(State.ACTIVE,), limit=everything)).items
    )
    summaries: dict[int, list[str]] = {}
    for summary in store.browse(ListQuery(kinds=(Kind.SUMMARY,), limit=everything)).items:
        if summary.conversation_id and "-session-" in summary.conversation_id:
            session = int(summary.conversation_id.rsplit("-", 1)[1])
            summaries.setdefault(session, []).append(summary.text)
    cited = {m.id: m for m in store.get_many(sorted({s for f in facts for s in f.sources}))}
    return facts, summaries, cited


def _quality(
    store: Any, matcher: Any, known: list[Any], people: list[str], origin: Any
) -> dict[str, Any]:
    from mneme.memory import ORIGIN

    facts, summaries, cited = _written(store)
    mine = [f for f in facts if f.extra.get(ORIGIN) == origin]
    quality = fact_quality.score_facts(matcher, mine, known, people, cited)
    quality["summary_coverage"] = fact_quality.summary_coverage(matcher, summaries, known)
    quality["examples"] = [f.text for f in mine[:5]]
    return quality


def _pooled(results: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """One figure over all conversations: each weighted by its facts or known facts."""
    parts = [r[path] for r in results if path in r]
    facts = sum(p["facts"] for p in parts)
    known = sum(p["known_facts"] for p in parts)

    def by(key: str, weight: str, total: int) -> float | None:
        have = [p for p in parts if p[key] is not None]
        if not have or not total:
            return None
        return round(float(sum(p[key] * p[weight] for p in have)) / total, 3)

    return {
        "facts": facts,
        "known_facts": known,
        "fact_precision": by("fact_precision", "facts", facts),
        "reference_precision": by("reference_precision", "facts", facts),
        "fact_recall": by("fact_recall", "known_facts", known),
        "about_person_share": by("about_person_share", "facts", facts),
        "summary_coverage": by("summary_coverage", "known_facts", known),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/bench/locomo/locomo_dev.json"))
    parser.add_argument(
        "--references",
        type=Path,
        default=Path("../shared/bench/locomo/locomo_dev_references.json"),
        help="reference facts and summaries, used only to score",
    )
    parser.add_argument("--model", type=Path, default=None, help="a GGUF (default: bundled)")
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=("model", "statements"),
        default=["model", "statements"],
        help="model: consolidation with the model trusted; statements: model-free",
    )
    parser.add_argument("--conversations", nargs="*", default=None)
    parser.add_argument("--turns", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 25])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep each consolidated store in DIR/<id>/<path>"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: score the kept stores instead of consolidating again",
    )
    args = parser.parse_args(argv)

    from mneme.assistant.consolidation import BackgroundModel
    from mneme.assistant.llm.local import LlamaCppBackend
    from mneme.assistant.llm.owner import ModelOwner
    from mneme.assistant.models import bundled_model_path
    from mneme.memory import Kind, MemoryStore, Origin, SentenceTransformerEmbedder
    from mneme.memory.consolidation import ConsolidationConfig, Consolidator, ModelUse
    from mneme.memory.consolidation.quality import FactMatcher

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
    matcher = FactMatcher(embedder)
    model_path = args.model or bundled_model_path()
    backend = None
    if "model" in args.paths and not args.reuse:
        backend = LlamaCppBackend(model_path, context_length=4096, threads=args.threads)
        backend.load()
    uses = {"model": ModelUse.FACTS_AND_SUMMARIES, "statements": ModelUse.NOTHING}
    origins = {"model": Origin.MODEL, "statements": Origin.STATEMENT}
    results = []
    for conv in conversations:
        turns = list(conv.turns[: args.turns] if args.turns else conv.turns)
        ids = {t.dia_id for t in turns}
        known = fact_quality.load_known(args.references, conv.sample_id, ids)
        people = sorted({t.speaker for t in turns})
        clock = _Clock()
        result: dict[str, Any] = {"conversation": conv.sample_id, "turns": len(turns)}
        with tempfile.TemporaryDirectory() as tmp:
            ingested = Path(tmp) / "ingested"
            store = MemoryStore.open(ingested, embedder, clock=clock)
            try:
                ingest_turns(store, conv, turns, clock)
                clock.now = turns[-1].said_at + 86_400
                before = _recall(store, conv, ids, args.k)
            finally:
                store.close()
            result["questions"] = before.n()
            result["recall_before"] = {str(k): round(100 * before.at(k), 1) for k in args.k}
            for path in args.paths:
                kept = args.keep / conv.sample_id / path if args.keep else None
                if args.reuse and kept is not None and kept.exists():
                    folder = kept
                    run: dict[str, Any] = {"reused": str(kept)}
                else:
                    folder = Path(tmp) / path
                    shutil.copytree(ingested, folder)
                    run = {}
                store = MemoryStore.open(folder, embedder, clock=clock)
                try:
                    if "reused" not in run:
                        model = _CountingModel(
                            BackgroundModel(ModelOwner(backend)) if backend else None
                        )
                        say(f"{conv.sample_id}: {path}: consolidating {len(turns)} turns…")
                        started = time.perf_counter()

                        def progress(done: int, total: int, what: str, t0: float = started) -> None:
                            say(f"  [{done}/{total}] {what} ({time.perf_counter() - t0:.0f} s)")

                        config = ConsolidationConfig(model_use=uses[path])
                        report = Consolidator(store, model, config).run(
                            everything=True, progress=progress
                        )
                        seconds = time.perf_counter() - started
                        reasons = Counter(r.split(" for ")[0][:60] for _, r in report.skipped)
                        run |= {
                            "status": report.status,
                            "seconds": round(seconds, 1),
                            "seconds_per_100_turns": round(100 * seconds / len(turns), 1),
                            "model_calls": dict(model.calls),
                            "model_seconds": {k: round(v, 1) for k, v in model.seconds.items()},
                            "all_facts": store.count(Kind.FACT),
                            "summaries": store.count(Kind.SUMMARY),
                            "reinforced": len(report.reinforced),
                            "superseded": len(report.superseded),
                            "contradictions": len(report.contradictions),
                            "skipped": len(report.skipped),
                            "skipped_reasons": dict(reasons.most_common(8)),
                            "failed_jobs": report.failed_jobs,
                        }
                    after = _recall(store, conv, ids, args.k)
                    run["recall_after"] = {str(k): round(100 * after.at(k), 1) for k in args.k}
                    run |= _quality(store, matcher, known, people, origins[path])
                finally:
                    store.close()
                if kept is not None and "reused" not in run:
                    shutil.rmtree(kept, ignore_errors=True)
                    shutil.copytree(folder, kept)
                result[path] = run
        results.append(result)
        say(json.dumps(result, indent=1))
    if backend is not None:
        backend.close()
    final: dict[str, Any] = {
        "conversations": [r["conversation"] for r in results],
        "turns": sum(r["turns"] for r in results),
        "model": model_path.name,
        "references": str(args.references),
        "matcher": {"meaning": matcher.meaning, "words": matcher.words}
        | fact_quality.matcher_error(matcher),
        "recall_before": _weighted(results, "recall_before", args.k),
    }
    for path in args.paths:
        runs = [r[path] for r in results]
        spent = [float(r.get("seconds", "nan")) for r in runs]
        final[path] = _pooled(results, path) | {
            "seconds_per_100_turns": round(100 * sum(spent) / final["turns"], 1),
            "recall_after": _weighted(
                [
                    run | {"questions": result["questions"]}
                    for run, result in zip(runs, results, strict=True)
                ],
                "recall_after",
                args.k,
            ),
        }
    # the four figures, for the model path when it ran, else the model-free one
    headline = final[args.paths[0]]
    for key in ("fact_precision", "fact_recall", "about_person_share", "summary_coverage"):
        final[key] = headline[key]
    final["by_conversation"] = results
    print(json.dumps(final))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
