"""Conversations as a person sees them: list, find, rename, delete, export.

A conversation's turns are its episodes in memory; there is no second copy
of a chat log, so forgetting a turn removes it from the conversation too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from memory import Conversation, DeleteReport, MemoryStore
from memory.export import atomic_write

EXPORT_FORMAT = "mneme-conversations"


def rename(store: MemoryStore, conversation_id: str, title: str) -> None:
    if not title.strip():
        raise ValueError("a title cannot be empty")
    store.set_conversation_title(conversation_id, title)


def delete(store: MemoryStore, conversation_id: str, *, forget: bool) -> DeleteReport:
    """Remove from the list; ``forget`` also deletes its turns from memory."""
    return store.delete_conversation(conversation_id, forget=forget)


def find(store: MemoryStore, text: str) -> list[Conversation]:
    return store.find_conversations(text)


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


def export(store: MemoryStore, path: Path, conversation_ids: Sequence[str] | None = None) -> int:
    """Write conversations (all, or the given ones) as Markdown or JSON by the file's suffix."""
    chosen = store.conversations()
    if conversation_ids is not None:
        wanted = set(conversation_ids)
        chosen = [c for c in chosen if c.id in wanted]
    text = to_json(store, chosen) if path.suffix.lower() == ".json" else to_markdown(store, chosen)
    atomic_write(path, lambda out: out.write(text))
    return len(chosen)
