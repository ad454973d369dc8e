"""One owner for the model: callers take turns, and the person always goes first.

A chat reply and background consolidation share one model. Generations never
interleave (a local model has one KV cache); a background generation checks
between tokens whether a person is waiting and, if so, stops at once with
:class:`Preempted`, so a new message waits at most one generation step. The
background job retries later.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from enum import IntEnum
from typing import Any

from .base import (
    CancelToken,
    ChatMessage,
    GenerationError,
    LLMBackend,
    ReadProgress,
    SamplingParams,
)


class Priority(IntEnum):
    USER = 0
    BACKGROUND = 1


class Preempted(GenerationError):
    """A background generation gave the model up to a person's request."""


class ModelOwner:
    """Wraps a backend; it is itself an LLMBackend, so callers need not know."""

    def __init__(self, backend: LLMBackend) -> None:
        self.backend = backend
        self._cond = threading.Condition()
        self._busy = False
        self._users_waiting = 0
        self._waiting = 0
        self._closing = False
        """Anyone waiting for the model, at any priority: reading ahead gives way to all."""

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def context_length(self) -> int:
        return self.backend.context_length

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def user_waiting(self) -> bool:
        return self._users_waiting > 0

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        return self.backend.count_messages(messages)

    def close(self) -> None:
        self._closing = True  # a read-ahead stops at its next step
        with self._cond:
            self._cond.wait_for(lambda: not self._busy, timeout=30)
            self.backend.close()

    def _acquire(self, priority: Priority, cancel: CancelToken | None) -> bool:
        with self._cond:
            self._waiting += 1
            if priority is Priority.USER:
                self._users_waiting += 1
                self._cond.notify_all()
            try:
                while True:
                    free = not self._busy and (
                        priority is Priority.USER or self._users_waiting == 0
                    )
                    if free:
                        self._busy = True
                        return True
                    if cancel is not None and cancel.cancelled:
                        return False
                    self._cond.wait(timeout=0.1)
            finally:
                self._waiting -= 1
                if priority is Priority.USER:
                    self._users_waiting -= 1

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def read_prompt(
        self,
        messages: Sequence[ChatMessage],
        *,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
        step: int | None = None,
    ) -> Iterator[tuple[int, int]]:
        return self.backend.read_prompt(
            messages, cancel=cancel, continue_last=continue_last, step=step
        )

    READ_AHEAD_STEP = 32
    """Tokens read at a time ahead of a message: a few hundredths of a second on a small
    model, so that a reply asked for meanwhile starts almost at once."""

    def read_ahead(
        self, messages: Sequence[ChatMessage], *, cancel: CancelToken | None = None
    ) -> int:
        """Read ``messages`` into the model's cache while nobody needs the model, so that a
        reply to them (or to messages that begin the same) has less to read. Only if the
        model is idle now; stops at once when anyone asks for it, or on ``cancel``.
        Returns the tokens read."""
        with self._cond:
            if self._busy or self._waiting:
                return 0
            self._busy = True
        read = 0
        try:
            for done, _ in self.backend.read_prompt(
                messages, cancel=cancel, step=self.READ_AHEAD_STEP
            ):
                read = done
                if self._waiting or self._closing:
                    break
        finally:
            self._release()
        return read

    def reply(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
    ) -> Iterator[str | ReadProgress]:
        """A person's reply: the model taken first, the prompt read with progress (a long
        one can be stopped while it is read), then the reply piece by piece, all in one
        turn with the model so nothing else reads in between."""
        if not self._acquire(Priority.USER, cancel):
            return
        try:
            for done, total in self.backend.read_prompt(
                messages, cancel=cancel, continue_last=continue_last
            ):
                yield ReadProgress(done, total)
            if cancel is not None and cancel.cancelled:
                return
            yield from self.backend.stream_chat(
                messages, params, cancel=cancel, continue_last=continue_last
            )
        finally:
            self._release()

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
        continue_last: bool = False,
        priority: Priority = Priority.USER,
    ) -> Iterator[str]:
        if not self._acquire(priority, cancel):
            return
        try:
            stream = self.backend.stream_chat(
                messages,
                params,
                cancel=cancel,
                json_schema=json_schema,
                continue_last=continue_last,
            )
            try:
                for piece in stream:
                    if priority is Priority.BACKGROUND and self._users_waiting:
                        raise Preempted("the model was needed for a reply")
                    yield piece
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        finally:
            self._release()
