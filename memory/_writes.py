"""The crash-safe write path: every change to memories, through the outbox.

A write touches two stores, Chroma (the memories) and the ledger (the indexes
derived from them, see ``_ledger.py``), and no transaction spans both. So
each write is first committed to the ledger's outbox as an *intent*, then
applied to Chroma (idempotent upserts, updates and deletes), then to the
indexes in the one transaction that also settles the intent. A crash at any
point leaves either no trace or an intent that :meth:`Writer.replay`
finishes at the next open.

Three kinds of intent:

* ``upsert``: memories written whole (new, edited, restored), with the
  versions they replace for history, and what a chat changes in its
  transcript (``_transcript.py``) in the same transaction;
* ``delete``: memories removed everywhere;
* ``forget``: a delete with its cascade (``_forgetting.py``): the memories
  removed, the facts trimmed or revived (and their earlier versions), and the
  consolidation jobs that rewrite the deleted summaries, queued in the same
  transaction as the rest.

When storage fails under a write (a full disk, a folder turned read-only),
the person is told in a sentence what happened and whether the write was
undone or will be finished at the next open; until that open the store takes
no more writes, since what Chroma holds may then be ahead of the ledger.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import _chroma, _indexing, _ledger_index
from ._conversations import ConversationBook
from ._forgetting import Forgetting
from ._jobs import JobBook
from ._ledger import Ledger, memory_from_row, record_json
from ._ledger_reads import Catalogue
from ._transcript import TranscriptBook
from .embedding import Embedder
from .errors import InvalidMemoryError, StoreUnavailableError
from .records import Memory, TranscriptChoice

log = logging.getLogger(__name__)

_CHROMA_BATCH = 1000
_LOW_DISK = 64 * 1024 * 1024


def not_saved(exc: BaseException, folder: Path, *, done: bool = True) -> str:
    """What a failed write means for the person: why (a full disk named as such), and,
    if it was undone (``done``), that nothing changed and what was stored before is safe."""
    reason = str(exc)
    text = reason.lower()
    try:
        low = shutil.disk_usage(folder).free < _LOW_DISK
    except OSError:
        low = False
    if low and "full" not in text:
        reason = f"the disk holding your memory ({folder}) is full ({reason})"
    elif ("read-only" in text or "readonly" in text) and str(folder) not in reason:
        reason = f"the memory folder {folder} has become read-only ({reason})"
    elif "read-only" not in text and "full" not in text and "disk i/o" not in text:
        reason = f"{reason} (the disk may be full, read-only or failing)"
    if not done:  # the ledger's own wording assumes an undone write; this one was not
        return reason.replace("; nothing was changed", "")
    if "nothing was changed" not in reason:
        reason += "; nothing was changed"
    return reason + " and what was stored before is safe"


def _records(memories: Sequence[Memory]) -> list[dict[str, Any]]:
    return [{"text": m.text, "record": record_json(m)} for m in memories]


def _history(history: Sequence[tuple[Memory, float]]) -> list[dict[str, Any]]:
    return [{"text": h.text, "record": record_json(h), "changed_at": at} for h, at in history]


def _memories(records: Sequence[Mapping[str, Any]]) -> list[Memory]:
    return [memory_from_row(r["record"], r["text"]) for r in records]


def _versions(records: Sequence[Mapping[str, Any]]) -> list[tuple[Memory, float]]:
    return [(memory_from_row(r["record"], r["text"]), float(r["changed_at"])) for r in records]


def _compensations(
    memories: Sequence[Memory], before: Mapping[str, Memory]
) -> list[dict[str, Any]]:
    """Intents that undo a failed upsert: forget what it added, put back what it changed."""
    undo: list[dict[str, Any]] = []
    fresh = [m.id for m in memories if m.id not in before]
    if fresh:
        undo.append({"op": "delete", "ids": fresh})
    old = [before[m.id] for m in memories if m.id in before]
    if old:
        undo.append({"op": "upsert", "records": _records(old), "history": [], "reembed": True})
    return undo


def chroma_metadata(memory: Memory, replaced: Memory | None) -> dict[str, Any]:
    """Chroma merges metadata into what it holds, so a key the new version dropped (a
    cleared flag, a ``valid_to`` reset by an undo) is sent as None, which deletes it;
    otherwise a ledger rebuilt from Chroma would bring the old value back."""
    meta = _chroma.metadata_of(memory)
    if replaced is not None:
        meta.update({k: None for k in _chroma.metadata_of(replaced) if k not in meta})
    return meta


class Writer:
    """Applies writes to Chroma and the ledger; the store calls it under its write lock."""

    def __init__(
        self,
        folder: Path,
        ledger: Ledger,
        catalogue: Catalogue,
        collection: Any,
        embedder: Embedder,
    ) -> None:
        self._folder = folder
        self._ledger = ledger
        self._catalogue = catalogue
        self._collection = collection
        self._embedder = embedder
        self._unwritable: str | None = None
        """Why writes are refused until the store is opened again (after a storage failure)."""
        self.warnings: list[str] = []
        """What the person should know about writes replayed at opening."""

    # -- refusing writes --------------------------------------------------------------

    def check_writable(self) -> None:
        if self._unwritable is not None:
            raise StoreUnavailableError(self._unwritable)

    def _refuse_writes(self, reason: str) -> None:
        self._unwritable = (
            f"the memory takes no more changes until Mneme opens it again, after an earlier "
            f"write failed ({reason[:300]}); restart Mneme once the disk can be written"
        )

    # -- upserts ----------------------------------------------------------------------

    def upsert(
        self,
        memories: list[Memory],
        history: list[tuple[Memory, float]],
        *,
        reembed: bool = True,
        transcript: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Write memories whole; ``history`` holds the versions they replace and
        ``transcript`` what the write changes in conversations (see
        :meth:`TranscriptBook.apply`)."""
        payload = {
            "op": "upsert",
            "records": _records(memories),
            "history": _history(history),
            "reembed": reembed,
            "transcript": list(transcript),
        }
        self.check_writable()
        before = self._catalogue.get([m.id for m in memories])
        seq = self._ledger.push_intent(payload)
        try:
            self._apply_upsert(seq, memories, history, reembed=reembed, transcript=transcript)
        except InvalidMemoryError:
            # Refused for what it is, not for where it goes (Chroma is fine): put back
            # what was written and forget it; replayed, it would fail at every open.
            self._undo_upsert(seq, memories, before)
            raise
        except StoreUnavailableError as exc:
            # The caller is told the write failed, so it must not come back at the next
            # open (a message sent again would then be there twice). Chroma cannot be
            # asked to put things back now (right after a failed write on a full disk
            # it can hang), so the intent is swapped, in the ledger, for writes that
            # restore what was there; they run first at the next open, and until then
            # the store takes no more writes. If even the ledger cannot be written, the
            # intent stays and the next open finishes the write; the message says which.
            undone = self._ledger.replace_intent(seq, _compensations(memories, before))
            message = not_saved(exc, self._folder, done=undone)
            if not undone:
                message += "; it will be finished the next time the memory is opened"
            self._refuse_writes(message)
            raise StoreUnavailableError(message) from exc

    def _undo_upsert(self, seq: int, memories: list[Memory], before: dict[str, Memory]) -> bool:
        """Make Chroma hold what the ledger holds again after a write it refused; False if
        that failed too (the intent then stays, and the next open finishes the write)."""
        try:
            fresh = [m.id for m in memories if m.id not in before]
            for chunk in _chroma.batched(fresh, _CHROMA_BATCH):
                self._collection.delete(ids=list(chunk))
            failed = {m.id: m for m in memories}
            old = [before[m.id] for m in memories if m.id in before]
            for chunk in _chroma.batched(old, _CHROMA_BATCH):
                self._collection.upsert(
                    ids=[m.id for m in chunk],
                    embeddings=self._embedder.embed([_indexing.dense_text(m) for m in chunk]),
                    documents=[m.text for m in chunk],
                    metadatas=[chroma_metadata(m, failed[m.id]) for m in chunk],
                )
            self._ledger.drop_intent(seq)
        except Exception:
            log.warning("a failed memory write could not be undone; the next open finishes it")
            return False
        return True

    def _apply_upsert(
        self,
        seq: int,
        memories: list[Memory],
        history: list[tuple[Memory, float]],
        *,
        reembed: bool,
        transcript: Sequence[dict[str, Any]] = (),
    ) -> None:
        replaced = {old.id: old for old, _ in history}
        try:
            for chunk in _chroma.batched(memories, _CHROMA_BATCH):
                ids = [m.id for m in chunk]
                metadatas = [chroma_metadata(m, replaced.get(m.id)) for m in chunk]
                if reembed:
                    vectors = self._embedder.embed([_indexing.dense_text(m) for m in chunk])
                    self._collection.upsert(
                        ids=ids,
                        embeddings=vectors,
                        documents=[m.text for m in chunk],
                        metadatas=metadatas,
                    )
                else:
                    self._collection.update(ids=ids, metadatas=metadatas)
        except (ValueError, TypeError, OverflowError) as exc:  # Chroma's checks of a record
            raise InvalidMemoryError(f"the memory could not be written: {exc}") from exc
        except Exception as exc:
            raise StoreUnavailableError(f"the memory could not be written: {exc}") from exc
        try:
            with self._ledger.transaction() as db:
                for old, changed_at in history:
                    _ledger_index.add_history(db, old, changed_at)
                _ledger_index.put_items(db, memories)
                ConversationBook.touch(db, memories)
                TranscriptBook.record(db, memories)
                TranscriptBook.apply(db, transcript)
                Ledger.settle_intent(db, seq)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, ValueError, TypeError) as exc:
            if isinstance(exc, InvalidMemoryError):
                raise
            raise InvalidMemoryError(f"the memory could not be indexed: {exc}") from exc

    # -- deletes ----------------------------------------------------------------------

    def delete(self, ids: list[str]) -> None:
        """Remove memories everywhere; a storage failure half-way is finished at the
        next open (what the person asked to delete must not come back)."""
        self.check_writable()
        seq = self._ledger.push_intent({"op": "delete", "ids": ids})
        self._finish_or_promise("deletion", lambda: self._apply_delete(seq, ids))

    def _apply_delete(self, seq: int, ids: list[str]) -> None:
        try:
            for chunk in _chroma.batched(ids, _CHROMA_BATCH):
                self._collection.delete(ids=list(chunk))
        except Exception as exc:
            raise StoreUnavailableError(f"the memory could not be deleted: {exc}") from exc
        with self._ledger.transaction() as db:
            _ledger_index.remove_items(db, ids)
            TranscriptBook.remove(db, ids)
            Ledger.settle_intent(db, seq)

    def _finish_or_promise(self, what: str, apply: Callable[[], None]) -> None:
        try:
            apply()
        except (StoreUnavailableError, InvalidMemoryError) as exc:
            # What was asked for is finished at the next open (Chroma may be changed
            # already, and a deletion must not come back); until then, no more writes.
            message = (
                f"{not_saved(exc, self._folder, done=False)}; the {what} will be "
                "finished the next time the memory is opened"
            )
            self._refuse_writes(message)
            raise StoreUnavailableError(message) from exc

    # -- forgetting -------------------------------------------------------------------

    def forget(self, forgetting: Forgetting, now: float, choice: TranscriptChoice) -> None:
        """Apply a forget (``_forgetting.decide``) as one intent: the deletions, the
        trimmed and revived facts with their history, the rewrite jobs, and what
        becomes of the forgotten turns in their conversations (``choice``). Like a
        delete, a storage failure half-way is finished at the next open."""
        new = [after for _, after in forgetting.changed]
        history = [(before, after.updated_at) for before, after in forgetting.changed]
        payload = {
            "op": "forget",
            "delete": list(forgetting.deleted),
            "upsert": _records(new),
            "history": _history(history),
            "jobs": [list(job) for job in forgetting.jobs],
            "at": now,
            "transcript": choice.value,
        }
        self.check_writable()
        seq = self._ledger.push_intent(payload)
        deleted, jobs = list(forgetting.deleted), list(forgetting.jobs)
        self._finish_or_promise(
            "forgetting",
            lambda: self._apply_forget(seq, deleted, new, history, jobs, now, choice),
        )

    def _apply_forget(
        self,
        seq: int,
        deleted: list[str],
        changed: list[Memory],
        history: list[tuple[Memory, float]],
        jobs: list[tuple[str, str]],
        at: float,
        choice: TranscriptChoice,
    ) -> None:
        self._forget_in_chroma(deleted, changed, history)
        self._forget_in_ledger(seq, deleted, changed, history, jobs, at, choice)

    def _forget_in_chroma(
        self, deleted: list[str], changed: list[Memory], history: list[tuple[Memory, float]]
    ) -> None:
        """Idempotent: deleting what is gone and setting metadata again change nothing.
        Only metadata changes (sources, state, validity), so nothing is re-embedded."""
        replaced = {old.id: old for old, _ in history}
        try:
            for chunk in _chroma.batched(deleted, _CHROMA_BATCH):
                self._collection.delete(ids=list(chunk))
            for batch in _chroma.batched(changed, _CHROMA_BATCH):
                self._collection.update(
                    ids=[m.id for m in batch],
                    metadatas=[chroma_metadata(m, replaced.get(m.id)) for m in batch],
                )
        except Exception as exc:
            raise StoreUnavailableError(f"the memory could not be forgotten: {exc}") from exc

    def _forget_in_ledger(
        self,
        seq: int,
        deleted: list[str],
        changed: list[Memory],
        history: list[tuple[Memory, float]],
        jobs: list[tuple[str, str]],
        at: float,
        choice: TranscriptChoice,
    ) -> None:
        """One transaction: the indexes, the history, the jobs, the transcript and the
        intent settled."""
        try:
            with self._ledger.transaction() as db:
                _ledger_index.remove_items(db, deleted)
                TranscriptBook.forgotten(db, deleted, choice)
                for old, changed_at in history:
                    _ledger_index.add_history(db, old, changed_at)
                _ledger_index.put_items(db, changed)
                for key, kind in jobs:
                    JobBook.enqueue(db, key, kind, at)
                Ledger.settle_intent(db, seq)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError) as exc:
            # not the disk: the intent itself; replayed, it is set aside, not retried forever
            raise InvalidMemoryError(f"the forgetting could not be indexed: {exc}") from exc

    # -- after a crash ----------------------------------------------------------------

    def replay(self) -> None:
        """Finish writes that a crash interrupted; each step is idempotent.

        A write that can never be applied (refused for its content) is kept in a file
        beside the store instead, with a warning: it must not stop the store opening.
        """
        for seq, payload in self._ledger.pending_intents():
            log.info("replaying interrupted memory write #%d (%s)", seq, payload.get("op"))
            try:
                if payload["op"] == "delete":
                    self._apply_delete(seq, list(payload["ids"]))
                elif payload["op"] == "upsert":
                    self._apply_upsert(
                        seq,
                        _memories(payload["records"]),
                        _versions(payload["history"]),
                        reembed=bool(payload["reembed"]),
                        transcript=list(payload.get("transcript", [])),
                    )
                elif payload["op"] == "forget":
                    self._apply_forget(
                        seq,
                        [str(i) for i in payload["delete"]],
                        _memories(payload["upsert"]),
                        _versions(payload["history"]),
                        [(str(key), str(kind)) for key, kind in payload["jobs"]],
                        float(payload["at"]),
                        TranscriptChoice(payload.get("transcript", TranscriptChoice.KEEP_WORDS)),
                    )
                else:
                    raise InvalidMemoryError(f"unknown kind of write {payload['op']!r}")
            except (InvalidMemoryError, KeyError, TypeError, ValueError) as exc:
                self._set_aside(seq, payload, exc)

    def _set_aside(self, seq: int, payload: dict[str, Any], exc: Exception) -> None:
        folder = self._folder / "unfinished-writes"
        folder.mkdir(exist_ok=True, mode=0o700)
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{seq}.json"
        path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        self._ledger.drop_intent(seq)
        log.warning("an interrupted memory write could not be finished; it was kept aside")
        self.warnings.append(
            f"A memory write interrupted earlier could not be finished ({str(exc)[:200]}); "
            f"what it held is kept in {path}."
        )
