"""A real session whose memory opens and whose model is absent: for the parts of
the window that only need memory (they must work without a model)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pytestqt.qtbot import QtBot

from mneme.assistant.core import Assistant
from mneme.memory import Embedder, MemoryStore
from mneme.ui.session import AppSession, PartState


def memory_session(qtbot: QtBot, home: Path, embedder: Embedder) -> Iterator[AppSession]:
    """Start the real session on ``home``; its model path leads nowhere."""
    path = home / "config" / "settings.json"
    settings = json.loads(path.read_text())
    settings["model"]["path"] = str(home / "no-model.gguf")
    path.write_text(json.dumps(settings))
    session = AppSession(Assistant.from_environment(embedder=embedder))
    session.start()
    qtbot.waitUntil(
        lambda: (
            session.memory_state is PartState.READY and session.model_state is not PartState.LOADING
        ),
        timeout=60_000,
    )
    yield session
    session.shutdown()


def store_of(session: AppSession) -> MemoryStore:
    assert session.assistant.store is not None
    return session.assistant.store
