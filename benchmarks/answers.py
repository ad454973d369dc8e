"""Answers: LoCoMo questions answered through the real reply path, scored by token F1.

    python -m benchmarks.answers [--data FILE] [--conversations conv-26 …]
        [--model GGUF] [--limit N] [--threads 2] [--json]

For each conversation, a fresh store ingests its turns as ``benchmarks.locomo``
does. Each question (categories 1-4, the first ``--limit`` of each
conversation) is answered three ways in the same run, one after the other on
the same loaded model:

* ``memory``: ``ChatService.send`` in a new conversation with the default
  settings (retrieval, packing, the prompt the app builds); the conversation
  is forgotten afterwards, so every question meets the same store;
* ``none``: the same with ``memory.enabled = False``;
* ``oracle``: only the question's evidence turns, given to the same prompt
  builder as the memory block (what perfect retrieval would give).

Replies are greedy (temperature 0) and at most 48 tokens, so the three differ
only in what the model is given. Scored as LoCoMo's own evaluation does, but
without stemming (nltk is not a dependency; the same for all three): answer
and reply lower-cased, punctuation and articles dropped, token-overlap F1;
multi-hop answers (category 1) split at commas, each part's best F1 averaged;
open-domain answers (3) cut at ';'. With the bundled 135M model the figures are
low; the point is ``memory / oracle`` and a harness that runs on any GGUF.
The last line is JSON: ``f1`` per way and per category, and ``memory_to_oracle``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import string
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchmarks.locomo import CATEGORIES, Conversation, Question, _Clock, ingest_turns, load

WAYS = ("none", "memory", "oracle")
_ARTICLES = re.compile(r"\b(a|an|the|and)\b")


def _tokens(text: str) -> list[str]:
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return _ARTICLES.sub(" ", text).split()


def f1(reply: str, answer: str) -> float:
    said, truth = _tokens(reply), _tokens(answer)
    common = sum((Counter(said) & Counter(truth)).values())
    if not said or not truth or common == 0:
        return 0.0
    precision, recall = common / len(said), common / len(truth)
    return 2 * precision * recall / (precision + recall)


def score(question: Question, reply: str) -> float:
    """LoCoMo's F1 for the question's category (see the module's docstring)."""
    if question.category == 1:
        parts = [p for p in question.answer.split(",") if p.strip()] or [question.answer]
        said = [p for p in reply.split(",") if p.strip()] or [reply]
        return statistics.fmean(max(f1(s, part) for s in said) for part in parts)
    answer = question.answer.split(";")[0] if question.category == 3 else question.answer
    return f1(reply, answer)


def _reply(events: Any) -> str:
    from mneme.assistant.chat import Finished

    return next(e.reply.text for e in events if isinstance(e, Finished))


def answer_all(
    conv: Conversation, embedder: Any, owner: Any, settings: Any, limit: int | None
) -> list[tuple[Question, dict[str, str]]]:
    from mneme.assistant.chat import ChatService
    from mneme.assistant.prompts import PromptBuilder
    from mneme.memory import Hit, Kind, ListQuery, MemoryStore

    off = settings.model_copy(
        update={"memory": settings.memory.model_copy(update={"enabled": False})}
    )
    clock = _Clock()
    answered = []
    with tempfile.TemporaryDirectory() as folder:
        store = MemoryStore.open(folder, embedder, clock=clock)
        try:
            ingest_turns(store, conv, conv.turns, clock)
            clock.now = conv.turns[-1].said_at + 86_400
            everything = store.browse(ListQuery(kinds=(Kind.EPISODE,), limit=len(conv.turns)))
            by_dia = {str(m.extra.get("dia_id")): m for m in everything.items}
            on, without = ChatService(owner, store, settings), ChatService(owner, store, off)
            builder = PromptBuilder(
                owner,
                reply_tokens=settings.generation.max_tokens,
                memory_fraction=settings.memory.budget_fraction,
            )
            for i, q in enumerate(conv.questions[:limit]):
                replies = {"none": _reply(without.send(f"none-{i}", q.text))}
                replies["memory"] = _reply(on.send(f"memory-{i}", q.text))
                store.delete_conversation(f"memory-{i}", forget=True)
                evidence = [Hit(by_dia[e], 1.0) for e in q.evidence if e in by_dia]
                prompt = builder.build(
                    system_prompt=settings.chat.system_prompt, message=q.text, memories=evidence
                )
                pieces = owner.reply(prompt.messages, on.sampling())
                replies["oracle"] = "".join(p for p in pieces if isinstance(p, str)).strip()
                answered.append((q, replies))
        finally:
            store.close()
    return answered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/bench/locomo/locomo_dev.json"))
    parser.add_argument("--conversations", nargs="+", default=None)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF (default: bundled)")
    parser.add_argument("--limit", type=int, default=None, help="questions per conversation")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mneme-bench")
    args = parser.parse_args(argv)

    from benchmarks.reply import _parts
    from mneme.assistant.llm.owner import ModelOwner

    # the same model, settings and embedder as benchmarks.reply; greedy, short replies
    embedder, settings, backend = _parts(args, temperature=0.0, max_tokens=48)
    owner = ModelOwner(backend)
    scores: dict[str, dict[int, list[float]]] = {w: defaultdict(list) for w in WAYS}
    conversations = [
        c
        for c in load(args.data)
        if args.conversations is None or c.sample_id in args.conversations
    ]
    for conv in conversations:
        for q, replies in answer_all(conv, embedder, owner, settings, args.limit):
            for way in WAYS:
                scores[way][q.category].append(score(q, replies[way]))
            if not args.json:
                print(f"[{CATEGORIES[q.category]}] {q.text} -> {q.answer!r}", file=sys.stderr)
                for way in WAYS:
                    print(
                        f"   {way:6} {score(q, replies[way]):.2f} {replies[way][:100]!r}",
                        file=sys.stderr,
                    )
    backend.close()

    def overall(way: str) -> float:
        values = [v for c in CATEGORIES for v in scores[way][c]]
        return round(statistics.fmean(values), 4) if values else float("nan")

    result = {
        "model": backend.name,
        "data": str(args.data),
        "conversations": [c.sample_id for c in conversations],
        "questions": sum(len(scores["memory"][c]) for c in CATEGORIES),
        "f1": {way: overall(way) for way in WAYS},
        "per_category": {
            CATEGORIES[c]: {
                way: round(statistics.fmean(scores[way][c]), 4) if scores[way][c] else None
                for way in WAYS
            }
            for c in CATEGORIES
        },
    }
    result["memory_to_oracle"] = (
        round(result["f1"]["memory"] / result["f1"]["oracle"], 3)
        if result["f1"]["oracle"]
        else None
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
