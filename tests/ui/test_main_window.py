"""The desktop window, driven like a person would, on the real model and memory."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from ui.session import PartState

from .conftest import OpenWindow


def send(qtbot: QtBot, window, text: str):  # type: ignore[no-untyped-def]
    window.input.setPlainText(text)
    with qtbot.waitSignal(window.session.replyFinished, timeout=120_000) as finished:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    return finished.args[0]


def test_send_streams_a_reply_and_remembers_both_turns(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    assert window.session.model_state is PartState.READY
    assert "ready" in window.model_status.text()
    tokens: list[object] = []
    window.session.replyEvent.connect(tokens.append)
    reply = send(qtbot, window, "Hello! My name is Rosa and I grow tomatoes.")
    assert reply.text
    text = window.chat_view.toPlainText()
    assert "My name is Rosa" in text and reply.text[:20] in text
    assert sum(type(t).__name__ == "Token" for t in tokens) >= 2  # streamed, not dumped
    assert window.input.toPlainText() == ""
    qtbot.waitUntil(lambda: window.memory_panel.model.rowCount() == 2)
    assert window.memory_panel.title.text() == "Memories (2)"


def test_delete_a_memory_after_confirming(
    qtbot: QtBot, open_window: OpenWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = open_window()
    send(qtbot, window, "Remember that my bike is green.")
    panel = window.memory_panel
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2)
    panel.view.setCurrentIndex(panel.model.index(0, 0))
    assert panel.delete_button.isEnabled()
    # Cancel first: nothing happens
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    panel.delete_button.click()
    qtbot.wait(200)
    assert panel.model.rowCount() == 2
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.session.memoriesChanged, timeout=30_000):
        panel.delete_button.click()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1)
    assert window.session.store is not None and window.session.store.count() == 1


def test_an_empty_message_is_not_sent(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    window.input.setPlainText("   \n  ")
    assert not window.send_button.isEnabled()
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    qtbot.wait(300)
    assert not window.session.generating
    assert window.chat_view.toPlainText() == ""


def test_shift_enter_makes_a_new_line(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    qtbot.keyClicks(window.input, "line one")
    qtbot.keyClick(window.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.input, "line two")
    assert window.input.toPlainText() == "line one\nline two"
    assert not window.session.generating


def test_stop_ends_the_reply_at_once(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    window.session.assistant.settings.generation.max_tokens = 400
    window.input.setPlainText("Write a very long story about a sailor and the sea.")
    first_token = []

    def stop_on_first(event: object) -> None:
        if type(event).__name__ == "Token" and not first_token:
            first_token.append(event)
            window.stop_button.click()

    window.session.replyEvent.connect(stop_on_first)
    with qtbot.waitSignal(window.session.replyFinished, timeout=60_000) as finished:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    reply = finished.args[0]
    assert reply.stopped and reply.pieces <= 2
    assert "[stopped" in window.chat_view.toPlainText()
    qtbot.waitUntil(
        lambda: window.send_button.isEnabled() is False and not window.session.generating
    )


def test_the_conversation_is_still_there_after_a_restart(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    send(qtbot, window, "My favourite mountain is Mont Blanc.")
    window.close()
    again = open_window()
    qtbot.waitUntil(lambda: "Mont Blanc" in again.chat_view.toPlainText())
    assert again.conversations.count() == 1
    assert again.conversations.item(0).text().startswith("My favourite mountain")
    # and a new conversation recalls it from long-term memory
    again.new_conversation()
    reply = send(qtbot, again, "Which mountain do I like best?")
    assert any("Mont Blanc" in h.memory.text for h in reply.used)
    assert "used" in again.chat_view.toPlainText()


def test_a_huge_message_keeps_the_app_responsive(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    started = time.perf_counter()
    reply = send(qtbot, window, "Please read this: " + "data " * 20_000)
    took = time.perf_counter() - started
    timer.stop()
    assert reply.message_truncated
    assert "cut to fit" in window.chat_view.toPlainText()
    # The event loop kept turning while the prompt was fitted and the reply made
    # elsewhere: no gap between ticks comes near the length of the whole job.
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    print(f"huge message: {took:.2f}s, {len(ticks)} ticks, longest gap {max(gaps):.3f}s")
    assert len(ticks) >= 3 and max(gaps) < max(0.5, took / 2)


def test_a_broken_model_is_reported_and_memories_stay_browsable(
    qtbot: QtBot, open_window: OpenWindow, home: Path, tmp_path: Path
) -> None:
    window = open_window()
    send(qtbot, window, "I keep bees on the roof.")
    window.close()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 100)
    again = open_window(model_path=str(broken))
    assert again.session.model_state is PartState.FAILED
    assert again.banner.isVisible()
    assert "broken.gguf" in again.banner.text()
    assert not again.send_button.isEnabled()
    qtbot.waitUntil(lambda: again.memory_panel.model.rowCount() == 2)
    assert "bees" in again.chat_view.toPlainText()


def test_consolidation_runs_in_the_background_and_shows_progress(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    send(qtbot, window, "My bike is a blue Gazelle and I ride it to work.")
    qtbot.waitUntil(lambda: window.session.model_state is PartState.READY)  # reply wound up
    progress: list[tuple[int, int, str]] = []
    window.session.consolidationProgress.connect(lambda *a: progress.append(a))
    stalls = []
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        stalls.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(20)
    with qtbot.waitSignal(window.session.consolidationFinished, timeout=180_000) as done:
        assert window.session.consolidate(everything=True)
        assert not window.session.consolidate(everything=True)  # one run at a time
    timer.stop()
    report = done.args[0]
    assert report.status == "done" and report.summarised
    assert progress and progress[0][2].startswith("summarising")
    assert "Memory consolidated" in window.consolidation_status.text()
    assert max(stalls) < 0.5  # the model works off the UI thread
    qtbot.waitUntil(lambda: window.memory_panel.model.rowCount() >= 3)
