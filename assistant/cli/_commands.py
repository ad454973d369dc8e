"""The CLI's table of commands: each says which core actions it offers.

A command is a function ``(assistant, args, output) -> exit code`` registered
under its words (``("memory", "delete")``) with the actions it calls
(``"memories.forget"``). The parity test compares the actions covered here
with :func:`mneme.assistant.core.actions`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._output import Output

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant

Handler = Callable[["Assistant", argparse.Namespace, Output], int]


@dataclass(frozen=True, slots=True)
class Command:
    words: tuple[str, ...]
    handler: Handler
    does: tuple[str, ...]


COMMANDS: dict[tuple[str, ...], Command] = {}


def command(*words: str, does: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the command ``mneme-cli WORDS…`` offering ``does``."""

    def register(handler: Handler) -> Handler:
        COMMANDS[words] = Command(words, handler, does)
        return handler

    return register


def covered() -> set[str]:
    """Every core action some command offers."""
    return {name for c in COMMANDS.values() for name in c.does}
