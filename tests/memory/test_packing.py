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


def test_what_the_model_has_not_read_gets_only_its_own_budget() -> None:
    """Memories already read cost only the main budget; the rest also their own one, and
    a smaller unread memory further down still gets in."""
    hits = [Hit(turn(c, 1), 1.0) for c in "abc"] + [Hit(turn("d", 1, text="x " * 4), 0.5)]
    everything = pack(hits, budget=100, count_tokens=words)
    assert [m.id for s in everything for m in s.memories] == ["a-1", "b-1", "c-1", "d-1"]
    capped = pack(hits, budget=100, count_tokens=words, read={"a-1"}, unread_budget=15)
    assert [m.id for s in capped for m in s.memories] == ["a-1", "b-1", "d-1"]
    nothing_new = pack(hits, budget=100, count_tokens=words, read={"c-1"}, unread_budget=0)
    assert [m.id for s in nothing_new for m in s.memories] == ["c-1"]
    question = turn("b", 0)  # a question brought in is unread too
    replies = [Hit(turn("b", 1, role="assistant"), 1.0)]
    for unread, shown in ((20, ["b-0", "b-1"]), (10, ["b-1"])):
        snippets = pack(
            replies,
            budget=100,
            count_tokens=words,
            previous_turn=lambda m: question,
            unread_budget=unread,
        )
        assert [m.id for s in snippets for m in s.memories] == shown


def test_a_reply_and_its_question_read_together_stay_together_or_go_together() -> None:
    """Shown apart, what follows the question would have to be read again, and the reply
    would be counted as read when it is not."""
    question, reply = turn("a", 1), turn("a", 2, role="assistant")
    read = {question.id, reply.id}

    def packed(budget: int) -> list[str]:
        snippets = pack(
            [Hit(reply, 1.0)],
            budget=budget,
            count_tokens=words,
            previous_turn=lambda m: question,
            read=read,
            unread_budget=0,
        )
        return [m.id for s in snippets for m in s.memories]

    assert packed(20) == ["a-1", "a-2"]
    assert packed(15) == []  # room for the reply alone: neither
