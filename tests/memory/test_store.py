"""MemoryStore on real Chroma and the real MiniLM embedder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mneme.memory import (
    CONFLICTS_WITH,
    Author,
    Change,
    InvalidMemoryError,
    Kind,
    ListQuery,
    MemoryNotFoundError,
    MemoryStore,
    NewEpisode,
    SearchFilter,
    ServerLocation,
    SortKey,
    State,
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
    assert dog not in [m.id for m in store.browse().items]
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


@pytest.mark.parametrize("bad", ["", "   \n\t", 42, "x" * 2_000_001])
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


def test_turns_survive_and_are_found_from_a_new_process(
    tmp_path: Path, embedder, location: ServerLocation | None
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "memory"
    with MemoryStore.open(folder, embedder, server=location) as s:
        ids = remember(s)
    server = (
        f"ServerLocation({location.url!r}, database={location.database!r})" if location else None
    )
    script = textwrap.dedent(
        f"""
        import json, sys
        from mneme.memory import MemoryStore, SentenceTransformerEmbedder, ServerLocation
        embedder = SentenceTransformerEmbedder(threads=1)
        with MemoryStore.open({str(folder)!r}, embedder, server={server}) as s:
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
    with MemoryStore.open(folder, embedder, server=location) as s:
        assert s.count() == 3
        assert ids[1] not in {m.id for m in s.browse().items}


def test_conversations_are_listed_newest_first(store: MemoryStore) -> None:
    store.add_episode(NewEpisode("first", "user", "a", said_at=100.0))
    store.add_episode(NewEpisode("second", "user", "b", said_at=200.0))
    store.set_conversation_title("a", "Talk A")
    listed = store.conversations()
    assert [c.id for c in listed] == ["b", "a"]
    assert listed[1].title == "Talk A" and listed[1].turns == 1


def test_edits_keep_who_changed_what_and_a_version_can_be_restored(store: MemoryStore) -> None:
    fact = store.add_memory(Kind.FACT, "The user likes tea.", author=Author.CONSOLIDATION)
    store.update(fact.id, text="The user likes green tea.", author=Author.USER)
    store.update(fact.id, importance=0.9, author=Author.CONSOLIDATION)
    versions = store.history(fact.id)
    assert [(v.version, v.author, v.text) for v in versions] == [
        (1, Author.CONSOLIDATION, "The user likes tea."),
        (2, Author.USER, "The user likes green tea."),
    ]
    restored = store.restore_version(fact.id, 1)
    assert restored.text == "The user likes tea." and restored.version == 4
    assert restored.author is Author.USER
    with pytest.raises(InvalidMemoryError, match="cannot be changed"):
        store.update(fact.id, kind="episode")


def test_details_show_provenance_both_ways(store: MemoryStore) -> None:
    ids = remember(store)
    fact = store.add_memory(Kind.FACT, "The user has a beagle named Biscuit.", sources=[ids[2]])
    summary = store.add_memory(
        Kind.SUMMARY, "Talked about family and pets.", sources=ids, scope="session"
    )
    details = store.details(ids[2])
    assert {m.id for m in details.derived} == {fact.id, summary.id}
    assert [m.id for m in store.details(fact.id).sources] == [ids[2]]
    assert store.details(summary.id).memory.scope == "session"


def test_browse_pages_sorts_and_filters(store: MemoryStore) -> None:
    for day in range(30):
        store.add_episode(
            NewEpisode(
                f"note number {day} about gardening",
                "user",
                f"c{day % 3}",
                said_at=1_700_000_000 + day * 86_400,
            )
        )
    fact = store.add_memory(Kind.FACT, "The user gardens.", pinned=True, importance=0.9)
    first = store.browse(ListQuery(limit=10))
    assert first.total == 31 and len(first.items) == 10
    assert first.items[0].id == fact.id  # stored now, said now: newest
    second = store.browse(ListQuery(limit=10, offset=10))
    assert not {m.id for m in first.items} & {m.id for m in second.items}
    oldest = store.browse(ListQuery(kinds=(Kind.EPISODE,), descending=False, limit=1)).items[0]
    assert oldest.text == "note number 0 about gardening"
    assert store.browse(ListQuery(conversation_id="c1")).total == 10
    assert store.browse(ListQuery(pinned_only=True)).items == (store.get(fact.id),)
    assert store.browse(ListQuery(contains="number 7")).total == 1
    ranged = store.browse(
        ListQuery(since=1_700_000_000 + 10 * 86_400, until=1_700_000_000 + 12 * 86_400)
    )
    assert ranged.total == 3
    by_importance = store.browse(ListQuery(sort=SortKey.IMPORTANCE, limit=1)).items[0]
    assert by_importance.id == fact.id


def test_stats_count_kinds_states_and_size(store: MemoryStore) -> None:
    remember(store)
    store.add_memory(Kind.FACT, "The user has a beagle.", pinned=True)
    stats = store.stats()
    assert stats.by_kind[Kind.EPISODE] == 4 and stats.by_kind[Kind.FACT] == 1
    assert stats.by_state[State.ACTIVE] == 5 and stats.pinned == 1
    assert stats.size_bytes > 0 and stats.conversations == 1


def test_extra_metadata_is_cleaned_or_refused_before_chroma(store: MemoryStore) -> None:
    m = store.add_episode(
        NewEpisode("hello", "user", "c", extra={"source": "import", "n": 3, "gone": None})
    )
    assert store.get(m.id).extra == {"source": "import", "n": 3}
    for bad in (
        {"nested": {"a": 1}},
        {"list": [1, 2]},
        {"nan": float("nan")},
        {"": 1},
        {"x" * 100: 1},
    ):
        with pytest.raises(InvalidMemoryError):
            store.add_episode(NewEpisode("hello", "user", "c", extra=bad))  # type: ignore[arg-type]
    assert store.count() == 1


def test_a_megabyte_and_binary_looking_text_round_trip(store: MemoryStore) -> None:
    huge = ("memory " * 150_000)[:1_048_576]
    binary = "".join(chr(i) for i in range(1, 32)) + "\x7f\ufffe\U0001f600"
    saved = store.add_episodes([NewEpisode(huge, "user", "c"), NewEpisode(binary, "user", "c")])
    assert store.get(saved[0].id).text == huge
    assert store.get(saved[1].id).text == binary
    assert store.search("memory memory", k=1)


def test_access_is_recorded_per_memory(store: MemoryStore) -> None:
    ids = remember(store)
    store.record_access([ids[0], ids[0], ids[1]])
    store.record_access([ids[0]])
    assert store.get(ids[0]).access_count == 2 and store.get(ids[0]).last_access
    assert store.get(ids[1]).access_count == 1 and store.get(ids[2]).access_count == 0


def test_neighbours_in_a_conversation(store: MemoryStore) -> None:
    ids = remember(store)
    second = store.get(ids[1])
    assert store.neighbour(second, -1).id == ids[0]  # type: ignore[union-attr]
    assert store.neighbour(second, 2).id == ids[3]  # type: ignore[union-attr]
    assert store.neighbour(store.get(ids[0]), -1) is None


def test_listeners_hear_every_committed_write(store: MemoryStore) -> None:
    heard = []
    unsubscribe = store.subscribe(heard.append)
    ids = remember(store)
    store.edit(ids[0], "changed")
    store.delete([ids[1]])
    unsubscribe()
    store.delete([ids[2]])
    assert [bool(c.added) for c in heard] == [True, False, False]
    assert heard[1].updated == (ids[0],) and heard[2].deleted == (ids[1],)


def test_a_flagged_contradiction_is_resolved_either_way_without_deleting(
    store: MemoryStore,
) -> None:
    def pair() -> tuple[str, str]:
        old = store.add_memory(Kind.FACT, "The user's sister is Ana.", said_at=100.0)
        new = store.add_memory(
            Kind.FACT,
            "The user's sister is Anna.",
            said_at=200.0,
            valid_from=200.0,
            extra={"conflicts_with": old.id, "source": "kept"},
        )
        return old.id, new.id

    heard: list[Change] = []
    store.subscribe(heard.append)
    old, new = pair()  # the new one holds: the old is dated and superseded
    changed = store.resolve_conflict(new, old)
    assert {m.id for m in changed} == {old, new} and heard[-1].updated == (new, old)
    kept, dropped = store.get(new), store.get(old)
    assert kept.state is State.ACTIVE and kept.extra == {"source": "kept"}
    assert kept.author is Author.USER and store.history(new)[0].extra["conflicts_with"] == old
    assert (dropped.state, dropped.superseded_by, dropped.valid_to) == (
        State.SUPERSEDED,
        new,
        200.0,
    )
    assert [f.id for f in store.facts_as_of(150.0)] == [old]
    assert [f.id for f in store.facts_as_of(250.0)] == [new]
    assert store.resolve_conflict(new, old) == []  # decided already: nothing to do

    old, new = pair()  # the old one holds: the new one never did
    store.resolve_conflict(old, new)
    kept, dropped = store.get(old), store.get(new)
    assert kept.state is State.ACTIVE and kept.version == 1
    assert (dropped.state, dropped.superseded_by) == (State.SUPERSEDED, old)
    assert dropped.valid_to == dropped.valid_from == 200.0 and dropped.extra == {"source": "kept"}
    assert old in [f.id for f in store.facts_as_of(250.0)]
    assert new not in [f.id for f in store.facts_as_of(250.0)]

    old, new = pair()  # both are true: only the flag goes
    assert [m.id for m in store.resolve_conflict(new)] == [new]
    assert store.get(new).extra == {"source": "kept"} and store.get(new).state is State.ACTIVE
    assert store.get(old).state is State.ACTIVE and store.get(old).version == 1

    with pytest.raises(MemoryNotFoundError):
        store.resolve_conflict(new, "fa-missing")
    with pytest.raises(InvalidMemoryError, match="itself"):
        store.resolve_conflict(new, new)
    assert store.count() == 6


@pytest.mark.parametrize("location", [None])  # embedded only: one query, the same on a server
def test_open_contradictions_are_listed_newest_first_with_the_fact_they_contradict(
    store: MemoryStore,
) -> None:
    def fact(text: str, said: float, flag: str | None = None) -> str:
        extra = {CONFLICTS_WITH: flag} if flag else {}
        return store.add_memory(Kind.FACT, text, said_at=said, extra=extra).id

    ana = fact("The user's sister is Ana.", 100.0)
    anna = fact("The user's sister is Anna.", 200.0, ana)
    cat = fact("The user has a cat.", 300.0)
    dog = fact("The user has a dog.", 400.0, cat)
    ghent = fact("The user lives in Ghent.", 50.0)
    lyon = fact("The user lives in Lyon.", 500.0, ghent)
    tea = fact("The user drinks tea.", 10.0)
    coffee = fact("The user drinks coffee.", 600.0, tea)
    store.update(coffee, state=State.ARCHIVED)  # faded, but still undecided
    closed = fact("The user likes jazz.", 700.0, tea)
    store.update(closed, state=State.SUPERSEDED)  # a superseded fact has nothing to decide
    store.add_episode(NewEpisode("not a fact", "user", "c", extra={CONFLICTS_WITH: tea}))
    store.add_memory(Kind.FACT, "Unflagged.", extra={CONFLICTS_WITH: ""})
    store.delete([ghent])  # forgotten since: the pair shows the newer fact alone

    def ids() -> list[tuple[str, str | None]]:
        return [(new.id, old.id if old else None) for new, old in store.conflicts()]

    assert ids() == [(coffee, tea), (lyon, None), (dog, cat), (anna, ana)]
    first_new, first_old = store.conflicts()[0]
    assert first_new == store.get(coffee) and first_old == store.get(tea)
    store.resolve_conflict(dog, cat)
    store.resolve_conflict(anna)
    assert ids() == [(coffee, tea), (lyon, None)]
