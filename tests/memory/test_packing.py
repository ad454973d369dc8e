from __future__ import annotations

from mneme.memory import Hit, Kind, Memory, pack


def turn(conv: str, seq: int, role: str = "user", text: str = "x " * 10) -> Memory:
    return Memory(
        id=f"{conv}-{seq}",
        kind=Kind.EPISODE,
        text=text,
        said_at=seq,
        stored_at=0,
        updated_at=0,
        conversation_id=conv,
        seq=seq,
        role=role,
    )


def words(m: Memory) -> int:
    return len(m.text.split())


def test_hits_fill_the_budget_in_rank_order() -> None:
    hits = [Hit(turn("a", i), 1.0 / i) for i in range(1, 6)]
    snippets = pack(hits, budget=30, count_tokens=words)
    chosen = [m.id for s in snippets for m in s.memories]
    assert len(chosen) == 3 and sum(s.tokens for s in snippets) <= 30
    long = Hit(turn("b", 1, text="y " * 100), 2.0)
    snippets = pack([long, *hits], budget=30, count_tokens=words)
    assert "b-1" not in [m.id for s in snippets for m in s.memories]  # too big, skipped


def test_neighbouring_turns_stay_together_in_order() -> None:
    hits = [Hit(turn("a", 5), 0.9), Hit(turn("z", 1), 0.8), Hit(turn("a", 4), 0.7)]
    snippets = pack(hits, budget=100, count_tokens=words)
    assert [[m.id for m in s.memories] for s in snippets] == [["a-4", "a-5"], ["z-1"]]
    assert [h.memory.id for h in snippets[0].hits] == ["a-4", "a-5"]


def test_a_reply_brings_the_question_before_it_when_there_is_room() -> None:
    question = turn("a", 1, role="user")
    reply = turn("a", 2, role="assistant")
    snippets = pack(
        [Hit(reply, 1.0)],
        budget=25,
        count_tokens=words,
        previous_turn=lambda m: question if m.id == "a-2" else None,
    )
    assert [m.id for m in snippets[0].memories] == ["a-1", "a-2"]
    assert [h.memory.id for h in snippets[0].hits] == ["a-2"]
    tight = pack([Hit(reply, 1.0)], budget=15, count_tokens=words, previous_turn=lambda m: question)
    assert [m.id for m in tight[0].memories] == ["a-2"]
