"""The memory rules of the core, without a window: what a topic takes along, what an
edit may change, that forgetting is true forgetting, how a note is kept."""

from __future__ import annotations

import time

import pytest

from mneme.assistant import core as core_mod
from mneme.assistant.core import UNDO_SECONDS, Assistant
from mneme.assistant.errors import InvalidRequestError
from mneme.assistant.memories import (
    NOTE_SCOPE,
    RELEVANT_MEANING,
    TOPIC_LIMIT,
    TOPIC_MIN_MEANING,
    evidence,
    is_about,
)
from mneme.memory import Author, Hit, Kind, Memory, ScoreExplanation, State, TranscriptChoice
from tests.memory.consolidation.support import say


def memory(text: str) -> Memory:
    return Memory(id="x", kind=Kind.FACT, text=text, said_at=0, stored_at=0, updated_at=0)


def test_a_hit_is_about_a_topic_by_meaning_or_by_its_own_words() -> None:
    near = Hit(memory("a"), 0.1, ScoreExplanation(dense=TOPIC_MIN_MEANING, lexical=0.0))
    worded = Hit(memory("b"), 0.1, ScoreExplanation(dense=0.05, lexical=2.0))
    nearest = Hit(memory("c"), 0.9, ScoreExplanation(dense=0.12, lexical=1e-6))
    assert is_about(near) and is_about(worded) and not is_about(nearest)


def test_forget_about_finds_the_topic_and_not_the_nearest_unrelated(core: Assistant) -> None:
    store = core.open_memory()
    say(store, "c1", ["I went climbing in Fontainebleau last weekend.", "Sounds fun!"])
    say(store, "c2", ["My favourite bouldering gym is in Ghent.", "Nice."])
    say(store, "c3", ["Remind me to buy oat milk.", "Noted."])
    found = {h.memory.text for h in core.memories.find_about("climbing")}
    assert "I went climbing in Fontainebleau last weekend." in found
    assert "Remind me to buy oat milk." not in found
    with pytest.raises(InvalidRequestError):
        core.memories.find_about("   ")


def test_forgetting_takes_along_what_only_the_chosen_supported(core: Assistant) -> None:
    store = core.open_memory()
    a, b = say(store, "c", ["My sister lives in Lisbon.", "Lovely city."])
    only_a = store.add_memory(Kind.FACT, "The user's sister lives in Lisbon.", sources=[a.id])
    both = store.add_memory(Kind.FACT, "The user talked about Lisbon.", sources=[a.id, b.id])
    plan = core.memories.forget_preview([a.id, "ep-gone"])
    assert [m.id for m in plan.chosen] == [a.id] and plan.missing == ("ep-gone",)
    assert {m.id for m in plan.deleted} == {a.id, only_a.id}
    assert [m.id for m in plan.also] == [only_a.id]
    assert [m.id for m in plan.trimmed] == [both.id]
    report = core.memories.forget([a.id])
    assert set(report.deleted) == {a.id, only_a.id} and report.trimmed == (both.id,)
    assert store.get(both.id).sources == (b.id,)
    assert core.memories.forget([a.id]).deleted == ()  # forgetting twice does nothing


def test_a_note_added_by_hand_is_a_summary_with_the_note_scope(core: Assistant) -> None:
    note = core.memories.add(Kind.SUMMARY, "Call the plumber on Monday.", pinned=True)
    fact = core.memories.add(Kind.FACT, "The user is vegetarian.", importance=0.9)
    assert note.scope == NOTE_SCOPE and note.pinned and note.author is Author.USER
    assert fact.scope is None and fact.importance == 0.9
    with pytest.raises(InvalidRequestError):
        core.memories.add(Kind.EPISODE, "Not a turn.")


def test_an_edit_changes_only_what_is_given_and_keeps_history(core: Assistant) -> None:
    fact = core.memories.add(Kind.FACT, "The user's bike is red.")
    same = core.memories.edit(fact.id, text=fact.text, importance=fact.importance)
    assert same.version == 1  # nothing changed, no version
    edited = core.memories.edit(fact.id, text="The user's bike is green.", pinned=True)
    assert (edited.version, edited.pinned, edited.text) == (2, True, "The user's bike is green.")
    overview = core.memories.overview(fact.id)
    assert [m.text for m in overview.details.history] == ["The user's bike is red."]
    restored = core.memories.restore_version(fact.id, 1)
    assert restored.text == "The user's bike is red." and restored.version == 3


def test_pinning_reports_what_changed(core: Assistant) -> None:
    one = core.memories.add(Kind.FACT, "One.", pinned=True)
    two = core.memories.add(Kind.FACT, "Two.")
    changed = core.memories.set_pinned([one.id, two.id], True)
    assert [m.id for m in changed] == [two.id]
    assert all(m.pinned for m in core.memories.get_many([one.id, two.id]))


def test_the_overview_names_the_conversation(core: Assistant) -> None:
    store = core.open_memory()
    (turn,) = say(store, "trip", ["We fly to Oslo on the 3rd."])
    store.set_conversation_title("trip", "Oslo trip")
    seen = core.memories.overview(turn.id)
    assert seen.conversation is not None and seen.conversation.title == "Oslo trip"
    assert seen.memory.state is State.ACTIVE and seen.runs == ()


def hit(text: str, *, dense: float, lexical: float = 0.0, role: str | None = None) -> Hit:
    memory = Memory(
        id=text, kind=Kind.EPISODE, text=text, said_at=0, stored_at=0, updated_at=0, role=role
    )
    return Hit(memory, dense, ScoreExplanation(dense=dense, lexical=lexical))


def test_only_relevant_memories_ground_a_reply() -> None:
    near = hit("My dog is called Biscuit.", dense=RELEVANT_MEANING + 0.01)
    worded = hit("Biscuit eats twice a day.", dense=0.05, lexical=1.0)
    unrelated = hit("I like tea.", dense=RELEVANT_MEANING - 0.01, lexical=1e-6)
    assert [h.memory.id for h in evidence([unrelated, near, worded])] == [
        near.memory.id,
        worded.memory.id,
    ]


def test_a_question_asked_again_is_not_evidence_and_questions_come_after_statements() -> None:
    asked = hit("What is my dog's name?", dense=0.95, role="user")
    related = hit("Does my dog like walks?", dense=0.5, role="user")
    told = hit("My dog is called Biscuit.", dense=0.4, role="user")
    ranked = evidence([asked, related, told])
    assert [h.memory.id for h in ranked] == [told.memory.id, related.memory.id]


def test_forget_about_lists_every_mention_and_leaves_pinned_ones_to_the_person(
    core: Assistant,
) -> None:
    store = core.open_memory()
    intro = core.memories.add(
        Kind.FACT, "I am Rosa; I climb, garden and paint on weekends.", pinned=True
    )
    say(store, "c", ["I went climbing in Fontainebleau.", "Fun!"])
    for i in range(TOPIC_LIMIT + 5):  # more mentions than one search returns
        store.add_memory(Kind.FACT, f"Climbing note number {i}.")
    found = core.memories.find_about("climbing")
    by_id = {m.memory.id: m for m in found}
    assert len([m for m in found if m.memory.text.startswith("Climbing note")]) == TOPIC_LIMIT + 5
    assert by_id[intro.id].left_out == "you pinned it"
    core.memories.forget([m.memory.id for m in found if m.left_out is None])
    assert [m.id for m in core.memories.mentioning("climbing")] == [intro.id]


def test_the_last_forget_can_be_taken_back_for_a_while(core: Assistant) -> None:
    store = core.open_memory()
    turns = say(store, "c", ["My locker code is 4411.", "Noted."])
    fact = store.add_memory(Kind.FACT, "The user's locker code is 4411.", sources=[turns[0].id])
    core.memories.forget([turns[0].id], transcript=TranscriptChoice.HIDE_WORDS)
    assert core.undoable == "forgetting 2 memories"
    assert core.undo() == "forgetting 2 memories"
    assert store.get(fact.id).sources == (turns[0].id,)
    assert [t.text for t in store.transcript("c")] == ["My locker code is 4411.", "Noted."]
    with pytest.raises(InvalidRequestError, match="nothing to take back"):
        core.undo()


def test_a_deleted_conversation_can_be_taken_back(core: Assistant) -> None:
    store = core.open_memory()
    turns = say(store, "trip", ["We fly to Oslo on the 3rd.", "Have a good trip!"])
    store.set_conversation_title("trip", "Oslo")
    core.conversations.delete("trip", forget=True)
    assert store.get_conversation("trip") is None and store.get_many([turns[0].id]) == []
    core.undo()
    assert core.conversations.get("trip").title == "Oslo"
    assert [t.id for t in core.conversations.turns("trip")] == [t.id for t in turns]
    assert all(t.memory is not None for t in core.conversations.turns("trip"))


def test_an_undo_offer_lapses(core: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    core.memories.forget([core.memories.add(Kind.FACT, "Temporary.").id])
    assert core.undoable is not None
    later = time.monotonic() + UNDO_SECONDS + 1
    monkeypatch.setattr(core_mod.time, "monotonic", lambda: later)
    assert core.undoable is None
