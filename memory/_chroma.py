"""Chroma, embedded or server, behind the few calls the store makes.

Importing chromadb costs about two seconds, so only this module imports it and
only when a store is opened.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .embedding import Embedder, force_offline
from .errors import StoreUnavailableError
from .records import Author, Kind, Memory, State
from .retrieval import SearchFilter

log = logging.getLogger(__name__)
TEXT_FORMAT = 2
"""Version of what vectors are computed from (``_indexing.dense_text``); stores whose
vectors were made from an older form are re-embedded when opened."""


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
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
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


def adapter(embedder: Embedder) -> Any:
    return _adapter_class()(embedder)


def open_client(location: ChromaLocation) -> Any:
    force_offline()
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError as exc:  # pragma: no cover - a broken install
        raise StoreUnavailableError(f"chromadb cannot be imported: {exc}") from exc

    # Passed explicitly: Chroma's Settings also read the environment, and neither a
    # CHROMA_SERVER_SSL_VERIFY=false nor an ANONYMIZED_TELEMETRY=true may override these.
    settings = Settings(
        anonymized_telemetry=False, allow_reset=False, chroma_server_ssl_verify=True
    )
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
        untrusted = _certificate_problem(exc)
        if untrusted:
            raise StoreUnavailableError(
                f"the Chroma server at {location.describe()} sent a certificate this computer "
                f"does not trust ({untrusted}); Mneme always checks certificates, so the "
                "server needs one from an authority this computer trusts"
            ) from exc
        if _refused_access(exc):
            raise StoreUnavailableError(
                f"the Chroma server at {location.describe()} "
                + ("refused the token" if location.token else "asks for a token")
                + "; save the right one with `mneme-cli secret set chroma-server` "
                "(it is kept in the system keyring)"
            ) from exc
        raise StoreUnavailableError(
            f"the memory store at {location.describe()} cannot be opened: {exc}"
        ) from exc


def _certificate_problem(exc: BaseException) -> str | None:
    """Why TLS verification failed, if that is what the error (or one under it) is."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "verification failed")
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return "certificate verify failed"
        seen = seen.__cause__ or seen.__context__
    return None


def _refused_access(exc: BaseException) -> bool:
    """A 401/403 from the server (Chroma raises its own error types for them)."""
    code = getattr(exc, "code", None)
    try:
        status = code() if callable(code) else None
    except Exception:  # only asking
        status = None
    return status in (401, 403) or type(exc).__name__ in ("ChromaAuthError", "AuthorizationError")


def close_client(client: Any) -> None:
    """Release Chroma's files and connections (Chroma shares them per path until then)."""
    if client is not None:
        try:
            client.close()
        except Exception:  # closing must never hide the error that led here
            log.debug("closing the Chroma client failed", exc_info=True)


COLLECTION_PREFIX = "mneme_memories"


def collection_names(client: Any) -> list[str]:
    try:
        found = client.list_collections()
    except Exception as exc:
        raise StoreUnavailableError(f"the memory store cannot be listed: {exc}") from exc
    names = [str(getattr(c, "name", c)) for c in found]
    return [n for n in names if n == COLLECTION_PREFIX or n.startswith(COLLECTION_PREFIX + "_")]


def generation(name: str) -> int:
    return 1 if name == COLLECTION_PREFIX else int(name.rsplit("_", 1)[1])


def find_collection(client: Any, embedder: Embedder) -> tuple[Any | None, list[str], list[str]]:
    """The complete collection indexed by ``embedder``, the models of the other
    complete ones, and the names of incomplete ones (a re-index cut short).

    A store holds collections for two models only while it is being re-indexed.
    """
    mine, mine_generation = None, 0
    others: list[str] = []
    incomplete: list[str] = []
    for name in collection_names(client):
        collection = client.get_collection(name, embedding_function=adapter(embedder))
        meta = collection.metadata or {}
        if not meta.get("complete", True):
            incomplete.append(name)
        elif meta.get("embedder") == embedder.name and int(
            meta.get("dimension", embedder.dimension)
        ) == int(embedder.dimension):
            if generation(name) > mine_generation:
                mine, mine_generation = collection, generation(name)
        else:
            others.append(
                f"{meta.get('embedder', 'unknown')} ({meta.get('dimension', '?')} dimensions)"
            )
    return mine, others, incomplete


def create_collection(client: Any, embedder: Embedder, *, complete: bool = True) -> Any:
    number = 1 + max((generation(n) for n in collection_names(client)), default=0)
    name = COLLECTION_PREFIX if number == 1 else f"{COLLECTION_PREFIX}_{number}"
    try:
        return client.create_collection(
            name,
            embedding_function=adapter(embedder),
            metadata=collection_metadata(embedder, number, complete),
        )
    except Exception as exc:
        raise StoreUnavailableError(f"the memory collection cannot be created: {exc}") from exc


def collection_metadata(embedder: Embedder, generation: int, complete: bool) -> dict[str, Any]:
    return {
        "hnsw:space": "cosine",
        "embedder": embedder.name,
        "dimension": embedder.dimension,
        "generation": generation,
        "complete": complete,
        "text_format": TEXT_FORMAT,
    }


EXTRA_PREFIX = "x_"


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
        "scope": memory.scope,
    }
    meta.update({k: v for k, v in optional.items() if v is not None})
    if memory.sources:
        meta["sources"] = list(memory.sources)
    for key, value in memory.extra.items():
        meta[EXTRA_PREFIX + key] = value
    return meta


def memory_from_chroma(memory_id: str, document: str, meta: dict[str, Any]) -> Memory:
    """The inverse of :func:`metadata_of`, for rebuilding the ledger from Chroma."""

    def opt_float(key: str) -> float | None:
        value = meta.get(key)
        return float(value) if value is not None else None

    def opt_str(key: str) -> str | None:
        value = meta.get(key)
        return str(value) if value is not None else None

    return Memory(
        id=memory_id,
        kind=Kind(meta["kind"]),
        text=document,
        said_at=float(meta["said_at"]),
        stored_at=float(meta["stored_at"]),
        updated_at=float(meta["updated_at"]),
        conversation_id=opt_str("conversation_id"),
        role=opt_str("role"),
        speaker=opt_str("speaker"),
        seq=int(meta.get("seq", 0)),
        pinned=bool(meta.get("pinned", False)),
        importance=float(meta.get("importance", 0.5)),
        confidence=float(meta.get("confidence", 1.0)),
        state=State(meta.get("state", "active")),
        sources=tuple(meta.get("sources") or ()),
        valid_from=opt_float("valid_from"),
        valid_to=opt_float("valid_to"),
        superseded_by=opt_str("superseded_by"),
        scope=opt_str("scope"),
        version=int(meta.get("version", 1)),
        author=Author(meta.get("author", "chat")),
        extra={k[len(EXTRA_PREFIX) :]: v for k, v in meta.items() if k.startswith(EXTRA_PREFIX)},
    )


def batched(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def where_of(filters: SearchFilter) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if filters.kinds:
        clauses.append({"kind": {"$in": [k.value for k in filters.kinds]}})
    if filters.states:
        clauses.append({"state": {"$in": [s.value for s in filters.states]}})
    if filters.conversation_id is not None:
        clauses.append({"conversation_id": filters.conversation_id})
    if filters.exclude_conversation_id is not None:
        clauses.append({"conversation_id": {"$ne": filters.exclude_conversation_id}})
    if filters.since is not None:
        clauses.append({"said_at": {"$gte": float(filters.since)}})
    if filters.until is not None:
        clauses.append({"said_at": {"$lte": float(filters.until)}})
    if filters.pinned_only:
        clauses.append({"pinned": True})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
