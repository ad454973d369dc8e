"""Mneme's long-term memory engine: no Qt, no model runtime, one public API.

Everything a caller needs is importable from here; modules whose names start
with an underscore are private and may change.
"""

from .embedding import Embedder, SentenceTransformerEmbedder, bundled_minilm_path, force_offline
from .errors import (
    EmbedderMismatchError,
    InvalidMemoryError,
    MemoryNotFoundError,
    MemoryStoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from .records import Author, Conversation, Hit, Kind, Memory, NewEpisode, ScoreExplanation, State
from .store import (
    MAX_TEXT_CHARS,
    Change,
    DeleteReport,
    MemoryStore,
    SearchFilter,
    ServerLocation,
)

__all__ = [
    "MAX_TEXT_CHARS",
    "Author",
    "Change",
    "Conversation",
    "DeleteReport",
    "Embedder",
    "EmbedderMismatchError",
    "Hit",
    "InvalidMemoryError",
    "Kind",
    "Memory",
    "MemoryNotFoundError",
    "MemoryStore",
    "MemoryStoreError",
    "NewEpisode",
    "ScoreExplanation",
    "SearchFilter",
    "SentenceTransformerEmbedder",
    "ServerLocation",
    "State",
    "StoreLockedError",
    "StoreUnavailableError",
    "bundled_minilm_path",
    "force_offline",
]
