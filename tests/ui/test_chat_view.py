"""The chat view's widgets on their own: Markdown, copying, the memories a reply used, scrolling."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from mneme.memory import Hit, Kind, Memory, ScoreExplanation
from mneme.ui.chat_view import ChatView
from mneme.ui.markdown import with_copy_links
from mneme.ui.message_widget import MessageWidget


def _memory(text: str, memory_id: str = "m1") -> Memory:
    t = 1_700_000_000.0
    return Memory(id=memory_id, kind=Kind.FACT, text=text, said_at=t, stored_at=t, updated_at=t)


def test_code_blocks_get_a_copy_link_and_nothing_else_changes() -> None:
    text = "Try this:\n\n```python\nprint('hi')\n```\n\nand\n~~~\nls -l\n~~~\n"
    rendered = with_copy_links(text)
    assert rendered.code_blocks == ("print('hi')", "ls -l")
    assert rendered.markdown.count("](mneme-copy:") == 2
    assert with_copy_links("no code here").markdown == "no code here"
    # An unclosed fence (a reply cut short) is left alone rather than guessed at.
    assert with_copy_links("```\nhalf").code_blocks == ()


def test_a_reply_is_rendered_as_markdown_without_html(qtbot: QtBot) -> None:
    message = MessageWidget("assistant", "**bold** and <b>raw</b>\n\n- one\n- two")
    qtbot.addWidget(message)
    shown = message.body.toPlainText()
    assert "bold" in shown and "**" not in shown  # Markdown rendered
    assert "<b>raw</b>" in shown  # HTML shown as text, never interpreted
    assert "one" in shown and "two" in shown


def test_the_copy_link_copies_the_code_block(qtbot: QtBot) -> None:
    message = MessageWidget("assistant", "```\nrm -rf build\n```")
    qtbot.addWidget(message)
    QGuiApplication.clipboard().setText("")
    message.body.anchorClicked.emit(QUrl("mneme-copy:0"))
    assert QGuiApplication.clipboard().text() == "rm -rf build"
    message.copy()
    assert QGuiApplication.clipboard().text() == "```\nrm -rf build\n```"


def test_streamed_text_is_plain_until_the_reply_ends(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.begin_reply()
    for piece in ["Here **is", "** it"]:
        view.append_token(piece)
    assert view.streaming_text == "Here **is** it"
    assert "**" in view.messages[-1].body.toPlainText()
    view.end_reply()
    assert view.messages[-1].body.toPlainText().strip() == "Here is it"
    assert view.streaming_text == ""


def test_used_memories_are_collapsed_and_open_with_links(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    hits = [
        Hit(_memory("Rosa grows tomatoes", "m1"), 0.9, ScoreExplanation(dense=0.8)),
        Hit(_memory("Rosa lives in Lisbon", "m2"), 0.7),
    ]
    view.add_message("user", "Where do I live?")
    view.begin_reply()
    view.append_token("In Lisbon.")
    view.end_reply(None, hits)
    reply = view.messages[-1]
    assert reply.used_button.isVisibleTo(reply) and reply.used_button.text() == "used 2 memories"
    assert not reply.used_list.isVisibleTo(reply)
    reply.used_button.click()
    assert reply.used_list.isVisibleTo(reply)
    assert "Rosa grows tomatoes" in reply.used_list.text()
    with qtbot.waitSignal(view.memoryActivated) as activated:
        reply.used_list.linkActivated.emit("mneme-memory:m2")
    assert activated.args == ["m2"]


def test_only_the_last_reply_can_be_regenerated_and_nothing_while_busy(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    for role, text in [("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")]:
        view.add_message(role, text)
    first, last = view.turns()[1], view.turns()[3]
    assert last.regenerate_button.isVisibleTo(last)
    assert not first.regenerate_button.isVisibleTo(first)
    with qtbot.waitSignal(view.regenerateRequested):
        last.regenerate_button.click()
    view.set_busy(True)
    assert not last.regenerate_button.isEnabled()
    view.set_busy(False)
    view.truncate_after(1)
    qtbot.waitUntil(lambda: len(view.turns()) == 2)
    assert view.turns()[1].regenerate_button.isVisibleTo(view.turns()[1])


def test_editing_a_message_emits_its_turn_index_and_text(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    view.add_message("notice", "a notice is not a turn")
    for role, text in [("user", "first"), ("assistant", "ok"), ("user", "second")]:
        view.add_message(role, text)
    message = view.turns()[2]
    message.edit_button.click()
    assert message.editing and message.editor.toPlainText() == "second"
    message.editor.setPlainText("second, changed")
    with qtbot.waitSignal(view.editSubmitted) as edited:
        message.resend_button.click()
    assert edited.args == [2, "second, changed"]
    message.cancel_edit_button.click()
    assert not message.editing


def test_the_view_follows_new_text_only_when_the_reader_is_at_the_bottom(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    for i in range(30):
        view.add_message("user" if i % 2 == 0 else "assistant", f"message {i}\n" * 3)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    view.begin_reply()
    for _ in range(20):
        view.append_token("more text\n")
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())
    bar.setValue(0)  # the reader scrolls up to read
    longest = bar.maximum()
    for _ in range(20):
        view.append_token("and more\n")
    qtbot.waitUntil(lambda: bar.maximum() > longest)  # laid out: the view could have followed
    assert bar.value() == 0


def test_messages_never_open_windows_of_their_own(qtbot: QtBot) -> None:
    """A child shown before it had a parent would flash up as a window and steal focus."""
    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    before = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    view.add_message("user", "hello")
    view.begin_reply()
    view.append_token("hi")
    view.end_reply("stopped")
    QApplication.processEvents()
    assert [w for w in QApplication.topLevelWidgets() if w.isVisible()] == before


def test_copy_says_it_copied_for_a_moment(qtbot: QtBot) -> None:
    message = MessageWidget("assistant", "The answer is 42.")
    qtbot.addWidget(message)
    message.show()
    QGuiApplication.clipboard().setText("")
    message.copy_button.click()
    assert QGuiApplication.clipboard().text() == "The answer is 42."
    assert message.copy_button.text() == "Copied ✓"
    qtbot.waitUntil(lambda: message.copy_button.text() == "Copy", timeout=5_000)


def test_an_empty_chat_says_how_to_start_and_the_hint_goes_with_the_first_message(
    qtbot: QtBot,
) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    assert view.hint.isVisible() and "Say anything to start" in view.hint.text()
    view.add_message("user", "hello")
    assert not view.hint.isVisible()
    view.reset()  # a new conversation
    assert view.hint.isVisible()


def test_editing_a_message_whose_top_is_scrolled_off_brings_the_editor_into_view(
    qtbot: QtBot,
) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    view.add_message("user", "\n".join(f"line {i} of a long message" for i in range(40)))
    for i in range(20):
        view.add_message("assistant" if i % 2 == 0 else "user", f"message {i}\n" * 3)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    message = view.turns()[0]
    bar.setValue(message.height() - 120)  # the person scrolled up to its end
    assert message.mapTo(view.viewport(), QPoint(0, 0)).y() < 0  # its top scrolled off
    assert not message.edit_button.visibleRegion().isEmpty()  # its Edit button in sight
    message.edit_button.click()

    def editor_top_in_view() -> bool:
        top = message.edit_area.mapTo(view.viewport(), QPoint(0, 0)).y()
        return message.editing and 0 <= top < view.viewport().height()

    qtbot.waitUntil(editor_top_in_view, timeout=5_000)
