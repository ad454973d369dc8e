"""What a person does in the chat, on the real model and memory: redo, edit, temporary chats,
and the conversation list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from mneme.assistant.settings import updated
from mneme.memory import State
from mneme.ui.main_window import CONVERSATION_ROLE, MainWindow
from mneme.ui.session import PartState

from .conftest import OpenWindow, wait_idle
from .test_main_window import send


def _titles(window: MainWindow) -> list[str]:
    return [window.conversations.item(i).text() for i in range(window.conversations.count())]


def test_regenerate_replaces_the_reply_and_keeps_the_old_one_superseded(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    first = send(qtbot, window, "Name one colour of the sky.")
    assert first.assistant_memory is not None
    reply = window.chat_view.turns()[-1]
    assert not reply.regenerate_button.isHidden()
    with qtbot.waitSignal(window.session.replyFinished, timeout=120_000) as finished:
        reply.regenerate_button.click()
    second = finished.args[0]
    store = window.session.assistant.store
    assert store is not None
    turns = store.conversation(window.conversation_id)
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[1].id == second.assistant_memory.id != first.assistant_memory.id
    assert store.get(first.assistant_memory.id).state is State.SUPERSEDED
    qtbot.waitUntil(lambda: len(window.chat_view.turns()) == 2)
    assert window.chat_view.turns()[-1].text == second.text


def test_edit_and_resend_changes_the_message_and_keeps_its_history(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    send(qtbot, window, "My cat is called Tom.")
    message = window.chat_view.turns()[0]
    message.edit_button.click()
    message.editor.setPlainText("My cat is called Felix.")
    with qtbot.waitSignal(window.session.replyFinished, timeout=120_000):
        message.resend_button.click()
    store = window.session.assistant.store
    assert store is not None
    turns = store.conversation(window.conversation_id)
    assert turns[0].text == "My cat is called Felix."
    assert [h.text for h in store.history(turns[0].id)] == ["My cat is called Tom."]
    qtbot.waitUntil(lambda: len(window.chat_view.turns()) == 2)
    assert window.chat_view.turns()[0].text == "My cat is called Felix."
    assert not message.editing


def test_a_temporary_chat_is_marked_and_never_remembered(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    store = window.session.assistant.store
    assert store is not None
    window.temporary_button.click()
    assert window.temporary and not window.temporary_banner.isHidden()
    assert "temporary" in window.windowTitle()
    reply = send(qtbot, window, "My secret hobby is juggling.")
    assert reply.text and reply.user_memory is None
    assert store.count() == 0 and store.conversations() == []
    window.temporary_button.click()  # leaving it ends it
    assert not window.temporary and window.temporary_banner.isHidden()
    assert window.windowTitle() == "Mneme" and window.chat_view.is_empty()
    send(qtbot, window, "Hello again.")
    qtbot.waitUntil(lambda: store.count() == 2)


def test_conversations_can_be_searched_renamed_and_deleted(
    qtbot: QtBot, open_window: OpenWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = open_window()
    # Without memory the second reply cannot echo the first conversation's words.
    window.session.assistant.settings.memory.top_k = 0
    send(qtbot, window, "I grow tomatoes on the balcony.")
    window.new_conversation()
    send(qtbot, window, "Recommend a book about sailing.")
    qtbot.waitUntil(lambda: window.conversations.count() == 2)
    store = window.session.assistant.store
    assert store is not None

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.input, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.focusWidget() is window.search
    qtbot.keyClicks(window.search, "tomatoes")
    qtbot.waitUntil(lambda: window.conversations.count() == 1, timeout=5_000)
    assert _titles(window)[0].startswith("I grow tomatoes")
    window.search.clear()
    qtbot.waitUntil(lambda: window.conversations.count() == 2, timeout=5_000)

    garden = next(c for c in store.conversations() if "tomatoes" in c.title)
    window.rename_conversation(garden.id, "Garden")
    qtbot.waitUntil(lambda: "Garden" in _titles(window), timeout=5_000)

    # Asked first; cancelling deletes nothing.
    monkeypatch.setattr(QMessageBox, "exec", lambda self: 0)
    monkeypatch.setattr(QMessageBox, "clickedButton", lambda self: None)
    window.delete_conversation(garden.id)
    wait_idle(qtbot, window.session)
    assert window.conversations.count() == 2 and store.count() == 4

    window.delete_conversation(garden.id, forget=True)
    qtbot.waitUntil(lambda: window.conversations.count() == 1, timeout=10_000)
    assert store.count() == 2
    assert window.conversations.item(0).data(CONVERSATION_ROLE) != garden.id


def test_keyboard_new_chat_and_escape_to_stop(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    send(qtbot, window, "Say hello.")
    old = window.conversation_id
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.input, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.conversation_id != old and window.chat_view.is_empty()
    window.session.assistant.settings.generation.max_tokens = 400
    window.input.setPlainText("Write a long story about the sea.")
    with qtbot.waitSignal(window.session.replyFinished, timeout=60_000) as finished:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: bool(window.chat_view.streaming_text), timeout=60_000)
        qtbot.keyClick(window.input, Qt.Key.Key_Escape)
    assert finished.args[0].stopped


def test_a_reply_stopped_before_any_text_leaves_no_turn_and_editing_still_works(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    window.input.setPlainText("Tell me about the moon.")
    with qtbot.waitSignal(window.session.replyFinished, timeout=60_000) as finished:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
        window.session.stop()  # before the first token
    assert finished.args[0].text == "" and finished.args[0].assistant_memory is None
    assert [m.role for m in window.chat_view.turns()] == ["user"]
    assert "No reply" in window.chat_view.toPlainText()
    message = window.chat_view.turns()[0]
    message.edit_button.click()
    message.editor.setPlainText("Tell me about the sun.")
    with qtbot.waitSignal(window.session.replyFinished, timeout=120_000) as again:
        message.resend_button.click()
    assert again.args[0].text
    store = window.session.assistant.store
    assert store is not None
    assert [t.text for t in store.conversation(window.conversation_id)][:1] == [
        "Tell me about the sun."
    ]
    assert "No reply" not in window.chat_view.toPlainText()


def test_settings_that_keep_the_model_neither_stop_a_reply_nor_undo_each_other(
    qtbot: QtBot, open_window: OpenWindow, home: Path
) -> None:
    window = open_window()
    session = window.session
    session.assistant.settings.generation.max_tokens = 60
    window.input.setPlainText("Describe a walk in the forest.")
    with qtbot.waitSignal(session.replyFinished, timeout=120_000) as finished:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: bool(window.chat_view.streaming_text), timeout=60_000)
        # Two quick changes, each built on the settings as last asked for.
        session.apply_settings(updated(session.settings, {"ui.font_size": 13}))
        session.apply_settings(updated(session.settings, {"ui.first_run_done": True}))
    assert not finished.args[0].stopped
    qtbot.waitUntil(lambda: session.settings.ui.first_run_done, timeout=10_000)
    saved = json.loads((home / "config" / "settings.json").read_text())
    assert saved["ui"]["font_size"] == 13 and saved["ui"]["first_run_done"] is True
    assert session.model_state is PartState.READY


def test_a_forgotten_turn_stays_in_its_conversation_marked_and_an_edited_one_unchanged(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    """What was said stays said: the conversation and the memory are checked apart."""
    window = open_window()
    first = send(qtbot, window, "My dog is called Biscuit.")
    assert first.user_memory is not None and first.assistant_memory is not None
    core = window.session.assistant
    store = core.store
    assert store is not None
    # editing the memory adds a correction; the message reads as it was typed
    with qtbot.waitSignal(window.session.conversationLoaded, timeout=30_000):
        core.memories.edit(first.user_memory.id, text="My dog Biscuit is a beagle.")
    message = window.chat_view.turns()[0]
    assert message.text == "My dog is called Biscuit."
    assert "Remembered with your correction" in message.remembrance.text()
    assert store.get(first.user_memory.id).text == "My dog Biscuit is a beagle."
    # forgetting the reply keeps it in the conversation, greyed, and out of memory
    with qtbot.waitSignal(window.session.conversationLoaded, timeout=30_000):
        core.memories.forget([first.assistant_memory.id])
    reply = window.chat_view.turns()[1]
    assert reply.text == first.text and "Not remembered" in reply.remembrance.text()
    assert store.get_many([first.assistant_memory.id]) == []
    # and the person can take it back from the status bar
    window.session.offer_undo("Forgot 1 memory.")
    assert window.undo_bar.isVisibleTo(window)
    with qtbot.waitSignal(window.session.conversationLoaded, timeout=30_000):
        window.undo_bar.button.click()
    assert store.get(first.assistant_memory.id).text == first.text
    assert window.chat_view.turns()[1].remembrance.isHidden()
    assert window.undo_bar.label.text() == "Took back forgetting 1 memory."
