"""Bring earlier conversations in: a ChatGPT data export, or Mneme's own export.

ChatGPT's ``conversations.json`` (from "Export data") is a list of conversations,
each a tree of message nodes in ``mapping``: editing a message or regenerating
a reply starts a branch, and ``current_node`` is the leaf the person last saw.
That branch, read from the leaf up through ``parent`` links, is what is
imported; system, tool and hidden messages are left out, and only the text
parts of a message are kept (images are not).

Large exports are read one conversation at a time, never whole. An import can
be interrupted and run again: conversations already in memory are skipped,
and each conversation is written in one batch, so none is ever half there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from memory import Author, Conversation, MemoryStore, NewEpisode
from memory.export import ExportFormatError, import_json

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""(bytes read, bytes in the file)"""

_CHUNK = 1 << 16


class ImportFormatError(ValueError):
    """The file is not an export this version knows."""


@dataclass(slots=True)
class ImportSummary:
    conversations: int = 0
    turns: int = 0
    already_present: int = 0
    skipped: list[str] = field(default_factory=list)
    """One line per conversation or record not imported, with why."""

    def describe(self) -> str:
        parts = [f"{self.conversations} conversations ({self.turns} turns) imported"]
        if self.already_present:
            parts.append(f"{self.already_present} already in memory")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts)


def iter_json_array(
    handle: BinaryIO, progress: Progress | None = None, total: int = 0
) -> Iterator[Any]:
    """The items of a top-level JSON array, decoded one at a time."""
    decoder = json.JSONDecoder()
    buffer = ""
    read = 0
    raw = b""

    def more() -> bool:
        nonlocal buffer, read, raw
        chunk = handle.read(_CHUNK)
        if not chunk:
            return False
        read += len(chunk)
        raw += chunk
        try:
            text = raw.decode("utf-8")
            raw = b""
        except UnicodeDecodeError as exc:  # a character split across chunks
            text = raw[: exc.start].decode("utf-8")
            raw = raw[exc.start :]
            if len(raw) > 8:
                raise ImportFormatError("the file is not UTF-8 text") from None
        buffer += text
        if progress and total:
            progress(read, total)
        return True

    while not buffer.lstrip():
        if not more():
            raise ImportFormatError("the file is empty")
    buffer = buffer.lstrip()
    if not buffer.startswith("["):
        raise ImportFormatError("the file does not hold a list of conversations")
    buffer = buffer[1:]
    while True:
        buffer = buffer.lstrip()
        while not buffer and more():
            buffer = buffer.lstrip()
        if buffer.startswith("]"):
            return
        if buffer.startswith(","):
            buffer = buffer[1:]
            continue
        while True:
            try:
                item, end = decoder.raw_decode(buffer)
                break
            except json.JSONDecodeError as exc:
                if not more():
                    raise ImportFormatError(f"the file ends inside an item ({exc.msg})") from None
        yield item
        buffer = buffer[end:]


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or {}
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts")
    if isinstance(parts, list):
        return "\n".join(p for p in parts if isinstance(p, str)).strip()
    text = content.get("text")
    return text.strip() if isinstance(text, str) else ""


def chatgpt_turns(conversation: dict[str, Any]) -> list[tuple[str, str, float | None, str]]:
    """(role, text, time, node id) of the branch the person last saw, oldest first."""
    mapping = conversation.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise ImportFormatError("the conversation has no messages (no 'mapping')")
    node_id = conversation.get("current_node")
    if node_id not in mapping:  # fall back to the deepest leaf on first children
        node_id = next(
            (k for k, v in mapping.items() if isinstance(v, dict) and not v.get("parent")), None
        )
        while node_id in mapping and (mapping[node_id].get("children") or []):
            node_id = mapping[node_id]["children"][-1]
    chain = []
    seen: set[str] = set()
    while isinstance(node_id, str) and node_id in mapping and node_id not in seen:
        seen.add(node_id)
        node = mapping[node_id]
        if not isinstance(node, dict):
            break
        chain.append(node)
        node_id = node.get("parent")
    turns = []
    for node in reversed(chain):
        message = node.get("message")
        if not isinstance(message, dict):
            continue
        role = (message.get("author") or {}).get("role")
        metadata = message.get("metadata") or {}
        if role not in ("user", "assistant") or metadata.get(
            "is_visually_hidden_from_conversation"
        ):
            continue
        if message.get("recipient") not in (None, "all"):
            continue  # the assistant talking to a tool
        text = _text_of(message)
        if not text:
            continue
        when = message.get("create_time")
        turns.append(
            (
                str(role),
                text,
                float(when) if isinstance(when, int | float) else None,
                str(message.get("id") or node.get("id") or ""),
            )
        )
    return turns


def import_chatgpt(
    store: MemoryStore, path: Path, progress: Progress | None = None
) -> ImportSummary:
    summary = ImportSummary()
    total = path.stat().st_size
    with open(path, "rb") as handle:
        for index, conversation in enumerate(iter_json_array(handle, progress, total)):
            if not isinstance(conversation, dict):
                summary.skipped.append(f"item {index + 1}: not a conversation")
                continue
            source_id = conversation.get("conversation_id") or conversation.get("id") or index
            conversation_id = f"chatgpt-{source_id}"
            title = str(conversation.get("title") or "Imported conversation")
            if store.get_conversation(conversation_id) is not None:
                summary.already_present += 1
                continue
            try:
                turns = chatgpt_turns(conversation)
            except ImportFormatError as exc:
                summary.skipped.append(f"{title!r}: {exc}")
                continue
            if not turns:
                summary.skipped.append(f"{title!r}: no text from you or the assistant")
                continue
            started = conversation.get("create_time")
            start = float(started) if isinstance(started, int | float) else None
            clock = start or 0.0
            episodes = []
            for role, text, when, message_id in turns:
                clock = when if when is not None else clock
                episodes.append(
                    NewEpisode(
                        text,
                        role,
                        conversation_id,
                        said_at=clock or None,
                        author=Author.IMPORT,
                        extra={"source": "chatgpt", "source_id": message_id[:200]},
                    )
                )
            store.add_episodes(episodes)
            updated = conversation.get("update_time")
            created = start or episodes[0].said_at or 0.0
            end = float(updated) if isinstance(updated, int | float) else (clock or created)
            store.restore_conversations([Conversation(conversation_id, title[:200], created, end)])
            summary.conversations += 1
            summary.turns += len(episodes)
    return summary


def detect(path: Path) -> str:
    """ "chatgpt" or "mneme", from the first bytes of the file."""
    with open(path, "rb") as handle:
        head = handle.read(4096).decode("utf-8", "replace").lstrip()
    if head.startswith("["):
        return "chatgpt"
    if head.startswith("{") and '"mneme-memory-export"' in head:
        return "mneme"
    raise ImportFormatError(
        f"{path.name} is neither a ChatGPT export (conversations.json) nor a Mneme export"
    )


def import_file(store: MemoryStore, path: Path, progress: Progress | None = None) -> ImportSummary:
    """Import either kind of export; the format is recognised from the file."""
    kind = detect(path)
    if kind == "chatgpt":
        return import_chatgpt(store, path, progress)
    try:
        report = import_json(store, path, progress)
    except ExportFormatError as exc:
        raise ImportFormatError(str(exc)) from exc
    return ImportSummary(
        conversations=report.conversations,
        turns=report.imported,
        already_present=report.already_present,
        skipped=report.skipped,
    )
