"""Ranking: deterministic checks on a scripted index, then the real store end to end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mneme.memory import Kind, Memory, MemoryStore, NewEpisode, SearchFilter
from mneme.memory.retrieval import Features, RetrievalConfig, Retriever

DAY = 86_400.0
NOW = 1_700_000_000.0


def mem(i: str, kind: Kind = Kind.EPISODE, said: float = NOW - DAY, **kw) -> Memory:  # type: ignore[no-untyped-def]
    return Memory(
        id=i, kind=kind, text=f"text {i}", said_at=said, stored_at=said, updated_at=said, **kw
    )


@dataclass
class ScriptedIndex:
    """Scores are given per memory; vectors are one-hot so similarity is exact."""

    items: dict[str, Memory]
    dense_scores: dict[str, float]
    lexical_scores: dict[str, float] = field(default_factory=dict)
    frequency: dict[str, int] = field(default_factory=dict)
    total: int = 10
    seen_terms: list[list[str]] = field(default_factory=list)
    vectors_of: dict[str, list[float]] = field(default_factory=dict)

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0]

    def _filtered(self, scores: dict[str, float], f: SearchFilter) -> list[tuple[str, float]]:
        ok = [
            (i, s)
            for i, s in scores.items()
            if (not f.kinds or self.items[i].kind in f.kinds)
            and (f.since is None or self.items[i].said_at >= f.since)
            and (f.until is None or self.items[i].said_at <= f.until)
        ]
        return sorted(ok, key=lambda x: -x[1])

    def dense(self, vector: Sequence[float], n: int, filters: SearchFilter, *, strict=False):  # type: ignore[no-untyped-def]
        return self._filtered(self.dense_scores, filters)[:n]

    def lexical(self, terms: Sequence[str], n: int, filters: SearchFilter, *, strict=False):  # type: ignore[no-untyped-def]
        self.seen_terms.append(list(terms))
        return self._filtered(self.lexical_scores, filters)[:n]

    def document_frequency(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return {t: self.frequency.get(t, 1) for t in terms}, self.total

    def vectors(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        return {i: self.vectors_of.get(i, [0.0, 0.0]) for i in ids}

    def memories(self, ids: Sequence[str]) -> dict[str, Memory]:
        return {i: self.items[i] for i in ids if i in self.items}

    def features(self, ids: Sequence[str]) -> dict[str, Features]:
        return {i: Features.of(m) for i, m in self.memories(ids).items()}

    def speakers(self) -> list[str]:
        return sorted({m.speaker for m in self.items.values() if m.speaker})


def retriever(index: ScriptedIndex, **config) -> Retriever:  # type: ignore[no-untyped-def]
    return Retriever(index, lambda: NOW, RetrievalConfig(**config))


def test_fusion_prefers_agreement_and_explains_itself() -> None:
    items = {i: mem(i) for i in "abcd"}
    index = ScriptedIndex(
        items,
        dense_scores={"a": 0.9, "b": 0.8, "c": 0.1, "d": 0.0},
        lexical_scores={"b": 9.0, "d": 1.0},
    )
    hits = retriever(index).search("query words", k=4)
    assert [h.memory.id for h in hits][:2] == ["b", "a"]
    top = hits[0].explanation
    assert top.dense == 0.8 and top.lexical == 9.0 and top.dense_rank == 2 and top.lexical_rank == 1
    assert hits[0].score > hits[1].score
    assert "meaning 0.80" in top.describe() and "words 9.0" in top.describe()


def fillers(n: int = 30) -> tuple[dict[str, Memory], dict[str, float]]:
    """A realistic candidate pool: scores standardise against many, not two."""
    items = {f"f{i}": mem(f"f{i}", speaker="Cy") for i in range(n)}
    return items, {f"f{i}": 0.02 * i for i in range(n)}


def test_a_named_speaker_lifts_their_turns() -> None:
    items, scores = fillers()
    items |= {"ana": mem("ana", speaker="Ana"), "bo": mem("bo", speaker="Bo")}
    index = ScriptedIndex(items, dense_scores=scores | {"ana": 0.7, "bo": 0.72})
    assert retriever(index).search("what does bo like", k=1)[0].memory.id == "bo"
    hits = retriever(index).search("What does Ana like?", k=2)
    assert hits[0].memory.id == "ana" and hits[0].explanation.speaker > 0
    assert hits[1].explanation.speaker == 0


def test_a_time_in_the_query_lifts_memories_from_then() -> None:
    items, scores = fillers()
    items = {k: mem(k, said=NOW - 300 * DAY) for k in items}
    items |= {"old": mem("old", said=NOW - 40 * DAY), "recent": mem("recent", said=NOW - 3 * DAY)}
    index = ScriptedIndex(items, dense_scores=scores | {"old": 0.8, "recent": 0.7})
    assert retriever(index).search("dinner plans", k=1)[0].memory.id == "old"
    hits = retriever(index).search("dinner plans last week", k=2)
    assert hits[0].memory.id == "recent" and hits[0].explanation.time > 0


def test_facts_lend_their_match_to_the_episodes_they_came_from() -> None:
    items = {
        "ep1": mem("ep1"),
        "ep2": mem("ep2"),
        "fact": mem("fact", kind=Kind.FACT, sources=("ep2",)),
    }
    index = ScriptedIndex(items, dense_scores={"fact": 0.9, "ep1": 0.5, "ep2": 0.1})
    hits = retriever(index).search("q", k=2, filters=SearchFilter(kinds=(Kind.EPISODE,)))
    assert [h.memory.id for h in hits] == ["ep2", "ep1"]
    assert hits[0].explanation.via == "fact"
    plain = retriever(index).search(
        "q", k=3, filters=SearchFilter(kinds=(Kind.EPISODE,), via_derived=False)
    )
    assert [h.memory.id for h in plain] == ["ep1", "ep2"]


def test_a_broad_summary_lends_each_of_its_turns_only_a_share() -> None:
    """A summary of ten turns says little about which one answers; lending all of them
    its full score would bury the turn that matches by itself."""
    turns = {f"t{i}": mem(f"t{i}") for i in range(10)}
    items = {
        **turns,
        "answer": mem("answer"),
        "summary": mem("summary", kind=Kind.SUMMARY, sources=tuple(turns)),
    }
    scores = {"summary": 0.95, "answer": 0.6, **{t: 0.05 for t in turns}}
    index = ScriptedIndex(items, dense_scores=scores)
    episodes = SearchFilter(kinds=(Kind.EPISODE,))
    hits = retriever(index).search("q", k=3, filters=episodes)
    assert hits[0].memory.id == "answer"
    flooded = retriever(index, lend_sources=1000).search("q", k=3, filters=episodes)
    assert "answer" not in [h.memory.id for h in flooded]


def test_excluded_ids_and_filters_are_respected() -> None:
    items = {"a": mem("a"), "b": mem("b"), "f": mem("f", kind=Kind.FACT)}
    index = ScriptedIndex(items, dense_scores={"a": 0.9, "b": 0.5, "f": 0.95})
    hits = retriever(index).search("q", k=5, exclude=["a"])
    assert [h.memory.id for h in hits] == ["f", "b"]
    facts = retriever(index).search("q", k=5, filters=SearchFilter(kinds=(Kind.FACT,)))
    assert [h.memory.id for h in facts] == ["f"]


def test_importance_and_recency_break_ties() -> None:
    items = {
        "plain": mem("plain", said=NOW - 400 * DAY),
        "important": mem("important", said=NOW - 400 * DAY, importance=1.0),
        "fresh": mem("fresh", said=NOW - DAY),
    }
    index = ScriptedIndex(items, dense_scores=dict.fromkeys(items, 0.5))
    hits = retriever(index).search("q", k=3)
    assert hits[0].memory.id == "important" and hits[-1].memory.id == "plain"
    assert hits[1].explanation.recency > hits[2].explanation.recency


def test_mmr_picks_something_different_over_a_near_duplicate() -> None:
    items = {i: mem(i) for i in ("a", "a2", "b")}
    index = ScriptedIndex(
        items,
        dense_scores={"a": 0.9, "a2": 0.89, "b": 0.7},
        vectors_of={"a": [1, 0], "a2": [1, 0], "b": [0, 1]},
    )
    assert [h.memory.id for h in retriever(index).search("q", k=2)] == ["a", "a2"]
    diverse = retriever(index, mmr_lambda=0.5).search("q", k=2)
    assert [h.memory.id for h in diverse] == ["a", "b"]


def test_very_common_words_are_left_out_of_large_stores() -> None:
    index = ScriptedIndex(
        {"a": mem("a")}, dense_scores={"a": 0.5}, frequency={"coffee": 10, "user": 900}, total=1000
    )
    retriever(index).search("user coffee", k=1)
    assert index.seen_terms[-1] == ["coffee"]
    retriever(index).search("user", k=1)  # only common words: still searched by the rarest
    assert index.seen_terms[-1] == ["user"]
    index.total = 500  # small stores keep every word
    retriever(index).search("user coffee", k=1)
    assert index.seen_terms[-1] == ["user", "coffee"]


def test_the_lexical_search_keeps_the_rarest_words_within_its_budget() -> None:
    frequency = {"alpha": 9_000, "beta": 8_000, "gamma": 50, "delta": 12_000}
    index = ScriptedIndex(
        {"a": mem("a")}, dense_scores={"a": 0.5}, frequency=frequency, total=200_000
    )
    retriever(index, lexical_postings=20_000).search("alpha beta gamma delta", k=1)
    assert index.seen_terms[-1] == ["gamma", "beta", "alpha"]


# -- the real store ---------------------------------------------------------------


def test_a_turn_is_found_through_the_exchange_it_belongs_to(store: MemoryStore) -> None:
    store.add_episodes(
        [
            NewEpisode(
                "How was your week? Did you finish that research project?",
                "user",
                "c",
                speaker="Mia",
            ),
            NewEpisode(
                "Yes! It was all about adoption agencies in Portugal.",
                "assistant",
                "c",
                speaker="Leo",
            ),
            NewEpisode("I also repainted the kitchen.", "assistant", "c", speaker="Leo"),
        ]
        + [
            NewEpisode(f"Unrelated chatter number {i} about football.", "user", f"o{i}")
            for i in range(10)
        ]
    )
    hits = store.search(
        "What was Leo's research about?", k=2, filters=SearchFilter(kinds=(Kind.EPISODE,))
    )
    assert "adoption agencies" in hits[0].memory.text
    assert hits[0].explanation.speaker > 0


def test_a_fact_points_back_to_the_turn_behind_it(store: MemoryStore) -> None:
    turns = store.add_episodes(
        [
            NewEpisode(
                "Ugh, Monday I start at the new place, Northwind, as a data engineer.", "user", "c"
            ),
            NewEpisode("Congratulations on the new job!", "assistant", "c"),
            NewEpisode("I had pasta for lunch.", "user", "c2"),
        ]
    )
    store.add_memory(
        Kind.FACT, "The user works at Northwind as a data engineer.", sources=[turns[0].id]
    )
    hits = store.search(
        "Which company employs the user?", k=1, filters=SearchFilter(kinds=(Kind.EPISODE,))
    )
    assert hits[0].memory.id == turns[0].id


def test_time_words_resolve_against_the_store_clock(embedder, open_store) -> None:  # type: ignore[no-untyped-def]
    now = 1_700_000_000.0
    store = open_store(clock=lambda: now)
    store.add_episodes(
        [
            NewEpisode("We had dinner at the Thai place.", "user", "a", said_at=now - 40 * DAY),
            NewEpisode("We had dinner at the Greek place.", "user", "b", said_at=now - 4 * DAY),
            NewEpisode(
                "I booked flights for my trip to Chile.", "user", "c", said_at=now - 20 * DAY
            ),
            NewEpisode("We had dinner at the Peruvian place.", "user", "d", said_at=now - 30 * DAY),
        ]
    )
    assert "Greek" in store.search("Where did we have dinner last week?", k=1)[0].memory.text
    before_trip = store.search("Where did we have dinner before my trip?", k=1)[0]
    assert "Peruvian" in before_trip.memory.text or "Thai" in before_trip.memory.text
    assert before_trip.explanation.time > 0


_TOMATO_CHAT = [
    NewEpisode("I grow tomatoes and basil on my balcony in Lisbon.", "user", "c"),
    NewEpisode(
        "Growing tomatoes is rewarding! Where you grow tomatoes matters: tomatoes grow best "
        "in a sunny spot. To grow tomatoes, water them deeply, feed them every two weeks and "
        "stake them as they grow.",
        "assistant",
        "c",
    ),
    *(
        NewEpisode(f"Unrelated chatter number {i} about football.", "user", f"o{i}")
        for i in range(8)
    ),
]


def test_the_persons_words_outrank_mneme_repeating_the_question(
    embedder,
    open_store,  # type: ignore[no-untyped-def]
) -> None:
    """The issue's case: a long reply full of the question's words came first."""
    question = "Where do I grow my tomatoes?"
    before = open_store(retrieval=RetrievalConfig(own_words=0.0))
    before.add_episodes(_TOMATO_CHAT)
    assert before.search(question, k=2)[0].memory.role == "assistant"  # the problem
    before.close()
    store = open_store(retrieval=RetrievalConfig())
    hits = store.search(question, k=2)
    assert hits[0].memory.text.startswith("I grow tomatoes")
    assert hits[1].memory.role == "assistant" and hits[1].explanation.voice == -1.0
    assert "said by Mneme -1.00" in hits[1].explanation.describe()


def test_asked_what_mneme_said_its_replies_keep_their_place(store: MemoryStore) -> None:
    store.add_episodes(_TOMATO_CHAT)
    hits = store.search("What did you tell me about growing tomatoes?", k=2)
    assert hits[0].memory.role == "assistant" and hits[0].explanation.voice == 0.0


def test_named_speakers_of_imported_conversations_are_never_stepped_back(
    store: MemoryStore,
) -> None:
    store.add_episodes(
        [NewEpisode("I grow tomatoes on my balcony.", "assistant", "c", speaker="Leo")]
    )
    (hit,) = store.search("Where does Leo grow tomatoes?", k=1)
    assert hit.explanation.voice == 0.0
