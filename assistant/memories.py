"""What a person can do with what Mneme remembers: browse, search, inspect, add, edit,
pin, forget, forget everything about a topic.

The rules live here, once, for every frontend: which memories a topic takes
along, what an edit may change, that forgetting is true forgetting (the
engine's cascade, never a bare delete). The window and the CLI only call
these methods; the engine (:mod:`mneme.memory`) stores and ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
    State,
    Stats,
    TranscriptChoice,
    TranscriptTurn,
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
    said: TranscriptTurn | None = None
    """For something said in a conversation: how it was said (its memory may have been
    corrected since)."""

    @property
    def memory(self) -> Memory:
        return self.details.memory


@dataclass(frozen=True, slots=True)
class AffectedConversation:
    """A conversation that some of the forgotten memories were said in."""

    id: str
    title: str
    turns: tuple[TranscriptTurn, ...]
    """Its turns whose memories would be forgotten, as said."""


@dataclass(frozen=True, slots=True)
class ForgetPlan:
    """What forgetting the chosen memories takes along, before anything is done."""

    chosen: tuple[Memory, ...]
    deleted: tuple[Memory, ...]
    """Everything that would go from memory: the chosen memories and what only they
    supported."""
    trimmed: tuple[Memory, ...]
    """Facts that would be kept, with the chosen memories removed from their sources."""
    missing: tuple[str, ...] = ()
    """Chosen ids that are not in memory (forgotten meanwhile, or never there)."""
    conversations: tuple[AffectedConversation, ...] = ()
    """Where the forgotten turns were said: what the choice of
    :class:`~mneme.memory.TranscriptChoice` applies to."""

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


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """A memory about a topic, with why it is listed and, if it is not forgotten unless
    the person says so, why not."""

    hit: Hit
    reason: str
    """Why it is about the topic ("mentions “climbing”", "close in meaning")."""
    left_out: str | None = None
    """Why it is not forgotten by default ("you pinned it"), if it is not."""

    @property
    def memory(self) -> Memory:
        return self.hit.memory


RELEVANT_MEANING = 0.25
"""Cosine similarity (MiniLM) from which a memory is relevant to a message, unless it
shares the message's words (:data:`RELEVANT_WORDS`). Calibrated with
``python -m benchmarks.relevance``: fitted on the LoCoMo dev conversations conv-26,
conv-30, conv-41 as the highest floor that keeps every evidence turn found in the top 10,
it keeps all of them on the held-out conv-42, conv-43, conv-44 too."""
RELEVANT_WORDS = 0.1
"""Lexical score from which a memory shares the message's own words (a word found only
in a neighbouring turn scores about a millionth)."""
REPEATED_QUESTION = 0.8
"""Cosine similarity from which an earlier question of the person is the same question
asked again: it is never evidence for its own answer."""


def _close(hit: Hit, meaning: float, words: float) -> bool:
    """Close in meaning, or sharing the query's words."""
    return (hit.explanation.dense or 0.0) >= meaning or (hit.explanation.lexical or 0.0) >= words


def is_relevant(hit: Hit) -> bool:
    """Whether a hit may be shown or given to the model: close in meaning, or sharing the
    message's words; the nearest unrelated memories of a small memory are not."""
    return _close(hit, RELEVANT_MEANING, RELEVANT_WORDS)


def is_question(memory: Memory) -> bool:
    """Something the person asked (not told)."""
    return memory.role == "user" and memory.text.rstrip().endswith("?")


def evidence(hits: Sequence[Hit]) -> list[Hit]:
    """What of a search may ground a reply: the relevant hits, without the person's own
    earlier asking of the same question, and their questions after what was told (a
    question is rarely evidence of its answer)."""
    kept = [
        h
        for h in hits
        if is_relevant(h)
        and not (is_question(h.memory) and (h.explanation.dense or 0.0) >= REPEATED_QUESTION)
    ]
    return sorted(kept, key=lambda h: is_question(h.memory))


def is_about(hit: Hit) -> bool:
    """Whether a search hit is about the topic, not just the nearest thing there was."""
    return _close(hit, TOPIC_MIN_MEANING, TOPIC_MIN_WORDS)


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

    def position(self, memory_id: str, query: ListQuery) -> int | None:
        """Where ``browse(query)`` lists a memory (None if its filters leave it out)."""
        return self._store().position(memory_id, query)

    @action
    def search(self, text: str, *, k: int = 8, filters: SearchFilter | None = None) -> list[Hit]:
        """Memories by meaning and words, best first, each with why it was chosen; only
        those relevant to ``text`` (:func:`is_relevant`), so a search finds what it is
        about, not every memory there is."""
        hits = self._store(vectors=True).search(text, k=k, filters=filters or SearchFilter())
        return [h for h in hits if is_relevant(h)]

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
        said = store.transcript_turns([memory_id]).get(memory_id)
        return MemoryOverview(
            details, conversation, tuple(store.jobs.runs_touching(memory_id)), said
        )

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
        said = store.transcript_turns([m.id for m in deleted])
        by_conversation: dict[str, list[TranscriptTurn]] = {}
        for turn in sorted(said.values(), key=lambda t: (t.conversation_id, t.seq)):
            by_conversation.setdefault(turn.conversation_id, []).append(turn)
        conversations = []
        for conversation_id, turns in by_conversation.items():
            found_conversation = store.get_conversation(conversation_id)
            title = found_conversation.title if found_conversation else ""
            conversations.append(AffectedConversation(conversation_id, title, tuple(turns)))
        return ForgetPlan(
            tuple(chosen), tuple(deleted), tuple(trimmed), missing, tuple(conversations)
        )

    @action
    def forget(
        self, ids: Sequence[str], *, transcript: TranscriptChoice = TranscriptChoice.KEEP_WORDS
    ) -> ForgetReport:
        """Forget for good: the memories, what only they supported, and the summaries that
        used them (written again without them on the next consolidation). The turns
        forgotten stay in their conversations as ``transcript`` says (by default with
        their words, marked as not remembered). Forgetting what is already gone does
        nothing. :meth:`Assistant.undo` takes it back for a while."""
        store = self._store()
        wanted = list(dict.fromkeys(ids))
        undo = store.capture_forget(wanted)
        report = store.forget(wanted, transcript=transcript)
        if report.deleted:
            n = len(report.deleted)
            self._core.offer_undo(
                f"forgetting {n} {'memory' if n == 1 else 'memories'}",
                lambda: store.undo_forget(undo),
            )
        return report

    @action
    def find_about(self, topic: str) -> list[TopicMatch]:
        """Everything about a topic, for "forget everything about…": every memory whose
        own words contain the topic's, and those close to it in meaning; never just the
        nearest unrelated ones. A pinned memory is listed but left out of what is
        forgotten unless the person includes it (:attr:`TopicMatch.left_out` says why),
        so that nothing about the topic stays without the person knowing."""
        if not topic.strip():
            raise InvalidRequestError("say what to look for")
        store = self._store(vectors=True)
        hits = store.search(topic, k=TOPIC_LIMIT, filters=SearchFilter(states=()))
        found = {h.memory.id: TopicMatch(h, "close in meaning") for h in hits if is_about(h)}
        offset = 0
        while True:  # every mention of the topic's words, however many
            page = store.browse(ListQuery(contains=topic, offset=offset, limit=500))
            for memory in page.items:
                if memory.id not in found:
                    found[memory.id] = TopicMatch(Hit(memory, 0.0), f"mentions “{topic}”")
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        return [
            replace(match, left_out="you pinned it") if match.hit.memory.pinned else match
            for match in found.values()
        ]

    def mentioning(self, topic: str) -> list[Memory]:
        """The memories still in use whose words contain the topic's (what a forget of
        everything about it left, which the person should hear about)."""
        store = self._store()
        return list(
            store.browse(ListQuery(contains=topic, states=(State.ACTIVE,), limit=TOPIC_LIMIT)).items
        )

    # -- upkeep -----------------------------------------------------------------------

    @action
    def reindex(self, progress: Progress | None = None) -> int:
        """Re-embed every memory with the configured embedding model (the memory must not
        be open elsewhere); returns how many were re-indexed."""
        return self._core.reindex_memory(progress)
