"""The application core: one object a frontend opens, one method per thing a person can do.

The window (``mneme.ui``), the CLI and any server call only this. An
:class:`Assistant` is opened on a data folder and its settings; its facets
hold the actions, each a typed, documented method with typed errors
(:mod:`.errors`)::

    assistant.memories        browse, search, add, edit, pin, forget, forget about…
    assistant.contradictions  facts that disagree: list and settle
    assistant.conversations   list, find, open, rename, delete, export
    assistant.consolidation   run, runs, undo
    assistant.transfer        export, import, backup, restore
    assistant.models          list, use, add, remove, download
    assistant.chat()          send, regenerate, edit and resend, continue, temporary
    assistant.secrets         keys for the servers a person configured
    apply_settings, change_settings

Writes to memory announce what changed through :meth:`Assistant.subscribe`
(a :class:`~mneme.memory.Change`), whoever made them, so every view can decide
for itself whether to refresh. Memory and model open separately so that one
failing (a damaged model file, a locked memory folder) leaves the other
usable: memories stay browsable without a model, and the model still
answers, without recall, when memory cannot open.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mneme.memory import (
    Change,
    Embedder,
    MemoryStore,
    SentenceTransformerEmbedder,
    ServerLocation,
)
from mneme.memory.consolidation import Consolidator, ModelUse

from . import settings as settings_mod
from .actions import action, core_actions
from .chat import ChatService
from .consolidation import BackgroundModel, ConsolidationActions, config_from
from .contradictions import ContradictionActions
from .conversations import ConversationActions
from .errors import InvalidRequestError, NotReadyError, Part
from .llm.base import CancelToken, LLMBackend, ModelLoadError
from .llm.local import LlamaCppBackend
from .llm.owner import ModelOwner
from .memories import MemoryActions, Progress
from .model_trust import ModelChecks
from .models import BundledModelMissing, ModelActions, resolve_model_path
from .paths import AppPaths
from .secrets import CHROMA_SERVER_TOKEN, MODEL_SERVER_KEY, Secrets
from .settings import Settings
from .transfer import TransferActions

log = logging.getLogger(__name__)

UNDO_SECONDS = 120.0
"""How long a destructive action can be taken back."""


@dataclass(frozen=True, slots=True)
class _Undo:
    what: str
    at: float
    apply: Callable[[], object]


class Assistant:
    """Mneme without a window: open it, call its facets, close it."""

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
        self.model_checks = ModelChecks(paths.data)
        """What is known of each model: its self-check, its reading speed."""
        self._model_key = ""
        """The open model's identity in :attr:`model_checks`."""
        self._chat: ChatService | None = None
        # One lock per part, so that a model loading (seconds, for a big one) never holds
        # up reading the memory, and the other way round; ``_parts`` guards the short
        # assembly of what uses both. Taken in this order when several are needed.
        self._model_lock = threading.RLock()
        self._memory_lock = threading.RLock()
        self._parts = threading.RLock()
        self._listeners: list[Callable[[Change], None]] = []
        self._undo: _Undo | None = None
        self._unsubscribe: Callable[[], None] = lambda: None
        self.memories = MemoryActions(self)
        self.contradictions = ContradictionActions(self)
        self.conversations = ConversationActions(self)
        self.consolidation = ConsolidationActions(self)
        self.transfer = TransferActions(self)
        self.models = ModelActions(self)

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
        with self._parts:
            if self._embedder is None:
                self._embedder = SentenceTransformerEmbedder(threads=self.settings.model.threads)
            return self._embedder

    def prepare_search(self) -> None:
        """Get searching and remembering ready (seconds): load the embedding model and,
        if the memory is open, open its vectors; nothing that only reads the memory
        waits for this."""
        embedder = self.embedder()
        if isinstance(embedder, SentenceTransformerEmbedder):
            embedder.load()
        store = self._store
        if store is not None:
            store.connect()

    @property
    def search_ready(self) -> bool:
        """Whether searching can start at once (the embedding model loaded, the memory's
        vectors open)."""
        embedder = self._embedder
        loaded = not isinstance(embedder, SentenceTransformerEmbedder) or embedder.loaded
        store = self._store
        return loaded and (store is None or store.connected)

    def open_memory(self, *, load_embedder: bool = True) -> MemoryStore:
        """Open the store; with ``load_embedder`` also get searching ready (seconds; see
        :meth:`prepare_search`), so that what follows may search. Listing and reading
        need neither the embedding model nor the vectors: a frontend opens without them
        (the ledger alone, a fraction of a second) and prepares search behind."""
        if load_embedder:
            self.prepare_search()
        with self._memory_lock:
            embedder = self.embedder()
            if self._store is None:
                url = self.settings.memory.server_url
                server = (
                    ServerLocation(url.rstrip("/"), token=self.secrets.get(CHROMA_SERVER_TOKEN))
                    if url
                    else None
                )
                self._store = MemoryStore.open(
                    self.paths.memory, embedder, server=server, connect=load_embedder
                )
                self.warnings.extend(self._store.warnings)
                self._unsubscribe = self._store.subscribe(self._announce)
                with self._parts:
                    self._chat = None
            elif load_embedder:
                self._store.connect()
            return self._store

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback`` (from the writing thread) after every committed memory write,
        whoever made it, also across the memory being opened again; returns an
        unsubscribe."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

    def _announce(self, change: Change) -> None:
        for callback in list(self._listeners):
            try:
                callback(change)
            except Exception:  # a broken listener must not undo a committed write
                log.exception("memory change listener failed")

    def _close_memory(self) -> None:
        with self._memory_lock:
            if self._store is not None:
                self._unsubscribe()
                self._store.close()
                self._store = None
                with self._parts:
                    self._chat = None

    @property
    def store(self) -> MemoryStore | None:
        """The open memory, if it is (for the engine's own tools: benchmarks, tests)."""
        return self._store

    @property
    def memory_open(self) -> bool:
        return self._store is not None

    def reopen_memory(self) -> MemoryStore:
        """Close and open the memory again: after a failed write (a full or read-only
        disk) the store takes no more changes until it is reopened."""
        with self._memory_lock:
            self._close_memory()
            return self.open_memory(load_embedder=False)

    def reindex_memory(self, progress: Progress | None = None) -> int:
        """Re-embed every memory with the configured embedding model; the memory must not
        be open (nor used by another Mneme)."""
        with self._memory_lock:
            if self._store is not None:
                raise NotReadyError(
                    Part.MEMORY, "the memory is open; re-indexing needs it closed first"
                )
            url = self.settings.memory.server_url
            server = (
                ServerLocation(url.rstrip("/"), token=self.secrets.get(CHROMA_SERVER_TOKEN))
                if url
                else None
            )
            return MemoryStore.reindex(
                self.paths.memory, self.embedder(), server=server, progress=progress
            )

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

    def model_identity(self) -> tuple[str, str]:
        """(identity, readable name) of the model the settings name: what is measured of
        it is kept under the identity (see :class:`ModelChecks`)."""
        settings = self.settings
        if settings.server.enabled:
            name = settings.server.model or settings.server.url
            return self.model_checks.identity(None, f"{settings.server.url} {name}"), name
        path = self.model_path()
        return self.model_checks.identity(path), path.stem

    def open_model(self) -> ModelOwner:
        with self._model_lock:
            if self._model is None:
                backend = self._make_backend()
                self._model_key = self.model_identity()[0]
                speed = self.model_checks.reading_speed(self._model_key)
                self._model = ModelOwner(backend, reading_speed=speed)
                with self._parts:
                    self._chat = None
            return self._model

    def _close_model(self) -> None:
        """Close the model, keeping how fast it was measured to read for next time."""
        if self._model is None:
            return
        speed = self._model.reading_speed
        self._model.close()
        self._model = None
        if speed is not None:
            try:
                self.model_checks.keep_reading_speed(self._model_key, speed)
            except OSError:
                log.warning("the model's reading speed was not kept", exc_info=True)

    @property
    def model(self) -> ModelOwner | None:
        return self._model

    @property
    def backend(self) -> LLMBackend | None:
        return self._model.backend if self._model is not None else None

    def chat(self) -> ChatService:
        """The chat service over whatever is open; the model must be."""
        with self._parts:
            if self._model is None:
                raise NotReadyError(Part.MODEL, "the chat model is not loaded")
            if self._chat is None:
                self._chat = ChatService(self._model, self._store, self.settings)
            return self._chat

    def consolidator(
        self, cancel: CancelToken | None = None, model_use: ModelUse = ModelUse.NOTHING
    ) -> Consolidator:
        """Consolidation over the open memory with the open model (at background priority),
        the model writing what ``model_use`` allows (see ``consolidation.trust()``)."""
        with self._parts:
            if self._model is None:
                raise NotReadyError(Part.MODEL, "the chat model is not loaded")
            if self._store is None:
                raise NotReadyError(Part.MEMORY, "the memory is not open")
            return Consolidator(
                self._store,
                BackgroundModel(self._model, cancel=cancel),
                config_from(self.settings, model_use),
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

    @action
    def apply_settings(self, new: Settings) -> list[str]:
        """Save and use ``new``; returns the parts that must be opened again (see
        :meth:`parts_to_reopen`); the caller reopens them (in the background)."""
        with self._model_lock, self._memory_lock, self._parts:
            settings_mod.save(new, self.paths.settings_file)
            old, self.settings = self.settings, new
            reopen = self.parts_to_reopen(old, new)
            if "model" in reopen:
                self._close_model()
            if "memory" in reopen:
                self._close_memory()
            if self._chat is not None:
                self._chat.settings = new
            if reopen:
                self._chat = None
        return reopen

    @action
    def change_settings(self, changes: dict[str, Any]) -> list[str]:
        """Change settings by dotted name (``{"model.path": "…"}``; a value of
        :data:`DEFAULT` puts the default back), checked before anything is saved."""
        defaults = Settings().model_dump()
        resolved = {}
        for key, value in changes.items():
            if value is DEFAULT:
                value = defaults
                for part in key.split("."):
                    if not isinstance(value, dict) or part not in value:
                        raise settings_mod.SettingsError(key, "no such setting")
                    value = value[part]
            resolved[key] = value
        return self.apply_settings(settings_mod.updated(self.settings, resolved))

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- undo -----------------------------------------------------------------------

    def offer_undo(self, what: str, undo: Callable[[], object]) -> None:
        """A destructive action just done can be taken back for :data:`UNDO_SECONDS`
        (what to put back is kept in memory only, never on disk); ``what`` names it
        ("forgetting 3 memories"). A newer offer replaces an older one."""
        self._undo = _Undo(what, time.monotonic(), undo)

    @property
    def undoable(self) -> str | None:
        """What :meth:`undo` would take back, if there still is something."""
        if self._undo is None or time.monotonic() - self._undo.at > UNDO_SECONDS:
            self._undo = None
            return None
        return self._undo.what

    @action
    def undo(self) -> str:
        """Take back the last destructive action (a forget, a deleted conversation) if it
        is recent enough; returns what was taken back."""
        what = self.undoable
        if what is None or self._undo is None:
            raise InvalidRequestError("there is nothing to take back any more")
        undo, self._undo = self._undo, None
        undo.apply()
        return what

    def close(self) -> None:
        with self._model_lock, self._memory_lock, self._parts:
            self._undo = None
            self._close_model()
            self._close_memory()
            self._chat = None


DEFAULT: Any = object()
"""A value for :meth:`Assistant.change_settings` that means "the default"."""

FACETS: dict[str, type] = {
    "assistant": Assistant,
    "memories": MemoryActions,
    "contradictions": ContradictionActions,
    "conversations": ConversationActions,
    "consolidation": ConsolidationActions,
    "transfer": TransferActions,
    "models": ModelActions,
    "chat": ChatService,
    "secrets": Secrets,
}
"""Where the actions are: ``core_actions()`` names each as ``"facet.method"``."""


def actions() -> list[str]:
    """Every action a person can take, by name (``"memories.forget"``)."""
    return core_actions(FACETS)
