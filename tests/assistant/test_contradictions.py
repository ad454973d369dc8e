"""Facts that disagree, listed and settled by the core: the three decisions."""

from __future__ import annotations

import pytest

from mneme.assistant.contradictions import Decision
from mneme.assistant.core import Assistant
from mneme.memory import CONFLICTS_WITH, Author, Kind, Memory, MemoryNotFoundError, State
from tests.memory.consolidation.support import DAY, START, say


def flag(core: Assistant) -> tuple[Memory, Memory]:
    """A pair recorded the way consolidation records it: (earlier, newer)."""
    store = core.open_memory()
    (turn,) = say(store, "family", ["My sister is called Ana."])
    store.set_conversation_title("family", "Family news")
    old = store.add_memory(
        Kind.FACT,
        "The user's sister is Ana.",
        sources=[turn.id],
        said_at=START,
        author=Author.CONSOLIDATION,
    )
    new = store.add_memory(
        Kind.FACT,
        "The user's sister is Anna.",
        said_at=START + DAY,
        valid_from=START + DAY,
        author=Author.CONSOLIDATION,
        extra={CONFLICTS_WITH: old.id},
    )
    return old, new


def test_an_open_pair_is_listed_with_where_each_fact_came_from(core: Assistant) -> None:
    old, new = flag(core)
    (pair,) = core.contradictions.unsettled()
    assert pair.key == new.id and pair.old is not None and pair.old.memory.id == old.id
    assert pair.old.conversations == ("Family news",)
    assert [t.text for t in pair.old.said] == ["My sister is called Ana."]


def test_keeping_the_new_one_supersedes_the_old_from_when_the_new_held(core: Assistant) -> None:
    old, new = flag(core)
    core.contradictions.settle(new.id, Decision.KEEP_NEW)
    store = core.open_memory()
    kept, dropped = store.get(new.id), store.get(old.id)
    assert CONFLICTS_WITH not in kept.extra
    assert dropped.state is State.SUPERSEDED and dropped.superseded_by == new.id
    assert dropped.valid_to == START + DAY
    assert core.contradictions.unsettled() == []


def test_keeping_the_old_one_sets_the_new_one_aside(core: Assistant) -> None:
    old, new = flag(core)
    core.contradictions.settle(new.id, Decision.KEEP_OLD)
    store = core.open_memory()
    assert store.get(new.id).state is State.SUPERSEDED
    assert store.get(old.id).state is State.ACTIVE


def test_both_true_only_takes_the_mark_away(core: Assistant) -> None:
    old, new = flag(core)
    core.contradictions.settle(new.id, Decision.BOTH)
    store = core.open_memory()
    assert store.get(new.id).state is State.ACTIVE and store.get(old.id).state is State.ACTIVE
    assert CONFLICTS_WITH not in store.get(new.id).extra


def test_a_pair_whose_old_fact_is_gone_can_only_keep_the_new(core: Assistant) -> None:
    old, new = flag(core)
    core.memories.forget([old.id])
    (pair,) = core.contradictions.unsettled()
    assert pair.old is None
    with pytest.raises(MemoryNotFoundError):
        core.contradictions.settle(new.id, Decision.KEEP_OLD)
    core.contradictions.settle(new.id, Decision.KEEP_NEW)
    assert core.contradictions.unsettled() == []
    with pytest.raises(MemoryNotFoundError, match="settled already"):
        core.contradictions.settle(new.id, Decision.BOTH)
