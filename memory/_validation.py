"""Refuse what cannot be stored, before anything is written, with a message a person can act on.

Chroma rejects None, nested values and empty lists in metadata, and SQLite and
Chroma both cut text at a NUL; everything is checked or made safe here so a
write either succeeds whole or fails before it starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .errors import InvalidMemoryError
from .records import Author, Kind, Memory, Scalar, State

#: Longest text a memory may hold. A pasted chapter fits; a whole book does not.
MAX_TEXT_CHARS = 2_000_000
_MAX_EXTRA_KEYS = 32
_MAX_EXTRA_STR = 4096


def check_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidMemoryError(f"a memory's text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InvalidMemoryError("a memory cannot be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidMemoryError(
            f"a memory can hold at most {MAX_TEXT_CHARS:,} characters; this one has {len(text):,}"
        )
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")  # SQLite and Chroma truncate at NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be stored anywhere
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def check_extra(extra: Mapping[str, object]) -> dict[str, Scalar]:
    """Caller metadata, made safe for Chroma: flat scalars, None dropped, clear refusals."""
    if not isinstance(extra, Mapping):
        raise InvalidMemoryError("extra metadata must be a mapping of names to values")
    if len(extra) > _MAX_EXTRA_KEYS:
        raise InvalidMemoryError(f"at most {_MAX_EXTRA_KEYS} extra metadata entries are allowed")
    clean: dict[str, Scalar] = {}
    for key, value in extra.items():
        if not isinstance(key, str) or not key or len(key) > 64 or not key.isprintable():
            raise InvalidMemoryError(
                f"extra metadata names must be short printable text: {str(key)[:40]!r}"
            )
        if value is None:
            continue
        if isinstance(value, bool | int):
            if not isinstance(value, bool) and not -(2**63) <= value < 2**63:
                raise InvalidMemoryError(f"extra metadata {key!r} is too large an integer")
            clean[key] = value
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidMemoryError(f"extra metadata {key!r} must be a finite number")
            clean[key] = value
        elif isinstance(value, str):
            if len(value) > _MAX_EXTRA_STR:
                raise InvalidMemoryError(f"extra metadata {key!r} is longer than {_MAX_EXTRA_STR}")
            clean[key] = check_text(value) if value.strip() else value.replace("\x00", "")
        else:
            raise InvalidMemoryError(
                f"extra metadata {key!r} must be text, a number or true/false, "
                f"not {type(value).__name__}"
            )
    return clean


def check_unit(name: str, value: float) -> float:
    if not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidMemoryError(f"{name} must be between 0 and 1")
    return float(value)


#: Times a calendar can show (years 1 to 9999, with a day to spare for time zones);
#: dates outside it make ``time.localtime`` and ``datetime`` fail when the memory is indexed.
MIN_TIME = -62_135_596_800.0 + 172_800
MAX_TIME = 253_402_300_799.0 - 172_800


def check_time(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not MIN_TIME <= value <= MAX_TIME
    ):
        raise InvalidMemoryError(f"{name} must be a time in seconds between the years 1 and 9999")
    return float(value)


_MAX_LABEL = 1000
_INT64 = 2**63


def check_label(name: str, value: object) -> str | None:
    """A conversation id, a role, a speaker, a scope: empty, or short text storable as it is."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMemoryError(f"{name} must be text")
    if len(value) > _MAX_LABEL:
        raise InvalidMemoryError(f"{name} is longer than {_MAX_LABEL} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMemoryError(f"{name} holds characters that cannot be stored") from None
    return value


def check_id(name: str, value: object) -> str:
    found = check_label(name, value)
    if not found:
        raise InvalidMemoryError(f"{name} must be text")
    return found


def check_int(name: str, value: object, low: int = -_INT64, high: int = _INT64 - 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidMemoryError(f"{name} must be a whole number from {low:,} to {high:,}")
    return value


def check_memory(memory: Memory) -> Memory:
    """Every field of a whole record (an import, a restore) checked and normalised, so that
    a write either succeeds whole or is refused before anything is written."""
    if not isinstance(memory.pinned, bool):
        raise InvalidMemoryError("pinned must be true or false")
    try:
        kind, state, author = Kind(memory.kind), State(memory.state), Author(memory.author)
    except (ValueError, TypeError):
        raise InvalidMemoryError(
            f"{str(memory.kind)[:40]!r}, {str(memory.state)[:40]!r} or "
            f"{str(memory.author)[:40]!r} is not a kind, state or author of memory"
        ) from None
    if not isinstance(memory.sources, tuple | list) or len(memory.sources) > 10_000:
        raise InvalidMemoryError("sources must be a list of at most 10,000 memory ids")
    said_at = check_time("said_at", memory.said_at)
    stored_at = check_time("stored_at", memory.stored_at)
    updated_at = check_time("updated_at", memory.updated_at)
    if said_at is None or stored_at is None or updated_at is None:
        raise InvalidMemoryError("a memory needs the times it was said, stored and updated")
    return replace(
        memory,
        id=check_id("a memory's id", memory.id),
        kind=kind,
        text=check_text(memory.text),
        said_at=said_at,
        stored_at=stored_at,
        updated_at=updated_at,
        conversation_id=check_label("conversation_id", memory.conversation_id),
        role=check_label("role", memory.role),
        speaker=check_label("speaker", memory.speaker),
        seq=check_int("seq", memory.seq),
        importance=check_unit("importance", memory.importance),
        confidence=check_unit("confidence", memory.confidence),
        state=state,
        sources=tuple(check_id("a source id", s) for s in memory.sources),
        valid_from=check_time("valid_from", memory.valid_from),
        valid_to=check_time("valid_to", memory.valid_to),
        superseded_by=check_label("superseded_by", memory.superseded_by),
        scope=check_label("scope", memory.scope),
        version=check_int("version", memory.version, 1),
        author=author,
        extra=check_extra(memory.extra),
        access_count=check_int("access_count", memory.access_count, 0),
        last_access=check_time("last_access", memory.last_access),
    )


UPDATABLE = frozenset(
    {
        "text",
        "importance",
        "confidence",
        "state",
        "valid_from",
        "valid_to",
        "superseded_by",
        "sources",
        "scope",
        "extra",
        "said_at",
    }
)
"""What ``MemoryStore.update`` may change; the rest (id, kind, times stored) is identity."""


def check_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an update asks to change, checked and normalised like a new memory's."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise InvalidMemoryError(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
    checked = dict(changes)
    if "text" in checked:
        checked["text"] = check_text(checked["text"])
    for name in ("importance", "confidence"):
        if name in checked:
            checked[name] = check_unit(name, checked[name])
    for name in ("valid_from", "valid_to", "said_at"):
        if name in checked:
            checked[name] = check_time(name, checked[name])
    if "said_at" in checked and checked["said_at"] is None:
        raise InvalidMemoryError("said_at cannot be empty")
    if "state" in checked:
        checked["state"] = State(checked["state"])
    if "sources" in checked:
        checked["sources"] = tuple(dict.fromkeys(checked["sources"]))
    if "extra" in checked:
        checked["extra"] = check_extra(checked["extra"])
    return checked
