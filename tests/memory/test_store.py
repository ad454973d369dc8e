"""MemoryStore on real Chroma and the real MiniLM embedder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memory import (
    InvalidMemoryError,
    Kind,
    MemoryNotFoundError,
    MemoryStore,
    NewEpisode,
    SearchFilter,
    StoreLockedError,
)

TURNS = [
    ("user", "My sister Ana moved to Lisbon last spring."),
    ("assistant", "That sounds like a big change for her!"),
    ("user", "I adopted a beagle called Biscuit."),
    ("user", "My favourite dish is mushroom risotto."),
]


def remember(store: MemoryStore, conversation: str = "c1") -> list[str]:
    saved = store.add_episodes([NewEpisode(t, r, conversation) for r, t in TURNS])
    return [m.id for m in saved]


def test_turns_are_kept_in_order_with_their_metadata(store: MemoryStore) -> None:
    ids = remember(store)
    turns = store.conversation("c1")
    assert [t.id for t in turns] == ids
    assert [t.seq for t in turns] == [1, 2, 3, 4]
    assert [t.role for t in turns] == [r for r, _ in TURNS]
    assert all(t.kind is Kind.EPISODE and t.stored_at > 0 for t in turns)
    more = store.add_episode(NewEpisode("Another thing", "user", "c1"))
    assert more.seq == 5


def test_search_finds_the_turn_by_meaning(store: MemoryStore) -> None:
    remember(store)
    hits = store.search("What kind of dog do I have?", k=2)
    assert hits[0].memory.text == "I adopted a beagle called Biscuit."
    assert hits[0].explanation.dense is not None
    hits = store.search("Where does Ana live now?", k=1)
    assert "Lisbon" in hits[0].memory.text


def test_search_respects_k_and_filters(store: MemoryStore) -> None:
    remember(store, "c1")
    store.add_episode(NewEpisode("My sister visits me in May.", "user", "c2"))
    assert len(store.search("sister", k=1)) == 1
    only_c2 = store.search("sister", k=5, filters=SearchFilter(conversation_id="c2"))
    assert [h.memory.conversation_id for h in only_c2] == ["c2"]
    not_c2 = store.search("sister", k=5, filters=SearchFilter(exclude_conversation_id="c2"))
    assert not_c2 and all(h.memory.conversation_id == "c1" for h in not_c2)


def test_delete_removes_from_search_listing_and_count(store: MemoryStore) -> None:
    ids = remember(store)
    dog = ids[2]
    report = store.delete([dog])
    assert report.deleted == (dog,)
    assert store.count() == 3
    assert dog not in [m.id for m in store.memories()]
    assert all(h.memory.id != dog for h in store.search("beagle Biscuit dog", k=10))
    with pytest.raises(MemoryNotFoundError):
        store.get(dog)
    assert store.delete([dog]).deleted == ()


def test_edit_keeps_history(store: MemoryStore) -> None:
    ids = remember(store)
    new = store.edit(ids[0], "My sister Ana moved to Porto last spring.")
    assert new.version == 2
    assert store.get(ids[0]).text.endswith("Porto last spring.")
    assert [h.text for h in store.history(ids[0])] == [TURNS[0][1]]
    assert "Porto" in store.search("Which city did Ana move to?", k=1)[0].memory.text


def test_derived_memories_are_reported_on_delete(store: MemoryStore) -> None:
    ids = remember(store)
    fact = store.add_memory(Kind.FACT, "The user's sister Ana lives in Lisbon.", sources=[ids[0]])
    report = store.delete([ids[0]])
    assert report.derived == (fact.id,)


@pytest.mark.parametrize("bad", ["", "   \n\t", 42, "x" * 1_000_001])
def test_bad_text_is_refused_with_a_clear_error_and_nothing_is_stored(
    store: MemoryStore, bad: object
) -> None:
    with pytest.raises(InvalidMemoryError):
        store.add_episode(NewEpisode(bad, "user", "c1"))  # type: ignore[arg-type]
    assert store.count() == 0


def test_odd_text_round_trips(store: MemoryStore) -> None:
    texts = ["emoji 🧠 and RTL שלום", "nul\x00inside", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 plane 1 and \U0010fffd"]
    saved = store.add_episodes([NewEpisode(t, "user", "odd") for t in texts])
    got = [store.get(m.id).text for m in saved]
    assert got[0] == texts[0] and got[2] == texts[2]
    assert got[1] == "nul\ufffdinside"


def test_a_second_process_is_refused_while_the_store_is_open(store: MemoryStore, embedder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreLockedError, match="in use by another Mneme"):
        MemoryStore.open(store.folder, embedder)


def test_turns_survive_and_are_found_from_a_new_process(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "memory"
    with MemoryStore.open(folder, embedder) as s:
        ids = remember(s)
    script = textwrap.dedent(
        f"""
        import json, sys
        from memory import MemoryStore, SentenceTransformerEmbedder
        with MemoryStore.open({str(folder)!r}, SentenceTransformerEmbedder(threads=1)) as s:
            before = s.count()
            hits = s.search("What is my favourite food?", k=1)
            s.delete([{ids[1]!r}])
            print(json.dumps([before, hits[0].memory.text]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    count, text = json.loads(out.stdout.strip().splitlines()[-1])
    assert count == 4 and text == "My favourite dish is mushroom risotto."
    with MemoryStore.open(folder, embedder) as s:
        assert s.count() == 3
        assert ids[1] not in {m.id for m in s.memories()}


def test_conversations_are_listed_newest_first(store: MemoryStore) -> None:
    store.add_episode(NewEpisode("first", "user", "a", said_at=100.0))
    store.add_episode(NewEpisode("second", "user", "b", said_at=200.0))
    store.set_conversation_title("a", "Talk A")
    listed = store.conversations()
    assert [c.id for c in listed] == ["b", "a"]
    assert listed[1].title == "Talk A" and listed[1].turns == 1
