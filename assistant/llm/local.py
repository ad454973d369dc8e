"""A GGUF model run in this process by llama-cpp-python.

The prompt is rendered with the GGUF's own chat template and tokenized here,
and generation starts from those exact tokens, so the token counts the prompt
builder budgets with are the ones the model sees. One lock makes this object
the single owner of the model: two callers never interleave on its KV cache.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .base import (
    CancelToken,
    ChatMessage,
    GenerationError,
    ModelLoadError,
    SamplingParams,
)
from .gguf_header import GGUFError, GGUFInfo, read_gguf

log = logging.getLogger(__name__)

_CHATML_STOP = "<|im_end|>"


def _chatml(messages: Sequence[dict[str, str]]) -> str:
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


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
        self._render: Any = None
        self._stops: list[str] = []
        self._lock = threading.Lock()
        self.warnings: list[str] = []

    # -- lifecycle ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def context_length(self) -> int:
        return self._n_ctx

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def load(self) -> None:
        with self._lock:
            if self._llm is not None:
                return
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
            try:
                self._llm = llama_cpp.Llama(**kwargs)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelLoadError(f"llama.cpp could not load {self.path.name}: {exc}") from exc
            self._setup_template(llama_cpp)

    def _setup_template(self, llama_cpp: Any) -> None:
        llm = self._llm
        template = self.info.chat_template
        if template is None:
            self.warnings.append(
                f"{self.path.name} has no chat template; using ChatML, replies may be poor"
            )
            log.warning(self.warnings[-1])
            self._render = _chatml
            self._stops = [_CHATML_STOP]
            return
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
        formatter = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos
        )
        self._render = lambda messages: formatter(messages=messages).prompt
        self._stops = [eos] if eos else []

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

    def _prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        llm = self._require()
        rendered = self._render([{"role": m.role, "content": m.content} for m in messages])
        add_bos = self._render is _chatml
        tokens: list[int] = llm.tokenize(
            rendered.encode("utf-8", "replace"), add_bos=add_bos, special=True
        )
        return tokens

    def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        return len(self._prompt_tokens(messages))

    # -- generation ---------------------------------------------------------------

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: CancelToken | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        with self._lock:
            yield from self._generate(messages, params, cancel, json_schema)

    def _generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: CancelToken | None,
        json_schema: dict[str, Any] | None,
    ) -> Iterator[str]:
        if self._llm is None:
            # load() takes the lock we hold; do its work without it
            self._lock.release()
            try:
                self.load()
            finally:
                self._lock.acquire()
        llm = self._llm
        tokens = self._prompt_tokens(messages)
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
            "stop": self._stops,
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
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        yield piece
                    if cancel is not None and cancel.cancelled:
                        break
            finally:
                stream.close()
        except GenerationError:
            raise
        except (ValueError, RuntimeError) as exc:
            raise GenerationError(f"generation failed: {exc}") from exc
