"""LoCoMo evidence recall: does the memory engine return the turns that hold the answer?

    python -m benchmarks.locomo --data ../shared/bench/locomo/locomo_dev.json
        [--k 1 5 10 25] [--json] [--threads 1] [--limit N]

For each conversation, a fresh store ingests every turn in order through the
public API the app uses (one batch per session, the session's date as the
clock; the image caption, when a turn has one, is part of what was said).
Then each question of categories 1-4 is searched for episodes and recall@k of
its evidence turns is scored. Questions and evidence are never seen at ingest.

Measured in the same run, on the same turn texts ("speaker: text"):
plain BM25 (SQLite FTS5, the question's content words OR-ed) and plain
dense retrieval (MiniLM cosine, brute force). Also ingest throughput of the
engine against raw ``SentenceTransformer.encode`` of the same texts.

Prompt recall: the share of a question's evidence turns in the prompt the app
builds for it (``ChatService.prompt_for``: the real retrieval, relevance
filter, packing and prompt builder, the bundled model's tokenizer), with the
default settings (4,096-token context) and again with an 8,192-token context
whose memories may fill half of it (``prompt_recall_8k``), and at the default
settings with at most 6 memories, the fixed number used before
(``prompt_recall_top6``). The model's reading
speed is not known here, so nothing is cut for the wait (as after reading
ahead while a question is typed). ``--no-prompt`` skips it (no model loaded).

Evidence ids are read leniently ("D:11:26" is D11:26; "D8:6; D9:17" is two
ids); questions whose evidence names no turn of the conversation are skipped
and counted.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    session: int
    said_at: float
    speaker: str
    role: str
    text: str


@dataclass(frozen=True)
class Question:
    text: str
    category: int
    evidence: tuple[str, ...]
    answer: str = ""


@dataclass(frozen=True)
class Conversation:
    sample_id: str
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]
    skipped: int


def _session_time(raw: str) -> float:
    return datetime.strptime(raw.strip(), "%I:%M %p on %d %B, %Y").timestamp()


def load(path: Path) -> list[Conversation]:
    conversations = []
    for sample in json.loads(path.read_text(encoding="utf-8")):
        conv = sample["conversation"]
        speaker_a = conv.get("speaker_a")
        turns = []
        n = 1
        while f"session_{n}" in conv:
            start = _session_time(conv[f"session_{n}_date_time"])
            for i, t in enumerate(conv[f"session_{n}"]):
                text = t["text"]
                if t.get("blip_caption"):
                    text = f"{text} [shares an image: {t['blip_caption']}]"
                role = "user" if t["speaker"] == speaker_a else "assistant"
                turns.append(Turn(t["dia_id"], n, start + i, t["speaker"], role, text))
            n += 1
        ids = {t.dia_id for t in turns}
        questions, skipped = [], 0
        for q in sample["qa"]:
            if q.get("category") not in CATEGORIES:
                continue
            evidence = tuple(
                dict.fromkeys(
                    f"D{s}:{t}" for e in q.get("evidence", []) for s, t in _EVIDENCE.findall(e)
                )
            )
            evidence = tuple(e for e in evidence if e in ids)
            if not evidence:
                skipped += 1
                continue
            questions.append(
                Question(q["question"], int(q["category"]), evidence, str(q.get("answer", "")))
            )
        conversations.append(
            Conversation(sample["sample_id"], tuple(turns), tuple(questions), skipped)
        )
    return conversations


class Recall:
    """recall@k per category: the share of a question's evidence in the top k."""

    def __init__(self, ks: Sequence[int]) -> None:
        self.ks = list(ks)
        self.scores: dict[int, dict[int, list[float]]] = {k: defaultdict(list) for k in ks}

    def add(self, category: int, evidence: Sequence[str], ranked: Sequence[str]) -> None:
        for k in self.ks:
            top = set(ranked[:k])
            self.scores[k][category].append(sum(e in top for e in evidence) / len(evidence))

    def at(self, k: int, category: int | None = None) -> float:
        if category is None:
            values = [v for c in CATEGORIES for v in self.scores[k][c]]
        else:
            values = self.scores[k][category]
        return statistics.fmean(values) if values else float("nan")

    def n(self, category: int | None = None) -> int:
        k = self.ks[0]
        if category is None:
            return sum(len(self.scores[k][c]) for c in CATEGORIES)
        return len(self.scores[k][category])


def _plain_text(turn: Turn) -> str:
    return f"{turn.speaker}: {turn.text}"


def bm25_baseline(conv: Conversation, depth: int) -> Callable[[str], list[str]]:
    from mneme.memory._indexing import fts_match, query_terms

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(t, tokenize='porter unicode61')")
    db.executemany(
        "INSERT INTO f (rowid, t) VALUES (?, ?)",
        [(i, _plain_text(t)) for i, t in enumerate(conv.turns)],
    )

    def rank(question: str) -> list[str]:
        terms = query_terms(question)
        if not terms:
            return []
        rows = db.execute(
            "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT ?",
            (fts_match(terms), depth),
        )
        return [conv.turns[r[0]].dia_id for r in rows]

    return rank


def dense_baseline(conv: Conversation, model: Any, depth: int) -> Callable[[str], list[str]]:
    import numpy as np

    vectors = model.encode(
        [_plain_text(t) for t in conv.turns], normalize_embeddings=True, batch_size=64
    )

    def rank(question: str) -> list[str]:
        q = model.encode([question], normalize_embeddings=True)[0]
        order = np.argsort(-(vectors @ q))[:depth]
        return [conv.turns[i].dia_id for i in order]

    return rank


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ingest_turns(store: Any, conv: Conversation, turns: Sequence[Turn], clock: _Clock) -> None:
    """As a chat would: one batch per session, each session a conversation, its date
    the clock."""
    from mneme.memory import NewEpisode

    sessions: dict[int, list[Turn]] = defaultdict(list)
    for turn in turns:
        sessions[turn.session].append(turn)
    for n, part in sessions.items():
        clock.now = part[0].said_at
        store.add_episodes(
            [
                NewEpisode(
                    t.text,
                    t.role,
                    f"{conv.sample_id}-session-{n}",
                    said_at=t.said_at,
                    speaker=t.speaker,
                    extra={"dia_id": t.dia_id},
                )
                for t in part
            ]
        )


EVERYTHING = sys.maxsize
"""The "k" of a :class:`Recall` that scores a set (what is in a prompt), not a ranking."""


@dataclass
class PromptRecall:
    """Prompt recall of one way of building prompts: a chat model and its settings."""

    model: Any
    settings: Any
    recall: Recall
    shown: list[int]
    """Memories in each prompt's block."""


def prompt_recall(store: Any, conv: Conversation, way: PromptRecall) -> None:
    from mneme.assistant.chat import ChatService

    chat = ChatService(way.model, store, way.settings)
    for i, q in enumerate(conv.questions):
        prompt = chat.prompt_for(f"question-{i}", q.text)
        said = [str(m.extra.get("dia_id")) for m in store.get_many(list(prompt.shown))]
        way.recall.add(q.category, q.evidence, said)
        way.shown.append(len(prompt.shown))


def run_engine(
    conv: Conversation,
    embedder: Any,
    depth: int,
    recall: Recall,
    prompts: Sequence[PromptRecall] = (),
) -> tuple[float, int, list[float]]:
    """Ingest and query one conversation (and build each question's prompt each of the
    ``prompts`` ways); returns (ingest seconds, turns, query latencies)."""
    from mneme.memory import Kind, MemoryStore, SearchFilter

    clock = _Clock()
    with tempfile.TemporaryDirectory() as folder:
        store = MemoryStore.open(folder, embedder, clock=clock)
        try:
            started = time.perf_counter()
            ingest_turns(store, conv, conv.turns, clock)
            ingest = time.perf_counter() - started
            clock.now = conv.turns[-1].said_at + 86_400  # the day after the last session
            latencies = []
            episodes_only = SearchFilter(kinds=(Kind.EPISODE,))
            for q in conv.questions:
                t0 = time.perf_counter()
                hits = store.search(q.text, k=depth, filters=episodes_only)
                latencies.append(time.perf_counter() - t0)
                recall.add(q.category, q.evidence, [str(h.memory.extra["dia_id"]) for h in hits])
            for way in prompts:
                prompt_recall(store, conv, way)
        finally:
            store.close()
    return ingest, len(conv.turns), latencies


def import_seconds(conv: Conversation, embedder: Any) -> float:
    """Ingest the whole conversation as one batch (as an import would), timing only."""
    from mneme.memory import MemoryStore, NewEpisode

    with tempfile.TemporaryDirectory() as folder, MemoryStore.open(folder, embedder) as store:
        episodes = [
            NewEpisode(
                t.text,
                t.role,
                f"{conv.sample_id}-session-{t.session}",
                said_at=t.said_at,
                speaker=t.speaker,
            )
            for t in conv.turns
        ]
        started = time.perf_counter()
        store.add_episodes(episodes)
        return time.perf_counter() - started


def raw_encode_seconds(conv: Conversation, model: Any, batch_size: int) -> float:
    """Raw encode of exactly the texts the engine embeds, all in one call."""
    from mneme.memory import Kind, Memory
    from mneme.memory._indexing import dense_text

    texts = [
        dense_text(
            Memory(
                id="",
                kind=Kind.EPISODE,
                text=t.text,
                said_at=t.said_at,
                stored_at=0,
                updated_at=0,
                speaker=t.speaker,
                role=t.role,
            )
        )
        for t in conv.turns
    ]
    started = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - started


def _table(name: str, recall: Recall, ks: Sequence[int]) -> str:
    head = f"{name:<12}" + "".join(f"  R@{k:<4}" for k in ks)
    lines = [head]
    for c, label in CATEGORIES.items():
        row = f"  {c} {label:<10}"[:12].ljust(12)
        lines.append(
            row + "".join(f"  {recall.at(k, c) * 100:5.1f}" for k in ks) + f"   (n={recall.n(c)})"
        )
    lines.append(
        "  all 1-4".ljust(12)
        + "".join(f"  {recall.at(k) * 100:5.1f}" for k in ks)
        + f"   (n={recall.n()})"
    )
    return "\n".join(lines)


def _prompt_ways() -> dict[str, PromptRecall]:
    """The app's prompts at the default settings, and with an 8,192-token context."""
    from mneme.assistant.llm.local import LlamaCppBackend
    from mneme.assistant.llm.owner import ModelOwner
    from mneme.assistant.models import bundled_model_path
    from mneme.assistant.settings import Settings

    default = Settings()
    large = default.model_copy(deep=True)
    large.model.context_length = 8192
    large.memory.budget_fraction = 0.5
    six = default.model_copy(deep=True)
    six.memory.top_k = 6  # the default before the room for memories decided how many
    ways, models = {}, {}
    for name, settings in (
        ("prompt_recall", default),
        ("prompt_recall_8k", large),
        ("prompt_recall_top6", six),
    ):
        context = settings.model.context_length
        if context not in models:  # one loaded model per context size
            backend = LlamaCppBackend(bundled_model_path(), context_length=context, threads=1)
            backend.load()
            models[context] = ModelOwner(backend)
        ways[name] = PromptRecall(models[context], settings, Recall([EVERYTHING]), [])
    return ways


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/bench/locomo/locomo_dev.json"))
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 10, 25])
    parser.add_argument("--json", action="store_true", help="print only the final JSON line")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N conversations")
    parser.add_argument("--no-prompt", action="store_true", help="skip prompt recall")
    args = parser.parse_args(argv)
    ks = sorted(set(args.k) | {5, 10})
    depth = max(ks)

    from mneme.memory import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(threads=args.threads)
    model = embedder.load()
    prompts = {} if args.no_prompt else _prompt_ways()
    conversations = load(args.data)[: args.limit]
    engine, bm25, dense = Recall(ks), Recall(ks), Recall(ks)
    ingest_s = encode_s = import_s = 0.0
    turns = 0
    latencies: list[float] = []
    skipped = 0
    per_conversation: dict[str, dict[str, float]] = {}
    for conv in conversations:
        own = Recall(ks)
        seconds, n, lat = run_engine(conv, embedder, depth, own, list(prompts.values()))
        for k in ks:
            for category, values in own.scores[k].items():
                engine.scores[k][category] += values
        per_conversation[conv.sample_id] = {
            "recall@5": round(own.at(5), 4),
            "recall@10": round(own.at(10), 4),
        }
        ingest_s += seconds
        turns += n
        latencies += lat
        encode_s += raw_encode_seconds(conv, model, embedder.batch_size)
        import_s += import_seconds(conv, embedder)
        rank_bm25 = bm25_baseline(conv, depth)
        rank_dense = dense_baseline(conv, model, depth)
        for q in conv.questions:
            bm25.add(q.category, q.evidence, rank_bm25(q.text))
            dense.add(q.category, q.evidence, rank_dense(q.text))
        skipped += conv.skipped
        if not args.json:
            print(
                f"{conv.sample_id}: {n} turns, {len(conv.questions)} questions, engine "
                f"R@5 {own.at(5) * 100:.1f} R@10 {own.at(10) * 100:.1f}, "
                f"ingest {n / seconds:.0f} turns/s",
                file=sys.stderr,
            )

    throughput = turns / ingest_s
    raw = turns / encode_s
    imported = turns / import_s
    if not args.json:
        print(
            f"\nData: {args.data} ({len(conversations)} conversations, {turns} turns, "
            f"{engine.n()} questions in categories 1-4, {skipped} skipped: no usable evidence)"
        )
        for name, r in (("engine", engine), ("bm25", bm25), ("dense", dense)):
            print()
            print(_table(name, r, ks))
        print(
            f"\ningest through MemoryStore.add_episodes: {throughput:.1f} turns/s in one batch "
            f"per session (chat-like), {imported:.1f} turns/s in one batch per conversation "
            f"(import-like); raw encode of the same texts in one call {raw:.1f} texts/s; "
            f"ratios {throughput / raw:.2f} and {imported / raw:.2f}"
        )
        print(
            f"search latency: median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {sorted(latencies)[int(0.95 * len(latencies))] * 1000:.1f} ms"
        )

    def summary(r: Recall) -> dict[str, Any]:
        return {f"recall@{k}": round(r.at(k), 4) for k in ks}

    result = {
        "recall@5": round(engine.at(5), 4),
        "recall@10": round(engine.at(10), 4),
        "per_category": {
            CATEGORIES[c]: {f"recall@{k}": round(engine.at(k, c), 4) for k in ks}
            for c in CATEGORIES
        },
        "n": engine.n(),
        "per_conversation": per_conversation,
        "skipped": skipped,
        "engine": summary(engine),
        "baselines": {"bm25": summary(bm25), "dense": summary(dense)},
        "ingest_turns_per_s": round(throughput, 1),
        "raw_encode_per_s": round(raw, 1),
        "ingest_ratio": round(throughput / raw, 3),
        "import_turns_per_s": round(imported, 1),
        "import_ratio": round(imported / raw, 3),
        "search_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "data": str(args.data),
    }
    for name, way in prompts.items():
        result[name] = round(way.recall.at(EVERYTHING), 4)
        result[f"{name}_memories_shown"] = round(statistics.fmean(way.shown), 2)
        for c in CATEGORIES:
            result["per_category"][CATEGORIES[c]][name] = round(way.recall.at(EVERYTHING, c), 4)
        if not args.json:
            print(
                f"{name}: {way.recall.at(EVERYTHING) * 100:.1f}% of evidence in the prompt "
                f"({statistics.fmean(way.shown):.1f} memories shown), by category "
                + ", ".join(
                    f"{CATEGORIES[c]} {way.recall.at(EVERYTHING, c) * 100:.1f}" for c in CATEGORIES
                )
            )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
