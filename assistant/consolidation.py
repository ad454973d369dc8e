"""Consolidation with the chat model: the memory engine's pipeline, driven from here.

The model is shared with chat through the :class:`ModelOwner` at background
priority, so a user's message takes it within one token (the running step
raises :class:`ModelBusy` and the job waits in the queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from memory.consolidation import ConsolidationConfig, ModelBusy

from .llm.base import CancelToken, ChatMessage, SamplingParams
from .llm.owner import ModelOwner, Preempted, Priority
from .settings import Settings


class BackgroundModel:
    """The chat model as a :class:`memory.consolidation.ConsolidationModel`."""

    def __init__(
        self, owner: ModelOwner, *, seed: int | None = 0, cancel: CancelToken | None = None
    ) -> None:
        self.owner = owner
        self.seed = seed
        self.cancel = cancel
        """Set when the app closes: the step ends at the next token and the job waits."""

    def generate(
        self,
        system: str,
        prompt: str,
        *,
        json_schema: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
    ) -> str:
        # Low temperature: distilling is not creative writing, and a retry after a
        # crash should read the same as the first try.
        params = SamplingParams(
            max_tokens=max_tokens,
            temperature=0.2,
            top_p=0.95,
            top_k=40,
            min_p=0.05,
            repeat_penalty=1.1,
            seed=self.seed,
        )
        messages = [ChatMessage("system", system), ChatMessage("user", prompt)]
        try:
            text = "".join(
                self.owner.stream_chat(
                    messages,
                    params,
                    cancel=self.cancel,
                    json_schema=dict(json_schema) if json_schema is not None else None,
                    priority=Priority.BACKGROUND,
                )
            )
        except Preempted as exc:
            raise ModelBusy(str(exc)) from exc
        if self.cancel is not None and self.cancel.cancelled:
            raise ModelBusy("consolidation was stopped")  # a cut answer is not a bad answer
        return text


def config_from(settings: Settings) -> ConsolidationConfig:
    memory = settings.memory
    return ConsolidationConfig(
        idle_minutes=memory.idle_minutes,
        episode_retention_days=(
            float(memory.episode_retention_days) if memory.episode_retention_days else None
        ),
    )
