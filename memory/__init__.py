"""Mneme's long-term memory engine: no Qt, no model runtime, one public API.

Everything a caller needs is importable from here; modules whose names start
with an underscore are private and may change.
"""

from ._forgetting import ForgetReport, ForgetUndo
from ._jobs import Job, JobState, Run, RunAction, RunChange
from ._validation import MAX_TEXT_CHARS
from .embedding import Embedder, SentenceTransformerEmbedder, bundled_minilm_path, force_offline
from .errors import (
    EmbedderMismatchError,
    InvalidMemoryError,
    MemoryNotFoundError,
    MemoryStoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from .packing import Snippet, pack
from .records import (
    CONFLICTS_WITH,
    ORIGIN,
    Author,
    Conversation,
    Hit,
    Kind,
    ListQuery,
    Memory,
    MemoryDetails,
    NewEpisode,
    Origin,
    Page,
    ScoreExplanation,
    SortKey,
    State,
    Stats,
    TranscriptChoice,
    TranscriptTurn,
    TurnState,
    written_by_model,
)
from .retrieval import RetrievalConfig, SearchFilter
from .store import Change, DeleteReport, MemoryStore, ServerLocation
from .timeparse import TimeHint, parse_time

__all__ = [
    "CONFLICTS_WITH",
    "MAX_TEXT_CHARS",
    "ORIGIN",
    "Author",
    "Change",
    "Conversation",
    "DeleteReport",
    "Embedder",
    "EmbedderMismatchError",
    "ForgetReport",
    "ForgetUndo",
    "Hit",
    "InvalidMemoryError",
    "Job",
    "JobState",
    "Kind",
    "ListQuery",
    "Memory",
    "MemoryDetails",
    "MemoryNotFoundError",
    "MemoryStore",
    "MemoryStoreError",
    "NewEpisode",
    "Origin",
    "Page",
    "RetrievalConfig",
    "Run",
    "RunAction",
    "RunChange",
    "ScoreExplanation",
    "SearchFilter",
    "SentenceTransformerEmbedder",
    "ServerLocation",
    "Snippet",
    "SortKey",
    "State",
    "Stats",
    "StoreLockedError",
    "StoreUnavailableError",
    "TimeHint",
    "TranscriptChoice",
    "TranscriptTurn",
    "TurnState",
    "bundled_minilm_path",
    "force_offline",
    "pack",
    "parse_time",
    "written_by_model",
]
