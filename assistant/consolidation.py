"""Consolidation with the chat model: the memory engine's pipeline, driven from here.

The model is shared with chat through the :class:`ModelOwner` at background
priority, so a user's message takes it within one token (the running step
raises :class:`ModelBusy` and the job waits in the queue). The facet
:class:`ConsolidationActions` is what a person can do about it: run it now,
see the runs, take one back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mneme.memory import Run
from mneme.memory.consolidation import (
    ConsolidationConfig,
    ModelBusy,
    ModelUse,
    RunReport,
    undo_run,
)
from mneme.memory.consolidation.selfcheck import check_model

from .actions import action
from .llm.base import CancelToken, ChatMessage, SamplingParams
from .llm.owner import ModelOwner, Preempted, Priority
from .model_trust import AUTOMATIC, Basis, Trust
from .settings import Settings

if TYPE_CHECKING:
    from .core import Assistant

__all__ = ["BackgroundModel", "ConsolidationActions", "RunReport", "UndoReport", "config_from"]

Progress = Callable[[int, int, str], None]
"""(jobs done, jobs known, what is being done)"""


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


def config_from(settings: Settings, model_use: ModelUse = ModelUse.NOTHING) -> ConsolidationConfig:
    memory = settings.memory
    return ConsolidationConfig(
        model_use=model_use,
        idle_minutes=memory.idle_minutes,
        episode_retention_days=(
            float(memory.episode_retention_days) if memory.episode_retention_days else None
        ),
    )


@dataclass(frozen=True, slots=True)
class UndoReport:
    undone: tuple[str, ...]
    """Memories the run added (now gone) or changed (now back as they were)."""
    kept: tuple[str, ...]
    """Memories the person edited or pinned since, kept as they are."""


class ConsolidationActions:
    """The consolidation facet of the core: ``assistant.consolidation``."""

    RUNS_SHOWN = 20

    def __init__(self, core: Assistant) -> None:
        self._core = core

    @action
    def run(
        self,
        *,
        everything: bool = False,
        cancel: CancelToken | None = None,
        progress: Progress | None = None,
    ) -> RunReport:
        """Summarise and distil the conversations that are due (``everything``: all of
        them, even active ones). Needs the model and the memory; a message sent meanwhile
        takes the model, and what is left waits for the next run. A model not yet checked
        is checked first (see :meth:`check_model`)."""
        token = cancel or CancelToken()
        trust = self.trust()
        if trust.basis is Basis.UNCHECKED:
            if progress is not None:
                progress(0, 1, "checking what the model writes")
            try:
                trust = self.check_model(cancel=token)
            except ModelBusy:
                return RunReport(run_id="", status="interrupted")  # checked next time
        consolidator = self._core.consolidator(token, trust.use)
        return consolidator.run(
            everything=everything, should_stop=lambda: token.cancelled, progress=progress
        )

    @action
    def trust(self) -> Trust:
        """What the model may write into the memory now, and why (runs no model)."""
        identity, name = self._core.model_identity()
        check = self._core.model_checks.verdict(identity)
        chosen = self._core.settings.memory.model_writes
        if chosen != AUTOMATIC:
            return Trust(ModelUse(chosen), Basis.CHOSEN, name, check)
        if check is None:
            return Trust(ModelUse.NOTHING, Basis.UNCHECKED, name, None)
        return Trust(check.use, Basis.CHECKED, name, check)

    @action
    def check_model(self, *, cancel: CancelToken | None = None) -> Trust:
        """Put fixed conversations with known facts to the model (about a minute with the
        bundled one, at background priority) and keep its verdict for this model file.
        Raises :class:`ModelBusy` if a reply took the model, and when ``cancel`` is set."""
        token = cancel or CancelToken()
        identity, _ = self._core.model_identity()
        model = BackgroundModel(self._core.open_model(), cancel=token)
        store = self._core.open_memory()
        check = check_model(
            model,
            store.embedder,
            config_from(self._core.settings),
            should_stop=lambda: token.cancelled,
        )
        if check is None:
            raise ModelBusy("the check was stopped")
        self._core.model_checks.keep(identity, check)
        return self.trust()

    @action
    def runs(self, limit: int = RUNS_SHOWN) -> list[Run]:
        """The last runs, newest first, with what each did."""
        return self._core.open_memory(load_embedder=False).jobs.runs(limit)

    @action
    def undo(self, run_id: str) -> UndoReport:
        """Take back everything one run did, keeping what the person changed since."""
        undone, kept = undo_run(self._core.open_memory(), run_id)
        return UndoReport(tuple(undone), tuple(kept))

    def conversation_left(self, conversation_id: str) -> None:
        """The person moved away from a conversation: it is due now, not after the idle
        delay. (A policy of the window, not something a person asks for.)"""
        store = self._core.open_memory(load_embedder=False)
        if store.get_conversation(conversation_id) is not None:
            store.jobs.queue_conversation(conversation_id, store.now())
