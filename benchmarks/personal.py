"""The person's words first: does what a person said about themselves reach the prompt?

    python -m benchmarks.personal [--threads 2] [--reply-tokens 160] [--json]

Built like real use: sixteen short personal conversations, the person's turns
written by hand (a plain statement about their life, then asking for advice,
as people do), the replies written by the bundled model through the real chat
path (``ChatService.send``, memory on, stored as the app stores them). Then,
in a new conversation each, a question about the person whose answer is the
statement ("Where do I grow my tomatoes?"), sent through the same path as far
as the prompt (the reply is not generated: the prompt is what is measured).

Reported: **prompt recall**, the share of questions whose statement turn is
among the memories in the prompt at the default settings (6 memories, a
quarter of the context), the share where it comes first (``recall_at_1``) or
in the first three, and how often one of Mneme's own replies ranked above it,
with the ranking rule on (Mneme's replies step back unless the question asks
what Mneme said) and off (``own_words = 0``), on the same stored
conversations. A last group of questions asks what Mneme said; for those the
reply must still be found (the rule stays out of the way).

The person's turns and questions are written for this benchmark, not taken
from any dataset; the replies depend on the model (``--model`` for another
GGUF).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Topic:
    said: tuple[str, ...]
    """The person's turns; the first states the fact."""
    question: str


TOPICS = (
    Topic(
        (
            "I grow tomatoes and basil on my balcony in Lisbon.",
            "How often should I water tomatoes in the summer?",
        ),
        "Where do I grow my tomatoes?",
    ),
    Topic(
        (
            "My sister Ana moved to Berlin in March for a job at a museum.",
            "What is a good present to send to someone who just moved abroad?",
        ),
        "Which city did my sister move to?",
    ),
    Topic(
        (
            "I started a new job as a nurse at the children's hospital last month.",
            "How can I sleep better when I work night shifts?",
        ),
        "What is my job?",
    ),
    Topic(
        (
            "We adopted a beagle called Biscuit from the shelter.",
            "How do I stop a dog from being scared of thunder?",
        ),
        "What is my dog's name?",
    ),
    Topic(
        (
            "I'm allergic to peanuts and to shellfish.",
            "Can you suggest a quick dinner recipe for tonight?",
        ),
        "What am I allergic to?",
    ),
    Topic(
        (
            "I play the cello in a community orchestra every Thursday evening.",
            "How can I get less nervous before a concert?",
        ),
        "Which instrument do I play?",
    ),
    Topic(
        (
            "My car is a red 2012 Honda Jazz with a broken air conditioner.",
            "Is it worth repairing the air conditioning in an old car?",
        ),
        "What car do I drive?",
    ),
    Topic(
        (
            "I'm training for the Porto half marathon in November.",
            "What should I eat the night before a long run?",
        ),
        "Which race am I training for?",
    ),
    Topic(
        (
            "My daughter Lia is seven and she loves drawing horses.",
            "What are good art supplies for a young child?",
        ),
        "How old is my daughter?",
    ),
    Topic(
        (
            "I'm learning Japanese with a tutor on Saturday mornings.",
            "What is the best way to memorise kanji?",
        ),
        "Which language am I learning?",
    ),
    Topic(
        (
            "Our flat in Ghent has a small garden with an apple tree.",
            "When should apple trees be pruned?",
        ),
        "What tree grows in my garden?",
    ),
    Topic(
        (
            "I take the 7:40 train to Utrecht for work every weekday.",
            "How can I use a long commute well?",
        ),
        "Which train do I take to work?",
    ),
    Topic(
        (
            "My grandmother turns ninety on the 14th of June.",
            "What could we do to celebrate a ninetieth birthday?",
        ),
        "When is my grandmother's birthday?",
    ),
    Topic(
        (
            "I'm vegetarian since I was a teenager, but I eat eggs.",
            "What are good sources of protein?",
        ),
        "What do I eat and not eat?",
    ),
    Topic(
        (
            "I keep my savings in a credit union in Leeds.",
            "Should I put money into an index fund?",
        ),
        "Where do I keep my savings?",
    ),
    Topic(
        (
            "My favourite author is Ursula K. Le Guin; I reread Earthsea every winter.",
            "Which fantasy books are like Earthsea?",
        ),
        "Who is my favourite author?",
    ),
)
ABOUT_MNEME = (
    ("What did you suggest about watering my tomatoes?", 0),
    ("What did you tell me about dogs and thunder?", 3),
    ("What was your advice for sleeping after night shifts?", 2),
    ("What did you recommend to eat before a long run?", 7),
)
"""Questions about Mneme's replies: (question, topic whose first reply answers it)."""


def _send(chat: Any, conversation: str, text: str, *, reply: bool) -> Any:
    """Through the chat path; without ``reply``, stop once the prompt is built."""
    from mneme.assistant.chat import Finished, PromptReady

    events = chat.send(conversation, text)
    for event in events:
        if isinstance(event, PromptReady) and not reply:
            events.close()  # nothing is generated or stored
            return event.prompt
        if isinstance(event, Finished):
            return event.reply
    raise RuntimeError("the chat path ended without a reply")


def _ask(chat: Any, turns: list[list[Any]], rule: bool) -> dict[str, Any]:
    places: list[int | None] = []
    above = 0
    for topic, said in zip(TOPICS, turns, strict=True):
        prompt = _send(chat, f"q-{time.monotonic_ns()}", topic.question, reply=False)
        ids = [h.memory.id for h in prompt.memories]
        place = ids.index(said[0].id) if said[0].id in ids else None
        places.append(place)
        first = len(ids) if place is None else place
        above += any(h.memory.role == "assistant" for h in prompt.memories[:first])
    replies = 0
    for question, source in ABOUT_MNEME:
        prompt = _send(chat, f"q-{time.monotonic_ns()}", question, reply=False)
        replies += turns[source][1].id in [h.memory.id for h in prompt.memories]
    n = len(TOPICS)

    def within(k: int) -> float:
        return round(sum(1 for p in places if p is not None and p < k) / n, 3)

    return {
        "own_words_rule": rule,
        "prompt_recall": round(sum(p is not None for p in places) / n, 3),
        "recall_at_1": within(1),
        "recall_at_3": within(3),
        "mneme_reply_ranked_above": round(above / n, 3),
        "about_mneme_recall": round(replies / len(ABOUT_MNEME), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a GGUF (default: bundled)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reply-tokens", type=int, default=160)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from mneme.assistant.chat import ChatService
    from mneme.assistant.core import Assistant
    from mneme.assistant.llm.local import LlamaCppBackend
    from mneme.assistant.llm.owner import ModelOwner
    from mneme.memory import MemoryStore, RetrievalConfig

    def say(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as home:
        assistant = Assistant.from_environment(home)
        changes: dict[str, Any] = {
            "model.threads": args.threads,
            "generation.max_tokens": args.reply_tokens,
        }
        if args.model:
            changes["model.path"] = str(args.model)
        assistant.change_settings(changes)
        try:
            assistant.open_memory()
            assistant.open_model()
            chat = assistant.chat()
            started = time.perf_counter()
            turns: list[list[Any]] = []
            for i, topic in enumerate(TOPICS):
                mine: list[Any] = []
                for text in topic.said:
                    reply = _send(chat, f"topic-{i}", text, reply=True)
                    mine += [reply.user_memory, reply.assistant_memory]
                turns.append(mine)
                say(f"[{i + 1}/{len(TOPICS)}] {topic.said[0][:50]}… → {mine[1].text[:60]!r}")
            ingest = time.perf_counter() - started
            embedder, folder = assistant.open_memory().embedder, assistant.paths.memory
            settings, model_path = assistant.settings, assistant.model_path()
        finally:
            assistant.close()
        # the same stored conversations, searched with the rule off, then on
        backend = LlamaCppBackend(
            model_path, context_length=settings.model.context_length, threads=args.threads
        )
        backend.load()
        owner = ModelOwner(backend)
        results = []
        for rule in (False, True):
            config = RetrievalConfig() if rule else replace(RetrievalConfig(), own_words=0.0)
            store = MemoryStore.open(folder, embedder, retrieval=config)
            try:
                results.append(_ask(ChatService(owner, store, settings), turns, rule))
            finally:
                store.close()
            say(json.dumps(results[-1]))
        backend.close()
    before, after = results
    final = {
        "topics": len(TOPICS),
        "model": args.model.name if args.model else "bundled",
        "ingest_s": round(ingest, 1),
        "prompt_recall_before": before["prompt_recall"],
        "prompt_recall": after["prompt_recall"],
        "recall_at_1_before": before["recall_at_1"],
        "recall_at_1": after["recall_at_1"],
        "recall_at_3_before": before["recall_at_3"],
        "recall_at_3": after["recall_at_3"],
        "mneme_reply_ranked_above_before": before["mneme_reply_ranked_above"],
        "mneme_reply_ranked_above": after["mneme_reply_ranked_above"],
        "about_mneme_recall_before": before["about_mneme_recall"],
        "about_mneme_recall": after["about_mneme_recall"],
    }
    print(json.dumps(final))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
