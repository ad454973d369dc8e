"""Typed errors of the memory engine.

Every failure a caller is expected to handle has its own class, so the UI and
CLI can say something precise ("the memory folder is used by another Mneme")
instead of showing a traceback. All derive from :class:`MemoryStoreError`.
"""

from __future__ import annotations


class MemoryStoreError(Exception):
    """Base class of every error the memory engine raises on purpose."""


class StoreLockedError(MemoryStoreError):
    """Another process holds the memory folder."""


class StoreUnavailableError(MemoryStoreError):
    """The store cannot be opened or written: read-only, full, damaged or unreachable."""


class EmbedderMismatchError(MemoryStoreError):
    """The store was indexed with another embedding model than the one configured.

    Nothing is changed when this is raised; :meth:`memory.MemoryStore.reindex`
    rebuilds the vectors from the verbatim texts.
    """

    def __init__(self, stored: str, configured: str) -> None:
        super().__init__(
            f"this memory was indexed with the embedding model {stored!r}, "
            f"but {configured!r} is configured; re-index to switch models "
            "(your memories are kept)"
        )
        self.stored = stored
        self.configured = configured


class InvalidMemoryError(MemoryStoreError, ValueError):
    """A memory's text or metadata cannot be stored as given."""


class MemoryNotFoundError(MemoryStoreError, KeyError):
    """No memory has the given id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "memory not found"
