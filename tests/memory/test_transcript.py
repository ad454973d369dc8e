"""What was said stays said: a conversation's transcript apart from its memories."""

from __future__ import annotations

from pathlib import Path

import pytest

from mneme.memory import (
    Kind,
    MemoryStore,
    NewEpisode,
    State,
    TranscriptChoice,
)
from mneme.memory.export import export_json, import_json


def chat(store: MemoryStore, conversation: str = "c") -> list[str]:
    turns = store.add_episodes(
        [
            NewEpisode("My dog is called Biscuit.", "user", conversation, said_at=1e9),
            NewEpisode("What a lovely name!", "assistant", conversation, said_at=1e9 + 1),
            NewEpisode("I climb on Sundays.", "user", conversation, said_at=1e9 + 2),
            NewEpisode("Where do you climb?", "assistant", conversation, said_at=1e9 + 3),
        ]
    )
    return [t.id for t in turns]


def words(store: MemoryStore, conversation: str = "c") -> list[tuple[str, str]]:
    return [(t.text, t.state.value) for t in store.transcript(conversation)]


def test_editing_a_memory_never_rewrites_what_was_said(store: MemoryStore) -> None:
    dog, *_ = chat(store)
    store.edit(dog, "My dog is called Biscuit. Biscuit is a beagle.")
    assert store.get(dog).text.endswith("beagle.")
    assert store.transcript("c")[0].text == "My dog is called Biscuit."
    assert store.transcript("c")[0].remembered


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (TranscriptChoice.KEEP_WORDS, ("I climb on Sundays.", "not-remembered")),
        (TranscriptChoice.HIDE_WORDS, ("", "withheld")),
        (TranscriptChoice.REMOVE_TURN, None),
    ],
)
def test_forgetting_a_turn_leaves_its_conversation_as_the_person_chose(
    store: MemoryStore, choice: TranscriptChoice, expected: tuple[str, str] | None
) -> None:
    _, _, climb, _ = chat(store)
    store.forget([climb], transcript=choice)
    assert store.get_many([climb]) == []  # gone from memory whatever the choice
    assert "climb on Sundays" not in " ".join(m.text for m in store.conversation("c"))
    shown = words(store)
    assert ("My dog is called Biscuit.", "remembered") in shown
    if expected is None:
        assert len(shown) == 3
    else:
        assert shown[2] == expected and len(shown) == 4


def test_a_replaced_turn_leaves_the_conversation_and_stays_in_memory(store: MemoryStore) -> None:
    *_, reply = chat(store)
    store.replace_turns([reply])
    assert store.get(reply).state is State.SUPERSEDED
    assert [t for t, _ in words(store)][-1] == "I climb on Sundays."
    store.forget([reply])  # a replaced turn whose memory goes is simply gone
    assert store.transcript_turns([reply]) == {}


def test_changing_what_was_said_changes_the_turn_and_its_memory(store: MemoryStore) -> None:
    _, _, climb, _ = chat(store)
    store.change_words(climb, "I climb on Saturdays.")
    assert store.get(climb).text == "I climb on Saturdays." and store.get(climb).version == 2
    assert words(store)[2] == ("I climb on Saturdays.", "remembered")


def test_a_new_turn_comes_after_turns_no_longer_remembered(store: MemoryStore) -> None:
    *_, last = chat(store)
    store.forget([last])
    (new,) = store.add_episodes([NewEpisode("Fontainebleau.", "user", "c", said_at=1e9 + 4)])
    assert [t.id for t in store.transcript("c")][-2:] == [last, new.id]


def test_deleting_a_conversation_takes_what_was_said(store: MemoryStore) -> None:
    ids = chat(store)
    store.delete_conversation("c", forget=False)
    assert store.transcript("c") == [] and len(store.get_many(ids)) == 4  # still remembered
    chat(store, "d")
    store.delete_conversation("d", forget=True)
    assert store.transcript("d") == [] and store.count() == 4


def test_a_forget_can_be_taken_back_whole(store: MemoryStore) -> None:
    dog, _, climb, reply = chat(store)
    fact = store.add_memory(Kind.FACT, "The user climbs on Sundays.", sources=[climb])
    both = store.add_memory(Kind.FACT, "The user has a dog and climbs.", sources=[dog, climb])
    before = {m.id: m for m in store.get_many([dog, climb, reply, fact.id, both.id])}
    said = words(store)
    undo = store.capture_forget([climb])
    store.forget([climb], transcript=TranscriptChoice.HIDE_WORDS)
    assert store.get_many([fact.id]) == [] and store.get(both.id).sources == (dog,)
    assert sorted(store.undo_forget(undo)) == sorted([climb, fact.id])
    assert words(store) == said
    assert store.get(climb).text == before[climb].text
    assert store.get(fact.id).sources == (climb,)
    assert store.get(both.id).sources == (dog, climb)
    assert store.search("Which day do I climb?", k=1)[0].memory.id in {climb, fact.id}


def test_an_export_keeps_what_was_said_apart_from_what_is_remembered(
    store: MemoryStore,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    dog, _, climb, _ = chat(store)
    store.edit(dog, "My dog Biscuit is a beagle.")
    store.forget([climb], transcript=TranscriptChoice.KEEP_WORDS)
    export_json(store, tmp_path / "all.json")
    with MemoryStore.open(tmp_path / "other", embedder) as other:
        import_json(other, tmp_path / "all.json")
        assert words(other) == words(store)
        assert other.get(dog).text == "My dog Biscuit is a beagle."
