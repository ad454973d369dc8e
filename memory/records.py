"""The records the memory engine stores and returns.

They are frozen dataclasses so that a hit or a listed memory can be handed to
another thread (a UI view, a worker) without anyone mutating it underneath.
Times are POSIX seconds (UTC) as floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

Scalar = str | int | float | bool
"""What a memory's ``extra`` metadata may hold: flat values only, as Chroma stores them."""

CONFLICTS_WITH = "conflicts_with"
"""The ``extra`` key that marks an open contradiction: consolidation puts it on the
newer of two contradicting facts, naming the older, rather than guessing which
holds; :meth:`MemoryStore.resolve_conflict` removes it once the person decided,
and :meth:`MemoryStore.conflicts` lists the pairs still open."""


ORIGIN = "origin"
"""The ``extra`` key of a fact consolidation wrote: whose words it is (:class:`Origin`)."""


class Origin(StrEnum):
    STATEMENT = "statement"
    """The person's own sentence, kept word for word (no model)."""
    MODEL = "model"
    """Written by the model from the turns it cites."""


class Kind(StrEnum):
    EPISODE = "episode"
    """A chat turn, kept verbatim."""
    FACT = "fact"
    """A short statement about the user or their world, distilled from episodes."""
    SUMMARY = "summary"
    """A summary of a conversation, a period or a topic."""


class State(StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    """Replaced by a newer fact; still queryable as of a date."""
    ARCHIVED = "archived"
    """Faded out of default retrieval; still browsable and exported."""


class Author(StrEnum):
    """Who wrote a version of a memory."""

    CHAT = "chat"
    USER = "user"
    CONSOLIDATION = "consolidation"
    IMPORT = "import"


@dataclass(frozen=True, slots=True)
class Memory:
    id: str
    kind: Kind
    text: str
    said_at: float
    """When it was said or became known: the conversation clock, not the wall clock."""
    stored_at: float
    """When this store first recorded it."""
    updated_at: float
    conversation_id: str | None = None
    role: str | None = None
    speaker: str | None = None
    seq: int = 0
    """Order within its conversation."""
    pinned: bool = False
    importance: float = 0.5
    confidence: float = 1.0
    state: State = State.ACTIVE
    sources: tuple[str, ...] = ()
    """Ids of the memories this one was derived from (provenance)."""
    valid_from: float | None = None
    valid_to: float | None = None
    superseded_by: str | None = None
    scope: str | None = None
    """For summaries: what they cover ("session", "week", "month", "topic")."""
    version: int = 1
    author: Author = Author.CHAT
    extra: Mapping[str, Scalar] = field(default_factory=dict)
    """Caller metadata (an importer's original id, a benchmark's turn id)."""
    access_count: int = 0
    """How often retrieval handed this memory to a prompt (kept per machine)."""
    last_access: float | None = None


@dataclass(frozen=True, slots=True)
class NewEpisode:
    """A chat turn to be remembered."""

    text: str
    role: str
    conversation_id: str
    said_at: float | None = None
    """Defaults to the store's clock; an import or a benchmark sets it."""
    speaker: str | None = None
    author: Author = Author.CHAT
    extra: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScoreExplanation:
    """Why a memory was retrieved, term by term, so a person can see it.

    ``relevance`` fuses the dense and lexical scores (each standardised over
    the candidates); the other terms are added to it to give the final score.
    """

    dense: float | None = None
    """Cosine similarity of the query and the memory."""
    lexical: float | None = None
    """BM25 score of the query's words in the memory and its neighbouring turns."""
    relevance: float = 0.0
    recency: float = 0.0
    importance: float = 0.0
    speaker: float = 0.0
    """Boost because the query names who said it."""
    time: float = 0.0
    """Boost because it falls in a time the query mentions ("last week")."""
    voice: float = 0.0
    """Lowered because Mneme said it and the query is not about what Mneme said."""
    via: str | None = None
    """Id of a fact or summary that matched and pointed here."""
    dense_rank: int | None = None
    lexical_rank: int | None = None

    def describe(self) -> str:
        parts = []
        if self.dense is not None:
            parts.append(f"meaning {self.dense:.2f}")
        if self.lexical:
            parts.append(f"words {self.lexical:.1f}")
        if self.recency:
            parts.append(f"recency +{self.recency:.2f}")
        if self.importance:
            parts.append(f"importance {self.importance:+.2f}")
        if self.speaker:
            parts.append(f"speaker +{self.speaker:.2f}")
        if self.time:
            parts.append(f"time +{self.time:.2f}")
        if self.voice:
            parts.append(f"said by Mneme {self.voice:+.2f}")
        if self.via:
            parts.append(f"via {self.via}")
        return ", ".join(parts) or "no signal"


@dataclass(frozen=True, slots=True)
class Hit:
    memory: Memory
    score: float
    explanation: ScoreExplanation = field(default_factory=ScoreExplanation)


class TurnState(StrEnum):
    """Where a turn of a conversation stands: the conversation is a record of what was
    said; memory is what Mneme keeps and uses, and the two can part."""

    REMEMBERED = "remembered"
    """Shown in the conversation, and its memory (the episode) is kept and used."""
    NOT_REMEMBERED = "not-remembered"
    """Shown with its words, but its memory was forgotten: Mneme no longer uses it."""
    WITHHELD = "withheld"
    """Its memory was forgotten and its words too: shown as a gap ("[forgotten]")."""
    REPLACED = "replaced"
    """Replaced by a regenerated reply or an edited message: not shown."""


class TranscriptChoice(StrEnum):
    """What forgetting a turn's memory does to the conversation it was said in."""

    KEEP_WORDS = "keep-words"
    """The turn stays, with its words, marked as not remembered."""
    HIDE_WORDS = "hide-words"
    """The turn stays as a gap: its words are gone too."""
    REMOVE_TURN = "remove-turn"
    """The turn goes from the conversation as well."""


@dataclass(frozen=True, slots=True)
class TranscriptTurn:
    """One turn of a conversation as it was said: its words stay as they were when its
    memory is edited, and it may outlive its memory (see :class:`TurnState`)."""

    id: str
    """The turn's id, which its memory (the episode) shares while it is remembered."""
    conversation_id: str
    seq: int
    role: str
    speaker: str | None
    said_at: float
    text: str
    """What was said ("" once withheld)."""
    state: TurnState

    @property
    def remembered(self) -> bool:
        return self.state is TurnState.REMEMBERED


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    title: str
    created_at: float
    updated_at: float
    turns: int = 0


class SortKey(StrEnum):
    SAID_AT = "said_at"
    STORED_AT = "stored_at"
    UPDATED_AT = "updated_at"
    IMPORTANCE = "importance"
    KIND = "kind"


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A page of the memory browser: filters, sort and window."""

    kinds: tuple[Kind, ...] = ()
    states: tuple[State, ...] = ()
    """Empty means every state."""
    conversation_id: str | None = None
    since: float | None = None
    until: float | None = None
    pinned_only: bool = False
    contains: str | None = None
    """Only memories whose words include all of these (lexical, stemmed)."""
    written_by_model: bool = False
    """Only what a model wrote and nobody changed since (see :func:`written_by_model`)."""
    sort: SortKey = SortKey.SAID_AT
    descending: bool = True
    offset: int = 0
    limit: int = 100


def written_by_model(memory: Memory) -> bool:
    """Whether a model wrote this version: a summary, or a fact not in the person's own
    words, last written by consolidation (an edit by the person makes it theirs)."""
    return memory.author is Author.CONSOLIDATION and memory.extra.get(ORIGIN) != Origin.STATEMENT


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[Memory, ...]
    total: int
    """How many memories match the query's filters, over all pages."""
    offset: int


@dataclass(frozen=True, slots=True)
class MemoryDetails:
    memory: Memory
    history: tuple[Memory, ...]
    """Earlier versions, oldest first."""
    sources: tuple[Memory, ...]
    """What it was derived from (those that still exist)."""
    derived: tuple[Memory, ...]
    """What was derived from it."""


@dataclass(frozen=True, slots=True)
class Stats:
    by_kind: Mapping[Kind, int]
    by_state: Mapping[State, int]
    conversations: int
    pinned: int
    size_bytes: int
    embedder: str
