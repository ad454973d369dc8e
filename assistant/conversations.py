"""Conversations as a person sees them: list, find, open, rename, delete, export.

A conversation's turns are its episodes in memory; there is no second copy
of a chat log, so forgetting a turn removes it from the conversation too.
Deleting a conversation with "forget" goes through the engine's true
forgetting (what was learnt only from it goes too), never a bare delete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mneme.memory import Conversation, DeleteReport, Hit, Memory, MemoryNotFoundError, MemoryStore
from mneme.memory.export import atomic_write

from .actions import action
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .core import Assistant

EXPORT_FORMAT = "mneme-conversations"
SEARCH_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a conversation as shown: what was said, and for a reply the memories
    it was given."""

    memory: Memory
    used: tuple[Hit, ...] = ()


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def to_markdown(store: MemoryStore, conversations: Sequence[Conversation]) -> str:
    parts = []
    for conv in conversations:
        parts.append(f"# {conv.title or 'Untitled'}\n\n_{_when(conv.created_at)}_\n")
        for turn in store.conversation(conv.id):
            who = turn.speaker or {"user": "You", "assistant": "Mneme"}.get(turn.role or "", "?")
            parts.append(f"**{who}** · {_when(turn.said_at)}\n\n{turn.text}\n")
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
                            "text": t.text,
                            "said_at": t.said_at,
                        }
                        for t in store.conversation(conv.id)
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
        """The turns shown in a conversation, each reply with the memories it used."""
        store = self._store()
        return [
            Turn(m, tuple(store.uses(m.id)) if m.role == "assistant" else ())
            for m in store.conversation(conversation_id)
        ]

    @action
    def rename(self, conversation_id: str, title: str) -> None:
        if not title.strip():
            raise InvalidRequestError("a title cannot be empty")
        self.get(conversation_id)
        self._store().set_conversation_title(conversation_id, title)

    @action
    def delete(self, conversation_id: str, *, forget: bool) -> DeleteReport:
        """Remove from the list; with ``forget`` also forget its turns and what was learnt
        only from them (true forgetting, as everywhere)."""
        self.get(conversation_id)
        return self._store().delete_conversation(conversation_id, forget=forget)

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
