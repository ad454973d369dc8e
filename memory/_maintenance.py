"""Whole-store work: rebuild the ledger from Chroma, re-embed, switch embedding models.

Each walks Chroma, the source of truth, page by page, so it works the same on
an embedded store and on a server, and reports progress as (done, total).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import _chroma, _indexing, _ledger_index
from ._chroma import TEXT_FORMAT
from ._conversations import ConversationBook
from ._ledger import Ledger
from ._ledger_reads import Catalogue
from ._transcript import TranscriptBook
from .embedding import Embedder
from .records import Memory, TranscriptChoice

Progress = Callable[[int, int], None]

_PAGE = 1000


def _pages(collection: Any, progress: Progress | None) -> Iterator[list[Memory]]:
    total = collection.count()
    done = 0
    for offset in range(0, total, _PAGE):
        page = collection.get(include=["metadatas", "documents"], limit=_PAGE, offset=offset)
        memories = [
            _chroma.memory_from_chroma(i, d or "", m)
            for i, d, m in zip(page["ids"], page["documents"], page["metadatas"], strict=False)
        ]
        yield memories
        done += len(memories)
        if progress:
            progress(done, total)


def _mark(collection: Any, **changes: Any) -> None:
    meta = dict(collection.metadata or {})
    meta.update(changes)
    meta.pop("hnsw:space", None)  # an index setting, fixed at creation
    collection.modify(metadata=meta)


def resync(
    collection: Any, ledger: Ledger, catalogue: Catalogue, progress: Progress | None = None
) -> tuple[list[str], list[str]]:
    """Update the ledger to match Chroma: (ids added or changed, ids removed)."""
    known = catalogue.versions()
    seen: set[str] = set()
    stale: list[str] = []
    for memories in _pages(collection, progress):
        changed = []
        for m in memories:
            seen.add(m.id)
            if known.get(m.id) != (m.updated_at, m.version):
                changed.append(m)
        if changed:
            with ledger.transaction() as db:
                _ledger_index.put_items(db, changed)
                ConversationBook.touch(db, changed)
                TranscriptBook.record(db, changed)
            stale += [m.id for m in changed]
    gone = [i for i in known if i not in seen]
    if gone:  # forgotten elsewhere (another machine on the same server): the words stay
        with ledger.transaction() as db:
            _ledger_index.remove_items(db, gone)
            TranscriptBook.forgotten(db, gone, TranscriptChoice.KEEP_WORDS)
    return stale, gone


def reembed_all(collection: Any, embedder: Embedder, progress: Progress | None = None) -> None:
    """Recompute every vector in place, after the text they embed changed form."""
    for memories in _pages(collection, progress):
        if memories:
            vectors = embedder.embed([_indexing.dense_text(m) for m in memories])
            collection.update(ids=[m.id for m in memories], embeddings=vectors)
    _mark(collection, text_format=TEXT_FORMAT)


def reindex(client: Any, embedder: Embedder, progress: Progress | None = None) -> int:
    """Copy the newest collection into a new one embedded by ``embedder``, then switch."""
    current, _, incomplete = _chroma.find_collection(client, embedder)
    if current is not None:
        return 0
    for name in incomplete:  # an earlier re-index that was cut short
        client.delete_collection(name)
    old_names = sorted(_chroma.collection_names(client), key=_chroma.generation)
    if not old_names:
        return 0
    source = client.get_collection(old_names[-1], embedding_function=_chroma.adapter(embedder))
    target = _chroma.create_collection(client, embedder, complete=False)
    copied = 0
    for memories in _pages(source, progress):
        if memories:
            target.upsert(
                ids=[m.id for m in memories],
                embeddings=embedder.embed([_indexing.dense_text(m) for m in memories]),
                documents=[m.text for m in memories],
                metadatas=[_chroma.metadata_of(m) for m in memories],
            )
            copied += len(memories)
    _mark(target, complete=True, text_format=TEXT_FORMAT)
    for name in old_names:
        client.delete_collection(name)
    return copied
