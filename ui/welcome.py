"""The first-run welcome: what Mneme keeps where, which model answers, and how to pick another.

However it is closed, it is not shown again: ``ui.first_run_done`` is saved
through the session. That change touches neither the model nor the memory
settings, so nothing reloads (``Assistant.apply_settings`` only reopens the
model or memory when their own settings change).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mneme.assistant.models import BundledModelMissing, bundled_model_path
from mneme.assistant.settings import updated

from .session import AppSession


def mark_first_run_done(session: AppSession) -> bool:
    """Save ``ui.first_run_done``; False if it already was (nothing is saved then)."""
    if session.settings.ui.first_run_done:
        return False
    session.apply_settings(updated(session.settings, {"ui.first_run_done": True}))
    return True


def model_description(session: AppSession) -> str:
    """Which model answers, in words, as HTML."""
    configured = session.settings.model.path
    if session.settings.server.enabled:
        return (
            f"Replies come from the model server at <b>{html.escape(session.settings.server.url)}"
            "</b>, as set in the settings."
        )
    if configured:
        return f"Replies come from <b>{html.escape(configured)}</b>, as set in the settings."
    try:
        name = bundled_model_path().name
    except BundledModelMissing:
        return (
            "The bundled chat model is not installed. Choose a model to start chatting; "
            "your memories can be browsed without one."
        )
    return (
        f"Replies come from the bundled model <b>{html.escape(name)}</b>: small and fast, "
        "but simple. More capable models can be downloaded in <b>Models…</b>."
    )


class WelcomeDialog(QDialog):
    """Shown once. "Choose another model…" emits :attr:`chooseModelRequested` and closes."""

    chooseModelRequested = Signal()

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to Mneme")
        self.session = session
        self._ended = False
        folder = html.escape(str(session.assistant.paths.data))
        self.privacy = QLabel(
            "<p><b>Mneme is your private assistant with a long memory.</b></p>"
            "<p>Everything stays on this computer: there is no account and no cloud. "
            "Your conversations and what Mneme remembers of them are kept in "
            f"<code>{folder}</code>. You can see, edit and delete every memory in the "
            "Memory panel.</p>",
            self,
        )
        self.model_text = QLabel(f"<p>{model_description(session)}</p>", self)
        for label in (self.privacy, self.model_text):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)
        self.choose_button = QPushButton("Choose another model…", self)
        buttons = QDialogButtonBox(self)
        buttons.addButton(self.choose_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.clicked.connect(self.accept)
        self.choose_button.clicked.connect(self._choose_model)
        layout = QVBoxLayout(self)
        layout.addWidget(self.privacy)
        layout.addWidget(self.model_text)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)

    def _choose_model(self) -> None:
        self.accept()
        self.chooseModelRequested.emit()

    def done(self, result: int) -> None:
        """Every way out (Start, the model button, Escape, the close box) ends the first run."""
        if not self._ended:
            self._ended = True
            mark_first_run_done(self.session)
        super().done(result)
