"""What a person can do with what Mneme remembers: browse, search, inspect, add, edit,
pin, forget, forget everything about a topic.

The rules live here, once, for every frontend: which memories a topic takes
along, what an edit may change, that forgetting is true forgetting (the
engine's cascade, never a bare delete). The window and the CLI only call
these methods; the engine (:mod:`mneme.memory`) stores and ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mneme.memory import (
    Author,
    Conversation,
    ForgetReport,
    Hit,
    Kind,
    ListQuery,
    Memory,
    MemoryDetails,
    MemoryNotFoundError,
    MemoryStore,
    Page,
    Run,
    RunAction,
    SearchFilter,
    Stats,
)

from .actions import action
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .core import Assistant

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class MemoryOverview:
    """Everything about one memory a person may want to see beside it."""

    details: MemoryDetails
    conversation: Conversation | None
    """The conversation it was said in (or derived from), if it still exists."""
    runs: tuple[tuple[Run, tuple[RunAction, ...]], ...]
    """The consolidation runs that read or changed it, newest first."""

    @property
    def memory(self) -> Memory:
        return self.details.memory


@dataclass(frozen=True, slots=True)
class ForgetPlan:
    """What forgetting the chosen memories takes along, before anything is done."""

    chosen: tuple[Memory, ...]
    deleted: tuple[Memory, ...]
    """Everything that would go: the chosen memories and what only they supported."""
    trimmed: tuple[Memory, ...]
    """Facts that would be kept, with the chosen memories removed from their sources."""
    missing: tuple[str, ...] = ()
    """Chosen ids that are not in memory (forgotten meanwhile, or never there)."""

    @property
    def also(self) -> tuple[Memory, ...]:
        """What goes beyond the chosen memories."""
        chosen = {m.id for m in self.chosen}
        return tuple(m for m in self.deleted if m.id not in chosen)


NOTE_SCOPE = "note"
"""The scope of a summary a person wrote by hand (a note), not made by consolidation."""
TOPIC_LIMIT = 100
"""How many candidates a topic search looks at."""
TOPIC_MIN_MEANING = 0.3
"""Cosine similarity (MiniLM) from which a memory is about a topic: unrelated sentences
score about 0.0-0.15, related ones 0.4 and up."""
TOPIC_MIN_WORDS = 0.1
"""Lexical score from which the topic's own words count as a match (a word found only in
a neighbouring turn scores about a millionth)."""


def is_about(hit: Hit) -> bool:
    """Whether a search hit is about the topic, not just the nearest thing there was."""
    return (hit.explanation.dense or 0.0) >= TOPIC_MIN_MEANING or (
        hit.explanation.lexical or 0.0
    ) >= TOPIC_MIN_WORDS


class MemoryActions:
    """The memory facet of the core: ``assistant.memories``."""

    def __init__(self, core: Assistant) -> None:
        self._core = core

    def _store(self, *, vectors: bool = False) -> MemoryStore:
        return self._core.open_memory(load_embedder=vectors)

    # -- reading ----------------------------------------------------------------------

    @action
    def browse(self, query: ListQuery = ListQuery()) -> Page:  # noqa: B008 - frozen
        """A page of memories, filtered and sorted (no embedding model needed)."""
        return self._store().browse(query)

    @action
    def search(self, text: str, *, k: int = 8, filters: SearchFilter | None = None) -> list[Hit]:
        """Memories by meaning and words, best first, each with why it was chosen."""
        return self._store(vectors=True).search(text, k=k, filters=filters or SearchFilter())

    def count(self) -> int:
        return self._store().count()

    @action
    def stats(self) -> Stats:
        return self._store().stats()

    @action
    def overview(self, memory_id: str) -> MemoryOverview:
        """One memory with its history, provenance, conversation and consolidation runs."""
        store = self._store()
        details = store.details(memory_id)
        conversation_id = details.memory.conversation_id
        conversation = store.get_conversation(conversation_id) if conversation_id else None
        return MemoryOverview(details, conversation, tuple(store.jobs.runs_touching(memory_id)))

    def get_many(self, ids: Sequence[str]) -> list[Memory]:
        return self._store().get_many(ids)

    # -- writing ----------------------------------------------------------------------

    @action
    def add(
        self, kind: Kind, text: str, *, pinned: bool = False, importance: float = 0.5
    ) -> Memory:
        """Remember something by hand: a fact, or a note (a summary whose scope is
        :data:`NOTE_SCOPE`), written by the person."""
        kind = Kind(kind)
        if kind is Kind.EPISODE:
            raise InvalidRequestError("only facts and notes can be added by hand")
        return self._store(vectors=True).add_memory(
            kind,
            text,
            pinned=pinned,
            importance=importance,
            scope=NOTE_SCOPE if kind is Kind.SUMMARY else None,
            author=Author.USER,
        )

    @action
    def edit(
        self,
        memory_id: str,
        *,
        text: str | None = None,
        importance: float | None = None,
        pinned: bool | None = None,
    ) -> Memory:
        """Change a memory's text or importance (the old version goes to its history) and
        pin or unpin it; what is not given stays as it is."""
        store = self._store(vectors=text is not None)
        memory = store.get(memory_id)
        changes: dict[str, object] = {}
        if text is not None and text != memory.text:
            changes["text"] = text
        if importance is not None and abs(importance - memory.importance) > 1e-6:
            changes["importance"] = importance
        if changes:
            memory = store.update(memory_id, author=Author.USER, **changes)
        if pinned is not None and memory.pinned != pinned:
            memory = store.set_pinned(memory_id, pinned)
        return memory

    @action
    def set_pinned(self, ids: Sequence[str], pinned: bool) -> list[Memory]:
        """Pin (always given to the assistant) or unpin; returns the memories changed."""
        store = self._store()
        found = store.get_many(list(dict.fromkeys(ids)))
        if not found and ids:
            raise MemoryNotFoundError(f"no memory with id {ids[0]!r}")
        return [store.set_pinned(m.id, pinned) for m in found if m.pinned != pinned]

    @action
    def restore_version(self, memory_id: str, version: int) -> Memory:
        """Make an earlier version current again, as a new version by the person."""
        return self._store(vectors=True).restore_version(memory_id, version)

    # -- forgetting -------------------------------------------------------------------

    @action
    def forget_preview(self, ids: Sequence[str]) -> ForgetPlan:
        """What :meth:`forget` would take along; nothing is changed."""
        store = self._store()
        wanted = list(dict.fromkeys(ids))
        chosen = store.get_many(wanted)
        found = {m.id for m in chosen}
        deleted, trimmed = store.forget_preview(sorted(found))
        missing = tuple(i for i in wanted if i not in found)
        return ForgetPlan(tuple(chosen), tuple(deleted), tuple(trimmed), missing)

    @action
    def forget(self, ids: Sequence[str]) -> ForgetReport:
        """Forget for good: the memories, what only they supported, and the summaries that
        used them (written again without them on the next consolidation). Forgetting
        what is already gone does nothing."""
        return self._store().forget(list(dict.fromkeys(ids)))

    @action
    def find_about(self, topic: str) -> list[Hit]:
        """The memories about a topic, for "forget everything about…": a close meaning
        or the topic's own words; never just the nearest unrelated ones."""
        if not topic.strip():
            raise InvalidRequestError("say what to look for")
        hits = self._store(vectors=True).search(
            topic, k=TOPIC_LIMIT, filters=SearchFilter(states=())
        )
        return [h for h in hits if is_about(h)]

    # -- upkeep -----------------------------------------------------------------------

    @action
    def reindex(self, progress: Progress | None = None) -> int:
        """Re-embed every memory with the configured embedding model (the memory must not
        be open elsewhere); returns how many were re-indexed."""
        return self._core.reindex_memory(progress)
