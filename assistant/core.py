"""The assistant's parts, wired from settings: memory, model and chat.

The CLI and the desktop app both start here. Memory and model open separately
so that one failing (a damaged model file, a locked memory folder) leaves the
other usable: memories stay browsable without a model, and the model still
answers, without recall, when memory cannot open.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

from memory import (
    Embedder,
    MemoryStore,
    SentenceTransformerEmbedder,
    ServerLocation,
    StoreUnavailableError,
)
from memory.backup import BackupInfo
from memory.consolidation import Consolidator

from . import settings as settings_mod
from .chat import ChatService
from .consolidation import BackgroundModel, config_from
from .llm.base import CancelToken, LLMBackend, ModelLoadError
from .llm.local import LlamaCppBackend
from .llm.owner import ModelOwner
from .models import BundledModelMissing, resolve_model_path
from .paths import AppPaths
from .secrets import CHROMA_SERVER_TOKEN, MODEL_SERVER_KEY, Secrets
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
        self._model: ModelOwner | None = None
        self._chat: ChatService | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_environment(
        cls, home: str | Path | None = None, *, embedder: Embedder | None = None
    ) -> Assistant:
        paths = AppPaths.resolve(home).ensure()
        loaded = settings_mod.load(paths.settings_file)
        return cls(paths, loaded.settings, loaded.warnings, embedder=embedder)

    @property
    def secrets(self) -> Secrets:
        return Secrets(
            self.paths.config / "secrets.json",
            allow_file=self.settings.secrets.allow_file_fallback,
        )

    # -- memory -----------------------------------------------------------------------

    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = SentenceTransformerEmbedder(threads=self.settings.model.threads)
            return self._embedder

    def open_memory(self, *, load_embedder: bool = True) -> MemoryStore:
        """Open the store; with ``load_embedder`` also load the embedding model now
        (seconds), so the first search does not pay for it. Listing and reading need
        no embedding model at all."""
        with self._lock:
            embedder = self.embedder()
            if load_embedder and isinstance(embedder, SentenceTransformerEmbedder):
                embedder.load()
            if self._store is None:
                url = self.settings.memory.server_url
                server = (
                    ServerLocation(url.rstrip("/"), token=self.secrets.get(CHROMA_SERVER_TOKEN))
                    if url
                    else None
                )
                self._store = MemoryStore.open(self.paths.memory, embedder, server=server)
                self.warnings.extend(self._store.warnings)
                self._chat = None
            return self._store

    @property
    def store(self) -> MemoryStore | None:
        return self._store

    def reopen_memory(self) -> MemoryStore:
        """Close and open the memory again: after a failed write (a full or read-only
        disk) the store takes no more changes until it is reopened."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
                self._chat = None
            return self.open_memory()

    def backup(self, folder: Path) -> BackupInfo:
        """The memory (consistent even while in use) and the settings, into a new ``folder``;
        ``mneme-cli restore`` reads it."""
        info = self.open_memory(load_embedder=False).backup(folder / "memory")
        if self.paths.settings_file.exists():
            shutil.copy2(self.paths.settings_file, folder / "settings.json")
        return info

    # -- model ------------------------------------------------------------------------

    def model_path(self) -> Path:
        try:
            return resolve_model_path(self.settings.model.path)
        except BundledModelMissing as exc:
            raise ModelLoadError(str(exc)) from exc

    def _make_backend(self) -> LLMBackend:
        server = self.settings.server
        if server.enabled:
            from .llm.server import (
                ServerBackend,
            )  # httpx costs ~0.1 s at start-up; local is the default

            backend = ServerBackend(
                server.url,
                api_key=self.secrets.get(MODEL_SERVER_KEY),
                model=server.model,
                context_length=server.context_length,
                timeout=server.timeout_s,
                retries=server.retries,
            )
            backend.load()
            return backend
        m = self.settings.model
        local = LlamaCppBackend(
            self.model_path(),
            context_length=m.context_length,
            threads=m.threads,
            batch_size=m.batch_size,
            gpu_layers=m.gpu_layers,
            seed=m.seed,
        )
        local.load()
        self.warnings.extend(local.warnings)
        return local

    def open_model(self) -> ModelOwner:
        with self._lock:
            if self._model is None:
                self._model = ModelOwner(self._make_backend())
                self._chat = None
            return self._model

    @property
    def model(self) -> ModelOwner | None:
        return self._model

    @property
    def backend(self) -> LLMBackend | None:
        return self._model.backend if self._model is not None else None

    def chat(self) -> ChatService:
        """The chat service over whatever is open; the model must be."""
        with self._lock:
            if self._model is None:
                raise ModelLoadError("the chat model is not loaded")
            if self._chat is None:
                self._chat = ChatService(self._model, self._store, self.settings)
            return self._chat

    def consolidator(self, cancel: CancelToken | None = None) -> Consolidator:
        """Consolidation over the open memory with the open model (at background priority)."""
        with self._lock:
            if self._model is None:
                raise ModelLoadError("the chat model is not loaded")
            if self._store is None:
                raise StoreUnavailableError("the memory is not open")
            return Consolidator(
                self._store,
                BackgroundModel(self._model, cancel=cancel),
                config_from(self.settings),
            )

    # -- settings ---------------------------------------------------------------------

    @staticmethod
    def parts_to_reopen(old: Settings, new: Settings) -> list[str]:
        """What new settings close: the model if how it is loaded changed, the memory if
        where it lives changed."""
        parts = []
        if old.model != new.model or old.server != new.server:
            parts.append("model")
        if old.memory.server_url != new.memory.server_url:
            parts.append("memory")
        return parts

    def apply_settings(self, new: Settings) -> list[str]:
        """Save and use ``new``; returns the parts that must be opened again (see
        :meth:`parts_to_reopen`); the caller reopens them (in the background)."""
        with self._lock:
            settings_mod.save(new, self.paths.settings_file)
            old, self.settings = self.settings, new
            reopen = self.parts_to_reopen(old, new)
            if "model" in reopen and self._model is not None:
                self._model.close()
                self._model = None
            if "memory" in reopen and self._store is not None:
                self._store.close()
                self._store = None
            if self._chat is not None:
                self._chat.settings = new
            if reopen:
                self._chat = None
        return reopen

    def close(self) -> None:
        with self._lock:
            if self._model is not None:
                self._model.close()
                self._model = None
            if self._store is not None:
                self._store.close()
                self._store = None
            self._chat = None
