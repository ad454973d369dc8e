"""What can go wrong when a frontend asks the core for something, and how to say it.

Every failure a person may meet is a typed error, so the window, the CLI and a
server each decide once what to do with it (a dialog, an exit code, an HTTP
status) and say the same sentence: :func:`explain`. The engine's errors
(``mneme.memory``: :class:`~mneme.memory.MemoryStoreError` and its kinds) and the
model's (:class:`~mneme.assistant.llm.base.ModelError`) keep their own classes;
this module adds the core's, and the one wording of all of them.
"""

from __future__ import annotations

from enum import StrEnum

from mneme.memory import MemoryStoreError, StoreLockedError, StoreUnavailableError

from .llm.base import ModelError


class Part(StrEnum):
    """The parts of the assistant that open separately (either may fail alone)."""

    MEMORY = "memory"
    MODEL = "model"


class CoreError(Exception):
    """Base of the errors the core raises on purpose."""


class NotReadyError(CoreError):
    """An action needs a part that is not open (still loading, or it failed to)."""

    def __init__(self, part: Part, message: str | None = None) -> None:
        super().__init__(message or f"the {_PART_NAMES[part]} is not open")
        self.part = part


class InvalidRequestError(CoreError, ValueError):
    """What was asked cannot be done as asked (an empty title, removing the model in use);
    nothing was changed. The message says why, in the person's words."""


_PART_NAMES = {Part.MEMORY: "memory", Part.MODEL: "chat model"}


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "Something went wrong."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def explain(exc: BaseException) -> str:
    """The error as a person should read it: one or two sentences, nothing internal.

    Frontends add what *they* offer on top (the window's "Memory → Reopen memory").
    """
    if isinstance(exc, StoreLockedError):
        return _sentence(f"{exc}; close the other Mneme (window or command) and try again")
    if isinstance(exc, MemoryStoreError):  # the engine's messages say what happened
        return _sentence(str(exc))
    if isinstance(exc, ModelError):
        return _sentence(f"the chat model cannot be used: {exc}")
    if isinstance(exc, CoreError | ValueError):
        return _sentence(str(exc))
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return _sentence(f"{where}{exc.strerror or exc}")
    return _sentence(f"unexpected error: {exc}")


def storage_failed(exc: BaseException) -> bool:
    """Whether the memory stopped taking writes and must be opened again (a full or
    read-only disk), which a frontend offers to do."""
    return isinstance(exc, StoreUnavailableError)


__all__ = [
    "CoreError",
    "InvalidRequestError",
    "NotReadyError",
    "Part",
    "explain",
    "storage_failed",
]
