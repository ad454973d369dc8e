"""Everything the store remembers, to a file and back.

JSON is the lossless format: every memory with its ids, times, versions,
provenance, state and access statistics, every earlier version, and the
conversation titles. Importing it into a store recreates them exactly
(vectors are recomputed by that store's embedder). Markdown is for reading.

An import checks every record before writing any; records that do not fit
are skipped with the reason, and memories already present are left alone.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any, TypeVar

from ._validation import check_id, check_label, check_memory, check_text, check_time
from .errors import InvalidMemoryError
from .records import (
    Conversation,
    Kind,
    ListQuery,
    Memory,
    SortKey,
    State,
    TranscriptTurn,
    TurnState,
)
from .store import MemoryStore

T = TypeVar("T")

FORMAT = "mneme-memory-export"
VERSION = 1
Progress = Callable[[int, int], None]


class ExportFormatError(InvalidMemoryError):
    """The file is not a Mneme memory export this version can read."""


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    already_present: int = 0
    history: int = 0
    conversations: int = 0
    skipped: list[str] = field(default_factory=list)
    """One line per record that was not imported, with why."""


def _memory_dict(memory: Memory) -> dict[str, Any]:
    data = asdict(memory)
    data["sources"] = list(memory.sources)
    data["extra"] = dict(memory.extra)
    return data


_FIELDS = {f.name for f in fields(Memory)}
_REQUIRED = ("id", "kind", "text", "said_at", "stored_at", "updated_at")
_NUMBERS = (
    "said_at",
    "stored_at",
    "updated_at",
    "importance",
    "confidence",
    "valid_from",
    "valid_to",
    "last_access",
)


def _number(name: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidMemoryError(f"{name} must be a number, not {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise InvalidMemoryError(f"{name} is far too large a number") from None


def memory_from_dict(data: Any) -> Memory:
    """A memory from its exported form, every field checked as the store checks a write;
    InvalidMemoryError says what is wrong."""
    if not isinstance(data, dict):
        raise InvalidMemoryError("a memory must be a JSON object")
    unknown = set(data) - _FIELDS
    if unknown:
        raise InvalidMemoryError(f"unknown fields {sorted(str(k)[:40] for k in unknown)[:5]}")
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise InvalidMemoryError(f"missing field {missing[0]!r}")
    values = dict(data)
    for name in _NUMBERS:
        if values.get(name) is not None:
            values[name] = _number(name, values[name])
    sources = values.get("sources")
    if sources is not None and not isinstance(sources, list):
        raise InvalidMemoryError("sources must be a list of memory ids")
    values["sources"] = tuple(sources or ())
    if values.get("extra") is None:
        values["extra"] = {}
    return check_memory(Memory(**values))


def conversation_from_dict(data: Any) -> Conversation:
    if not isinstance(data, dict):
        raise InvalidMemoryError("a conversation must be a JSON object")
    title = data.get("title") or ""
    if not isinstance(title, str):
        raise InvalidMemoryError("a conversation's title must be text")
    created = check_time("created_at", _number("created_at", data.get("created_at")))
    updated = check_time("updated_at", _number("updated_at", data.get("updated_at")))
    assert created is not None and updated is not None
    return Conversation(
        check_id("a conversation's id", data.get("id")),
        " ".join(check_text(title).split())[:200] if title.strip() else "",
        created,
        updated,
    )


def turn_from_dict(data: Any) -> TranscriptTurn:
    """A turn of a conversation's transcript as exported (what was said)."""
    if not isinstance(data, dict):
        raise InvalidMemoryError("a turn must be a JSON object")
    try:
        state = TurnState(str(data.get("state")))
    except ValueError:
        raise InvalidMemoryError(f"unknown turn state {data.get('state')!r}") from None
    said = check_time("said_at", _number("said_at", data.get("said_at")))
    seq = data.get("seq")
    role, speaker, text = data.get("role"), data.get("speaker"), data.get("text")
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(role, str):
        raise InvalidMemoryError("a turn needs its place (seq) and who said it (role)")
    if speaker is not None and not isinstance(speaker, str):
        raise InvalidMemoryError("a turn's speaker must be text")
    if not isinstance(text, str):
        raise InvalidMemoryError("a turn's words must be text")
    assert said is not None
    return TranscriptTurn(
        check_id("a turn's id", data.get("id")),
        check_id("a conversation's id", data.get("conversation_id")),
        seq,
        check_label("a turn's role", role) or "user",
        check_label("a turn's speaker", speaker),
        said,
        check_text(text) if state is not TurnState.WITHHELD else "",
        state,
    )


def _all(store: MemoryStore) -> Iterator[Memory]:
    offset = 0
    while True:
        page = store.browse(
            ListQuery(sort=SortKey.STORED_AT, descending=False, offset=offset, limit=1000)
        )
        yield from page.items
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return


def atomic_write(path: Path, write: Callable[[IO[str]], object]) -> None:
    """Write through a temporary file and rename, so a crash leaves the old file whole."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_json(store: MemoryStore, path: str | Path, progress: Progress | None = None) -> int:
    """Write the whole store to ``path`` (atomically); returns the number of memories."""
    total = store.count()
    count = 0

    def write(out: IO[str]) -> None:
        nonlocal count
        header = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": time.time(),
            "embedder": store.embedder.name,
        }
        out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "memories": [\n')
        for i, memory in enumerate(_all(store)):
            out.write(("," if i else "") + json.dumps(_memory_dict(memory), ensure_ascii=False))
            out.write("\n")
            count += 1
            if progress and count % 500 == 0:
                progress(count, total)
        out.write('], "history": [\n')
        for i, (memory, changed_at) in enumerate(store.all_history()):
            item = {"memory": _memory_dict(memory), "changed_at": changed_at}
            out.write(("," if i else "") + json.dumps(item, ensure_ascii=False) + "\n")
        conversations = [asdict(c) for c in store.conversations()]
        out.write('], "conversations": ' + json.dumps(conversations, ensure_ascii=False))
        out.write(', "transcript": [\n')
        for i, turn in enumerate(store.transcripts()):
            out.write(("," if i else "") + json.dumps(asdict(turn), ensure_ascii=False) + "\n")
        out.write("]}\n")

    atomic_write(Path(path), write)
    if progress:
        progress(count, total)
    return count


def read_export(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportFormatError(f"{path} cannot be read: {exc}") from exc
    except RecursionError:
        raise ExportFormatError(f"{path} is nested too deeply to be a memory export") from None
    except ValueError as exc:  # not JSON, or a number too long to read
        raise ExportFormatError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportFormatError(f"{path} is not a Mneme memory export")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ExportFormatError(f"{path} has no valid export format version")
    if version > VERSION:
        raise ExportFormatError(
            f"{path} was written by a newer Mneme (export format {data.get('version')!r})"
        )
    for key in ("memories", "history", "conversations", "transcript"):
        if not isinstance(data.get(key, []), list):
            raise ExportFormatError(f"{path}: {key!r} must be a list")
    return data


def _each(
    data: dict[str, Any],
    key: str,
    parse: Callable[[Any], T],
    name: str,
    report: ImportReport,
) -> list[T]:
    """Every entry of ``data[key]`` that parses; the others are skipped with the reason."""
    parsed: list[T] = []
    for i, raw in enumerate(data.get(key, [])):
        try:
            parsed.append(parse(raw))
        except InvalidMemoryError as exc:
            report.skipped.append(f"{name} #{i + 1}: {exc}")
    return parsed


def import_json(
    store: MemoryStore, path: str | Path, progress: Progress | None = None
) -> ImportReport:
    data = read_export(path)
    report = ImportReport()
    before = {c.id for c in store.conversations()}
    memories = _each(data, "memories", memory_from_dict, "memory", report)
    history: list[tuple[Memory, float]] = []
    for i, raw in enumerate(data.get("history", [])):
        try:
            if not isinstance(raw, dict):
                raise InvalidMemoryError("a history entry must be a JSON object")
            changed_at = check_time("changed_at", _number("changed_at", raw.get("changed_at")))
            assert changed_at is not None
            history.append((memory_from_dict(raw.get("memory")), changed_at))
        except InvalidMemoryError as exc:
            report.skipped.append(f"history entry #{i + 1}: {exc}")
    conversations = _each(data, "conversations", conversation_from_dict, "conversation", report)
    transcript = _each(data, "transcript", turn_from_dict, "turn", report)
    # first: the words as said, which the turns' memories (perhaps edited) must not replace
    store.restore_transcript(transcript)

    done = 0
    for start in range(0, len(memories), 500):
        chunk = memories[start : start + 500]
        ids = {m.id for m in chunk}
        written = store.restore(chunk, [h for h in history if h[0].id in ids])
        report.imported += len(written)
        report.already_present += len(chunk) - len(written)
        report.history += sum(1 for h in history if h[0].id in set(written))
        done += len(chunk)
        if progress:
            progress(done, len(memories))
    # titles and times as exported, for the conversations this import brought; one
    # already here keeps its own (renamed since, say)
    new = [c for c in conversations if c.id not in before]
    store.restore_conversations(new)
    report.conversations = len(new)
    return report


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines() or [""])


def export_markdown(store: MemoryStore, path: str | Path) -> int:
    """A readable copy: facts and summaries first, then each conversation's turns."""
    memories = list(_all(store))
    titles = {c.id: c.title for c in store.conversations()}

    def section(kind: Kind) -> Iterable[str]:
        chosen = sorted((m for m in memories if m.kind is kind), key=lambda m: m.said_at)
        if not chosen:
            return
        yield f"\n## {kind.value.capitalize()}s\n"
        for m in chosen:
            marks = " 📌" if m.pinned else ""
            state = f" ({m.state.value})" if m.state is not State.ACTIVE else ""
            yield f"- {_when(m.said_at)}{state}{marks}: {' '.join(m.text.split())}"

    def conversations() -> Iterable[str]:
        episodes = [m for m in memories if m.kind is Kind.EPISODE]
        by_conversation: dict[str, list[Memory]] = {}
        for m in episodes:
            by_conversation.setdefault(m.conversation_id or "", []).append(m)
        if by_conversation:
            yield "\n## Conversations\n"
        for conv, turns in sorted(by_conversation.items(), key=lambda kv: kv[1][0].said_at):
            turns.sort(key=lambda m: m.seq)
            yield f"\n### {titles.get(conv) or conv or 'Unfiled'} ({_when(turns[0].said_at)})\n"
            for m in turns:
                who = m.speaker or m.role or "?"
                yield f"**{who}** · {_when(m.said_at)}{' 📌' if m.pinned else ''}\n"
                yield _quote(m.text) + "\n"

    def write(out: IO[str]) -> None:
        out.write(f"# Mneme memories\n\nExported {_when(time.time())}: {len(memories)} memories.\n")
        for kind in (Kind.FACT, Kind.SUMMARY):
            for line in section(kind):
                out.write(line + "\n")
        for line in conversations():
            out.write(line + "\n")

    atomic_write(Path(path), write)
    return len(memories)
