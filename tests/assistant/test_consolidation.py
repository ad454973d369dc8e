"""Consolidation driven by the real chat model (SmolLM2 on llama.cpp).

A 135M model's facts are weak: these tests check the machinery (constrained
JSON that parses, provenance that points at real turns, yielding to a user),
never the wisdom.
"""

from __future__ import annotations

import threading
import time

from mneme.assistant.consolidation import BackgroundModel
from mneme.assistant.llm.base import ChatMessage, SamplingParams
from mneme.assistant.llm.local import LlamaCppBackend
from mneme.assistant.llm.owner import ModelOwner, Priority
from mneme.memory import Kind, ListQuery, MemoryStore, NewEpisode
from mneme.memory.consolidation import ConsolidationConfig, Consolidator

TURNS = [
    ("user", "Hi! I just moved to Lisbon with my sister Ana last week."),
    ("assistant", "Welcome to Lisbon! How are you finding it?"),
    ("user", "I love the trams. I also started cello lessons on Tuesday."),
    ("assistant", "That sounds wonderful. Cello is a beautiful instrument."),
]


def seed(store: MemoryStore) -> list[str]:
    start = 1_700_000_000.0
    episodes = [
        NewEpisode(text, role, "lisbon", said_at=start + 60 * i)
        for i, (role, text) in enumerate(TURNS)
    ]
    return [m.id for m in store.add_episodes(episodes)]


def test_smollm_consolidates_a_short_conversation(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    turn_ids = set(seed(store))
    owner = ModelOwner(smollm)
    report = Consolidator(store, BackgroundModel(owner)).run(everything=True)
    assert report.status == "done" and report.failed_jobs == [], report
    page = store.browse(ListQuery(kinds=(Kind.SUMMARY, Kind.FACT), limit=100))
    summaries = [m for m in page.items if m.kind is Kind.SUMMARY]
    assert len(summaries) == 1 and set(summaries[0].sources) == turn_ids
    assert summaries[0].text.strip()
    for fact in (m for m in page.items if m.kind is Kind.FACT):
        assert fact.sources and set(fact.sources) <= turn_ids
        assert 0 < len(fact.text) <= 300
    # whatever the model wrote was either used or dropped with a reason
    assert all(reason for _, reason in report.skipped)


def test_a_user_message_takes_the_model_from_consolidation(
    store: MemoryStore, smollm: LlamaCppBackend
) -> None:
    seed(store)
    owner = ModelOwner(smollm)
    consolidator = Consolidator(
        store, BackgroundModel(owner), ConsolidationConfig(max_tokens_summary=2000)
    )
    reports = []
    worker = threading.Thread(target=lambda: reports.append(consolidator.run(everything=True)))
    worker.start()
    deadline = time.monotonic() + 60
    while not owner.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert owner.busy
    asked = time.monotonic()
    params = SamplingParams(max_tokens=4, temperature=0.0)
    first = next(
        iter(owner.stream_chat([ChatMessage("user", "Hello")], params, priority=Priority.USER))
    )
    waited = time.monotonic() - asked
    worker.join(timeout=120)
    assert first and reports and reports[0].status == "interrupted"
    assert store.jobs.get("session:lisbon").state.value == "pending"  # type: ignore[union-attr]
    assert waited < 10  # the step yields within a token; then "Hello" is evaluated
