"""How the CLI prints: plain lines for a person, one JSON document with ``--json``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TextIO

from mneme.memory import Hit, Memory, State


class UsageError(Exception):
    """The command line asks for something that cannot be done as written."""


def when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def memory_json(m: Memory) -> dict[str, Any]:
    data = asdict(m)
    data["sources"] = list(m.sources)
    data["extra"] = dict(m.extra)
    return data


def hit_json(h: Hit) -> dict[str, Any]:
    return {"memory": memory_json(h.memory), "score": h.score, "explanation": asdict(h.explanation)}


def line(m: Memory) -> str:
    """One memory on one line: id, date, kind, flags, who, the start of its text."""
    flags = ("📌 " if m.pinned else "") + (
        f"[{m.state.value}] " if m.state is not State.ACTIVE else ""
    )
    who = m.speaker or m.role or m.kind.value
    text = " ".join(m.text.split())
    return f"{m.id}  {when(m.said_at)}  {m.kind.value:<7} {flags}{who}: {text[:100]}"


class Output:
    def __init__(self, out: TextIO, err: TextIO, as_json: bool) -> None:
        self.out, self.err, self.json = out, err, as_json
        self._warned: set[str] = set()

    def data(self, value: Any, human: Callable[[], None]) -> None:
        """``value`` as JSON with ``--json``, else whatever ``human`` prints."""
        if self.json:
            self.out.write(json.dumps(value, ensure_ascii=False, indent=1, default=str) + "\n")
        else:
            human()

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(f"warning: {text}\n")

    def warnings(self, texts: list[str]) -> None:
        """Each of these warnings once, however often it is asked for."""
        for text in texts:
            if text not in self._warned:
                self._warned.add(text)
                self.warn(text)

    def progress(self) -> Callable[[int, int], None] | None:
        """A percentage on the terminal while long work runs (none when piped)."""
        if self.json or not self.err.isatty():
            return None

        def show(done: int, total: int) -> None:
            self.err.write(f"\r{done * 100 // max(total, 1)}%")
            self.err.flush()

        return show

    def confirm(self, question: str, *, yes: bool, flag: str = "--yes") -> bool:
        """Ask before something that cannot be taken back; ``yes`` skips the question.
        Not run from a terminal, the flag is required."""
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(f"this needs {flag} when not run interactively")
        return input(f"{question} [y/N] ").strip().lower() == "y"
