"""Facts that disagree, for the person to settle: the listing and the three decisions.

Consolidation never guesses which of two contradicting facts is right: it keeps
both and marks the newer one (:data:`mneme.memory.CONFLICTS_WITH` names the
older). Each open pair is shown with when and where each fact was learnt and
the turns it came from; the person's answer becomes one engine write
(:meth:`~mneme.memory.MemoryStore.resolve_conflict`). Nothing is deleted: a
fact that no longer holds is superseded, dated, and stays in its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from mneme.memory import Memory, MemoryNotFoundError, MemoryStore

from .actions import action

if TYPE_CHECKING:
    from .core import Assistant

QUOTED_TURNS = 3
"""How many of the turns a fact came from are shown beside it."""


class Decision(StrEnum):
    KEEP_NEW = "keep-new"
    """The newer fact holds; the older is superseded from when the newer became true."""
    KEEP_OLD = "keep-old"
    """The older fact holds; the newer one is superseded (it never held)."""
    BOTH = "both"
    """Both are true; the mark goes, nothing else changes."""


@dataclass(frozen=True, slots=True)
class Side:
    """One fact of a pair, with what a person needs to judge it."""

    memory: Memory
    conversations: tuple[str, ...]
    """Titles of the conversations it was learnt from."""
    said: tuple[Memory, ...]
    """The turns it was distilled from (the first few)."""


@dataclass(frozen=True, slots=True)
class Contradiction:
    new: Side
    old: Side | None
    """None if the older fact has been forgotten since."""

    @property
    def key(self) -> str:
        """The newer fact's id, which names the pair."""
        return self.new.memory.id


class ContradictionActions:
    """The contradictions facet of the core: ``assistant.contradictions``."""

    def __init__(self, core: Assistant) -> None:
        self._core = core

    @action
    def unsettled(self) -> list[Contradiction]:
        """Every unsettled pair, newest first."""
        store = self._core.open_memory(load_embedder=False)
        titles: dict[str, str] = {}

        def title(conversation_id: str) -> str:
            if conversation_id not in titles:
                found = store.get_conversation(conversation_id)
                titles[conversation_id] = (
                    found.title if found else ""
                ) or "an untitled conversation"
            return titles[conversation_id]

        def side(memory: Memory) -> Side:
            sources = store.get_many(memory.sources)
            ids = [memory.conversation_id, *(s.conversation_id for s in sources)]
            return Side(
                memory,
                tuple(title(c) for c in dict.fromkeys(ids) if c),
                tuple(sources[:QUOTED_TURNS]),
            )

        return [
            Contradiction(side(new), side(old) if old is not None else None)
            for new, old in store.conflicts()
        ]

    @action
    def settle(self, key: str, decision: Decision) -> list[Memory]:
        """Write the person's decision about the pair named ``key`` (the newer fact's id);
        returns the facts changed."""
        store = self._core.open_memory(load_embedder=False)
        new, old = self._pair(store, key)
        if decision is Decision.KEEP_NEW:
            return store.resolve_conflict(new.id, old.id if old is not None else None)
        if decision is Decision.KEEP_OLD:
            if old is None:
                raise MemoryNotFoundError("the earlier fact is no longer in memory")
            return store.resolve_conflict(old.id, new.id)
        return store.resolve_conflict(new.id)

    @staticmethod
    def _pair(store: MemoryStore, key: str) -> tuple[Memory, Memory | None]:
        for new, old in store.conflicts():
            if new.id == key:
                return new, old
        raise MemoryNotFoundError(f"no open contradiction {key!r} (it may be settled already)")
