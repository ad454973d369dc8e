"""Conversations as a person sees them: list, find, open, rename, delete, export.

A conversation is a record of what was said (the engine's transcript); each of
its turns is also a memory while it is remembered. The two part when the
person edits a memory (the conversation keeps the words said) or forgets one
(the conversation keeps the turn, marked, or a gap, or drops it: their
choice). Deleting a conversation with "forget" goes through the engine's true
forgetting (what was learnt only from it goes too), never a bare delete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mneme.memory import (
    Conversation,
    DeleteReport,
    Hit,
    Memory,
    MemoryNotFoundError,
    MemoryStore,
    TranscriptTurn,
    TurnState,
)
from mneme.memory.export import atomic_write

from .actions import action
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .core import Assistant

EXPORT_FORMAT = "mneme-conversations"
SEARCH_LIMIT = 500


FORGOTTEN_WORDS = "[forgotten]"
"""What a turn whose words were forgotten too shows in its conversation."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a conversation as shown: what was said, its memory while it is
    remembered, and for a reply the memories it was given."""

    said: TranscriptTurn
    memory: Memory | None = None
    """None once forgotten (the turn may stay, see :class:`TurnState`)."""
    used: tuple[Hit, ...] = ()

    @property
    def id(self) -> str:
        return self.said.id

    @property
    def text(self) -> str:
        """The words as said, or the gap left where they were forgotten."""
        return _words(self.said)

    @property
    def corrected(self) -> bool:
        """Whether its memory was edited since (the memory's text differs from the words)."""
        return self.memory is not None and self.memory.text != self.said.text


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _words(turn: TranscriptTurn) -> str:
    return FORGOTTEN_WORDS if turn.state is TurnState.WITHHELD else turn.text


def to_markdown(store: MemoryStore, conversations: Sequence[Conversation]) -> str:
    parts = []
    for conv in conversations:
        parts.append(f"# {conv.title or 'Untitled'}\n\n_{_when(conv.created_at)}_\n")
        for turn in store.transcript(conv.id):
            who = turn.speaker or {"user": "You", "assistant": "Mneme"}.get(turn.role, "?")
            note = " · not remembered" if turn.state is TurnState.NOT_REMEMBERED else ""
            parts.append(f"**{who}** · {_when(turn.said_at)}{note}\n\n{_words(turn)}\n")
    return "\n".join(parts)


def to_json(store: MemoryStore, conversations: Sequence[Conversation]) -> str:
    return json.dumps(
        {
            "format": EXPORT_FORMAT,
            "version": 1,
            "exported_at": time.time(),
            "conversations": [
                {
                    **asdict(conv),
                    "turns": [
                        {
                            "id": t.id,
                            "role": t.role,
                            "speaker": t.speaker,
                            "text": _words(t),
                            "said_at": t.said_at,
                            "remembered": t.remembered,
                        }
                        for t in store.transcript(conv.id)
                    ],
                }
                for conv in conversations
            ],
        },
        ensure_ascii=False,
        indent=1,
    )


class ConversationActions:
    """The conversations facet of the core: ``assistant.conversations``."""

    def __init__(self, core: Assistant) -> None:
        self._core = core

    def _store(self) -> MemoryStore:
        return self._core.open_memory(load_embedder=False)

    @action
    def all(self) -> list[Conversation]:
        """Every conversation, newest first."""
        return self._store().conversations()

    @action
    def find(self, text: str, limit: int = SEARCH_LIMIT) -> list[Conversation]:
        """Conversations whose title or turns hold every word of ``text``; all when empty."""
        return self._store().find_conversations(text, limit=limit)

    def get(self, conversation_id: str) -> Conversation:
        found = self._store().get_conversation(conversation_id)
        if found is None:
            raise MemoryNotFoundError(f"no conversation with id {conversation_id!r}")
        return found

    @action
    def turns(self, conversation_id: str) -> list[Turn]:
        """The turns shown in a conversation, as said, each with its memory while it is
        remembered, and each reply with the memories it was given."""
        store = self._store()
        said = store.transcript(conversation_id)
        memories = {m.id: m for m in store.get_many([t.id for t in said if t.remembered])}
        return [
            Turn(t, memories.get(t.id), tuple(store.uses(t.id)) if t.role == "assistant" else ())
            for t in said
        ]

    @action
    def rename(self, conversation_id: str, title: str) -> None:
        if not title.strip():
            raise InvalidRequestError("a title cannot be empty")
        self.get(conversation_id)
        self._store().set_conversation_title(conversation_id, title)

    @action
    def delete(self, conversation_id: str, *, forget: bool) -> DeleteReport:
        """Remove from the list, with what was said in it; with ``forget`` also forget its
        turns and what was learnt only from them (true forgetting, as everywhere).
        :meth:`Assistant.undo` takes it back for a while."""
        conversation = self.get(conversation_id)
        store = self._store()
        said = store.transcript(conversation_id, replaced=True)
        turns = [m.id for m in store.conversation(conversation_id, superseded=True)]
        forgotten = store.capture_forget(turns) if forget else None
        report = store.delete_conversation(conversation_id, forget=forget)

        def undo() -> None:
            if forgotten is not None:
                store.undo_forget(forgotten)
            store.restore_conversations([conversation])
            store.put_back_turns(said)

        self._core.offer_undo(f"deleting “{conversation.title or 'Untitled'}”", undo)
        return report

    @action
    def export(self, path: Path, conversation_ids: Sequence[str] | None = None) -> int:
        """Write conversations (all, or the given ones) as Markdown or JSON by the file's
        suffix, whole or not at all; returns how many."""
        store = self._store()
        chosen = store.conversations()
        if conversation_ids is not None:
            wanted = set(conversation_ids)
            chosen = [c for c in chosen if c.id in wanted]
        if path.suffix.lower() == ".json":
            text = to_json(store, chosen)
        else:
            text = to_markdown(store, chosen)
        atomic_write(path, lambda out: out.write(text))
        return len(chosen)
