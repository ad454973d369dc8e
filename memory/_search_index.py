"""The store as retrieval sees it: Chroma for meaning, the ledger for words and features.

``retrieval.Retriever`` ranks over an abstract ``Index`` so that its logic can
be tested without a store; this is the real one. It also keeps the two small
caches retrieval leans on (speaker names, per-term document counts), which
the store tells it about when writes change them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from . import _chroma, _indexing
from ._ledger_reads import Catalogue
from .embedding import Embedder
from .errors import StoreUnavailableError
from .records import Memory
from .retrieval import Features, SearchFilter


def _selective(filters: SearchFilter) -> bool:
    """Whether a filter keeps few memories (worth applying inside the indexes)."""
    return (
        filters.conversation_id is not None
        or filters.exclude_conversation_id is not None
        or filters.since is not None
        or filters.until is not None
        or filters.pinned_only
    )


class StoreIndex:
    """Implements ``retrieval.Index`` over one store's Chroma collection and ledger."""

    def __init__(self, catalogue: Catalogue, collection: Any, embedder: Embedder) -> None:
        self._catalogue = catalogue
        self._collection = collection
        self._embedder = embedder
        self._speakers: list[str] | None = None
        self._df: dict[str, tuple[int, int]] = {}

    # -- what writes tell it ----------------------------------------------------------

    def written(self, memories: Iterable[Memory]) -> None:
        """New speakers join the cached names (a write never removes one)."""
        if self._speakers is not None:
            names = {m.speaker for m in memories if m.speaker}
            self._speakers = sorted(set(self._speakers) | names)

    def reload_speakers(self) -> None:
        """Memories went or came in bulk: the names are read again when next needed."""
        self._speakers = None

    # -- retrieval.Index ----------------------------------------------------------------

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed([text])[0]

    def dense(
        self, vector: Sequence[float], n: int, filters: SearchFilter, *, strict: bool = False
    ) -> list[tuple[str, float]]:
        # Chroma answers in ~3 ms without a metadata filter and ~30 ms with one, so
        # filters that keep most memories (kind, state) are left to retrieval, which
        # checks every result; selective ones go to Chroma.
        where = _chroma.where_of(filters) if strict or _selective(filters) else None
        try:
            result = self._collection.query(
                query_embeddings=[list(vector)], n_results=n, where=where, include=["distances"]
            )
        except Exception as exc:
            raise StoreUnavailableError(f"the memory search failed: {exc}") from exc
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result.get("distances") else []
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=False)]

    def lexical(
        self, terms: Sequence[str], n: int, filters: SearchFilter, *, strict: bool = False
    ) -> list[tuple[str, float]]:
        kept = filters if strict or _selective(filters) else SearchFilter()
        return self._catalogue.lexical(_indexing.fts_match(list(terms)), n, kept)

    def document_frequency(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """Per-term memory counts, cached until the store grows or shrinks by a tenth."""
        total = self._catalogue.count()
        found: dict[str, int] = {}
        for term in terms:
            cached = self._df.get(term)
            if cached is None or abs(cached[1] - total) > total / 10:
                cached = (self._catalogue.document_frequency(term), total)
                self._df[term] = cached
            found[term] = cached[0]
        return found, total

    def vectors(self, ids: Sequence[str]) -> dict[str, Sequence[float]]:
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["embeddings"])
        return dict(zip(got["ids"], got["embeddings"], strict=False))

    def features(self, ids: Sequence[str]) -> dict[str, Features]:
        return self._catalogue.features(list(ids))

    def memories(self, ids: Sequence[str]) -> dict[str, Memory]:
        return self._catalogue.get(list(ids))

    def speakers(self) -> list[str]:
        if self._speakers is None:
            self._speakers = self._catalogue.speakers()
        return self._speakers
