"""Chroma, embedded or server, behind the few calls the store makes.

Importing chromadb costs about two seconds, so only this module imports it and
only when a store is opened.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .embedding import Embedder, force_offline
from .errors import StoreUnavailableError
from .records import Memory

log = logging.getLogger(__name__)

COLLECTION = "mneme_memories"


@dataclass(frozen=True, slots=True)
class ChromaLocation:
    """Where the vectors live: a folder (embedded) or a server URL."""

    path: Path | None = None
    url: str | None = None
    token: str | None = None
    tenant: str = "default_tenant"
    database: str = "default_database"

    def describe(self) -> str:
        return self.url if self.url else str(self.path)


@functools.cache
def _adapter_class() -> type[Any]:
    from chromadb import EmbeddingFunction

    class MnemeEmbeddingFunction(EmbeddingFunction[list[str]]):  # type: ignore[misc]
        """Chroma sees our embedder; its own default would download a model.

        Chroma rebuilds a collection's persisted embedding function by name when
        it reads the collection; that copy has no embedder and refuses to run,
        and every open passes the real one anyway.
        """

        def __init__(self, inner: Embedder | None) -> None:
            self._inner = inner

        def __call__(self, input: list[str]) -> Any:
            import numpy as np

            if self._inner is None:
                raise RuntimeError("Mneme embeds texts itself; Chroma was asked to")
            return [np.asarray(v, dtype=np.float32) for v in self._inner.embed(list(input))]

        @staticmethod
        def name() -> str:
            return "mneme"

        def get_config(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> Any:
            return MnemeEmbeddingFunction(None)

        def default_space(self) -> Any:
            return "cosine"

        def supported_spaces(self) -> Any:
            return ["cosine"]

        def is_legacy(self) -> bool:
            return False

    return MnemeEmbeddingFunction


def _make_adapter(embedder: Embedder) -> Any:
    return _adapter_class()(embedder)


def open_client(location: ChromaLocation) -> Any:
    force_offline()
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError as exc:  # pragma: no cover - a broken install
        raise StoreUnavailableError(f"chromadb cannot be imported: {exc}") from exc

    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    try:
        if location.url:
            parts = urlsplit(location.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise StoreUnavailableError(f"not a Chroma server URL: {location.url!r}")
            headers = {"Authorization": f"Bearer {location.token}"} if location.token else {}
            return chromadb.HttpClient(
                host=parts.hostname,
                port=parts.port or (443 if parts.scheme == "https" else 8000),
                ssl=parts.scheme == "https",
                headers=headers,
                settings=settings,
                tenant=location.tenant,
                database=location.database,
            )
        assert location.path is not None
        return chromadb.PersistentClient(
            path=str(location.path),
            settings=settings,
            tenant=location.tenant,
            database=location.database,
        )
    except StoreUnavailableError:
        raise
    except Exception as exc:
        raise StoreUnavailableError(
            f"the memory store at {location.describe()} cannot be opened: {exc}"
        ) from exc


def open_collection(client: Any, embedder: Embedder, name: str = COLLECTION) -> Any:
    try:
        return client.get_or_create_collection(
            name,
            embedding_function=_make_adapter(embedder),
            metadata={"hnsw:space": "cosine", "embedder": embedder.name},
        )
    except Exception as exc:
        raise StoreUnavailableError(f"the memory collection cannot be opened: {exc}") from exc


def metadata_of(memory: Memory) -> dict[str, Any]:
    """Chroma metadata for a memory: flat, no None, no empty lists."""
    meta: dict[str, Any] = {
        "kind": memory.kind.value,
        "state": memory.state.value,
        "said_at": float(memory.said_at),
        "stored_at": float(memory.stored_at),
        "updated_at": float(memory.updated_at),
        "seq": int(memory.seq),
        "pinned": bool(memory.pinned),
        "importance": float(memory.importance),
        "confidence": float(memory.confidence),
        "version": int(memory.version),
        "author": memory.author.value,
    }
    optional = {
        "conversation_id": memory.conversation_id,
        "role": memory.role,
        "speaker": memory.speaker,
        "valid_from": memory.valid_from,
        "valid_to": memory.valid_to,
        "superseded_by": memory.superseded_by,
    }
    meta.update({k: v for k, v in optional.items() if v is not None})
    if memory.sources:
        meta["sources"] = list(memory.sources)
    return meta


def batched(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
