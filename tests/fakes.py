"""A scripted chat model for deterministic tests of the logic around a model.

Never the only test of a part: every behaviour tested with it is also tested
with llama.cpp on a real GGUF.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from assistant.llm.base import CancelToken, ChatMessage, GenerationError, SamplingParams


class ScriptedLLM:
    """Replies with the next scripted text, one word per token; counts a word as a token."""

    def __init__(
        self,
        replies: Sequence[str] = ("ok",),
        *,
        context_length: int = 4096,
        fail_after: int | None = None,
    ) -> None:
        self.replies = list(replies)
        self.prompts: list[tuple[ChatMessage, ...]] = []
        self.schemas: list[dict[str, Any] | None] = []
        self.continued: list[bool] = []
        self._context = context_length
        self.fail_after = fail_after

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def context_length(self) -> int:
        return self._context

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        return sum(self.count_tokens(m.content) + 3 for m in messages) + 2

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
        continue_last: bool = False,
    ) -> Iterator[str]:
        self.prompts.append(tuple(messages))
        self.continued.append(continue_last)
        self.schemas.append(json_schema)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        words = reply.split(" ")
        for i, word in enumerate(words):
            if cancel is not None and cancel.cancelled:
                return
            if self.fail_after is not None and i >= self.fail_after:
                raise GenerationError("scripted failure")
            if i == 0 and not word:  # the reply starts with a space: keep it
                continue
            yield " " + word if i > 0 else word

    def close(self) -> None:
        pass


class HashEmbedder:
    """A deterministic bag-of-words embedder: a stand-in for a *different* model.

    Tests use it where what matters is that the model differs from the one a
    store was built with (name, dimension), not what the vectors mean.
    """

    def __init__(self, name: str = "hash-64", dimension: int = 64) -> None:
        self._name = name
        self._dimension = dimension

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import hashlib
        import math

        out = []
        for text in texts:
            v = [0.0] * self._dimension
            for word in text.lower().split():
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
                v[h % self._dimension] += 1.0
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / norm for x in v])
        return out
