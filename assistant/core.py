"""The assistant's parts, wired from settings: memory, model and chat.

The CLI and the desktop app both start here. Memory and model open separately
so that one failing (a damaged model file, a locked memory folder) leaves the
other usable: memories stay browsable without a model, and the model still
answers, without recall, when memory cannot open.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from memory import Embedder, MemoryStore, SentenceTransformerEmbedder, ServerLocation

from . import settings as settings_mod
from .chat import ChatService
from .llm.base import LLMBackend, ModelLoadError
from .llm.local import LlamaCppBackend
from .models import BundledModelMissing, resolve_model_path
from .paths import AppPaths
from .settings import Settings

log = logging.getLogger(__name__)


class Assistant:
    def __init__(
        self,
        paths: AppPaths,
        settings: Settings,
        warnings: list[str] | None = None,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.warnings = list(warnings or [])
        self._embedder = embedder
        self._store: MemoryStore | None = None
        self._backend: LLMBackend | None = None
        self._chat: ChatService | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_environment(
        cls, home: str | Path | None = None, *, embedder: Embedder | None = None
    ) -> Assistant:
        paths = AppPaths.resolve(home).ensure()
        loaded = settings_mod.load(paths.settings_file)
        return cls(paths, loaded.settings, loaded.warnings, embedder=embedder)

    # -- parts --------------------------------------------------------------------

    def open_memory(self) -> MemoryStore:
        """Load the embedder and open the store (seconds on first call)."""
        with self._lock:
            if self._store is None:
                if self._embedder is None:
                    self._embedder = SentenceTransformerEmbedder(
                        threads=self.settings.model.threads
                    )
                embedder = self._embedder
                if isinstance(embedder, SentenceTransformerEmbedder):
                    embedder.load()
                server_url = self.settings.memory.server_url
                server = ServerLocation(server_url.rstrip("/")) if server_url else None
                self._store = MemoryStore.open(self.paths.memory, embedder, server=server)
                self.warnings.extend(self._store.warnings)
                self._chat = None
            return self._store

    def model_path(self) -> Path:
        try:
            return resolve_model_path(self.settings.model.path)
        except BundledModelMissing as exc:
            raise ModelLoadError(str(exc)) from exc

    def open_model(self) -> LLMBackend:
        with self._lock:
            if self._backend is None:
                m = self.settings.model
                backend = LlamaCppBackend(
                    self.model_path(),
                    context_length=m.context_length,
                    threads=m.threads,
                    batch_size=m.batch_size,
                    gpu_layers=m.gpu_layers,
                    seed=m.seed,
                )
                backend.load()
                self.warnings.extend(backend.warnings)
                self._backend = backend
                self._chat = None
            return self._backend

    @property
    def store(self) -> MemoryStore | None:
        return self._store

    @property
    def backend(self) -> LLMBackend | None:
        return self._backend

    def chat(self) -> ChatService:
        """The chat service over whatever is open; the model must be."""
        with self._lock:
            if self._backend is None:
                raise ModelLoadError("the chat model is not loaded")
            if self._chat is None:
                self._chat = ChatService(self._backend, self._store, self.settings)
            return self._chat

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None
            if self._store is not None:
                self._store.close()
                self._store = None
            self._chat = None
