"""Refuse what cannot be stored, before anything is written, with a message a person can act on.

Chroma rejects None, nested values and empty lists in metadata, and SQLite and
Chroma both cut text at a NUL; everything is checked or made safe here so a
write either succeeds whole or fails before it starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .errors import InvalidMemoryError
from .records import Scalar

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
            raise InvalidMemoryError(f"extra metadata names must be short printable text: {key!r}")
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


def check_time(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidMemoryError(f"{name} must be a time in seconds")
    return float(value)
