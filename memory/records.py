"""The records the memory engine stores and returns.

They are frozen dataclasses so that a hit or a listed memory can be handed to
another thread (a UI view, a worker) without anyone mutating it underneath.
Times are POSIX seconds (UTC) as floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
    """When it was said or became true: the conversation clock, not the wall clock."""
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
    version: int = 1
    author: Author = Author.CHAT


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


@dataclass(frozen=True, slots=True)
class ScoreExplanation:
    """Why a memory was retrieved, term by term, so a person can see it."""

    dense: float | None = None
    """Cosine similarity of the query and the memory, if the dense search found it."""
    lexical: float | None = None
    """BM25 score of the query's words in the memory, if the lexical search found it."""
    fused: float = 0.0
    recency: float = 0.0
    importance: float = 0.0
    dense_rank: int | None = None
    lexical_rank: int | None = None

    def describe(self) -> str:
        parts = []
        if self.dense is not None:
            parts.append(f"meaning {self.dense:.2f} (#{self.dense_rank})")
        if self.lexical is not None:
            parts.append(f"words {self.lexical:.2f} (#{self.lexical_rank})")
        parts.append(f"recency {self.recency:.2f}")
        parts.append(f"importance {self.importance:.2f}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    memory: Memory
    score: float
    explanation: ScoreExplanation = field(default_factory=ScoreExplanation)


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    title: str
    created_at: float
    updated_at: float
    turns: int = 0
