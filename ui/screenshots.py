"""Drive the real app through its main screens and save a PNG of each.

    xvfb-run -s "-screen 0 1400x900x24" python -m mneme.ui.screenshots OUTDIR [--home DIR]

Uses a fresh data folder (or ``--home``) so the pictures start at the first
run: the welcome, a chat with the bundled model, recall in a new conversation
with the memories it used, the memory manager and its editor, forgetting
(what it says first, the conversation after, a topic with a pinned note), a
long paste, a consolidation run, the settings, the model manager, a temporary chat and the
dark theme. The script is a list of steps; each waits for what it needs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

Step = Iterator[Callable[[], bool]]
"""A step yields conditions; it goes on when each holds."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    home = args.home or Path(tempfile.mkdtemp(prefix="mneme-shots-"))

    from mneme.assistant.core import Assistant
    from mneme.assistant.settings import updated
    from mneme.memory import Conversation, Kind

    from .core_op import CoreOp
    from .main_window import MainWindow
    from .memory_manager import MemoryManager
    from .session import AppSession, PartState
    from .theme import apply_theme
    from .welcome import WelcomeDialog

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    session = AppSession(Assistant.from_environment(home))
    apply_theme(app, session.settings.ui)
    session.settingsApplied.connect(lambda s: apply_theme(app, s.ui))
    window = MainWindow(session)
    window.resize(1280, 800)
    window.show()
    saved: list[Path] = []

    def shot(name: str, widget: QWidget | None = None) -> None:
        path = args.outdir / f"{name}.png"
        (widget or window).grab().save(str(path))
        saved.append(path)

    def ready() -> bool:
        return session.model_state is PartState.READY and session.memory_ready

    def idle() -> bool:
        return ready() and not session.generating and not session.operations.busy

    def say(text: str) -> Step:
        window.input.setPlainText(text)
        window.send_button.click()
        yield lambda: session.generating
        yield idle

    def trust(manager: MemoryManager) -> Step:
        """Forgetting as a person meets it: what it says first, the conversation after,
        and a topic with a pinned note that is listed and left out."""
        listed: list[Sequence[Conversation]] = []
        session.conversationsLoaded.connect(listed.append)
        session.load_conversations()
        yield lambda: bool(listed)
        first = listed[-1][-1]  # the oldest: Rosa's introduction
        window.open_conversation(first.id)
        yield lambda: not window.chat_view.is_empty()
        said = window.chat_view.turns()[0].memory_id
        if said is None:
            return
        forget = manager.forget([said])
        yield lambda: forget.deleted_list.count() > 0
        shot("10-forget-says-what-leaves-memory-and-conversations", forget)
        forget.forget()
        yield idle
        window.open_conversation(first.id)
        yield lambda: window.chat_view.turns()[0].remembrance.isVisible()
        shot("11-a-forgotten-turn-stays-in-its-conversation")
        note = "Note: the tomatoes on the balcony need water every evening in summer."
        CoreOp(
            session, lambda core: core.memories.add(Kind.SUMMARY, note, pinned=True), parent=window
        ).run()
        yield idle
        topic = manager.forget_topic()
        topic.topic.setText("tomatoes")
        searched: list[int] = []
        topic.searched.connect(searched.append)
        topic.search()
        yield lambda: bool(searched)
        shot("12-forget-about-lists-what-it-leaves-out", topic)
        topic.reject()
        window.new_conversation()
        yield lambda: window.chat_view.hint.isVisible()
        window.input.setPlainText("All my notes from the trip. " * 1500)
        yield window.too_long.isVisible
        shot("13-a-long-paste-is-said-at-once")
        window.input.clear()

    def script() -> Step:
        welcome = WelcomeDialog(session, window)
        welcome.open()
        session.start()
        yield ready
        shot("00-welcome-first-run", welcome)
        welcome.accept()
        yield idle
        yield from say("Hi! I'm Rosa. I grow tomatoes and basil on my balcony in Lisbon.")
        yield from say("Give me three tips for watering tomatoes, as a list.")
        shot("01-chat-markdown-reply")
        window.new_conversation()
        yield from say("Where do I grow my tomatoes?")
        reply = window.chat_view.turns()[-1]
        if not reply.used_button.isHidden():
            reply.used_button.click()
        yield lambda: True
        shot("02-recall-with-used-memories")
        done: list[object] = []
        session.consolidationFinished.connect(done.append)
        session.consolidate(everything=True)
        yield lambda: bool(done)
        yield idle
        runs = window.show_runs()
        yield lambda: runs is not None and runs.model.rowCount() > 0
        shot("03-consolidation-runs", runs)
        if runs is not None:
            runs.close()
        manager = window.show_memories()
        dialog = window.memory_dialog
        yield lambda: manager.model.total > 0 and not manager.model.loading
        manager.table.selectRow(0)
        yield lambda: manager.detail.memory_id is not None
        yield lambda: True
        shot("04-memory-manager", dialog)
        if manager.detail.memory_id:
            editor = manager.edit_memory(manager.detail.memory_id)
            yield lambda: True
            shot("05-memory-editor", editor)
            editor.reject()
        yield from trust(manager)
        if dialog is not None:
            dialog.hide()
        settings = window.show_settings()
        yield lambda: True
        shot("06-settings", settings)
        settings.advanced.setChecked(True)
        settings.show_tab("memory.model_writes")
        yield lambda: bool(settings.model_trust.text())
        shot("06b-settings-what-the-model-writes", settings)
        settings.reject()
        models = window.show_models()
        yield lambda: True
        shot("07-model-manager", models)
        models.close()
        window.temporary_button.click()
        yield from say("This is a temporary chat: do not remember it.")
        shot("08-temporary-chat")
        window.temporary_button.click()
        session.apply_settings(updated(session.settings, {"ui.theme": "dark"}))
        yield lambda: session.settings.ui.theme == "dark"
        yield idle
        listed: list[object] = []
        session.conversationsLoaded.connect(listed.append)
        session.load_conversations()
        yield lambda: bool(listed)
        if listed[-1]:
            window.open_conversation(listed[-1][-1].id)  # type: ignore[index]
        yield lambda: not window.chat_view.is_empty()
        shot("09-dark-theme")
        window.close()
        app.quit()

    steps = script()

    def advance() -> None:
        try:
            condition = next(steps)
        except StopIteration:
            return
        wait_for(condition)

    def wait_for(condition: Callable[[], bool]) -> None:
        if condition():
            QTimer.singleShot(300, advance)  # let the screen settle
        else:
            QTimer.singleShot(50, lambda: wait_for(condition))

    QTimer.singleShot(0, advance)
    app.exec()
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
