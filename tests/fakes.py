"""A scripted chat model for deterministic tests of the logic around a model.

Never the only test of a part: every behaviour tested with it is also tested
with llama.cpp on a real GGUF.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from mneme.assistant.llm.base import CancelToken, ChatMessage, GenerationError, SamplingParams


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

    def read_prompt(
        self,
        messages: Sequence[ChatMessage],
        *,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
        step: int | None = None,
    ) -> Iterator[tuple[int, int]]:
        return iter(())

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


class RuleModel:
    """A consolidation model that answers by rule from the prompt, deterministically.

    Summaries repeat the turns they were shown (so a test can see what a summary
    was made from); facts are "<speaker> said: <turn>" for each user turn that
    holds ``fact_marker``; decisions come from ``decisions`` (new fact text ->
    (decision, existing number)) or "add". ``script`` overrides any answer by
    the system prompt's first word ("You summarise" -> "summarise", …).
    """

    def __init__(
        self,
        *,
        fact_marker: str = "",
        decisions: dict[str, tuple[str, int]] | None = None,
        script: dict[str, list[str]] | None = None,
        fail: BaseException | None = None,
    ) -> None:
        self.fact_marker = fact_marker
        self.decisions = decisions or {}
        self.script = script or {}
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    @staticmethod
    def task(system: str) -> str:
        if system.startswith("You summarise"):
            return "summarise"
        if system.startswith("You combine"):
            return "combine"
        if system.startswith("You extract"):
            return "facts"
        return "decide"

    def generate(
        self,
        system: str,
        prompt: str,
        *,
        json_schema: Any = None,
        max_tokens: int = 512,
    ) -> str:
        import json
        import re

        task = self.task(system)
        self.calls.append((task, prompt))
        if self.fail is not None:
            raise self.fail
        if self.script.get(task):
            return self.script[task].pop(0)
        if task in ("summarise", "combine"):
            body = prompt.split(":\n", 1)[1].rsplit("\n\n", 1)[0]
            lines = [re.sub(r"^(\[\d+\]|-) ", "", line) for line in body.splitlines()]
            return json.dumps({"summary": " | ".join(lines)})
        if task == "facts":
            facts = []
            for line in prompt.splitlines():
                m = re.match(r"\[(\d+)\] \S+ (\S+): (.*)", line)
                if m and m.group(2) == "user" and self.fact_marker in m.group(3):
                    fact = {"fact": f"User said: {m.group(3)}", "turns": [int(m.group(1))]}
                    facts.append({**fact, "importance": 0.6})
            return json.dumps({"facts": facts})
        new = prompt.split("New fact: ", 1)[1].split("\n", 1)[0]
        decision, existing = self.decisions.get(new, ("add", 0))
        return json.dumps({"decision": decision, "existing": existing})
