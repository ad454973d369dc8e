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

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from mneme.memory import (
    MAX_TEXT_CHARS,
    Author,
    Conversation,
    InvalidMemoryError,
    MemoryStore,
    NewEpisode,
)
from mneme.memory.export import ExportFormatError, import_json

from .errors import InvalidRequestError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""(bytes read, bytes in the file)"""

_CHUNK = 1 << 16


class ImportFormatError(InvalidRequestError):
    """The file is not an export this version knows; nothing was imported."""


class ImportKind(StrEnum):
    CHATGPT = "chatgpt"
    """ChatGPT's ``conversations.json`` ("Export data")."""
    MNEME = "mneme"
    """A Mneme memory export (JSON)."""


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


@dataclass(slots=True)
class ImportSummary:
    kind: ImportKind
    memories: int = 0
    """Memories added: the turns of a ChatGPT export, any memory of a Mneme export."""
    history: int = 0
    """Earlier versions brought along (Mneme exports only)."""
    conversations: int = 0
    """New conversations in the list."""
    already_present: int = 0
    skipped: list[str] = field(default_factory=list)
    """One line per conversation or record not imported, with why."""
    stopped: bool = False
    """The person stopped it; what came before is whole, importing again adds the rest."""

    def counts(self) -> str:
        """What was added, in words."""
        if self.kind is ImportKind.CHATGPT:
            text = (
                f"{_count(self.conversations, 'conversation', 'conversations')} "
                f"({_count(self.memories, 'turn', 'turns')}) imported"
            )
            sep = ", "
        else:
            text = f"{_count(self.memories, 'memory', 'memories')} imported"
            if self.history:
                text += f" with {_count(self.history, 'earlier version', 'earlier versions')}"
            text += f"; {_count(self.conversations, 'new conversation', 'new conversations')}"
            sep = "; "
        if self.already_present:
            text += f"{sep}{self.already_present:,} already in memory"
        if self.skipped:
            text += f"{sep}{len(self.skipped):,} skipped"
        return text

    def partial(self) -> str:
        """What an import that did not finish had done: each piece it wrote is whole."""
        if self.memories == 0:
            return "Nothing in your memory was changed."
        again = "importing the same file again adds the rest."
        if self.kind is ImportKind.CHATGPT:
            talks = _count(self.conversations, "conversation", "conversations")
            turns = _count(self.memories, "turn", "turns")
            return f"What came before it was imported whole ({talks}, {turns}); {again}"
        return (
            f"{_count(self.memories, 'memory was', 'memories were')} imported before that; {again}"
        )

    def describe(self) -> str:
        """The sentence a person reads when the import ends or is stopped."""
        if self.stopped:
            return f"Import stopped. {self.partial()}"
        return f"Done: {self.counts()}."


def iter_json_array(
    handle: BinaryIO, progress: Progress | None = None, total: int = 0
) -> Iterator[Any]:
    """The items of a top-level JSON array, decoded one at a time."""
    decoder = json.JSONDecoder()
    buffer = ""
    read = 0
    raw = b""

    def more(size: int = _CHUNK) -> bool:
        nonlocal buffer, read, raw
        chunk = handle.read(size)
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
            except RecursionError:
                raise ImportFormatError(
                    "an item in the file is nested too deeply to be a conversation"
                ) from None
            except json.JSONDecodeError as exc:
                # read as much again as is buffered, so a large item is decoded a few
                # times, not once per chunk
                if not more(max(_CHUNK, len(buffer))):
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


def _time(value: Any) -> float | None:
    """A POSIX time as ChatGPT writes it, or None for anything else (text, NaN, year 3e300)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        t = float(value)
        if math.isfinite(t) and 0 < t < _LAST_TIME:
            return t
    return None


_LAST_TIME = 253_402_000_000.0  # the year 9999


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def chatgpt_turns(conversation: dict[str, Any]) -> list[tuple[str, str, float | None, str]]:
    """(role, text, time, node id) of the branch the person last saw, oldest first."""
    mapping = conversation.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise ImportFormatError("the conversation has no messages (no 'mapping')")
    node_id = conversation.get("current_node")
    if not isinstance(node_id, str) or node_id not in mapping:
        # fall back to the deepest leaf on last children
        node_id = next(
            (k for k, v in mapping.items() if isinstance(v, dict) and not v.get("parent")), None
        )
        seen_down: set[str] = set()
        while isinstance(node_id, str) and node_id in mapping and node_id not in seen_down:
            seen_down.add(node_id)
            children = _dict(mapping[node_id]).get("children")
            if not isinstance(children, list) or not children:
                break
            node_id = children[-1]
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
        role = _dict(message.get("author")).get("role")
        metadata = _dict(message.get("metadata"))
        if role not in ("user", "assistant") or metadata.get(
            "is_visually_hidden_from_conversation"
        ):
            continue
        if message.get("recipient") not in (None, "all"):
            continue  # the assistant talking to a tool
        text = _text_of(message)
        if not text:
            continue
        source_id = message.get("id") or node.get("id") or ""
        turns.append(
            (
                str(role),
                text,
                _time(message.get("create_time")),
                source_id if isinstance(source_id, str) else "",
            )
        )
    return turns


def _conversation_id(conversation: dict[str, Any], index: int) -> str:
    """``chatgpt-<their id>``: the same every time the file is imported."""
    source = conversation.get("conversation_id") or conversation.get("id")
    if isinstance(source, int) and not isinstance(source, bool):
        source = str(source)
    if not isinstance(source, str) or not source:
        return f"chatgpt-{index}"
    if len(source) > 100 or not source.isprintable():
        digest = hashlib.sha256(source.encode("utf-8", "replace")).hexdigest()[:32]
        return f"chatgpt-{digest}"
    return f"chatgpt-{source}"


def _title(conversation: dict[str, Any]) -> str:
    title = conversation.get("title")
    if not isinstance(title, str) or not title.strip():
        return "Imported conversation"
    title = " ".join(title.split())[:200]
    return title.encode("utf-8", "replace").decode("utf-8")


def import_chatgpt(
    store: MemoryStore, path: Path, progress: Progress | None = None
) -> ImportSummary:
    summary = ImportSummary(ImportKind.CHATGPT)
    total = path.stat().st_size
    with open(path, "rb") as handle:
        for index, conversation in enumerate(iter_json_array(handle, progress, total)):
            if not isinstance(conversation, dict):
                summary.skipped.append(f"item {index + 1}: not a conversation")
                continue
            conversation_id = _conversation_id(conversation, index)
            title = _title(conversation)
            if store.get_conversation(conversation_id) is not None:
                summary.already_present += 1
                continue
            try:
                turns = chatgpt_turns(conversation)
            except ImportFormatError as exc:
                summary.skipped.append(f"{title!r}: {exc}")
                continue
            long = [t for t in turns if len(t[1]) > MAX_TEXT_CHARS]
            if long:
                summary.skipped.append(
                    f"{title!r}: {len(long)} message(s) longer than {MAX_TEXT_CHARS:,} "
                    "characters were left out"
                )
                turns = [t for t in turns if len(t[1]) <= MAX_TEXT_CHARS]
            if not turns:
                summary.skipped.append(f"{title!r}: no text from you or the assistant")
                continue
            start = _time(conversation.get("create_time"))
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
            created = start or episodes[0].said_at or store.now()
            end = _time(conversation.get("update_time")) or clock or created
            try:
                store.add_episodes(episodes)
                store.restore_conversations(
                    [Conversation(conversation_id, title, created, max(created, end))]
                )
            except InvalidMemoryError as exc:  # what the store refuses skips this one only
                summary.skipped.append(f"{title!r}: {exc}")
                continue
            summary.conversations += 1
            summary.memories += len(episodes)
    return summary


def detect(path: Path) -> ImportKind:
    """What kind of export a file is, from its first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(4096).decode("utf-8", "replace").lstrip()
    if head.startswith("["):
        return ImportKind.CHATGPT
    if head.startswith("{") and '"mneme-memory-export"' in head:
        return ImportKind.MNEME
    raise ImportFormatError(
        f"{path.name} is neither a ChatGPT export (conversations.json) nor a Mneme export"
    )


def import_file(store: MemoryStore, path: Path, progress: Progress | None = None) -> ImportSummary:
    """Import either kind of export, recognised from the file: the one dispatch (the
    core's :meth:`~mneme.assistant.transfer.TransferActions.import_file` adds stopping)."""
    kind = detect(path)
    if kind is ImportKind.CHATGPT:
        return import_chatgpt(store, path, progress)
    try:
        report = import_json(store, path, progress)
    except ExportFormatError as exc:
        raise ImportFormatError(str(exc)) from exc
    return ImportSummary(
        kind,
        memories=report.imported,
        history=report.history,
        conversations=report.conversations,
        already_present=report.already_present,
        skipped=report.skipped,
    )
