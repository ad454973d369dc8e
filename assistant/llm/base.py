"""The narrow interface every chat model sits behind.

The chat service, consolidation and the UI only ever see :class:`LLMBackend`,
so a local GGUF, a model server or a scripted fake in a test are
interchangeable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    """"system", "user" or "assistant"."""
    content: str


@dataclass(frozen=True, slots=True)
class SamplingParams:
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None


class CancelToken:
    """Set from any thread; a generation checks it between tokens."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """How far a model has read a long prompt (before the first word of its reply)."""

    done: int
    total: int


class ModelError(Exception):
    """Base of the errors a backend raises on purpose."""


class ModelLoadError(ModelError):
    """The model cannot be loaded: missing, damaged, too large, or the server is unreachable."""


class GenerationError(ModelError):
    """Generation failed after the model was loaded."""


@runtime_checkable
class LLMBackend(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def context_length(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """Tokens of plain text, by the model's own tokenizer."""
        ...

    def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of a whole chat prompt, template included."""
        ...

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
        continue_last: bool = False,
    ) -> Iterator[str]:
        """Yield the reply piece by piece; stop early when ``cancel`` is set.

        With ``continue_last`` the last message is an unfinished assistant reply
        and what is yielded carries on from its last word.
        """
        ...

    def read_prompt(
        self,
        messages: Sequence[ChatMessage],
        *,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
        step: int | None = None,
    ) -> Iterator[tuple[int, int]]:
        """Read the prompt ahead of :meth:`stream_chat` on the same messages, yielding
        (read, to read) as it goes; nothing where reading cannot be followed (a server)
        or there is little to read. With ``step``, everything not yet read is read, that
        many tokens at a time (reading ahead while a message is typed)."""
        ...

    def close(self) -> None: ...
