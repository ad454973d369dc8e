"""The glossary's wording: the same few plain words wherever a memory is shown."""

from __future__ import annotations

from mneme.assistant.memories import NOTE_SCOPE
from mneme.assistant.words import count, describe, kind_name, why_chosen
from mneme.memory import Kind, Memory, ScoreExplanation

T = 1_700_000_000.0


def _memory(kind: Kind, text: str, **fields: object) -> Memory:
    return Memory(id="m", kind=kind, text=text, said_at=T, stored_at=T, updated_at=T, **fields)  # type: ignore[arg-type]


def test_counts_are_singular_for_one_and_grouped_for_thousands() -> None:
    assert count(1, "memory", "memories") == "1 memory"
    assert count(0, "memory", "memories") == "0 memories"
    assert count(1, "summary", "summaries") == "1 summary"
    assert count(12_500, "fact") == "12,500 facts"


def test_kinds_have_the_glossarys_names() -> None:
    assert kind_name(_memory(Kind.EPISODE, "hi", role="user")) == "said"
    assert kind_name(_memory(Kind.FACT, "x")) == "fact"
    assert kind_name(_memory(Kind.SUMMARY, "x")) == "summary"
    assert kind_name(_memory(Kind.SUMMARY, "x", scope=NOTE_SCOPE)) == "note"


def test_a_memory_reads_as_who_said_what_and_when() -> None:
    said = describe(_memory(Kind.EPISODE, "My dog is Biscuit.", role="user"))
    assert said.startswith("You said on ") and said.endswith("“My dog is Biscuit.”")
    assert "2023" in said
    assert describe(_memory(Kind.FACT, "Has a dog.")).startswith("Fact (")
    assert "episode" not in said.lower()


def test_why_a_memory_was_chosen_is_said_in_words_not_numbers() -> None:
    why = ScoreExplanation(dense=0.62, lexical=0.7, relevance=1.2, recency=0.1)
    assert why_chosen(why) == "similar meaning · same words · recent"
    assert why_chosen(ScoreExplanation(dense=0.1), pinned=True) == "you pinned it"
    assert why_chosen(ScoreExplanation(dense=0.1)) == "loosely related"
    assert not any(c.isdigit() for c in why_chosen(why))
    assert "0.62" in why.describe()  # the numbers, for whoever asks
