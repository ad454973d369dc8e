from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from mneme.assistant.core import Assistant
from mneme.ui.main_window import MainWindow
from mneme.ui.session import AppSession, PartState

OpenWindow = Callable[..., MainWindow]


def wait_idle(qtbot: QtBot, session: AppSession) -> None:
    """Wait until no work of the session is under way and every answer is delivered: the
    moment to assert that something did *not* happen."""
    qtbot.waitUntil(lambda: not session.operations.busy, timeout=30_000)


@pytest.fixture
def open_window(qtbot: QtBot, home: Path, embedder) -> Iterator[OpenWindow]:  # type: ignore[no-untyped-def]
    """Open the real main window on ``home`` and wait until its parts have loaded."""
    windows: list[MainWindow] = []

    def open_(*, model_path: str | None = None, wait_model: bool = True) -> MainWindow:
        if model_path is not None:
            path = home / "config" / "settings.json"
            settings = json.loads(path.read_text())
            settings["model"]["path"] = model_path
            path.write_text(json.dumps(settings))
        session = AppSession(Assistant.from_environment(embedder=embedder))
        window = MainWindow(session)
        qtbot.addWidget(window)
        window.show()
        session.start()
        qtbot.waitUntil(lambda: session.memory_state is not PartState.LOADING, timeout=60_000)
        if wait_model:
            qtbot.waitUntil(lambda: session.model_state is not PartState.LOADING, timeout=60_000)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.session.shutdown()
