"""A GGUF model run in this process by llama-cpp-python.

The prompt is rendered with the GGUF's own chat template and tokenized here,
and generation starts from those exact tokens, so the token counts the prompt
builder budgets with are the ones the model sees. A lock keeps two callers
from interleaving on the model's KV cache (``owner.ModelOwner`` decides who
goes first).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from . import templates
from .base import CancelToken, ChatMessage, GenerationError, ModelLoadError, SamplingParams
from .gguf_header import GGUFError, GGUFInfo, read_gguf

log = logging.getLogger(__name__)


def available_memory() -> int | None:
    """Bytes of memory the system could give us now, where the OS says."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GB"


class LlamaCppBackend:
    """Loads lazily: construct on any thread, call :meth:`load` from a worker."""

    def __init__(
        self,
        path: str | Path,
        *,
        context_length: int = 4096,
        threads: int = 4,
        batch_size: int = 512,
        gpu_layers: int = 0,
        seed: int | None = None,
    ) -> None:
        self.path = Path(path)
        try:
            self.info: GGUFInfo = read_gguf(self.path)
        except GGUFError as exc:
            raise ModelLoadError(str(exc)) from exc
        trained = self.info.context_length or context_length
        self._n_ctx = max(256, min(context_length, trained))
        self._threads = threads
        self._batch = batch_size
        self._gpu_layers = gpu_layers
        self._seed = seed
        self._llm: Any = None
        self.template: templates.ChatTemplate | None = None
        self._lock = threading.Lock()
        self.warnings: list[str] = []
        self.cached_at_start = 0
        """Prompt tokens the cache already held when the last reading began: what an
        earlier prompt (or reading ahead) spared it."""

    # -- lifecycle ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.info.display_name

    @property
    def context_length(self) -> int:
        return self._n_ctx

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def check_memory(self) -> None:
        """Refuse, with an estimate, a model this machine cannot hold."""
        needed = self.info.ram_estimate(self._n_ctx)
        free = available_memory()
        if self._gpu_layers == 0 and free is not None and needed > free:
            raise ModelLoadError(
                f"{self.path.name} needs about {_gib(needed)} of memory at a "
                f"{self._n_ctx:,}-token context, and {_gib(free)} is free; choose a smaller "
                "model or context, or close other programs"
            )

    def load(self) -> None:
        with self._lock:
            if self._llm is not None:
                return
            self.check_memory()
            try:
                import llama_cpp
            except ImportError as exc:  # pragma: no cover - a broken install
                raise ModelLoadError(f"llama-cpp-python cannot be imported: {exc}") from exc
            kwargs: dict[str, Any] = {
                "model_path": str(self.path),
                "n_ctx": self._n_ctx,
                "n_threads": self._threads,
                "n_threads_batch": self._threads,
                "n_batch": min(self._batch, self._n_ctx),
                "n_gpu_layers": self._gpu_layers,
                "verbose": False,
            }
            if self._seed is not None:
                kwargs["seed"] = self._seed
            from jinja2 import TemplateError

            try:
                self._llm = llama_cpp.Llama(**kwargs)
            except TemplateError as exc:  # llama-cpp-python compiles the file's template
                raise ModelLoadError(
                    f"{self.path.name} cannot be used: its chat template is damaged "
                    f"({type(exc).__name__}: {str(exc)[:200]})"
                ) from exc
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelLoadError(f"llama.cpp could not load {self.path.name}: {exc}") from exc
            self.template = self._choose_template()

    def _choose_template(self) -> templates.ChatTemplate:
        llm = self._llm
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
        reason = "has no chat template"
        if self.info.chat_template is not None:
            try:
                template = templates.from_jinja(self.info.chat_template, eos, bos)
                template.render(templates.PROBE)
                return template
            except Exception as exc:  # a template is a program; a damaged one fails any way
                reason = f"has a chat template that does not work ({type(exc).__name__}: {exc})"

        def is_special(marker: str) -> bool:
            return len(llm.tokenize(marker.encode(), add_bos=False, special=True)) == 1

        family = templates.guess_family(is_special)
        self.warnings.append(
            f"{self.path.name} {reason[:300]}; using the {family} format of its family. "
            "If replies look wrong, choose another file of this model."
        )
        log.warning("the model has no usable chat template; using the %s format", family)
        return templates.FALLBACKS[family]

    def forget_cache(self) -> None:
        """Empty the prompt cache, so that the next prompt is read whole (for measuring)."""
        llm = self._require()
        with self._lock:
            llm.reset()
            self.cached_at_start = 0

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def _require(self) -> Any:
        if self._llm is None:
            self.load()
        return self._llm

    # -- tokens -------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        llm = self._require()
        return len(llm.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=False))

    def _prompt_tokens(
        self, messages: Sequence[ChatMessage], *, continuation: bool = False
    ) -> list[int]:
        llm = self._require()
        assert self.template is not None
        plain = [{"role": m.role, "content": m.content} for m in messages]
        try:
            rendered = (
                self.template.render_continuation(plain)
                if continuation
                else self.template.render(plain)
            )
        except Exception as exc:  # the model's own template refused this conversation
            raise GenerationError(
                f"the chat template of {self.path.name} failed on this conversation "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from exc
        tokens: list[int] = llm.tokenize(
            rendered.encode("utf-8", "replace"), add_bos=self.template.add_bos, special=True
        )
        return tokens

    def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        return len(self._prompt_tokens(messages))

    # -- generation ---------------------------------------------------------------

    READ_STEP = 256
    """Tokens of prompt read at a time when reading is reported: small enough that a
    stop is heard within a fraction of a second, large enough to batch well."""

    def read_prompt(
        self,
        messages: Sequence[ChatMessage],
        *,
        cancel: CancelToken | None = None,
        continue_last: bool = False,
        step: int | None = None,
    ) -> Iterator[tuple[int, int]]:
        """Read (evaluate) the prompt ahead of generating, step by step: yields (tokens
        read, tokens to read) and stops when ``cancel`` is set. What is read stays in the
        model's cache, so :meth:`stream_chat` on the same messages only reads what is
        left. Without ``step``, nothing is yielded when little is left to read (the cache
        already holds the beginning); with it, all is read in steps of that size."""
        llm = self._require()
        with self._lock:
            tokens = self._prompt_tokens(messages, continuation=continue_last)
            if len(tokens) > self._n_ctx:
                return  # stream_chat says why
            cached = 0
            for have, want in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
                if have != want:
                    break
                cached += 1
            self.cached_at_start = cached
            todo = tokens[cached:-1]  # the last one is read when generating begins
            if not todo or (step is None and len(todo) < 2 * self.READ_STEP):
                return
            size = step or self.READ_STEP
            # llama.cpp's Llama reads what differs after the longest shared beginning
            # itself; reading it here in steps only adds the reporting and the stop.
            llm.n_tokens = cached
            for start in range(0, len(todo), size):
                if cancel is not None and cancel.cancelled:
                    return
                llm.eval(todo[start : start + size])
                yield min(len(todo), start + size), len(todo)

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
        continue_last: bool = False,
    ) -> Iterator[str]:
        self._require()
        with self._lock:
            yield from self._generate(messages, params, cancel, json_schema, continue_last)

    def _generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: CancelToken | None,
        json_schema: dict[str, Any] | None,
        continue_last: bool,
    ) -> Iterator[str]:
        llm = self._llm
        if llm is None:
            raise GenerationError("the model was closed")
        assert self.template is not None
        tokens = self._prompt_tokens(messages, continuation=continue_last)
        room = self._n_ctx - len(tokens)
        if room <= 0:
            raise GenerationError(
                f"the prompt has {len(tokens)} tokens, more than the {self._n_ctx}-token context"
            )
        kwargs: dict[str, Any] = {
            "max_tokens": max(1, min(params.max_tokens, room)),
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": params.top_k,
            "min_p": params.min_p,
            "repeat_penalty": params.repeat_penalty,
            "stop": list(self.template.stops),
            "stream": True,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if json_schema is not None:
            from llama_cpp.llama_grammar import LlamaGrammar

            kwargs["grammar"] = LlamaGrammar.from_json_schema(
                json.dumps(json_schema), verbose=False
            )
        if cancel is not None and cancel.cancelled:
            return
        try:
            stream = llm.create_completion(tokens, **kwargs)
            try:
                for chunk in stream:
                    if cancel is not None and cancel.cancelled:
                        break  # before yielding: a stop asked for while it was computed wins
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        yield piece
            finally:
                stream.close()
        except (ValueError, RuntimeError) as exc:
            raise GenerationError(f"generation failed: {exc}") from exc
