"""The person's own statements as facts, without a model: each rule on hand-made sentences,
and what consolidation keeps at each level of trust in the model."""

from __future__ import annotations

from datetime import datetime

import pytest

from mneme.memory import ORIGIN, Kind, ListQuery, MemoryStore, Origin, SearchFilter
from mneme.memory.consolidation import ConsolidationConfig, Consolidator, ModelUse
from mneme.memory.consolidation.statements import is_statement, sentences, statements
from mneme.memory.records import Memory
from tests.fakes import RuleModel
from tests.memory.consolidation.support import START, say

TAKEN = [
    "I grow tomatoes and basil on my balcony in Lisbon.",
    "My sister moved to Lisbon last spring.",
    "We adopted a dog last week.",
    "I started a new job at the bakery.",
    "Our flat has a view of the river.",
    "I’m allergic to peanuts.",  # a typographic apostrophe
    "I'm Rosa.",  # a name is a fact however short
    'My mum always says "eat your greens" to me.',  # the quote is hers; the rest is mine
]
LEFT = {
    "Where do I grow my tomatoes?": "a question",
    "Do I need to water them every day": "a question without its mark",
    "Tell me about my plans for the weekend.": "a request",
    "Please remind me of my sister's birthday.": "a request",
    "If I had a dog I would call it Rex.": "a hypothetical",
    "I would love to live by the sea.": "a hypothetical",
    "I wish I had more time for painting.": "a wish",
    "Maybe I will move to Porto.": "not certain",
    'She said "I moved to Berlin last year."': "another person's words",
    "Thanks, I really appreciate your help!": "said to the listener",
    "I'm so proud of you!": "said to the listener",
    "Thanks for having my back.": "said to the listener",
    "I see.": "filler",
    "I agree.": "filler",
    "Tomatoes grow well in a sunny location.": "not about the speaker",
    "It is raining.": "not about the speaker",
}


@pytest.mark.parametrize("sentence", TAKEN)
def test_a_plain_statement_about_oneself_is_taken(sentence: str) -> None:
    assert is_statement(sentence)


@pytest.mark.parametrize(("sentence", "why"), LEFT.items())
def test_what_is_not_a_statement_of_fact_is_left(sentence: str, why: str) -> None:
    assert not is_statement(sentence), why


def _turn(text: str, role: str = "user", speaker: str | None = None, at: float = START) -> Memory:
    return Memory(
        id=f"e-{abs(hash(text))}",
        kind=Kind.EPISODE,
        text=text,
        said_at=at,
        stored_at=at,
        updated_at=at,
        role=role,
        speaker=speaker,
    )


def test_a_turn_is_split_into_sentences_and_only_people_are_heard() -> None:
    assert sentences("Hi! I'm Rosa. I grow tomatoes.\nWhat about you?") == [
        "Hi!",
        "I'm Rosa.",
        "I grow tomatoes.",
        "What about you?",
    ]
    mine = _turn("Hi! I'm Rosa. I grow tomatoes on my balcony. What should I plant next?")
    mneme = _turn("I recommend planting basil next to your tomatoes.", role="assistant")
    found = statements([mine, mneme])
    assert [s.text for s in found] == ["I'm Rosa.", "I grow tomatoes on my balcony."]
    assert all(s.source is mine for s in found)


def test_a_named_speaker_is_a_person_and_is_named_in_the_fact() -> None:
    # imported conversations between people: both sides are people, by name
    turn = _turn("I painted a lake sunrise last year.", role="assistant", speaker="Melanie")
    (found,) = statements([turn])
    assert found.text.startswith("Melanie: I painted a lake sunrise last year (")


def test_a_relative_date_is_resolved_against_the_turn() -> None:
    said = datetime(2023, 5, 8, 13, 56).timestamp()
    (found,) = statements([_turn("We adopted a dog last week.", at=said)])
    assert found.text == "We adopted a dog last week (1 May 2023 to 7 May 2023)."
    assert found.valid_from == datetime(2023, 5, 1).timestamp()
    (plain,) = statements([_turn("I play the cello in an orchestra.", at=said)])
    assert plain.text == "I play the cello in an orchestra." and plain.valid_from == said


def test_the_same_sentence_twice_is_one_statement() -> None:
    turns = [_turn("I live in Porto."), _turn("I live in Porto!", at=START + 60)]
    assert len(statements(turns)) == 1


# -- in consolidation ---------------------------------------------------------------------


def _facts(store: MemoryStore) -> list[Memory]:
    query = ListQuery(kinds=(Kind.FACT,), limit=100, descending=False)
    return list(store.browse(query).items)


def test_without_the_model_only_the_persons_words_are_kept(store: MemoryStore) -> None:
    turns = say(store, "c", ["I grow tomatoes on my balcony.", "Tomatoes love sun!"])
    model = RuleModel(fail=AssertionError("the model must not be asked"))
    config = ConsolidationConfig(model_use=ModelUse.NOTHING)
    report = Consolidator(store, model, config).run(everything=True)
    assert report.status == "done" and not report.failed_jobs
    (fact,) = _facts(store)
    assert fact.text == "I grow tomatoes on my balcony."
    assert fact.sources == (turns[0].id,) and fact.extra[ORIGIN] == Origin.STATEMENT
    assert store.browse(ListQuery(kinds=(Kind.SUMMARY,))).total == 0
    assert model.calls == []


def test_summaries_only_asks_the_model_for_no_fact_and_no_decision(store: MemoryStore) -> None:
    say(store, "c", ["I grow tomatoes on my balcony.", "Lovely!"])
    model = RuleModel()
    config = ConsolidationConfig(model_use=ModelUse.SUMMARIES)
    Consolidator(store, model, config).run(everything=True)
    assert {task for task, _ in model.calls} == {"summarise"}
    assert [f.extra[ORIGIN] for f in _facts(store)] == [Origin.STATEMENT]
    assert store.browse(ListQuery(kinds=(Kind.SUMMARY,))).total == 1


def test_with_the_model_trusted_both_kinds_of_fact_are_kept_and_marked(
    store: MemoryStore,
) -> None:
    say(store, "c", ["I grow tomatoes on my balcony.", "Lovely!"])
    Consolidator(store, RuleModel()).run(everything=True)
    origins = sorted(f.extra[ORIGIN] for f in _facts(store))
    assert origins == [Origin.MODEL, Origin.STATEMENT]


def test_a_statement_already_kept_is_not_kept_twice(store: MemoryStore) -> None:
    say(store, "a", ["I live in Porto.", "ok"])
    config = ConsolidationConfig(model_use=ModelUse.NOTHING)
    Consolidator(store, RuleModel(), config).run(everything=True)
    say(store, "b", ["I live in Porto.", "ok"], at=START + 86_400)
    report = Consolidator(store, RuleModel(), config).run(everything=True)
    (fact,) = _facts(store)
    assert report.reinforced == [fact.id] and len(fact.sources) == 2


def test_what_the_model_wrote_can_be_listed_and_searched_apart(store: MemoryStore) -> None:
    say(store, "c", ["I grow tomatoes on my balcony.", "Lovely!"])
    Consolidator(store, RuleModel()).run(everything=True)
    by_model = store.browse(ListQuery(written_by_model=True, descending=False)).items
    assert sorted(m.kind for m in by_model) == [Kind.FACT, Kind.SUMMARY]
    assert all(m.extra.get(ORIGIN) != Origin.STATEMENT for m in by_model)
    hits = store.search("tomatoes", k=10, filters=SearchFilter(written_by_model=True))
    assert {h.memory.id for h in hits} == {m.id for m in by_model}
    fact = next(m for m in by_model if m.kind is Kind.FACT)
    store.edit(fact.id, "I grow cherry tomatoes on my balcony.")  # theirs now
    left = store.browse(ListQuery(written_by_model=True)).items
    assert [m.kind for m in left] == [Kind.SUMMARY]
