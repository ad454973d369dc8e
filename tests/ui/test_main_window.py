"""The desktop window, driven like a person would, on the real model and memory."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from mneme.ui.session import PartState
from mneme.ui.settings_dialog import SettingsDialog

from .conftest import OpenWindow, wait_idle


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
    qtbot.waitUntil(lambda: window.memory_status.text() == "Memory: 2 memories")
    manager = window.show_memories()
    qtbot.waitUntil(lambda: manager.model.rowCount() == 2)


def test_ctrl_m_opens_the_memories_and_a_used_memory_link_selects_it(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    send(qtbot, window, "Remember that my bike is green.")
    window.new_conversation()
    reply = send(qtbot, window, "What colour is my bike?")
    assert reply.used
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.input, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert window.memory_dialog is not None and window.memory_dialog.isVisible()
    window.memory_dialog.hide()
    message = window.chat_view.turns()[-1]
    message.used_button.click()
    wanted = reply.used[0].memory.id
    message.used_list.linkActivated.emit(f"mneme-memory:{wanted}")
    manager = window.memory_manager
    assert manager is not None and window.memory_dialog.isVisible()
    qtbot.waitUntil(lambda: manager.detail.memory_id == wanted, timeout=10_000)


def test_menus_open_settings_models_and_the_review_inbox(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.input, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.findChild(SettingsDialog) is not None)
    settings = window.findChild(SettingsDialog)
    assert settings is not None and settings.isVisible()
    settings.reject()
    window.models_action.trigger()
    assert window.model_manager is not None and window.model_manager.isVisible()
    window.model_manager.close()
    assert window.review_button.isHidden()
    window.inbox.countChanged.emit(3)
    assert window.review_button.text() == "3 to review" and not window.review_button.isHidden()
    window.review_button.click()
    assert window.inbox.isVisible()


def test_an_empty_message_is_not_sent(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    window.input.setPlainText("   \n  ")
    assert not window.send_button.isEnabled()
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    wait_idle(qtbot, window.session)
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
    qtbot.waitUntil(lambda: "Mont Blanc" in again.chat_view.toPlainText(), timeout=30_000)
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
    qtbot.waitUntil(lambda: again.memory_status.text() == "Memory: 2 memories")
    qtbot.waitUntil(lambda: "bees" in again.chat_view.toPlainText())


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
    assert "Memory tidied" in window.consolidation_status.text()
    assert max(stalls) < 0.5  # the model works off the UI thread
    store = window.session.assistant.store
    assert store is not None and store.count() >= 3


def test_the_memory_can_be_backed_up_while_the_app_runs(
    qtbot: QtBot, open_window: OpenWindow, tmp_path: Path
) -> None:
    from mneme.memory.backup import read_info

    window = open_window()
    send(qtbot, window, "My passport number is in the blue folder.")
    target = tmp_path / "backup"
    with qtbot.waitSignal(window.session.notice, timeout=60_000) as done:
        window.back_up(str(target))
    assert "Backed up 2 memories" in done.args[0]
    assert read_info(target / "memory").memories == 2
    assert (target / "settings.json").exists()
    with qtbot.waitSignal(window.session.problem, timeout=60_000) as refused:
        window.back_up(str(target))  # never over an earlier backup
    assert "already exists" in refused.args[0]
    assert read_info(target / "memory").memories == 2


def test_a_disk_that_cannot_be_written_is_said_and_nothing_typed_is_lost(
    qtbot: QtBot, open_window: OpenWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.errors import InternalError

    window = open_window()
    send(qtbot, window, "My bike is green.")
    store = window.session.assistant.store
    assert store is not None

    def read_only(*args: object, **kwargs: object) -> None:
        raise InternalError("Error executing plan: Read-only file system (os error 30)")

    monkeypatch.setattr(store._collection, "upsert", read_only)
    window.input.setPlainText("This one cannot be stored.")
    with qtbot.waitSignal(window.session.replyFailed, timeout=60_000):
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert window.banner.isVisible()
    assert "read-only" in window.banner.text() and "Reopen memory" in window.banner.text()
    assert window.input.toPlainText() == "This one cannot be stored."
    assert store.conversation(window.conversation_id)[0].text == "My bike is green."
    monkeypatch.undo()  # the disk is writable again
    qtbot.waitUntil(lambda: not window.session.generating)
    window.reopen_memory()
    qtbot.waitUntil(lambda: window.session.memory_state is PartState.READY, timeout=60_000)
    assert not window.banner.isVisible()
    reopened = window.session.assistant.store
    assert reopened is not None and reopened is not store and reopened.count() == 2
    send(qtbot, window, window.input.toPlainText())
    assert reopened.count() == 4


def test_a_run_that_cannot_be_undone_is_said(
    qtbot: QtBot, open_window: OpenWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mneme.assistant.consolidation as core_consolidation
    from mneme.memory import StoreUnavailableError

    def fails(store: object, run_id: str) -> None:
        raise StoreUnavailableError("the disk is full")

    monkeypatch.setattr(core_consolidation, "undo_run", fails)
    window = open_window(wait_model=False)
    with qtbot.waitSignal(window.session.runUndoFailed, timeout=30_000) as failed:
        window.session.undo_run("run-1")
    assert failed.args[0].startswith("the run could not be undone: the disk is full")
    assert window.banner.isVisible() and "Reopen memory" in window.banner.text()


def test_a_second_window_on_the_same_data_is_refused_clearly(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    first = open_window(wait_model=False)
    assert first.session.memory_state is PartState.READY
    second = open_window(wait_model=False)
    assert second.session.memory_state is PartState.FAILED
    assert second.banner.isVisible()
    assert "in use by another Mneme" in second.banner.text()
    assert second.session.assistant.store is None
    assert first.session.assistant.store is not None and first.session.assistant.store.count() == 0


LONG_TEXT = " ".join(
    f"Day {i}: I walked the dog, watered the tomatoes and read." for i in range(400)
)
"""About 23,000 characters: several thousand tokens, more than the test model reads (2,048)."""


def test_a_message_longer_than_the_model_reads_is_said_when_pasted(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    window.input.setPlainText(LONG_TEXT)
    qtbot.waitUntil(lambda: window.too_long.isVisible(), timeout=10_000)
    assert "longer than the model can read" in window.too_long.text()
    assert not window.session.generating  # said before anything was sent
    window.input.setPlainText("A short question.")
    assert not window.too_long.isVisible()


def test_reading_a_long_message_shows_progress_and_can_be_stopped(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    reading: list[str] = []

    def on_event(event: object) -> None:
        if type(event).__name__ == "Reading" and not reading:
            reply = window.chat_view.messages[-1]
            reading.append(reply.note or "")
            reading.append(window.model_status.text())
            window.stop_button.click()

    window.session.replyEvent.connect(on_event)
    window.input.setPlainText(LONG_TEXT[:6000])  # fits, and takes the model seconds to read
    with qtbot.waitSignal(window.session.replyFinished, timeout=120_000) as finished:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert reading and "reading your message… " in reading[0]
    assert "reading your message" in reading[1] and "Esc stops" in reading[1]
    reply = finished.args[0]
    assert reply.stopped and reply.pieces == 0  # stopped while reading: no reply
    qtbot.waitUntil(lambda: not window.session.generating)


def test_conversations_with_the_same_title_are_told_apart_by_their_date(
    qtbot: QtBot, open_window: OpenWindow, home: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    from mneme.memory import MemoryStore, NewEpisode

    with MemoryStore.open(home / "data" / "memory", embedder) as store:
        for conversation, at in (("c1", 1_700_000_000.0), ("c2", 1_710_000_000.0)):
            store.add_episode(NewEpisode("Hello there.", "user", conversation, said_at=at))
            store.set_conversation_title(conversation, "Hello there")
    window = open_window()
    qtbot.waitUntil(lambda: window.conversations.count() == 2, timeout=30_000)
    titles = [window.conversations.item(i).text() for i in range(2)]
    assert all(t.startswith("Hello there · ") for t in titles)
    assert titles[0] != titles[1]


def _remembered(home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from mneme.memory import MemoryStore, NewEpisode

    with MemoryStore.open(home / "data" / "memory", embedder) as store:
        store.add_episode(NewEpisode("My bike is green.", "user", "c1"))
        store.set_conversation_title("c1", "My bike")


def test_conversations_show_before_search_is_ready_and_the_wait_is_said(
    qtbot: QtBot, home: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    from mneme.assistant.core import Assistant
    from mneme.ui.main_window import MainWindow
    from mneme.ui.session import AppSession

    _remembered(home, embedder)
    session = AppSession(Assistant.from_environment(embedder=embedder))
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    ready: list[bool] = []
    statuses: list[str] = []
    session.searchReady.connect(ready.append)
    session.searchReady.connect(lambda _: statuses.append(window.memory_status.text()))
    try:
        with qtbot.waitSignal(session.searchReady, check_params_cb=bool, timeout=60_000):
            session.start()
        assert ready == [False, True]
        assert statuses[0] == "Memory: 1 memory · search getting ready…"
        assert statuses[1] == "Memory: 1 memory"
        qtbot.waitUntil(lambda: "My bike is green." in window.chat_view.toPlainText())
        store = session.assistant.store
        assert store is not None and store.connected
    finally:
        session.shutdown()


def test_a_memory_made_with_another_search_model_is_listed_and_then_said_unusable(
    qtbot: QtBot, home: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    from mneme.assistant.core import Assistant
    from mneme.ui.main_window import MainWindow
    from mneme.ui.session import AppSession
    from tests.fakes import HashEmbedder

    _remembered(home, embedder)
    session = AppSession(Assistant.from_environment(embedder=HashEmbedder()))
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    try:
        session.start()
        qtbot.waitUntil(lambda: window.conversations.count() == 1, timeout=60_000)
        qtbot.waitUntil(lambda: session.memory_state is PartState.FAILED, timeout=60_000)
        assert window.memory_status.text() == "Memory: unavailable"
        assert "re-index to switch models" in window.banner.text() and window.banner.isVisible()
        assert window.conversations.count() == 1  # what was listed stays listed
    finally:
        session.shutdown()


def test_what_is_typed_is_read_ahead_and_the_reply_starts_from_there(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    session = window.session
    window.input.setPlainText("Where do I keep my bike at night?")
    qtbot.waitUntil(lambda: session.reading_ahead, timeout=10_000)  # after a short pause
    qtbot.waitUntil(lambda: not session.reading_ahead, timeout=60_000)
    with qtbot.waitSignal(session.replyFinished, timeout=120_000):
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    backend = session.assistant.backend
    assert backend is not None and backend.cached_at_start > 50  # type: ignore[attr-defined]
    assert not session.reading_ahead and not window.input.toPlainText()
